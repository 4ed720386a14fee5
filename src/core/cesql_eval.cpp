// Evaluation of a compiled CESQL program: casts, operators, LIKE and
// attribute access. Values are Value views; strings made on the way (casts,
// function results) go to the evaluation's scratch space, so the common case
// allocates nothing.
#include "cesql_program.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "text.hpp"

namespace cebus::cesql {

// ---- text helpers ---------------------------------------------------------

std::size_t utf8_sequence_length(unsigned char lead) noexcept {
    if (lead < 0x80) return 1;
    if ((lead & 0xE0) == 0xC0) return 2;
    if ((lead & 0xF0) == 0xE0) return 3;
    if ((lead & 0xF8) == 0xF0) return 4;
    return 1;
}

namespace {

// Steps one code point forward, never past the end (a truncated sequence
// counts as one character).
std::size_t step(std::string_view text, std::size_t pos) noexcept {
    return std::min(text.size(), pos + utf8_sequence_length(static_cast<unsigned char>(text[pos])));
}

}  // namespace

std::size_t code_point_count(std::string_view text) noexcept {
    std::size_t count = 0;
    for (std::size_t pos = 0; pos < text.size(); pos = step(text, pos)) ++count;
    return count;
}

std::size_t code_point_offset(std::string_view text, std::size_t index) noexcept {
    std::size_t pos = 0;
    for (std::size_t i = 0; i < index && pos < text.size(); ++i) pos = step(text, pos);
    return pos;
}

std::size_t format_integer(std::int32_t value, char* out) noexcept {
    char digits[12];
    std::size_t n = 0;
    // Work in unsigned so -2147483648 has a magnitude.
    std::uint32_t magnitude =
        value < 0 ? 0u - static_cast<std::uint32_t>(value) : static_cast<std::uint32_t>(value);
    do {
        digits[n++] = static_cast<char>('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    std::size_t length = 0;
    if (value < 0) out[length++] = '-';
    while (n > 0) out[length++] = digits[--n];
    return length;
}

// ---- scratch ---------------------------------------------------------------

char* Scratch::allocate(std::size_t size, std::size_t limit) {
    // Nested CONCAT can double a string at every level, so the total is
    // capped to keep memory bounded.
    if (size > limit || total_ > limit - size) throw ScratchExhausted{};
    total_ += size;
    if (size <= inline_.size() - used_) {
        char* p = inline_.data() + used_;
        used_ += size;
        return p;
    }
    blocks_.push_back(std::make_unique<char[]>(std::max<std::size_t>(size, 1)));
    return blocks_.back().get();
}

std::string_view Evaluation::store(std::string_view text) {
    char* p = allocate(text.size());
    if (!text.empty()) std::memcpy(p, text.data(), text.size());
    return {p, text.size()};
}

// ---- LIKE --------------------------------------------------------------------

LikePattern compile_like(std::string_view pattern) {
    LikePattern compiled;
    bool has_any_one = false;
    std::vector<LikePattern::Element> elements;

    // A backslash escapes only % and _; before anything else it is itself.
    for (std::size_t pos = 0; pos < pattern.size();) {
        const char c = pattern[pos];
        if (c == '\\' && pos + 1 < pattern.size() && (pattern[pos + 1] == '%' || pattern[pos + 1] == '_')) {
            elements.push_back({LikePattern::Element::Kind::literal,
                                static_cast<std::uint32_t>(compiled.literals.size()), 1});
            compiled.literals += pattern[pos + 1];
            pos += 2;
        } else if (c == '%') {
            // Consecutive % match the same as one.
            if (elements.empty() || elements.back().kind != LikePattern::Element::Kind::any_run) {
                elements.push_back({LikePattern::Element::Kind::any_run, 0, 0});
            }
            ++pos;
        } else if (c == '_') {
            has_any_one = true;
            elements.push_back({LikePattern::Element::Kind::any_one, 0, 0});
            ++pos;
        } else {
            const std::size_t next = step(pattern, pos);
            elements.push_back({LikePattern::Element::Kind::literal,
                                static_cast<std::uint32_t>(compiled.literals.size()),
                                static_cast<std::uint32_t>(next - pos)});
            compiled.literals.append(pattern.substr(pos, next - pos));
            pos = next;
        }
    }

    if (has_any_one) {
        compiled.kind = LikePattern::Kind::general;
        compiled.elements = std::move(elements);
        return compiled;
    }

    // Only literals and %: split into the literal runs between the %.
    std::uint32_t run_start = 0;
    std::uint32_t run_size = 0;
    bool in_run = false;
    for (const auto& element : elements) {
        if (element.kind == LikePattern::Element::Kind::literal) {
            if (!in_run) {
                run_start = element.offset;
                run_size = 0;
                in_run = true;
            }
            run_size += element.size;
        } else {
            if (in_run) compiled.segments.push_back({run_start, run_size});
            in_run = false;
        }
    }
    if (in_run) compiled.segments.push_back({run_start, run_size});

    const bool any_run = std::any_of(elements.begin(), elements.end(), [](const auto& e) {
        return e.kind == LikePattern::Element::Kind::any_run;
    });
    compiled.leading_any = !elements.empty() && elements.front().kind == LikePattern::Element::Kind::any_run;
    compiled.trailing_any = !elements.empty() && elements.back().kind == LikePattern::Element::Kind::any_run;

    if (!any_run) {
        compiled.kind = LikePattern::Kind::exact;
        if (compiled.segments.empty()) compiled.segments.push_back({0, 0});
    } else if (compiled.segments.size() == 1 && !compiled.leading_any) {
        compiled.kind = LikePattern::Kind::prefix;
    } else if (compiled.segments.size() == 1 && !compiled.trailing_any) {
        compiled.kind = LikePattern::Kind::suffix;
    } else if (compiled.segments.size() <= 1) {
        compiled.kind = LikePattern::Kind::contains;  // %x% or just %
        if (compiled.segments.empty()) compiled.segments.push_back({0, 0});
    } else {
        compiled.kind = LikePattern::Kind::segments;
    }
    return compiled;
}

bool LikePattern::match(std::string_view text) const noexcept {
    const std::string_view all(literals);
    auto segment = [&](std::size_t i) { return all.substr(segments[i].offset, segments[i].size); };

    switch (kind) {
        case Kind::exact:
            return text == segment(0);
        case Kind::prefix:
            return text.starts_with(segment(0));
        case Kind::suffix:
            return text.ends_with(segment(0));
        case Kind::contains:
            return text.find(segment(0)) != std::string_view::npos;
        case Kind::segments: {
            // Anchor the ends, then find the middle runs leftmost first; that
            // greedy choice never loses a match when only % separates them.
            std::size_t first = 0;
            std::size_t last = segments.size();
            if (!leading_any) {
                if (!text.starts_with(segment(0))) return false;
                text.remove_prefix(segment(0).size());
                first = 1;
            }
            if (!trailing_any) {
                if (!text.ends_with(segment(last - 1))) return false;
                text.remove_suffix(segment(last - 1).size());
                --last;
            }
            for (std::size_t i = first; i < last; ++i) {
                const std::size_t at = text.find(segment(i));
                if (at == std::string_view::npos) return false;
                text.remove_prefix(at + segment(i).size());
            }
            return true;
        }
        case Kind::general:
            break;
    }

    // Wildcard matching with backtracking to the last %, on code points:
    // O(text * pattern) at worst, never exponential.
    // NOTE: with a 64 KiB pattern (the default max_length) and a multi-megabyte
    // attribute the worst case is still billions of steps; there is no step
    // budget yet.
    std::size_t t = 0;
    std::size_t p = 0;
    std::size_t star_p = std::string_view::npos;
    std::size_t star_t = 0;
    while (t < text.size()) {
        if (p < elements.size()) {
            const Element& e = elements[p];
            if (e.kind == Element::Kind::any_run) {
                star_p = p++;
                star_t = t;
                continue;
            }
            if (e.kind == Element::Kind::any_one) {
                t = step(text, t);
                ++p;
                continue;
            }
            if (text.substr(t).starts_with(all.substr(e.offset, e.size))) {
                t += e.size;
                ++p;
                continue;
            }
        }
        if (star_p == std::string_view::npos) return false;
        p = star_p + 1;
        star_t = step(text, star_t);
        t = star_t;
    }
    while (p < elements.size() && elements[p].kind == Element::Kind::any_run) ++p;
    return p == elements.size();
}

// ---- casts -----------------------------------------------------------------

namespace {

constexpr Value zero_of(Type type) noexcept {
    switch (type) {
        case Type::integer: return Value::integer(0);
        case Type::string: return Value::string({});
        case Type::boolean: break;
    }
    return Value::boolean(false);
}

// String to Integer: an optional sign and base-10 digits, nothing else.
bool parse_integer(std::string_view text, std::int32_t& out) noexcept {
    bool negative = false;
    if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
        negative = text[0] == '-';
        text.remove_prefix(1);
    }
    if (text.empty()) return false;
    std::int64_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + (c - '0');
        if (value > (std::int64_t{1} << 31)) return false;
    }
    if (negative) value = -value;
    if (value > std::numeric_limits<std::int32_t>::max()) return false;
    out = static_cast<std::int32_t>(value);
    return true;
}

std::string quote(std::string_view text) { return detail::quote_for_message(text); }

}  // namespace

Value Evaluation::convert(Value value, Type type, std::size_t offset) {
    switch (type) {
        case Type::string: {
            if (value.type() == Type::boolean) return Value::string(value.as_boolean() ? "true" : "false");
            char* p = allocate(12);
            return Value::string({p, format_integer(value.as_integer(), p)});
        }
        case Type::integer: {
            if (value.type() == Type::boolean) return Value::integer(value.as_boolean() ? 1 : 0);
            std::int32_t parsed = 0;
            if (parse_integer(value.as_string(), parsed)) return Value::integer(parsed);
            raise(ErrorKind::cast, offset, [&] {
                return "cannot cast String " + quote(value.as_string()) +
                       " to Integer: expected an optional sign and base-10 digits within 32 bits";
            });
            return Value::integer(0);
        }
        case Type::boolean: {
            if (value.type() == Type::integer) return Value::boolean(value.as_integer() != 0);
            const std::string_view text = value.as_string();
            if (detail::iequals(text, "true")) return Value::boolean(true);
            if (detail::iequals(text, "false")) return Value::boolean(false);
            raise(ErrorKind::cast, offset, [&] {
                return "cannot cast String " + quote(text) + " to Boolean: expected true or false";
            });
            return Value::boolean(false);
        }
    }
    return zero_of(type);
}

// ---- evaluation --------------------------------------------------------------

[[gnu::always_inline]] inline int Evaluation::attribute_text(const Node& node, std::string_view& out) const noexcept {
    auto optional_text = [&](const std::optional<std::string>& value) {
        if (!value) return 0;
        out = *value;
        return 1;
    };
    switch (node.attribute) {
        case Attribute::id: out = event_.id(); return 1;
        case Attribute::source: out = event_.source(); return 1;
        case Attribute::specversion: out = event_.specversion(); return 1;
        case Attribute::type: out = event_.type(); return 1;
        case Attribute::datacontenttype: return optional_text(event_.datacontenttype());
        case Attribute::dataschema: return optional_text(event_.dataschema());
        case Attribute::subject: return optional_text(event_.subject());
        case Attribute::time:
            if (!event_.time()) return 0;
            out = event_.time()->text();
            return 1;
        case Attribute::extension: break;
    }
    const AttributeValue* value = event_.extension(program_.view(node.text));
    if (!value) return 0;
    if (const auto* s = std::get_if<std::string>(value)) {
        out = *s;
        return 1;
    }
    if (const auto* u = std::get_if<Uri>(value)) {
        out = u->value;
        return 1;
    }
    if (const auto* r = std::get_if<UriRef>(value)) {
        out = r->value;
        return 1;
    }
    if (const auto* t = std::get_if<Timestamp>(value)) {
        out = t->text();
        return 1;
    }
    return -1;
}

Value Evaluation::missing_attribute(const Node& node) {
    raise(ErrorKind::missing_attribute, node.offset, [&] {
        return "missing attribute \"" + std::string(program_.view(node.text)) + "\"";
    });
    return Value::boolean(false);
}

bool Evaluation::exists(const Node& node) const noexcept {
    switch (node.attribute) {
        case Attribute::id:
        case Attribute::source:
        case Attribute::specversion:
        case Attribute::type: return true;
        case Attribute::datacontenttype: return event_.datacontenttype().has_value();
        case Attribute::dataschema: return event_.dataschema().has_value();
        case Attribute::subject: return event_.subject().has_value();
        case Attribute::time: return event_.time().has_value();
        case Attribute::extension: break;
    }
    return event_.extension(program_.view(node.text)) != nullptr;
}

// The common filter clauses, `attribute = 'text'`, `attribute LIKE 'x'` and
// EXISTS, evaluated without building Values: 0 or 1, or -1 when the general
// path must decide (an absent attribute raises an error there, and a
// Boolean, Integer or Binary extension needs a cast).
[[gnu::always_inline]] inline int Evaluation::quick_test(const Node& node) const noexcept {
    if (node.op == Op::exists) return exists(node) ? 1 : 0;
    if (node.op < Op::text_equal) return -1;

    std::string_view text;
    if (attribute_text(program_.nodes[node.left], text) != 1) return -1;
    bool result;
    if (node.op == Op::text_equal || node.op == Op::text_not_equal) {
        result = text == program_.view(node.text);
        return result == (node.op == Op::text_equal) ? 1 : 0;
    }
    switch (static_cast<LikePattern::Kind>(node.call)) {
        case LikePattern::Kind::exact: result = text == program_.view(node.text); break;
        case LikePattern::Kind::prefix: result = text.starts_with(program_.view(node.text)); break;
        case LikePattern::Kind::suffix: result = text.ends_with(program_.view(node.text)); break;
        case LikePattern::Kind::contains:
            result = text.find(program_.view(node.text)) != std::string_view::npos;
            break;
        default: result = program_.patterns[node.right].match(text); break;
    }
    return result == (node.op == Op::text_like) ? 1 : 0;
}

Value Evaluation::eval_text(const Node& node) {
    if (const int quick = quick_test(node); quick >= 0) return Value::boolean(quick == 1);

    // The general operators: they raise for an absent attribute and cast a
    // non-text one.
    Node general = node;
    switch (node.op) {
        case Op::text_equal: general.op = Op::equal; break;
        case Op::text_not_equal: general.op = Op::not_equal; break;
        case Op::text_like: general.op = Op::like; break;
        default: general.op = Op::not_like; break;
    }
    if (general.op == Op::equal || general.op == Op::not_equal) return eval_comparison(general);
    return eval_like(general);
}

Value Evaluation::eval_like(const Node& node) {
    const std::size_t before = error_count_;
    const Value operand = cast(eval(node.left), Type::string, program_.nodes[node.left].offset);
    if (error_count_ != before) return Value::boolean(false);
    const bool matched = program_.patterns[node.right].match(operand.as_string());
    return Value::boolean(matched == (node.op == Op::like));
}

Value Evaluation::eval_attribute(const Node& node) {
    auto text_or_missing = [&](const std::optional<std::string>& value) -> Value {
        if (value) return Value::string(*value);
        return missing_attribute(node);
    };

    switch (node.attribute) {
        case Attribute::id: return Value::string(event_.id());
        case Attribute::source: return Value::string(event_.source());
        case Attribute::specversion: return Value::string(event_.specversion());
        case Attribute::type: return Value::string(event_.type());
        case Attribute::datacontenttype: return text_or_missing(event_.datacontenttype());
        case Attribute::dataschema: return text_or_missing(event_.dataschema());
        case Attribute::subject: return text_or_missing(event_.subject());
        case Attribute::time:
            if (event_.time()) return Value::string(event_.time()->text());
            return text_or_missing(std::nullopt);
        case Attribute::extension:
            break;
    }

    const AttributeValue* value = event_.extension(program_.view(node.text));
    if (!value) return text_or_missing(std::nullopt);
    if (const auto* b = std::get_if<bool>(value)) return Value::boolean(*b);
    if (const auto* i = std::get_if<std::int32_t>(value)) return Value::integer(*i);
    if (const auto* s = std::get_if<std::string>(value)) return Value::string(*s);
    if (const auto* u = std::get_if<Uri>(value)) return Value::string(u->value);
    if (const auto* r = std::get_if<UriRef>(value)) return Value::string(r->value);
    if (const auto* t = std::get_if<Timestamp>(value)) return Value::string(t->text());
    // Binary is presented as its canonical string, Base64.
    return Value::string(store(to_canonical_string(*value)));
}

Value Evaluation::eval_logical(const Node& node) {
    const std::size_t before = error_count_;
    bool result = node.op == Op::logical_and;
    for (std::uint32_t i = 0; i < node.right; ++i) {
        const std::uint32_t child = program_.operands[node.left + i];
        const Node& operand_node = program_.nodes[child];
        int quick = quick_test(operand_node);
        if (quick < 0) {
            const Value operand = cast(eval(child), Type::boolean, operand_node.offset);
            if (error_count_ != before) return Value::boolean(false);
            quick = operand.as_boolean() ? 1 : 0;
        }

        const bool b = quick == 1;
        switch (node.op) {
            case Op::logical_and:
                if (!b) return Value::boolean(false);  // short circuit
                break;
            case Op::logical_or:
                if (b) return Value::boolean(true);  // short circuit
                break;
            default:
                result = result != b;  // XOR evaluates every operand
                break;
        }
    }
    return Value::boolean(result);
}

Value Evaluation::eval_arithmetic(const Node& node) {
    const std::size_t before = error_count_;
    const Value l = cast(eval(node.left), Type::integer, program_.nodes[node.left].offset);
    if (error_count_ != before) return Value::integer(0);
    const Value r = cast(eval(node.right), Type::integer, program_.nodes[node.right].offset);
    if (error_count_ != before) return Value::integer(0);

    const std::int64_t a = l.as_integer();
    const std::int64_t b = r.as_integer();
    std::int64_t result = 0;
    switch (node.op) {
        case Op::multiply: result = a * b; break;
        case Op::add: result = a + b; break;
        case Op::subtract: result = a - b; break;
        case Op::divide:
        case Op::modulo:
            if (b == 0) {
                raise(ErrorKind::math, node.offset, [&] {
                    return std::string(node.op == Op::divide ? "division" : "modulo") + " by zero";
                });
                return Value::integer(0);
            }
            // In 64 bits the quotient -2147483648 / -1 is representable and is
            // caught as overflow below; C++ truncates toward zero and gives the
            // remainder the dividend's sign, as the spec requires.
            result = node.op == Op::divide ? a / b : a % b;
            break;
        default: break;
    }
    if (result > std::numeric_limits<std::int32_t>::max() || result < std::numeric_limits<std::int32_t>::min()) {
        raise(ErrorKind::math, node.offset, [&] {
            return "integer overflow: the result " + std::to_string(result) + " is outside the 32-bit range";
        });
        return Value::integer(0);
    }
    return Value::integer(static_cast<std::int32_t>(result));
}

namespace {

bool equal_values(Value a, Value b) noexcept {
    switch (a.type()) {
        case Type::boolean: return a.as_boolean() == b.as_boolean();
        case Type::integer: return a.as_integer() == b.as_integer();
        case Type::string: return a.as_string() == b.as_string();
    }
    return false;
}

}  // namespace

Value Evaluation::eval_comparison(const Node& node) {
    const std::size_t before = error_count_;
    Value l = eval(node.left);
    if (error_count_ != before) return Value::boolean(false);
    Value r = eval(node.right);
    if (error_count_ != before) return Value::boolean(false);

    if (node.op == Op::equal || node.op == Op::not_equal) {
        // `=` is overloaded for every type: the right operand's type picks
        // the overload and the left operand is cast to it.
        l = cast(l, r.type(), program_.nodes[node.left].offset);
        if (error_count_ != before) return Value::boolean(false);
        return Value::boolean(equal_values(l, r) == (node.op == Op::equal));
    }

    l = cast(l, Type::integer, program_.nodes[node.left].offset);
    if (error_count_ != before) return Value::boolean(false);
    r = cast(r, Type::integer, program_.nodes[node.right].offset);
    if (error_count_ != before) return Value::boolean(false);
    const std::int32_t a = l.as_integer();
    const std::int32_t b = r.as_integer();
    switch (node.op) {
        case Op::less: return Value::boolean(a < b);
        case Op::less_equal: return Value::boolean(a <= b);
        case Op::greater: return Value::boolean(a > b);
        default: return Value::boolean(a >= b);
    }
}

// Each member is cast to the left operand's type and compared with `=`
// semantics; the first match ends the search.
Value Evaluation::eval_in(const Node& node) {
    const std::size_t before = error_count_;
    const bool negated = node.op == Op::not_in;
    const Value left = eval(program_.operands[node.left]);
    if (error_count_ != before) return Value::boolean(false);

    for (std::uint32_t i = 1; i < node.right; ++i) {
        const std::uint32_t child = program_.operands[node.left + i];
        const Value member = cast(eval(child), left.type(), program_.nodes[child].offset);
        if (error_count_ != before) return Value::boolean(false);
        if (equal_values(left, member)) return Value::boolean(!negated);
    }
    return Value::boolean(negated);
}

Value Evaluation::eval_call(const Node& node) {
    const Functions::Overload& overload = *program_.calls[node.call];
    const std::size_t before = error_count_;

    // Arguments live on the stack up to a typical count.
    constexpr std::size_t inline_count = 8;
    Value inline_arguments[inline_count];
    std::vector<Value> heap_arguments;
    Value* arguments = inline_arguments;
    if (node.right > inline_count) {
        heap_arguments.resize(node.right);
        arguments = heap_arguments.data();
    }

    for (std::uint32_t i = 0; i < node.right; ++i) {
        const std::uint32_t child = program_.operands[node.left + i];
        arguments[i] = cast(eval(child), overload.parameter_type(i), program_.nodes[child].offset);
        if (error_count_ != before) return zero_of(overload.result);
    }

    Call call(*this, node.offset);
    Value result;
    try {
        result = overload.body(std::span<const Value>(arguments, node.right), call);
    } catch (const std::exception& e) {
        raise(ErrorKind::function_evaluation, node.offset, [&] {
            return overload.name + " failed: " + e.what();
        });
        return zero_of(overload.result);
    }

    // A function that raised an error still returns what it computed.
    const std::size_t own_errors = error_count_;
    result = cast(result, overload.result, node.offset);
    if (error_count_ != own_errors) return zero_of(overload.result);
    return result;
}

Value Evaluation::eval(std::uint32_t index) {
    const Node& node = program_.nodes[index];
    switch (node.op) {
        case Op::literal:
            switch (node.literal_type) {
                case Type::boolean: return Value::boolean(node.literal_boolean);
                case Type::integer: return Value::integer(node.literal_integer);
                case Type::string: return Value::string(program_.view(node.text));
            }
            break;
        case Op::attribute:
            return eval_attribute(node);
        case Op::exists:
            return Value::boolean(exists(node));
        case Op::call:
            return eval_call(node);
        case Op::missing_call:
            raise(ErrorKind::missing_function, node.offset, [&] {
                return "unknown function " + std::string(program_.view(node.text)) + " with " +
                       std::to_string(node.right) + " argument(s)";
            });
            return Value::boolean(false);
        case Op::logical_not: {
            const std::size_t before = error_count_;
            const Value operand = cast(eval(node.left), Type::boolean, program_.nodes[node.left].offset);
            if (error_count_ != before) return Value::boolean(false);
            return Value::boolean(!operand.as_boolean());
        }
        case Op::negate: {
            const std::size_t before = error_count_;
            const Value operand = cast(eval(node.left), Type::integer, program_.nodes[node.left].offset);
            if (error_count_ != before) return Value::integer(0);
            if (operand.as_integer() == std::numeric_limits<std::int32_t>::min()) {
                raise(ErrorKind::math, node.offset, [] {
                    return std::string("integer overflow: -(-2147483648) is outside the 32-bit range");
                });
                return Value::integer(0);
            }
            return Value::integer(-operand.as_integer());
        }
        case Op::like:
        case Op::not_like:
            return eval_like(node);
        case Op::in:
        case Op::not_in:
            return eval_in(node);
        case Op::multiply:
        case Op::divide:
        case Op::modulo:
        case Op::add:
        case Op::subtract:
            return eval_arithmetic(node);
        case Op::equal:
        case Op::not_equal:
        case Op::less:
        case Op::less_equal:
        case Op::greater:
        case Op::greater_equal:
            return eval_comparison(node);
        case Op::logical_and:
        case Op::logical_or:
        case Op::logical_xor:
            return eval_logical(node);
        case Op::text_equal:
        case Op::text_not_equal:
        case Op::text_like:
        case Op::text_not_like:
            return eval_text(node);
    }
    return Value::boolean(false);
}

Value Evaluation::run() {
    try {
        return eval(program_.root);
    } catch (const ScratchExhausted&) {
        raise(ErrorKind::generic, 0, [&] {
            return "the strings made while evaluating passed the limit of " +
                   std::to_string(program_.max_string_bytes) + " bytes";
        });
        return Value::boolean(false);
    }
}

// ---- Call --------------------------------------------------------------------

const Event& Call::event() const noexcept { return evaluation_.event(); }

std::string_view Call::store(std::string_view text) { return evaluation_.store(text); }

char* Call::allocate(std::size_t size) { return evaluation_.allocate(size); }

void Call::raise(std::string_view message, ErrorKind kind) {
    evaluation_.raise(kind, offset_, [&] { return std::string(message); });
}

}  // namespace cebus::cesql
