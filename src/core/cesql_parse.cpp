// Lexer and recursive-descent parser for CESQL v1.0.0.
//
// Grammar, loosest binding first; every binary level groups left to right:
//   expression     := comparison ((AND | OR | XOR) comparison)*
//   comparison     := additive (('=' | '!=' | '<>' | '<' | '<=' | '>' | '>=') additive)*
//   additive       := multiplicative (('+' | '-') multiplicative)*
//   multiplicative := postfix (('*' | '/' | '%') postfix)*
//   postfix        := unary ([NOT] LIKE string | [NOT] IN '(' expression (',' expression)* ')')*
//   unary          := NOT unary | '-' unary | primary
//   primary        := literal | identifier | name '(' [expression (',' expression)*] ')'
//                   | EXISTS identifier | '(' expression ')'
// This follows the spec's precedence table: LIKE and IN bind tighter than
// arithmetic, and unary operators tighter than everything but calls.
#include "cesql_program.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "text.hpp"

namespace cebus::cesql {
namespace {

enum class Tok : std::uint8_t {
    end,
    integer,
    string,
    word,
    lparen,
    rparen,
    comma,
    plus,
    minus,
    star,
    slash,
    percent,
    equal,
    not_equal,
    less,
    less_equal,
    greater,
    greater_equal,
    kw_and,
    kw_or,
    kw_xor,
    kw_not,
    kw_like,
    kw_exists,
    kw_in,
    kw_true,
    kw_false,
};

struct Token {
    Tok kind = Tok::end;
    std::size_t offset = 0;
    std::string_view text;      // the source text of the token
    std::int64_t integer = 0;   // integer: magnitude, up to 2^31 so a minus can fold
    std::string string;         // string: the decoded value
};

bool is_word_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string describe(const Token& token) {
    if (token.kind == Tok::end) return "end of expression";
    return "\"" + std::string(token.text.substr(0, 40)) + "\"";
}

class Lexer {
public:
    explicit Lexer(std::string_view text) : text_(text) {}

    Token next() {
        skip_space();
        Token token;
        token.offset = pos_;
        if (pos_ >= text_.size()) return token;

        const char c = text_[pos_];
        if (c == '\'' || c == '"') return lex_string(token, c);
        if (is_word_char(c)) return lex_word(token);

        token.kind = symbol(c);
        token.text = text_.substr(token.offset, pos_ - token.offset);
        return token;
    }

private:
    void skip_space() {
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
            ++pos_;
        }
    }

    Tok symbol(char c) {
        const std::size_t start = pos_++;
        auto followed_by = [&](char next) {
            if (pos_ < text_.size() && text_[pos_] == next) {
                ++pos_;
                return true;
            }
            return false;
        };
        switch (c) {
            case '(': return Tok::lparen;
            case ')': return Tok::rparen;
            case ',': return Tok::comma;
            case '+': return Tok::plus;
            case '-': return Tok::minus;
            case '*': return Tok::star;
            case '/': return Tok::slash;
            case '%': return Tok::percent;
            case '=': return Tok::equal;
            case '!':
                if (followed_by('=')) return Tok::not_equal;
                throw CompileError(start, "unexpected character \"!\"; did you mean \"!=\"?");
            case '<':
                if (followed_by('=')) return Tok::less_equal;
                if (followed_by('>')) return Tok::not_equal;
                return Tok::less;
            case '>':
                if (followed_by('=')) return Tok::greater_equal;
                return Tok::greater;
            default:
                break;
        }
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte >= 0x7f) {
            throw CompileError(start, "unexpected byte 0x" + hex(byte) + " outside a string literal");
        }
        throw CompileError(start, std::string("unexpected character \"") + c + "\"");
    }

    static std::string hex(unsigned char byte) {
        constexpr char digits[] = "0123456789abcdef";
        return {digits[byte >> 4], digits[byte & 15]};
    }

    // Inside 'x' the escape is \' and inside "x" it is \"; a doubled quote
    // also stands for one quote. Every other backslash is kept as written,
    // with the character after it, so LIKE patterns see their own \% and \_.
    Token lex_string(Token& token, char quote) {
        ++pos_;
        while (true) {
            if (pos_ >= text_.size()) {
                throw CompileError(token.offset, "unterminated string literal: add the closing " +
                                                     std::string(1, quote));
            }
            const char c = text_[pos_];
            if (c == '\\' && pos_ + 1 < text_.size()) {
                // A backslash pairs with the next character, as in the ANTLR
                // lexer, so '\\' ends after two backslashes.
                if (text_[pos_ + 1] != quote) token.string += c;
                token.string += text_[pos_ + 1];
                pos_ += 2;
            } else if (c == quote) {
                if (pos_ + 1 < text_.size() && text_[pos_ + 1] == quote) {
                    token.string += quote;
                    pos_ += 2;
                } else {
                    ++pos_;
                    break;
                }
            } else {
                token.string += c;
                ++pos_;
            }
        }
        token.kind = Tok::string;
        token.text = text_.substr(token.offset, pos_ - token.offset);
        return token;
    }

    Token lex_word(Token& token) {
        while (pos_ < text_.size() && is_word_char(text_[pos_])) ++pos_;
        token.text = text_.substr(token.offset, pos_ - token.offset);

        if (std::all_of(token.text.begin(), token.text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            std::int64_t value = 0;
            for (const char digit : token.text) {
                value = value * 10 + (digit - '0');
                if (value > std::int64_t{1} << 31) {
                    throw CompileError(token.offset, "integer literal " + std::string(token.text.substr(0, 40)) +
                                                         " is outside the 32-bit range");
                }
            }
            token.kind = Tok::integer;
            token.integer = value;
            return token;
        }

        static constexpr std::pair<std::string_view, Tok> keywords[] = {
            {"AND", Tok::kw_and},       {"OR", Tok::kw_or},     {"XOR", Tok::kw_xor},
            {"NOT", Tok::kw_not},       {"LIKE", Tok::kw_like}, {"EXISTS", Tok::kw_exists},
            {"IN", Tok::kw_in},         {"TRUE", Tok::kw_true}, {"FALSE", Tok::kw_false},
        };
        token.kind = Tok::word;
        for (const auto& [name, kind] : keywords) {
            if (detail::iequals(token.text, name)) token.kind = kind;
        }
        return token;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

class Parser {
public:
    Parser(std::string_view text, const CompileOptions& options)
        : lexer_(text), options_(options),
          functions_(options.functions ? *options.functions : Functions::builtins()) {
        program_ = std::make_shared<Program>();
        program_->text = std::string(text);
        program_->max_string_bytes = options.max_string_bytes;
        advance();
    }

    std::shared_ptr<const Program> run() {
        const std::uint32_t root = parse_expression();
        if (current_.kind != Tok::end) {
            throw CompileError(current_.offset, "unexpected " + describe(current_) + " after a complete expression");
        }
        program_->root = root;
        fuse();
        return program_;
    }

private:
    // Rewrites `attribute = 'text'`, `attribute != 'text'` and `attribute
    // [NOT] LIKE 'pattern'` into fused nodes that skip building Values.
    void fuse() {
        for (Node& node : program_->nodes) {
            const Node& left = program_->nodes[node.left];
            if (node.op == Op::like || node.op == Op::not_like) {
                if (left.op != Op::attribute) continue;
                node.op = node.op == Op::like ? Op::text_like : Op::text_not_like;
                const LikePattern& pattern = program_->patterns[node.right];
                node.call = static_cast<std::uint32_t>(pattern.kind);
                if (pattern.kind == LikePattern::Kind::exact || pattern.kind == LikePattern::Kind::prefix ||
                    pattern.kind == LikePattern::Kind::suffix || pattern.kind == LikePattern::Kind::contains) {
                    const PoolText segment = pattern.segments.front();
                    node.text = add_text(std::string_view(pattern.literals).substr(segment.offset, segment.size));
                }
            } else if (node.op == Op::equal || node.op == Op::not_equal) {
                const Node& right = program_->nodes[node.right];
                if (left.op != Op::attribute || right.op != Op::literal || right.literal_type != Type::string) continue;
                node.text = right.text;
                node.op = node.op == Op::equal ? Op::text_equal : Op::text_not_equal;
            }
        }
    }

    // Counts parser recursion (parentheses, unary chains, call arguments) so
    // hostile input fails cleanly instead of overflowing the stack.
    class Nesting {
    public:
        Nesting(Parser& parser, std::size_t offset) : parser_(parser) {
            if (++parser_.nesting_ > parser_.options_.max_depth) {
                throw CompileError(offset, "expression nested deeper than " +
                                               std::to_string(parser_.options_.max_depth) + " levels");
            }
        }
        ~Nesting() { --parser_.nesting_; }
        Nesting(const Nesting&) = delete;
        Nesting& operator=(const Nesting&) = delete;

    private:
        Parser& parser_;
    };

    void advance() { current_ = lexer_.next(); }

    [[noreturn]] void fail_expected(std::string_view what) {
        throw CompileError(current_.offset, "expected " + std::string(what) + " but found " + describe(current_));
    }

    void expect(Tok kind, std::string_view what) {
        if (current_.kind != kind) fail_expected(what);
        advance();
    }

    PoolText add_text(std::string_view text) {
        if (program_->pool.size() + text.size() > std::numeric_limits<std::uint32_t>::max()) {
            throw CompileError(current_.offset, "expression too large");
        }
        PoolText t{static_cast<std::uint32_t>(program_->pool.size()), static_cast<std::uint32_t>(text.size())};
        program_->pool.append(text);
        return t;
    }

    // Appends a node, computing its depth from its children. A tree deeper
    // than max_depth would make evaluation recurse too deep, so it is rejected.
    std::uint32_t add(Node node, std::initializer_list<std::uint32_t> children = {},
                      std::span<const std::uint32_t> more = {}) {
        std::size_t depth = 0;
        for (const std::uint32_t child : children) depth = std::max(depth, depths_[child]);
        for (const std::uint32_t child : more) depth = std::max(depth, depths_[child]);
        ++depth;
        if (depth > options_.max_depth) {
            throw CompileError(node.offset, "expression nested deeper than " + std::to_string(options_.max_depth) +
                                                " levels");
        }
        program_->nodes.push_back(node);
        depths_.push_back(depth);
        return static_cast<std::uint32_t>(program_->nodes.size() - 1);
    }

    std::uint32_t add_operands(const std::vector<std::uint32_t>& operands) {
        const auto first = static_cast<std::uint32_t>(program_->operands.size());
        program_->operands.insert(program_->operands.end(), operands.begin(), operands.end());
        return first;
    }

    static std::optional<Op> logical_op(Tok kind) {
        switch (kind) {
            case Tok::kw_and: return Op::logical_and;
            case Tok::kw_or: return Op::logical_or;
            case Tok::kw_xor: return Op::logical_xor;
            default: return std::nullopt;
        }
    }

    // A run of one logical operator becomes one n-ary node, so long chains
    // such as `a OR b OR c ...` add no depth.
    std::uint32_t parse_expression() {
        Nesting nesting(*this, current_.offset);
        std::uint32_t left = parse_comparison();
        while (const auto op = logical_op(current_.kind)) {
            const std::size_t offset = current_.offset;
            std::vector<std::uint32_t> operands{left};
            while (logical_op(current_.kind) == op) {
                advance();
                operands.push_back(parse_comparison());
            }
            Node node;
            node.op = *op;
            node.offset = static_cast<std::uint32_t>(offset);
            node.left = add_operands(operands);
            node.right = static_cast<std::uint32_t>(operands.size());
            left = add(node, {}, operands);
        }
        return left;
    }

    std::uint32_t binary(Op op, std::size_t offset, std::uint32_t left, std::uint32_t right) {
        Node node;
        node.op = op;
        node.offset = static_cast<std::uint32_t>(offset);
        node.left = left;
        node.right = right;
        return add(node, {left, right});
    }

    std::uint32_t parse_comparison() {
        std::uint32_t left = parse_additive();
        while (true) {
            Op op;
            switch (current_.kind) {
                case Tok::equal: op = Op::equal; break;
                case Tok::not_equal: op = Op::not_equal; break;
                case Tok::less: op = Op::less; break;
                case Tok::less_equal: op = Op::less_equal; break;
                case Tok::greater: op = Op::greater; break;
                case Tok::greater_equal: op = Op::greater_equal; break;
                default: return left;
            }
            const std::size_t offset = current_.offset;
            advance();
            left = binary(op, offset, left, parse_additive());
        }
    }

    std::uint32_t parse_additive() {
        std::uint32_t left = parse_multiplicative();
        while (current_.kind == Tok::plus || current_.kind == Tok::minus) {
            const Op op = current_.kind == Tok::plus ? Op::add : Op::subtract;
            const std::size_t offset = current_.offset;
            advance();
            left = binary(op, offset, left, parse_multiplicative());
        }
        return left;
    }

    std::uint32_t parse_multiplicative() {
        std::uint32_t left = parse_postfix();
        while (current_.kind == Tok::star || current_.kind == Tok::slash || current_.kind == Tok::percent) {
            const Op op = current_.kind == Tok::star ? Op::multiply
                          : current_.kind == Tok::slash ? Op::divide
                                                        : Op::modulo;
            const std::size_t offset = current_.offset;
            advance();
            left = binary(op, offset, left, parse_postfix());
        }
        return left;
    }

    std::uint32_t parse_postfix() {
        std::uint32_t left = parse_unary();
        while (true) {
            const std::size_t offset = current_.offset;
            bool negated = false;
            if (current_.kind == Tok::kw_not) {
                negated = true;
                advance();
                if (current_.kind != Tok::kw_like && current_.kind != Tok::kw_in) {
                    fail_expected("LIKE or IN after NOT");
                }
            }
            if (current_.kind == Tok::kw_like) {
                left = parse_like(left, negated, offset);
            } else if (current_.kind == Tok::kw_in) {
                left = parse_in(left, negated, offset);
            } else {
                return left;
            }
        }
    }

    std::uint32_t parse_like(std::uint32_t left, bool negated, std::size_t offset) {
        advance();
        if (current_.kind != Tok::string) fail_expected("a string literal as the LIKE pattern");
        program_->patterns.push_back(compile_like(current_.string));
        advance();

        Node node;
        node.op = negated ? Op::not_like : Op::like;
        node.offset = static_cast<std::uint32_t>(offset);
        node.left = left;
        node.right = static_cast<std::uint32_t>(program_->patterns.size() - 1);
        return add(node, {left});
    }

    std::uint32_t parse_in(std::uint32_t left, bool negated, std::size_t offset) {
        advance();
        if (current_.kind != Tok::lparen) fail_expected("\"(\" to open the IN set");
        advance();
        if (current_.kind == Tok::rparen) {
            throw CompileError(current_.offset, "the IN set is empty; list at least one value");
        }
        std::vector<std::uint32_t> operands{left};
        while (true) {
            operands.push_back(parse_expression());
            if (current_.kind == Tok::comma) {
                advance();
                continue;
            }
            expect(Tok::rparen, "\",\" or \")\" in the IN set");
            break;
        }
        Node node;
        node.op = negated ? Op::not_in : Op::in;
        node.offset = static_cast<std::uint32_t>(offset);
        node.left = add_operands(operands);
        node.right = static_cast<std::uint32_t>(operands.size());
        return add(node, {}, operands);
    }

    std::uint32_t literal_integer(std::int64_t value, std::size_t offset) {
        if (value > std::numeric_limits<std::int32_t>::max() || value < std::numeric_limits<std::int32_t>::min()) {
            throw CompileError(offset, "integer literal " + std::to_string(value) + " is outside the 32-bit range");
        }
        Node node;
        node.op = Op::literal;
        node.literal_type = Type::integer;
        node.literal_integer = static_cast<std::int32_t>(value);
        node.offset = static_cast<std::uint32_t>(offset);
        return add(node);
    }

    std::uint32_t parse_unary() {
        const std::size_t offset = current_.offset;

        if (current_.kind == Tok::kw_not) {
            Nesting nesting(*this, offset);
            advance();
            Node node;
            node.op = Op::logical_not;
            node.offset = static_cast<std::uint32_t>(offset);
            node.left = parse_unary();
            return add(node, {node.left});
        }
        if (current_.kind == Tok::minus || current_.kind == Tok::plus) {
            const bool minus = current_.kind == Tok::minus;
            advance();
            // A sign directly before digits is part of the literal, so
            // -2147483648 is a valid Integer.
            if (current_.kind == Tok::integer) {
                const std::int64_t magnitude = current_.integer;
                const std::size_t literal_offset = current_.offset;
                advance();
                return literal_integer(minus ? -magnitude : magnitude, literal_offset);
            }
            if (!minus) fail_expected("digits after \"+\"");
            Nesting nesting(*this, offset);
            Node node;
            node.op = Op::negate;
            node.offset = static_cast<std::uint32_t>(offset);
            node.left = parse_unary();
            return add(node, {node.left});
        }
        return parse_primary();
    }

    std::uint32_t parse_primary() {
        const std::size_t offset = current_.offset;
        Node node;
        node.offset = static_cast<std::uint32_t>(offset);

        switch (current_.kind) {
            case Tok::integer: {
                const std::int64_t value = current_.integer;
                advance();
                return literal_integer(value, offset);
            }
            case Tok::string:
                node.op = Op::literal;
                node.literal_type = Type::string;
                node.text = add_text(current_.string);
                advance();
                return add(node);
            case Tok::kw_true:
            case Tok::kw_false:
                node.op = Op::literal;
                node.literal_type = Type::boolean;
                node.literal_boolean = current_.kind == Tok::kw_true;
                advance();
                return add(node);
            case Tok::lparen: {
                advance();
                const std::uint32_t inner = parse_expression();
                expect(Tok::rparen, "\")\" to close the parenthesis");
                return inner;
            }
            case Tok::kw_exists: {
                advance();
                if (current_.kind != Tok::word) fail_expected("an attribute name after EXISTS");
                node.op = Op::exists;
                set_attribute(node, current_);
                advance();
                return add(node);
            }
            case Tok::word: {
                const Token word = current_;
                advance();
                if (current_.kind == Tok::lparen) return parse_call(word);
                node.op = Op::attribute;
                set_attribute(node, word);
                return add(node);
            }
            case Tok::end:
                fail_expected("an expression");
            default:
                fail_expected("a value, attribute, function call or \"(\"");
        }
    }

    // Identifiers follow the attribute naming rule [a-z0-9]+; upper case is
    // folded so `EXISTS SOURCE` works.
    void set_attribute(Node& node, const Token& word) {
        for (const char c : word.text) {
            if (c == '_') {
                throw CompileError(word.offset, "invalid attribute name " + describe(word) +
                                                    ": names use only a-z and 0-9");
            }
        }
        const std::string name = detail::to_lower(word.text);
        static constexpr std::pair<std::string_view, Attribute> core[] = {
            {"id", Attribute::id},
            {"source", Attribute::source},
            {"specversion", Attribute::specversion},
            {"type", Attribute::type},
            {"datacontenttype", Attribute::datacontenttype},
            {"dataschema", Attribute::dataschema},
            {"subject", Attribute::subject},
            {"time", Attribute::time},
        };
        node.attribute = Attribute::extension;
        for (const auto& [core_name, attribute] : core) {
            if (name == core_name) node.attribute = attribute;
        }
        node.text = add_text(name);
    }

    std::uint32_t parse_call(const Token& name) {
        const bool valid_name = (name.text[0] >= 'a' && name.text[0] <= 'z') ||
                                (name.text[0] >= 'A' && name.text[0] <= 'Z');
        if (!valid_name || std::any_of(name.text.begin(), name.text.end(),
                                       [](char c) { return c >= '0' && c <= '9'; })) {
            throw CompileError(name.offset, "invalid function name " + describe(name) +
                                                ": names use letters and \"_\" and start with a letter");
        }
        advance();  // (

        std::vector<std::uint32_t> arguments;
        if (current_.kind != Tok::rparen) {
            while (true) {
                arguments.push_back(parse_expression());
                if (current_.kind == Tok::comma) {
                    advance();
                    continue;
                }
                break;
            }
        }
        expect(Tok::rparen, "\",\" or \")\" in the argument list");

        std::string upper(name.text);
        for (char& c : upper) {
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        }
        Node node;
        node.offset = static_cast<std::uint32_t>(name.offset);
        node.left = add_operands(arguments);
        node.right = static_cast<std::uint32_t>(arguments.size());
        node.text = add_text(upper);
        if (auto overload = functions_.find(upper, arguments.size())) {
            node.op = Op::call;
            node.call = static_cast<std::uint32_t>(program_->calls.size());
            program_->calls.push_back(std::move(overload));
        } else if (options_.reject_unknown_functions) {
            throw CompileError(name.offset, "unknown function " + upper + " with " +
                                                std::to_string(arguments.size()) + " argument(s)");
        } else {
            node.op = Op::missing_call;
        }
        return add(node, {}, arguments);
    }

    Lexer lexer_;
    const CompileOptions& options_;
    const Functions& functions_;
    std::shared_ptr<Program> program_;
    std::vector<std::size_t> depths_;
    std::size_t nesting_ = 0;
    Token current_;
};

}  // namespace

std::shared_ptr<const Program> parse(std::string_view text, const CompileOptions& options) {
    if (text.size() > options.max_length) {
        throw CompileError(options.max_length, "expression longer than " + std::to_string(options.max_length) +
                                                   " bytes");
    }
    const std::size_t bad = detail::find_invalid_utf8(text);
    if (bad != std::string_view::npos) throw CompileError(bad, "invalid UTF-8 in the expression");
    return Parser(text, options).run();
}

}  // namespace cebus::cesql
