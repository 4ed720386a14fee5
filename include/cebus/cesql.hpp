// CESQL v1.0.0, the CloudEvents SQL Expression Language.
//
// An Expression is compiled once from text and evaluated many times against
// events. Evaluation is total: it always yields a value (Boolean, Integer or
// String) plus a possibly empty list of errors of the spec's kinds. An
// operator whose operand raised an error returns the zero value of its result
// type (false, 0 or "") and evaluates no further operands. A function that
// raises an error itself still returns the value it computed: for example
// LEFT('abc', -2) yields "abc" with a functionEvaluation error.
//
// Language decisions where the spec leaves room:
// - Keywords and function names are case-insensitive; identifiers are
//   lower-cased, so `EXISTS SOURCE` reads `source`.
// - Operators of equal precedence group left to right, AND, OR and XOR
//   included (they share one level): `a OR b AND c` is `(a OR b) AND c`.
//   Unary NOT and minus bind tighter than every binary operator, as in the
//   spec's precedence table, so `NOT x LIKE 'a%'` is `(NOT x) LIKE 'a%'`;
//   write `x NOT LIKE 'a%'`.
// - Integer overflow of `+`, `-`, `*`, unary minus and `/` (-2147483648 / -1)
//   raises a math error and the operator returns 0, like division by zero.
// - `IN` compares the set members left to right and stops at the first
//   match, so a member after the match is never evaluated.
// - A string literal accepts `\'` (or `\"` in a double-quoted literal) and a
//   doubled quote as the quote character; every other backslash is kept.
// - LOWER and UPPER map ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
//   letters one to one; other scripts pass through unchanged.
// - LIKE matches on Unicode code points: `_` is one code point.
//
// Thread-safety: an Expression is immutable after compile() and may be
// evaluated from any number of threads at once; copies share the compiled
// program. A Functions registry is not thread-safe while it is being changed;
// compile() copies what it needs, so the registry may change or go away
// afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <cebus/event.hpp>

namespace cebus::cesql {

// The three CESQL value types. Integer is a signed 32-bit integer.
enum class Type : std::uint8_t { boolean, integer, string };

// "Boolean", "Integer" or "String".
std::string_view type_name(Type type) noexcept;

// The error kinds every CESQL engine supports.
enum class ErrorKind : std::uint8_t {
    parse,
    math,
    cast,
    missing_attribute,
    missing_function,
    function_evaluation,
    generic,
};

// The name the CESQL conformance tests use: "parse", "math", "cast",
// "missingAttribute", "missingFunction", "functionEvaluation", "generic".
std::string_view error_kind_name(ErrorKind kind) noexcept;

// An expression that cannot be compiled. offset() is the byte offset in the
// expression text where the problem was found; what() contains the offset
// and the reason.
class CompileError : public ParseError {
public:
    // Prefixes the reason with "invalid CESQL expression: ", so what() reads
    // `parse error at byte OFFSET: invalid CESQL expression: REASON`.
    CompileError(std::size_t offset, std::string reason);
};

// One error raised while evaluating. `offset` is the byte offset of the
// operator, function call or identifier that raised it.
struct Error {
    // The spec's error kind, named by error_kind_name().
    ErrorKind kind = ErrorKind::generic;
    // Byte offset in the expression text, counting from 0.
    std::size_t offset = 0;
    // A readable description of the failure, such as "division by zero".
    std::string message;
};

// A value handed to and returned by host functions. A String refers to text
// owned by the event, the expression or the evaluation's scratch space, so it
// is valid only until the function returns (return values are copied as
// needed).
// A Value is 16 bytes and trivially copyable, so it travels in registers; a
// String value is therefore limited to 4 GiB.
class Value {
public:
    // The default is Boolean false. The factories make a value of each type,
    // and string() keeps a view of `s` without copying it.
    constexpr Value() noexcept = default;
    static constexpr Value boolean(bool b) noexcept { return Value(Type::boolean, nullptr, b ? 1u : 0u); }
    static constexpr Value integer(std::int32_t i) noexcept {
        return Value(Type::integer, nullptr, static_cast<std::uint32_t>(i));
    }
    static constexpr Value string(std::string_view s) noexcept {
        return Value(Type::string, s.data(), static_cast<std::uint32_t>(s.size()));
    }

    // The type of the value.
    constexpr Type type() const noexcept { return type_; }
    // Each accessor returns the zero value when the type differs.
    constexpr bool as_boolean() const noexcept { return type_ == Type::boolean && word_ != 0; }
    constexpr std::int32_t as_integer() const noexcept {
        return type_ == Type::integer ? static_cast<std::int32_t>(word_) : 0;
    }
    constexpr std::string_view as_string() const noexcept {
        return type_ == Type::string ? std::string_view(data_, word_) : std::string_view();
    }

private:
    constexpr Value(Type type, const char* data, std::uint32_t word) noexcept
        : data_(data), word_(word), type_(type) {}

    const char* data_ = nullptr;
    std::uint32_t word_ = 0;  // Boolean 0 or 1, Integer bits, or String size
    Type type_ = Type::boolean;
};

// The outcome of Expression::evaluate(): a value that owns its text, plus
// every error raised.
class Result {
public:
    // The type of the value.
    Type type() const noexcept { return type_; }
    // Each accessor returns the zero value (false, 0 or "") when the type
    // differs.
    bool as_boolean() const noexcept { return type_ == Type::boolean && boolean_; }
    std::int32_t as_integer() const noexcept { return type_ == Type::integer ? integer_ : 0; }
    const std::string& as_string() const noexcept { return string_; }

    // Every error raised, in the order evaluation raised them.
    const std::vector<Error>& errors() const noexcept { return errors_; }
    // True when no error was raised.
    bool ok() const noexcept { return errors_.empty(); }
    // True for Boolean true with no error: the filter rule.
    bool is_true() const noexcept { return ok() && as_boolean(); }
    // True when some error is of this kind.
    bool has_error(ErrorKind kind) const noexcept;

    // The value in CESQL syntax: true, -3 or 'text' (quotes escaped).
    std::string to_string() const;

private:
    friend class Expression;
    Type type_ = Type::boolean;
    bool boolean_ = false;
    std::int32_t integer_ = 0;
    std::string string_;
    std::vector<Error> errors_;
};

class Evaluation;

// The evaluation that calls a host function, as the function can use it.
class Call {
public:
    // The event being evaluated.
    const Event& event() const noexcept;
    // Copies `text` into the evaluation's scratch space and returns a view
    // that stays valid until the evaluation ends, for a String return value.
    // Allocates only when the scratch space is full.
    std::string_view store(std::string_view text);
    // Reserves `size` bytes of the same scratch space, for a result the
    // function writes in place.
    char* allocate(std::size_t size);
    // Raises an error of kind `kind`, by default functionEvaluation (ABS
    // raises a math error). The function's return value still
    // becomes the call's value. Allocates the message only in complete mode.
    void raise(std::string_view message, ErrorKind kind = ErrorKind::function_evaluation);

private:
    friend class Evaluation;
    explicit Call(Evaluation& evaluation, std::size_t offset) noexcept
        : evaluation_(evaluation), offset_(offset) {}
    Evaluation& evaluation_;
    std::size_t offset_;
};

// A function body. The arguments are already cast to the parameter types.
// A body may throw; the exception becomes a functionEvaluation error and the
// call yields the zero value of its return type.
using FunctionBody = std::function<Value(std::span<const Value> arguments, Call& call)>;

// Named functions available to expressions: the built-ins plus any the host
// adds. Names are case-insensitive. Overloads differ by arity only; one
// overload per name may be variadic, and then its fixed parameters must
// outnumber the parameters of every other overload of that name.
class Functions {
public:
    // The built-in functions: LENGTH, CONCAT, CONCAT_WS, LOWER, UPPER, TRIM,
    // LEFT, RIGHT, SUBSTRING (2 and 3 arguments), ABS, INT, BOOL and STRING.
    Functions();
    // The shared registry of built-ins. Thread-safe.
    static const Functions& builtins();

    // Adds a function with fixed parameters. Throws cebus::Error when the
    // name is not [A-Za-z][A-Za-z_]* or the overload rules forbid it.
    // Allocates. Not thread-safe.
    Functions& add(std::string_view name, std::vector<Type> parameters, Type result, FunctionBody body);
    // Adds a variadic function: the fixed parameters, then any number of
    // arguments of type `rest`.
    Functions& add_variadic(std::string_view name, std::vector<Type> fixed, Type rest, Type result,
                            FunctionBody body);

    struct Overload;

    // The overload of `name` that takes `arity` arguments, or nullptr.
    std::shared_ptr<const Overload> find(std::string_view name, std::size_t arity) const;

private:
    std::vector<std::shared_ptr<const Overload>> overloads_;
};

// Settings of Expression::compile(). The limits bound the work a hostile
// expression can cause.
struct CompileOptions {
    // Functions the expression may call; the built-ins when null.
    const Functions* functions = nullptr;
    // Reject a call to an unknown function or with an unknown arity when
    // compiling. When false (the spec's behaviour) such a call compiles and
    // raises a missingFunction error each time it is evaluated.
    bool reject_unknown_functions = false;
    // Deepest nesting of operators, calls and parentheses accepted, so a
    // hostile expression cannot exhaust the stack while being compiled or
    // evaluated. Chains of AND, OR or XOR count as one level.
    std::size_t max_depth = 100;
    // Maximum length of the expression text, in bytes.
    std::size_t max_length = 64 * 1024;
    // Maximum bytes of strings one evaluation may make (casts, CONCAT,
    // LOWER and the like). Past it the evaluation stops with a generic
    // error and the value false, so nested CONCAT cannot exhaust memory.
    std::size_t max_string_bytes = 16 * 1024 * 1024;
};

class Program;

// A compiled CESQL expression. Cheap to copy; copies share the program.
class Expression {
public:
    // Compiles `text`. Throws CompileError with the byte offset and the
    // reason. Allocates.
    static Expression compile(std::string_view text, const CompileOptions& options = {});

    // Evaluates in complete mode: the value plus every error raised.
    // Thread-safe. Allocates only for a String result longer than the
    // small-string buffer, for errors, and when intermediate strings overflow
    // the evaluation's fixed scratch buffer.
    Result evaluate(const Event& event) const;

    // Evaluates as a filter in fail-fast mode: true only for Boolean true
    // with no error. Thread-safe. Does not allocate unless intermediate
    // strings overflow the scratch buffer or a host function allocates.
    bool matches(const Event& event) const;

    // The text it was compiled from.
    const std::string& text() const noexcept;

private:
    explicit Expression(std::shared_ptr<const Program> program) noexcept : program_(std::move(program)) {}
    std::shared_ptr<const Program> program_;
};

}  // namespace cebus::cesql
