// The function registry and the built-in CESQL functions.
#include "cesql_program.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "text.hpp"

namespace cebus::cesql {
namespace {

std::string upper_ascii(std::string_view name) {
    std::string upper(name);
    for (char& c : upper) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return upper;
}

void check_function_name(std::string_view name) {
    const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    const bool valid = !name.empty() && letter(name[0]) &&
                       std::all_of(name.begin(), name.end(), [&](char c) { return letter(c) || c == '_'; });
    if (!valid) {
        throw cebus::Error("invalid CESQL function name " + detail::quote_for_message(name) +
                    ": names use letters and \"_\" and start with a letter");
    }
}

// ---- Unicode helpers for the string functions ----------------------------

// One-to-one case pairs whose UTF-8 forms have equal length, so LOWER and
// UPPER never change a string's byte size.
// NOTE: only ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic are mapped;
// other scripts and special casings (such as ß to SS) pass through unchanged.
char32_t lower_of(char32_t c) noexcept {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0xC0) return c;
    if (c <= 0xDE) return c == 0xD7 ? c : c + 32;
    if (c >= 0x100 && c <= 0x137) return (c % 2 == 0 && c != 0x130) ? c + 1 : c;
    if (c >= 0x139 && c <= 0x148) return c % 2 == 1 ? c + 1 : c;
    if (c >= 0x14A && c <= 0x177) return c % 2 == 0 ? c + 1 : c;
    if (c == 0x178) return 0xFF;
    if (c >= 0x179 && c <= 0x17E) return c % 2 == 1 ? c + 1 : c;
    if (c >= 0x391 && c <= 0x3A9) return c == 0x3A2 ? c : c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    return c;
}

char32_t upper_of(char32_t c) noexcept {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c < 0xE0) return c;
    if (c <= 0xFE) return c == 0xF7 ? c : c - 32;
    if (c == 0xFF) return 0x178;
    if (c >= 0x101 && c <= 0x137) return (c % 2 == 1 && c != 0x131) ? c - 1 : c;
    if (c >= 0x13A && c <= 0x148) return c % 2 == 0 ? c - 1 : c;
    if (c >= 0x14B && c <= 0x177) return c % 2 == 1 ? c - 1 : c;
    if (c >= 0x17A && c <= 0x17E) return c % 2 == 0 ? c - 1 : c;
    if (c == 0x3C2) return 0x3A3;  // final sigma
    if (c >= 0x3B1 && c <= 0x3C9) return c - 32;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
}

std::size_t encode_utf8(char32_t c, char* out) noexcept {
    if (c < 0x80) {
        out[0] = static_cast<char>(c);
        return 1;
    }
    if (c < 0x800) {
        out[0] = static_cast<char>(0xC0 | (c >> 6));
        out[1] = static_cast<char>(0x80 | (c & 0x3F));
        return 2;
    }
    out[0] = static_cast<char>(0xE0 | (c >> 12));
    out[1] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (c & 0x3F));
    return 3;
}

template <class Map>
Value map_case(std::string_view text, Call& call, Map map) {
    char* out = call.allocate(text.size());
    std::memcpy(out, text.data(), text.size());
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t start = pos;
        const std::int32_t c = detail::next_code_point(text, pos);
        if (c < 0) {
            pos = start + 1;  // leave a stray byte as it is
            continue;
        }
        const char32_t mapped = map(static_cast<char32_t>(c));
        if (mapped == static_cast<char32_t>(c) || mapped >= 0x10000) continue;
        char buffer[4];
        const std::size_t size = encode_utf8(mapped, buffer);
        if (size == pos - start) std::memcpy(out + start, buffer, size);
    }
    return Value::string({out, text.size()});
}

// The Unicode White_Space property.
bool is_white_space(char32_t c) noexcept {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

std::string_view trim(std::string_view text) noexcept {
    std::size_t begin = 0;
    while (begin < text.size()) {
        std::size_t pos = begin;
        const std::int32_t c = detail::next_code_point(text, pos);
        if (c < 0 || !is_white_space(static_cast<char32_t>(c))) break;
        begin = pos;
    }
    std::size_t end = text.size();
    while (end > begin) {
        // Back up to the lead byte of the last code point.
        std::size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        std::size_t pos = start;
        const std::int32_t c = detail::next_code_point(text, pos);
        if (c < 0 || pos != end || !is_white_space(static_cast<char32_t>(c))) break;
        end = start;
    }
    return text.substr(begin, end - begin);
}

// ---- built-in bodies ---------------------------------------------------------

Value concat(std::span<const Value> parts, std::string_view delimiter, Call& call) {
    std::size_t size = 0;
    for (const Value& part : parts) size += part.as_string().size();
    if (!parts.empty()) size += delimiter.size() * (parts.size() - 1);

    char* out = call.allocate(size);
    std::size_t at = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0 && !delimiter.empty()) {
            std::memcpy(out + at, delimiter.data(), delimiter.size());
            at += delimiter.size();
        }
        const std::string_view part = parts[i].as_string();
        if (!part.empty()) std::memcpy(out + at, part.data(), part.size());
        at += part.size();
    }
    return Value::string({out, size});
}

Value left_or_right(std::span<const Value> args, Call& call, bool left) {
    const std::string_view text = args[0].as_string();
    const std::int32_t n = args[1].as_integer();
    if (n < 0) {
        call.raise(std::string(left ? "LEFT" : "RIGHT") + ": the length " + std::to_string(n) + " is negative");
        return args[0];
    }
    if (left) return Value::string(text.substr(0, code_point_offset(text, static_cast<std::size_t>(n))));
    const std::size_t count = code_point_count(text);
    if (static_cast<std::size_t>(n) >= count) return args[0];
    return Value::string(text.substr(code_point_offset(text, count - static_cast<std::size_t>(n))));
}

// SUBSTRING(x, pos[, len]): 1-based positions, negative ones count from the
// end, pos 0 gives "". |pos| past the length or a negative len gives "" and
// an error.
Value substring(std::span<const Value> args, Call& call) {
    const std::string_view text = args[0].as_string();
    const std::int64_t pos = args[1].as_integer();
    const bool has_length = args.size() > 2;
    const std::int64_t length = has_length ? args[2].as_integer() : 0;
    const auto count = static_cast<std::int64_t>(code_point_count(text));

    if (has_length && length < 0) {
        call.raise("SUBSTRING: the length " + std::to_string(length) + " is negative");
        return Value::string({});
    }
    if (pos > count || pos < -count) {
        call.raise("SUBSTRING: the position " + std::to_string(pos) + " is outside a string of " +
                   std::to_string(count) + " characters");
        return Value::string({});
    }
    if (pos == 0) return Value::string({});

    const std::int64_t start = pos > 0 ? pos - 1 : count + pos;
    const std::size_t begin = code_point_offset(text, static_cast<std::size_t>(start));
    if (!has_length) return Value::string(text.substr(begin));
    const std::int64_t end_index = std::min(count, start + length);
    const std::size_t end = code_point_offset(text, static_cast<std::size_t>(end_index));
    return Value::string(text.substr(begin, end - begin));
}

void add_builtins(Functions& f) {
    using T = Type;
    using Args = std::span<const Value>;
    f.add("LENGTH", {T::string}, T::integer, [](Args a, Call&) {
        return Value::integer(static_cast<std::int32_t>(
            std::min<std::size_t>(code_point_count(a[0].as_string()), std::numeric_limits<std::int32_t>::max())));
    });
    f.add_variadic("CONCAT", {}, T::string, T::string, [](Args a, Call& c) { return concat(a, {}, c); });
    f.add_variadic("CONCAT_WS", {T::string}, T::string, T::string,
                   [](Args a, Call& c) { return concat(a.subspan(1), a[0].as_string(), c); });
    f.add("LOWER", {T::string}, T::string, [](Args a, Call& c) { return map_case(a[0].as_string(), c, lower_of); });
    f.add("UPPER", {T::string}, T::string, [](Args a, Call& c) { return map_case(a[0].as_string(), c, upper_of); });
    f.add("TRIM", {T::string}, T::string, [](Args a, Call&) { return Value::string(trim(a[0].as_string())); });
    f.add("LEFT", {T::string, T::integer}, T::string, [](Args a, Call& c) { return left_or_right(a, c, true); });
    f.add("RIGHT", {T::string, T::integer}, T::string, [](Args a, Call& c) { return left_or_right(a, c, false); });
    f.add("SUBSTRING", {T::string, T::integer}, T::string, substring);
    f.add("SUBSTRING", {T::string, T::integer, T::integer}, T::string, substring);
    f.add("ABS", {T::integer}, T::integer, [](Args a, Call& c) {
        const std::int32_t x = a[0].as_integer();
        if (x == std::numeric_limits<std::int32_t>::min()) {
            c.raise("ABS(-2147483648) overflows; the result is 2147483647", ErrorKind::math);
            return Value::integer(std::numeric_limits<std::int32_t>::max());
        }
        return Value::integer(x < 0 ? -x : x);
    });
    // The engine casts each argument to the parameter type before the call,
    // so the casting functions return their argument.
    f.add("INT", {T::integer}, T::integer, [](Args a, Call&) { return a[0]; });
    f.add("BOOL", {T::boolean}, T::boolean, [](Args a, Call&) { return a[0]; });
    f.add("STRING", {T::string}, T::string, [](Args a, Call&) { return a[0]; });
}

}  // namespace

Functions::Functions() { add_builtins(*this); }

const Functions& Functions::builtins() {
    static const Functions instance;
    return instance;
}

Functions& Functions::add(std::string_view name, std::vector<Type> parameters, Type result, FunctionBody body) {
    check_function_name(name);
    std::string upper = upper_ascii(name);
    for (const auto& existing : overloads_) {
        if (existing->name != upper) continue;
        if (!existing->variadic && existing->parameters.size() == parameters.size()) {
            throw cebus::Error("CESQL function " + upper + " already has an overload with " +
                        std::to_string(parameters.size()) + " parameter(s)");
        }
        if (existing->variadic && existing->parameters.size() <= parameters.size()) {
            throw cebus::Error("CESQL function " + upper + " has a variadic overload with " +
                        std::to_string(existing->parameters.size()) +
                        " fixed parameter(s); a fixed overload must have fewer parameters");
        }
    }
    auto overload = std::make_shared<Overload>();
    overload->name = std::move(upper);
    overload->parameters = std::move(parameters);
    overload->result = result;
    overload->body = std::move(body);
    overloads_.push_back(std::move(overload));
    return *this;
}

Functions& Functions::add_variadic(std::string_view name, std::vector<Type> fixed, Type rest, Type result,
                                   FunctionBody body) {
    check_function_name(name);
    std::string upper = upper_ascii(name);
    for (const auto& existing : overloads_) {
        if (existing->name != upper) continue;
        if (existing->variadic) throw cebus::Error("CESQL function " + upper + " already has a variadic overload");
        if (existing->parameters.size() >= fixed.size()) {
            throw cebus::Error("CESQL function " + upper + " has an overload with " +
                        std::to_string(existing->parameters.size()) +
                        " parameter(s); a variadic overload needs more fixed parameters than that");
        }
    }
    auto overload = std::make_shared<Overload>();
    overload->name = std::move(upper);
    overload->parameters = std::move(fixed);
    overload->variadic = true;
    overload->rest = rest;
    overload->result = result;
    overload->body = std::move(body);
    overloads_.push_back(std::move(overload));
    return *this;
}

std::shared_ptr<const Functions::Overload> Functions::find(std::string_view name, std::size_t arity) const {
    const std::string upper = upper_ascii(name);
    std::shared_ptr<const Overload> variadic;
    for (const auto& overload : overloads_) {
        if (overload->name != upper) continue;
        if (!overload->variadic && overload->parameters.size() == arity) return overload;
        if (overload->variadic && overload->parameters.size() <= arity) variadic = overload;
    }
    return variadic;
}

}  // namespace cebus::cesql
