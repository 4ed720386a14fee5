#include <cebus/event.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <limits>

#include "event_access.hpp"
#include "text.hpp"

namespace cebus {

namespace {

constexpr std::array<std::string_view, 8> core_attribute_names = {
    "id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time"};

bool is_core_attribute(std::string_view name) {
    return std::find(core_attribute_names.begin(), core_attribute_names.end(), name) !=
           core_attribute_names.end();
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `count` digits at `pos`; returns -1 when they are not digits.
int read_digits(std::string_view text, std::size_t pos, int count) {
    if (pos + count > text.size()) return -1;
    int value = 0;
    for (int i = 0; i < count; ++i) {
        const char c = text[pos + i];
        if (!is_digit(c)) return -1;
        value = value * 10 + (c - '0');
    }
    return value;
}

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& year, int& month, int& day) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
    month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    year = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2));
}

bool is_token_char(char c) {
    // RFC 6838 restricted-name characters, which media types use.
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '!' || c == '#' ||
           c == '$' || c == '&' || c == '-' || c == '^' || c == '_' || c == '.' || c == '+';
}

void validate_media_type(std::string_view value) {
    const auto semicolon = value.find(';');
    std::string_view essence = value.substr(0, semicolon);
    while (!essence.empty() && (essence.back() == ' ' || essence.back() == '\t')) essence.remove_suffix(1);
    const auto slash = essence.find('/');
    const bool ok = slash != std::string_view::npos && slash > 0 && slash + 1 < essence.size() &&
                    std::all_of(essence.begin(), essence.begin() + slash, is_token_char) &&
                    std::all_of(essence.begin() + slash + 1, essence.end(), is_token_char);
    if (!ok) {
        throw ValidationError("datacontenttype", std::string(value),
                              "must be a media type such as application/json (RFC 2046)");
    }
    validate_string("datacontenttype", value);
}

std::string format_utc(std::int64_t unix_seconds, std::int32_t nanoseconds) {
    std::int64_t days = unix_seconds / 86400;
    std::int64_t rest = unix_seconds % 86400;
    if (rest < 0) {
        rest += 86400;
        --days;
    }
    int year, month, day;
    civil_from_days(days, year, month, day);
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", year, month, day,
                          static_cast<int>(rest / 3600), static_cast<int>(rest / 60 % 60),
                          static_cast<int>(rest % 60));
    std::string out(buf, static_cast<std::size_t>(n));
    if (nanoseconds != 0) {
        // Trim to milli-, micro- or nanoseconds, whichever keeps every digit.
        int digits = 9;
        std::int32_t value = nanoseconds;
        while (digits > 3 && value % 1000 == 0) {
            value /= 1000;
            digits -= 3;
        }
        n = std::snprintf(buf, sizeof buf, ".%0*d", digits, value);
        out.append(buf, static_cast<std::size_t>(n));
    }
    out += 'Z';
    return out;
}

// The result of quick_json_check: `unsure` hands the text to nlohmann's
// parser, which then decides.
enum class JsonCheck { valid, invalid, unsure };

bool is_json_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Reads the four hex digits of a \u escape at p; -1 when they are not there.
long read_u_escape(const char* p, const char* end) noexcept {
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; ++i) {
        const int h = hex_value(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

// A one-pass RFC 8259 check that returns the same result as
// nlohmann::json::accept, about ten times faster: building an event with
// JSON data spent most of its time in that parser. It returns `unsure`
// where nlohmann's own rules go beyond the grammar: a leading byte order
// mark (skipped there), numbers with an exponent or over 300 digits (whose
// double may overflow, which nlohmann rejects) and nesting deeper than 256.
// Non-ASCII bytes must form valid UTF-8 (checked up front; outside strings
// they fail the grammar anyway).
JsonCheck quick_json_check(std::string_view text) noexcept {
    if (!text.empty() && static_cast<unsigned char>(text[0]) == 0xEF) return JsonCheck::unsure;
    if (detail::find_invalid_utf8(text) != std::string_view::npos) return JsonCheck::invalid;
    const char* p = text.data();
    const char* const end = p + text.size();
    constexpr int max_depth = 256;
    char stack[max_depth];
    int depth = 0;
    auto skip_space = [&] {
        while (p < end && is_json_space(*p)) ++p;
    };
    auto literal = [&](std::string_view word) {
        if (static_cast<std::size_t>(end - p) < word.size() || std::string_view(p, word.size()) != word) return false;
        p += word.size();
        return true;
    };
    // p is on the opening quote; on success it is past the closing one.
    auto string = [&]() -> bool {
        ++p;
        while (p < end) {
            const auto c = static_cast<unsigned char>(*p);
            if (c == '"') {
                ++p;
                return true;
            }
            if (c < 0x20) return false;
            if (c != '\\') {
                ++p;
                continue;
            }
            if (end - p < 2) return false;
            const char e = p[1];
            if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
                p += 2;
                continue;
            }
            if (e != 'u') return false;
            const long unit = read_u_escape(p + 2, end);
            if (unit < 0) return false;
            p += 6;
            if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low surrogate first
            if (unit >= 0xD800 && unit <= 0xDBFF) {
                if (end - p < 2 || p[0] != '\\' || p[1] != 'u') return false;
                const long low = read_u_escape(p + 2, end);
                if (low < 0xDC00 || low > 0xDFFF) return false;
                p += 6;
            }
        }
        return false;
    };
    // Returns invalid, unsure, or valid with p past the number.
    auto number = [&]() -> JsonCheck {
        const char* start = p;
        if (*p == '-') ++p;
        if (p == end || *p < '0' || *p > '9') return JsonCheck::invalid;
        if (*p == '0') {
            ++p;
        } else {
            while (p < end && *p >= '0' && *p <= '9') ++p;
        }
        if (p < end && *p == '.') {
            ++p;
            if (p == end || *p < '0' || *p > '9') return JsonCheck::invalid;
            while (p < end && *p >= '0' && *p <= '9') ++p;
        }
        if (p < end && (*p == 'e' || *p == 'E')) return JsonCheck::unsure;
        if (p - start > 300) return JsonCheck::unsure;
        return JsonCheck::valid;
    };

    for (;;) {
        // A value is expected here.
        skip_space();
        if (p == end) return JsonCheck::invalid;
        const char c = *p;
        if (c == '{' || c == '[') {
            if (depth == max_depth) return JsonCheck::unsure;
            stack[depth++] = c;
            ++p;
            skip_space();
            if (p < end && *p == (c == '{' ? '}' : ']')) {
                ++p;
                --depth;
            } else if (c == '[') {
                continue;
            } else {
                // An object's first key.
                if (p == end || *p != '"' || !string()) return JsonCheck::invalid;
                skip_space();
                if (p == end || *p != ':') return JsonCheck::invalid;
                ++p;
                continue;
            }
        } else if (c == '"') {
            if (!string()) return JsonCheck::invalid;
        } else if (c == 't') {
            if (!literal("true")) return JsonCheck::invalid;
        } else if (c == 'f') {
            if (!literal("false")) return JsonCheck::invalid;
        } else if (c == 'n') {
            if (!literal("null")) return JsonCheck::invalid;
        } else {
            const JsonCheck n = number();
            if (n != JsonCheck::valid) return n;
        }

        // After a value: close containers or move to the next member.
        for (;;) {
            skip_space();
            if (depth == 0) return p == end ? JsonCheck::valid : JsonCheck::invalid;
            if (p == end) return JsonCheck::invalid;
            const char top = stack[depth - 1];
            if (*p == (top == '{' ? '}' : ']')) {
                ++p;
                --depth;
                continue;
            }
            if (*p != ',') return JsonCheck::invalid;
            ++p;
            if (top == '{') {
                skip_space();
                if (p == end || *p != '"' || !string()) return JsonCheck::invalid;
                skip_space();
                if (p == end || *p != ':') return JsonCheck::invalid;
                ++p;
            }
            break;
        }
    }
}

}  // namespace

// --- errors -----------------------------------------------------------------

ValidationError::ValidationError(std::string attribute, std::string value, std::string rule)
    : Error("invalid " + attribute + " " + detail::quote_for_message(value) + ": " + rule),
      attribute_(std::move(attribute)),
      value_(std::move(value)),
      rule_(std::move(rule)) {}

ParseError::ParseError(std::size_t offset, std::string reason)
    : Error("parse error at byte " + std::to_string(offset) + ": " + reason),
      offset_(offset),
      reason_(std::move(reason)) {}

// --- Timestamp --------------------------------------------------------------

Timestamp Timestamp::parse(std::string_view text) {
    auto fail = [&](const char* rule) -> Timestamp {
        throw ValidationError("time", std::string(text), rule);
    };
    constexpr const char* form = "must be RFC 3339, such as 2024-05-01T12:30:00Z or 2024-05-01T12:30:00.25+02:00";

    if (text.size() < 20) return fail(form);
    const int year = read_digits(text, 0, 4);
    const int month = read_digits(text, 5, 2);
    const int day = read_digits(text, 8, 2);
    const int hour = read_digits(text, 11, 2);
    const int minute = read_digits(text, 14, 2);
    const int second = read_digits(text, 17, 2);
    if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || text[4] != '-' ||
        text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
        return fail(form);
    }
    if (month < 1 || month > 12) return fail("month must be 01 to 12");
    if (day < 1 || day > days_in_month(year, month)) return fail("day is outside its month");
    if (hour > 23 || minute > 59 || second > 60) return fail("hour, minute or second is out of range");

    std::size_t pos = 19;
    std::int32_t nanoseconds = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        const std::size_t start = pos;
        int kept = 0;
        while (pos < text.size() && is_digit(text[pos])) {
            if (kept < 9) {
                nanoseconds = nanoseconds * 10 + (text[pos] - '0');
                ++kept;
            }
            ++pos;
        }
        if (pos == start) return fail("a fraction of a second needs at least one digit");
        for (; kept < 9; ++kept) nanoseconds *= 10;
    }

    if (pos >= text.size()) return fail("missing time zone offset (Z or +HH:MM)");
    std::int64_t offset_seconds = 0;
    if (text[pos] == 'Z' || text[pos] == 'z') {
        ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
        const int oh = read_digits(text, pos + 1, 2);
        const int om = read_digits(text, pos + 4, 2);
        if (oh < 0 || om < 0 || text[pos + 3] != ':' || oh > 23 || om > 59) {
            return fail("time zone offset must be Z or +HH:MM");
        }
        offset_seconds = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
        pos += 6;
    } else {
        return fail("time zone offset must be Z or +HH:MM");
    }
    if (pos != text.size()) return fail("unexpected characters after the time zone offset");

    Timestamp ts;
    ts.text_ = std::string(text);
    const int clamped_second = second == 60 ? 59 : second;
    ts.unix_seconds_ = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
                       hour * 3600 + minute * 60 + clamped_second - offset_seconds;
    ts.nanoseconds_ = nanoseconds;
    return ts;
}

Timestamp Timestamp::from_time_point(std::chrono::system_clock::time_point tp) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
    std::int64_t seconds = ns / 1'000'000'000;
    std::int64_t fraction = ns % 1'000'000'000;
    if (fraction < 0) {
        fraction += 1'000'000'000;
        --seconds;
    }
    Timestamp ts;
    ts.unix_seconds_ = seconds;
    ts.nanoseconds_ = static_cast<std::int32_t>(fraction);
    ts.text_ = format_utc(seconds, ts.nanoseconds_);
    return ts;
}

std::chrono::system_clock::time_point Timestamp::time_point() const {
    return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::seconds(unix_seconds_) + std::chrono::nanoseconds(nanoseconds_)));
}

// --- type system ------------------------------------------------------------

std::string to_canonical_string(const AttributeValue& value) {
    struct Visitor {
        std::string operator()(bool v) const { return v ? "true" : "false"; }
        std::string operator()(std::int32_t v) const { return std::to_string(v); }
        std::string operator()(const std::string& v) const { return v; }
        std::string operator()(const Binary& v) const { return detail::base64_encode(v.bytes); }
        std::string operator()(const Uri& v) const { return v.value; }
        std::string operator()(const UriRef& v) const { return v.value; }
        std::string operator()(const Timestamp& v) const { return v.text(); }
    };
    return std::visit(Visitor{}, value);
}

std::string_view type_name(const AttributeValue& value) noexcept {
    static constexpr std::string_view names[] = {"Boolean", "Integer", "String",   "Binary",
                                                 "URI",     "URI-reference", "Timestamp"};
    return names[value.index()];
}

bool is_json_content_type(std::string_view content_type) noexcept {
    std::string_view essence = content_type.substr(0, content_type.find(';'));
    while (!essence.empty() && (essence.back() == ' ' || essence.back() == '\t')) essence.remove_suffix(1);
    while (!essence.empty() && (essence.front() == ' ' || essence.front() == '\t')) essence.remove_prefix(1);
    if (essence.empty()) return true;
    const auto slash = essence.find('/');
    if (slash == std::string_view::npos) return false;
    const std::string_view subtype = essence.substr(slash + 1);
    if (detail::iequals(subtype, "json")) return true;
    return subtype.size() > 5 && detail::iequals(subtype.substr(subtype.size() - 5), "+json");
}

void validate_attribute_name(std::string_view name) {
    if (name.empty()) throw ValidationError("attribute name", std::string(name), "names must not be empty");
    for (const char c : name) {
        if (!((c >= 'a' && c <= 'z') || is_digit(c))) {
            throw ValidationError("attribute name", std::string(name), "names use only a-z and 0-9");
        }
    }
    if (name == "data") throw ValidationError("attribute name", std::string(name), "\"data\" is reserved");
}

void validate_string(std::string_view attribute, std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t start = pos;
        const std::int32_t cp = detail::next_code_point(text, pos);
        if (cp < 0) {
            throw ValidationError(std::string(attribute), std::string(text),
                                  "is not valid UTF-8 at byte " + std::to_string(start));
        }
        if (cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F)) {
            throw ValidationError(std::string(attribute), std::string(text),
                                  "contains a control character at byte " + std::to_string(start));
        }
        if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) {
            throw ValidationError(std::string(attribute), std::string(text),
                                  "contains a Unicode noncharacter at byte " + std::to_string(start));
        }
    }
}

void validate_uri(std::string_view attribute, std::string_view text, bool absolute) {
    if (text.empty()) throw ValidationError(std::string(attribute), std::string(text), "must not be empty");
    validate_string(attribute, text);

    // RFC 3986 excludes these characters everywhere in a URI. Other
    // non-ASCII characters are accepted as IRI characters.
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == ' ' || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' || c == '{' ||
            c == '|' || c == '}') {
            throw ValidationError(std::string(attribute), std::string(text),
                                  std::string("character '") + c + "' at byte " + std::to_string(i) +
                                      " is not allowed in a URI; percent-encode it");
        }
        if (c == '%') {
            auto hex = [](char h) { return is_digit(h) || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'); };
            if (i + 2 >= text.size() || !hex(text[i + 1]) || !hex(text[i + 2])) {
                throw ValidationError(std::string(attribute), std::string(text),
                                      "'%' at byte " + std::to_string(i) + " must start a %XX escape");
            }
        }
    }

    if (absolute) {
        const auto colon = text.find(':');
        const bool scheme_ok =
            colon != std::string_view::npos && colon > 0 &&
            ((text[0] >= 'a' && text[0] <= 'z') || (text[0] >= 'A' && text[0] <= 'Z')) &&
            std::all_of(text.begin(), text.begin() + colon, [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '+' || c == '-' ||
                       c == '.';
            });
        if (!scheme_ok) {
            throw ValidationError(std::string(attribute), std::string(text),
                                  "must be an absolute URI with a scheme, such as https://example.com/schema");
        }
    }
}

// --- Event ------------------------------------------------------------------

const AttributeValue* Event::extension(std::string_view name) const noexcept {
    const auto it = std::lower_bound(extensions_.begin(), extensions_.end(), name,
                                     [](const auto& entry, std::string_view n) { return entry.first < n; });
    if (it == extensions_.end() || it->first != name) return nullptr;
    return &it->second;
}

std::optional<AttributeValue> Event::attribute(std::string_view name) const {
    if (name == "id") return AttributeValue(id_);
    if (name == "source") return AttributeValue(UriRef{source_});
    if (name == "specversion") return AttributeValue(specversion_);
    if (name == "type") return AttributeValue(type_);
    if (name == "datacontenttype") {
        if (datacontenttype_) return AttributeValue(*datacontenttype_);
        return std::nullopt;
    }
    if (name == "dataschema") {
        if (dataschema_) return AttributeValue(Uri{*dataschema_});
        return std::nullopt;
    }
    if (name == "subject") {
        if (subject_) return AttributeValue(*subject_);
        return std::nullopt;
    }
    if (name == "time") {
        if (time_) return AttributeValue(*time_);
        return std::nullopt;
    }
    if (const AttributeValue* value = extension(name)) return *value;
    return std::nullopt;
}

std::optional<std::string_view> Event::attribute_text(std::string_view name) const noexcept {
    if (name == "id") return id_;
    if (name == "source") return source_;
    if (name == "specversion") return specversion_;
    if (name == "type") return type_;
    auto optional_text = [](const std::optional<std::string>& value) -> std::optional<std::string_view> {
        if (value) return std::string_view(*value);
        return std::nullopt;
    };
    if (name == "datacontenttype") return optional_text(datacontenttype_);
    if (name == "dataschema") return optional_text(dataschema_);
    if (name == "subject") return optional_text(subject_);
    if (name == "time") {
        if (time_) return std::string_view(time_->text());
        return std::nullopt;
    }
    const AttributeValue* value = extension(name);
    if (!value) return std::nullopt;
    if (const auto* s = std::get_if<std::string>(value)) return std::string_view(*s);
    if (const auto* u = std::get_if<Uri>(value)) return std::string_view(u->value);
    if (const auto* r = std::get_if<UriRef>(value)) return std::string_view(r->value);
    if (const auto* t = std::get_if<Timestamp>(value)) return std::string_view(t->text());
    return std::nullopt;
}

bool Event::data_is_json() const noexcept {
    switch (data_kind_) {
        case DataKind::none:
            return false;
        case DataKind::native:
            return true;
        case DataKind::text:
            return !datacontenttype_ || is_json_content_type(*datacontenttype_);
        case DataKind::binary:
            // Binary data without a content type must not be assumed JSON.
            return datacontenttype_ && is_json_content_type(*datacontenttype_);
    }
    return false;
}

std::string_view Event::data() const {
    if (data_kind_ != DataKind::native) return data_;
    std::call_once(serialize_once_, [this] { serialized_ = native_serialize_(native_.get()); });
    return serialized_;
}

nlohmann::json Event::data_json() const {
    if (data_kind_ == DataKind::none) {
        throw Error("event " + detail::quote_for_message(id_) + " from source " + detail::quote_for_message(source_) +
                    " has no data to read as JSON");
    }
    try {
        return nlohmann::json::parse(data());
    } catch (const nlohmann::json::parse_error& e) {
        throw ParseError(e.byte == 0 ? 0 : e.byte - 1, "data is not JSON: " + std::string(e.what()));
    }
}

std::size_t Event::approximate_size() const noexcept {
    std::size_t size = id_.size() + source_.size() + specversion_.size() + type_.size();
    for (const auto* value : {&datacontenttype_, &dataschema_, &subject_}) {
        if (*value) size += (*value)->size();
    }
    if (time_) size += time_->text().size();
    for (const auto& [name, value] : extensions_) {
        size += name.size();
        if (const auto* s = std::get_if<std::string>(&value)) {
            size += s->size();
        } else if (const auto* b = std::get_if<Binary>(&value)) {
            size += b->bytes.size() * 4 / 3;
        } else {
            size += 16;
        }
    }
    size += data_kind_ == DataKind::native ? serialized_.size() : data_.size();
    return size;
}

bool operator==(const Event& a, const Event& b) {
    if (a.id_ != b.id_ || a.source_ != b.source_ || a.specversion_ != b.specversion_ || a.type_ != b.type_ ||
        a.datacontenttype_ != b.datacontenttype_ || a.dataschema_ != b.dataschema_ || a.subject_ != b.subject_ ||
        a.time_ != b.time_ || a.extensions_ != b.extensions_) {
        return false;
    }
    if (a.has_data() != b.has_data()) return false;
    const bool a_binary = a.data_kind_ == DataKind::binary;
    const bool b_binary = b.data_kind_ == DataKind::binary;
    if (a_binary != b_binary) return false;
    return a.data() == b.data();
}

// --- EventBuilder -----------------------------------------------------------

EventBuilder& EventBuilder::id(std::string value) {
    id_ = std::move(value);
    return *this;
}
EventBuilder& EventBuilder::source(std::string value) {
    source_ = std::move(value);
    return *this;
}
EventBuilder& EventBuilder::type(std::string value) {
    type_ = std::move(value);
    return *this;
}
EventBuilder& EventBuilder::specversion(std::string value) {
    specversion_ = std::move(value);
    return *this;
}
EventBuilder& EventBuilder::datacontenttype(std::string value) {
    datacontenttype_ = std::move(value);
    return *this;
}
EventBuilder& EventBuilder::dataschema(std::string value) {
    dataschema_ = std::move(value);
    return *this;
}
EventBuilder& EventBuilder::subject(std::string value) {
    subject_ = std::move(value);
    return *this;
}
EventBuilder& EventBuilder::time(Timestamp value) {
    time_ = std::move(value);
    time_text_.reset();
    return *this;
}
EventBuilder& EventBuilder::time(std::string_view rfc3339) {
    time_.reset();
    time_text_ = std::string(rfc3339);
    return *this;
}

EventBuilder& EventBuilder::extension(std::string name, AttributeValue value) {
    remove(name);
    extensions_.emplace_back(std::move(name), std::move(value));
    return *this;
}

EventBuilder& EventBuilder::extension(std::string name, std::int64_t value) {
    if (value >= std::numeric_limits<std::int32_t>::min() && value <= std::numeric_limits<std::int32_t>::max()) {
        return extension(std::move(name), AttributeValue(static_cast<std::int32_t>(value)));
    }
    return out_of_range_integer(std::move(name), std::to_string(value));
}

EventBuilder& EventBuilder::out_of_range_integer(std::string name, std::string decimal) {
    remove(name);
    wide_integers_.emplace_back(std::move(name), std::move(decimal));
    return *this;
}

EventBuilder& EventBuilder::remove(std::string_view name) {
    if (name == "datacontenttype") datacontenttype_.reset();
    if (name == "dataschema") dataschema_.reset();
    if (name == "subject") subject_.reset();
    if (name == "time") {
        time_.reset();
        time_text_.reset();
    }
    std::erase_if(extensions_, [&](const auto& entry) { return entry.first == name; });
    std::erase_if(wide_integers_, [&](const auto& entry) { return entry.first == name; });
    return *this;
}

EventBuilder& EventBuilder::data(std::string bytes) {
    clear_data();
    data_ = std::move(bytes);
    data_kind_ = DataKind::text;
    return *this;
}

EventBuilder& EventBuilder::data_binary(std::string bytes) {
    clear_data();
    data_ = std::move(bytes);
    data_kind_ = DataKind::binary;
    return *this;
}

EventBuilder& EventBuilder::data_json(const nlohmann::json& value) {
    clear_data();
    data_ = value.dump();
    data_kind_ = DataKind::text;
    if (!datacontenttype_) datacontenttype_ = "application/json";
    return *this;
}

EventBuilder& EventBuilder::clear_data() {
    data_.clear();
    data_kind_ = DataKind::none;
    native_.reset();
    native_type_ = std::type_index(typeid(void));
    native_serialize_ = nullptr;
    return *this;
}

EventPtr EventBuilder::build() const {
    auto event = std::shared_ptr<Event>(new Event());

    if (id_.empty()) throw ValidationError("id", id_, "is required and must not be empty");
    validate_string("id", id_);
    if (source_.empty()) throw ValidationError("source", source_, "is required and must not be empty");
    validate_uri("source", source_, false);
    if (specversion_ != "1.0") {
        throw ValidationError("specversion", specversion_, "must be \"1.0\"; no other version is supported");
    }
    if (type_.empty()) throw ValidationError("type", type_, "is required and must not be empty");
    validate_string("type", type_);

    if (datacontenttype_) validate_media_type(*datacontenttype_);
    if (dataschema_) validate_uri("dataschema", *dataschema_, true);
    if (subject_) {
        if (subject_->empty()) throw ValidationError("subject", *subject_, "must not be empty when present");
        validate_string("subject", *subject_);
    }

    event->id_ = id_;
    event->source_ = source_;
    event->specversion_ = specversion_;
    event->type_ = type_;
    event->datacontenttype_ = datacontenttype_;
    event->dataschema_ = dataschema_;
    event->subject_ = subject_;
    if (time_text_) {
        event->time_ = Timestamp::parse(*time_text_);
    } else {
        event->time_ = time_;
    }

    if (!wide_integers_.empty()) {
        const auto& [name, value] = wide_integers_.front();
        throw ValidationError("extension " + name, value,
                              "Integer must fit in 32 bits (-2147483648 to 2147483647)");
    }
    for (const auto& [name, value] : extensions_) {
        try {
            validate_attribute_name(name);
        } catch (const ValidationError&) {
            throw ValidationError("extension name", name,
                                  name.empty() ? "names must not be empty"
                                  : name == "data" ? "\"data\" is reserved"
                                                   : "names use only a-z and 0-9");
        }
        if (is_core_attribute(name)) {
            throw ValidationError("extension name", name, "is a core attribute; set it with its own setter");
        }
        const std::string label = "extension " + name;
        if (const auto* s = std::get_if<std::string>(&value)) validate_string(label, *s);
        if (const auto* u = std::get_if<Uri>(&value)) validate_uri(label, u->value, true);
        if (const auto* r = std::get_if<UriRef>(&value)) validate_uri(label, r->value, false);
    }
    event->extensions_ = extensions_;
    std::sort(event->extensions_.begin(), event->extensions_.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });

    event->data_kind_ = data_kind_;
    event->data_ = data_;
    if (data_kind_ == DataKind::text) {
        const bool json = !datacontenttype_ || is_json_content_type(*datacontenttype_);
        if (json) {
            // nlohmann's lexer stops at a NUL byte, which JSON text never
            // holds; quick_json_check rejects one itself.
            const JsonCheck check = quick_json_check(data_);
            const bool valid = check == JsonCheck::valid ||
                               (check == JsonCheck::unsure && data_.find('\0') == std::string::npos &&
                                nlohmann::json::accept(data_));
            if (!valid) {
                throw ValidationError("data", data_,
                                      "is not valid JSON text but the content type is JSON; "
                                      "set a non-JSON content type or use binary data");
            }
        } else if (const auto bad = detail::find_invalid_utf8(data_); bad != std::string::npos) {
            throw ValidationError("data", data_,
                                  "is not valid UTF-8 at byte " + std::to_string(bad) +
                                      "; use binary data for arbitrary bytes");
        }
    }
    if (data_kind_ == DataKind::native) {
        event->native_ = native_;
        event->native_type_ = native_type_;
        event->native_serialize_ = native_serialize_;
        if (!event->datacontenttype_) event->datacontenttype_ = "application/json";
    }
    return event;
}

// --- internal access --------------------------------------------------------

std::shared_ptr<Event> detail::EventAccess::make() { return std::shared_ptr<Event>(new Event()); }

void detail::validate_media_type(std::string_view value) { cebus::validate_media_type(value); }

}  // namespace cebus
