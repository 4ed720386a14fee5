// The compiled form of a CESQL expression and the machinery that evaluates
// it. Not part of the public API.
//
// A Program is a flat array of nodes; children are referred to by index, and
// operators with many operands (IN, calls, chains of AND/OR/XOR) keep their
// operand indices in one shared array. Strings (literals, extension names,
// LIKE patterns) live in one pool owned by the program, so evaluation reads
// them as string_view without copying.
#pragma once

#include <cebus/cesql.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// The evaluator's members are private to the library; hidden visibility lets
// its recursive calls go direct instead of through the PLT.
#define CEBUS_CESQL_HIDDEN [[gnu::visibility("hidden")]]

namespace cebus::cesql {

enum class Op : std::uint8_t {
    literal,
    attribute,
    exists,
    call,
    missing_call,  // no overload matched: raises missingFunction when evaluated
    logical_not,
    negate,
    like,
    not_like,
    in,
    not_in,
    multiply,
    divide,
    modulo,
    add,
    subtract,
    equal,
    not_equal,
    less,
    less_equal,
    greater,
    greater_equal,
    logical_and,  // n-ary: operands[first, first + count)
    logical_or,
    logical_xor,
    // Fused forms chosen after parsing, for the common filter shapes
    // `attribute = 'text'` and `attribute LIKE 'pattern'`. They read the
    // attribute's text directly and fall back to the general operator when
    // the attribute is a Boolean, Integer or Binary extension.
    text_equal,
    text_not_equal,
    text_like,
    text_not_like,
};

// Core attributes are read through the Event accessors, never by name.
enum class Attribute : std::uint8_t {
    id,
    source,
    specversion,
    type,
    datacontenttype,
    dataschema,
    subject,
    time,
    extension,
};

// A slice of Program::pool.
struct PoolText {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
};

struct Node {
    Op op = Op::literal;
    Attribute attribute = Attribute::extension;  // attribute, exists
    Type literal_type = Type::boolean;           // literal
    bool literal_boolean = false;
    std::int32_t literal_integer = 0;
    std::uint32_t offset = 0;  // byte offset in the expression text, for errors
    // Binary operators: left and right. Unary: left. like: left and the
    // pattern index in `right`. in, call, and/or/xor: operands[left, left + right).
    std::uint32_t left = 0;
    std::uint32_t right = 0;
    PoolText text;  // string literal, extension name or function name
    // call: index into Program::calls. text_like/text_not_like: the
    // LikePattern::Kind, with `text` holding the pattern's one literal
    // segment when the kind is exact, prefix, suffix or contains.
    std::uint32_t call = 0;
};

// A compiled LIKE pattern. Patterns without `_` are matched on bytes with
// prefix, suffix and substring searches (a literal UTF-8 segment can only
// match at a code point boundary of valid UTF-8). Patterns with `_` use the
// general matcher over code points.
struct LikePattern {
    enum class Kind : std::uint8_t { exact, prefix, suffix, contains, segments, general };
    struct Element {
        enum class Kind : std::uint8_t { literal, any_one, any_run } kind;
        std::uint32_t offset;  // literal: bytes of one code point in `literals`
        std::uint32_t size;
    };
    Kind kind = Kind::exact;
    bool leading_any = false;   // segments: pattern starts with %
    bool trailing_any = false;  // segments: pattern ends with %
    std::string literals;       // unescaped literal text
    std::vector<PoolText> segments;  // literal runs between % (slices of `literals`)
    std::vector<Element> elements;   // general matcher

    CEBUS_CESQL_HIDDEN bool match(std::string_view text) const noexcept;
};

// Compiles a LIKE pattern in its literal text form (escapes not yet applied).
LikePattern compile_like(std::string_view pattern);

class Program {
public:
    std::string text;
    std::string pool;
    std::vector<Node> nodes;
    std::vector<std::uint32_t> operands;
    std::vector<LikePattern> patterns;
    std::vector<std::shared_ptr<const Functions::Overload>> calls;
    std::uint32_t root = 0;
    std::size_t max_string_bytes = 0;  // CompileOptions::max_string_bytes

    // Slices are made by the parser and always lie within the pool.
    std::string_view view(PoolText t) const noexcept { return {pool.data() + t.offset, t.size}; }
};

// Builds a Program from text. Throws CompileError.
std::shared_ptr<const Program> parse(std::string_view text, const CompileOptions& options);

struct Functions::Overload {
    std::string name;  // upper case
    std::vector<Type> parameters;
    bool variadic = false;
    Type rest = Type::string;
    Type result = Type::boolean;
    FunctionBody body;

    Type parameter_type(std::size_t index) const noexcept {
        return index < parameters.size() ? parameters[index] : rest;
    }
};

// Scratch space for strings made during one evaluation: a fixed buffer on the
// evaluating thread's stack, then heap blocks that never move.
class Scratch {
public:
    // Throws ScratchExhausted when the evaluation's strings would pass
    // `limit` bytes in all.
    char* allocate(std::size_t size, std::size_t limit);

private:
    std::array<char, 512> inline_;  // uninitialized: filled only as used
    std::size_t used_ = 0;
    std::size_t total_ = 0;
    std::vector<std::unique_ptr<char[]>> blocks_;
};

// Thrown through the evaluator (and host function frames) when the strings
// of one evaluation pass the limit; run() turns it into a generic error. Not
// a std::exception, so the handler for host function failures lets it pass.
struct ScratchExhausted {};

// One evaluation of a Program against an event.
class Evaluation {
public:
    // `errors` is null in fail-fast mode: errors are then counted, not kept.
    Evaluation(const Program& program, const Event& event, std::vector<Error>* errors) noexcept
        : program_(program), event_(event), errors_(errors) {}

    Value run();
    std::size_t error_count() const noexcept { return error_count_; }

    const Event& event() const noexcept { return event_; }
    char* allocate(std::size_t size) { return scratch_.allocate(size, program_.max_string_bytes); }
    std::string_view store(std::string_view text);

    // Records an error. The message is built only when errors are kept, out
    // of line so the evaluator's hot paths stay small.
    template <class MakeMessage>
    void raise(ErrorKind kind, std::size_t offset, MakeMessage&& make_message) {
        ++error_count_;
        if (errors_) [[unlikely]] record(errors_, kind, offset, make_message);
    }

    // Casts `value` to `type`; on failure raises a cast error at `offset`
    // and returns the zero value of `type`.
    Value cast(Value value, Type type, std::size_t offset) {
        if (value.type() == type) [[likely]] return value;
        return convert(value, type, offset);
    }

private:
    template <class MakeMessage>
    [[gnu::noinline, gnu::cold]] static void record(std::vector<Error>* errors, ErrorKind kind, std::size_t offset,
                                                    MakeMessage& make_message) {
        errors->push_back(Error{kind, offset, make_message()});
    }

    // 1 with the text in `out`, 0 when absent, -1 when the attribute is a
    // Boolean, Integer or Binary extension.
    CEBUS_CESQL_HIDDEN int attribute_text(const Node& attribute, std::string_view& out) const noexcept;
    CEBUS_CESQL_HIDDEN Value convert(Value value, Type type, std::size_t offset);
    CEBUS_CESQL_HIDDEN bool exists(const Node& node) const noexcept;
    CEBUS_CESQL_HIDDEN int quick_test(const Node& node) const noexcept;
    CEBUS_CESQL_HIDDEN Value eval_text(const Node& node);
    CEBUS_CESQL_HIDDEN Value eval_like(const Node& node);
    CEBUS_CESQL_HIDDEN Value missing_attribute(const Node& attribute);
    CEBUS_CESQL_HIDDEN Value eval(std::uint32_t index);
    CEBUS_CESQL_HIDDEN Value eval_attribute(const Node& node);
    CEBUS_CESQL_HIDDEN Value eval_call(const Node& node);
    CEBUS_CESQL_HIDDEN Value eval_in(const Node& node);
    CEBUS_CESQL_HIDDEN Value eval_logical(const Node& node);
    CEBUS_CESQL_HIDDEN Value eval_arithmetic(const Node& node);
    CEBUS_CESQL_HIDDEN Value eval_comparison(const Node& node);

    const Program& program_;
    const Event& event_;
    std::vector<Error>* errors_;
    std::size_t error_count_ = 0;
    Scratch scratch_;
};

// Text helpers shared by the evaluator and the built-in functions.
std::size_t code_point_count(std::string_view text) noexcept;
// Byte offset of code point number `index`, or text.size() past the end.
std::size_t code_point_offset(std::string_view text, std::size_t index) noexcept;
// Length in bytes of the UTF-8 sequence starting with `lead` (1 for a stray byte).
std::size_t utf8_sequence_length(unsigned char lead) noexcept;
// Formats an Integer in base 10 into `out` (at least 11 bytes); returns the length.
std::size_t format_integer(std::int32_t value, char* out) noexcept;

}  // namespace cebus::cesql
