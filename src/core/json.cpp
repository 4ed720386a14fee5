// Structured JSON and JSON batch formats.
//
// The decoder is a purpose-built RFC 8259 parser: it reads the members of an
// event straight into an Event, without an intermediate document, and keeps
// the `data` member as the exact JSON text it arrived as. Every rule that
// EventBuilder::build() checks is checked here too, through the same
// validation functions, so a decoded event needs no second validation pass.
#include <cebus/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <limits>
#include <optional>
#include <vector>

#include "event_access.hpp"
#include "text.hpp"

namespace cebus::json {

namespace {

using detail::EventAccess;

// Bits of the core members, to reject a member that appears twice.
enum Member : unsigned {
    m_id = 1u << 0,
    m_source = 1u << 1,
    m_specversion = 1u << 2,
    m_type = 1u << 3,
    m_datacontenttype = 1u << 4,
    m_dataschema = 1u << 5,
    m_subject = 1u << 6,
    m_time = 1u << 7,
    m_data = 1u << 8,
    m_data_base64 = 1u << 9,
};

// Kind of a scanned JSON value, known from its first character.
enum class ValueKind : std::uint8_t { string, number, boolean, null, object, array };

std::string_view value_kind_name(ValueKind kind) {
    switch (kind) {
        case ValueKind::string: return "a string";
        case ValueKind::number: return "a number";
        case ValueKind::boolean: return "a boolean";
        case ValueKind::null: return "null";
        case ValueKind::object: return "an object";
        case ValueKind::array: return "an array";
    }
    return "a value";
}

// Bytes that end a fast run inside a JSON string: the quote, the backslash,
// control characters and every non-ASCII byte (checked as UTF-8).
constexpr std::array<bool, 256> make_string_stop_table() {
    std::array<bool, 256> table{};
    for (int c = 0; c < 0x20; ++c) table[c] = true;
    table['"'] = true;
    table['\\'] = true;
    for (int c = 0x80; c < 0x100; ++c) table[c] = true;
    return table;
}
constexpr auto string_stop = make_string_stop_table();

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// One extension member as read, before the duplicate check.
struct PendingExtension {
    std::string name;
    std::size_t offset;  // of the member name, for the duplicate error
    bool null;
    AttributeValue value;
};

class Parser {
public:
    Parser(std::string_view text, const Limits& limits) : text_(text), limits_(limits) {}

    std::size_t pos() const noexcept { return pos_; }

    [[noreturn]] void fail(std::size_t at, std::string reason) const { throw ParseError(at, std::move(reason)); }

    void skip_whitespace() noexcept {
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
            ++pos_;
        }
    }

    // Skips an optional UTF-8 byte order mark, which RFC 8259 lets a parser ignore.
    void skip_bom() noexcept {
        if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    }

    bool at_end() const noexcept { return pos_ >= text_.size(); }
    char peek() const noexcept { return pos_ < text_.size() ? text_[pos_] : '\0'; }

    void expect(char c, const char* what) {
        if (pos_ >= text_.size()) fail(pos_, std::string("unexpected end of input; expected ") + what);
        if (text_[pos_] != c) fail(pos_, std::string("unexpected ") + describe_here() + "; expected " + what);
        ++pos_;
    }

    std::string describe_here() const {
        if (pos_ >= text_.size()) return "end of input";
        const auto c = static_cast<unsigned char>(text_[pos_]);
        if (c >= 0x21 && c < 0x7F) return std::string("character '") + static_cast<char>(c) + "'";
        char buf[16];
        std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
        return buf;
    }

    void enter() {
        if (++depth_ > limits_.max_depth) {
            fail(pos_, "JSON nesting deeper than the limit of " + std::to_string(limits_.max_depth) + " levels");
        }
    }
    void leave() noexcept { --depth_; }

    ValueKind kind_here() {
        switch (peek()) {
            case '"': return ValueKind::string;
            case '{': return ValueKind::object;
            case '[': return ValueKind::array;
            case 't':
            case 'f': return ValueKind::boolean;
            case 'n': return ValueKind::null;
            default: break;
        }
        const char c = peek();
        if (c == '-' || (c >= '0' && c <= '9')) return ValueKind::number;
        if (at_end()) fail(pos_, "unexpected end of input; expected a JSON value");
        fail(pos_, "unexpected " + describe_here() + "; expected a JSON value");
    }

    // Reads a string at pos_ (which is '"'). Returns a view into the input
    // when the string has no escapes, else decodes into `scratch` and
    // returns a view of it. Non-ASCII bytes must be valid UTF-8.
    std::string_view read_string(std::string& scratch) {
        const std::size_t open = pos_;
        ++pos_;
        const std::size_t start = pos_;
        bool decoded = false;
        for (;;) {
            const std::size_t run = pos_;
            while (pos_ < text_.size() && !string_stop[static_cast<unsigned char>(text_[pos_])]) ++pos_;
            // Once decoding, every plain run goes to scratch, also the run
            // after a non-ASCII character.
            if (decoded) scratch.append(text_.data() + run, pos_ - run);
            if (pos_ >= text_.size()) fail(open, "unterminated string");
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                if (!decoded) {
                    const std::string_view view = text_.substr(start, pos_ - start);
                    ++pos_;
                    return view;
                }
                ++pos_;
                return scratch;
            }
            if (c >= 0x80) {
                const std::size_t at = pos_;
                if (detail::next_code_point(text_, pos_) < 0) fail(at, "invalid UTF-8 in string");
                if (decoded) scratch.append(text_.data() + at, pos_ - at);
                continue;
            }
            if (c < 0x20) fail(pos_, "unescaped control character in string; write it as \\u00XX");

            // A backslash: switch to decoding into scratch.
            if (!decoded) {
                decoded = true;
                scratch.assign(text_.data() + start, pos_ - start);
            }
            read_escape(&scratch);
        }
    }

    // Validates a string without decoding it (for `data`).
    void skip_string() {
        const std::size_t open = pos_;
        ++pos_;
        for (;;) {
            while (pos_ < text_.size() && !string_stop[static_cast<unsigned char>(text_[pos_])]) ++pos_;
            if (pos_ >= text_.size()) fail(open, "unterminated string");
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                ++pos_;
                return;
            }
            if (c >= 0x80) {
                const std::size_t at = pos_;
                if (detail::next_code_point(text_, pos_) < 0) fail(at, "invalid UTF-8 in string");
                continue;
            }
            if (c < 0x20) fail(pos_, "unescaped control character in string; write it as \\u00XX");
            read_escape(nullptr);
        }
    }

    // Reads a number and returns its text. Sets `integer` to true when the
    // number has neither fraction nor exponent.
    std::string_view read_number(bool& integer) {
        const std::size_t start = pos_;
        auto digit = [&] { return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; };
        if (peek() == '-') ++pos_;
        if (!digit()) fail(pos_, "invalid number: expected a digit");
        if (text_[pos_] == '0') {
            ++pos_;
            if (digit()) fail(pos_, "invalid number: leading zeros are not allowed");
        } else {
            while (digit()) ++pos_;
        }
        integer = true;
        if (peek() == '.') {
            integer = false;
            ++pos_;
            if (!digit()) fail(pos_, "invalid number: expected a digit after '.'");
            while (digit()) ++pos_;
        }
        if (peek() == 'e' || peek() == 'E') {
            integer = false;
            ++pos_;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (!digit()) fail(pos_, "invalid number: expected a digit in the exponent");
            while (digit()) ++pos_;
        }
        return text_.substr(start, pos_ - start);
    }

    bool read_literal() {
        auto match = [&](std::string_view word) {
            if (text_.substr(pos_, word.size()) != word) fail(pos_, "invalid literal; expected " + std::string(word));
            pos_ += word.size();
        };
        switch (peek()) {
            case 't': match("true"); return true;
            case 'f': match("false"); return false;
            default: match("null"); return false;
        }
    }

    // Validates any JSON value and moves past it. Nesting counts towards
    // the depth limit; the walk keeps an explicit stack of open containers
    // so hostile nesting cannot exhaust the call stack.
    void skip_value() {
        const std::size_t base_depth = depth_;
        // One entry per open container, true for an array; the depth limit
        // bounds its size.
        std::vector<bool> is_array;
        for (;;) {
            // A value.
            skip_whitespace();
            switch (kind_here()) {
                case ValueKind::string: skip_string(); break;
                case ValueKind::number: {
                    bool integer;
                    read_number(integer);
                    break;
                }
                case ValueKind::boolean:
                case ValueKind::null: read_literal(); break;
                case ValueKind::object:
                case ValueKind::array: {
                    const bool array = peek() == '[';
                    ++pos_;
                    enter();
                    is_array.push_back(array);
                    skip_whitespace();
                    if (peek() == (array ? ']' : '}')) {
                        ++pos_;
                        leave();
                        is_array.pop_back();
                        break;
                    }
                    if (!array) read_member_name();
                    continue;
                }
            }

            // After a value: close containers or move to the next element.
            for (;;) {
                if (depth_ == base_depth) return;
                skip_whitespace();
                const bool array = is_array.back();
                if (peek() == ',') {
                    ++pos_;
                    if (!array) {
                        skip_whitespace();
                        read_member_name();
                    }
                    break;
                }
                if (peek() == (array ? ']' : '}')) {
                    ++pos_;
                    leave();
                    is_array.pop_back();
                    continue;
                }
                fail(pos_, "unexpected " + describe_here() + (array ? "; expected ',' or ']'" : "; expected ',' or '}'"));
            }
        }
    }

    // Reads `"name" :` inside an object being skipped.
    void read_member_name() {
        if (peek() != '"') fail(pos_, "unexpected " + describe_here() + "; expected a member name in quotes");
        skip_string();
        skip_whitespace();
        expect(':', "':' after the member name");
    }

    EventPtr read_event();
    // Reads the value of an extension member; throws ValidationError after
    // moving past the value when the name or value breaks a rule.
    void read_extension(PendingExtension& ext, std::string& scratch);

    std::string_view text() const noexcept { return text_; }

private:
    // Reads the escape at pos_ (a backslash). Appends the decoded character
    // to `out` unless it is null.
    void read_escape(std::string* out) {
        const std::size_t at = pos_;
        ++pos_;
        if (pos_ >= text_.size()) fail(at, "unterminated escape in string");
        const char e = text_[pos_++];
        char simple = 0;
        switch (e) {
            case '"': simple = '"'; break;
            case '\\': simple = '\\'; break;
            case '/': simple = '/'; break;
            case 'b': simple = '\b'; break;
            case 'f': simple = '\f'; break;
            case 'n': simple = '\n'; break;
            case 'r': simple = '\r'; break;
            case 't': simple = '\t'; break;
            case 'u': break;
            default: fail(at, std::string("invalid escape '\\") + (e >= 0x20 && e < 0x7F ? std::string(1, e) : "?") +
                                  "' in string");
        }
        if (simple != 0) {
            if (out) *out += simple;
            return;
        }
        std::uint32_t cp = read_hex4(at);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            // A high surrogate must be followed by an escaped low surrogate.
            if (text_.substr(pos_, 2) != "\\u") fail(at, "unpaired UTF-16 surrogate in \\u escape");
            pos_ += 2;
            const std::uint32_t low = read_hex4(at);
            if (low < 0xDC00 || low > 0xDFFF) fail(at, "unpaired UTF-16 surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail(at, "unpaired UTF-16 surrogate in \\u escape");
        }
        if (out) append_utf8(*out, cp);
    }

    std::uint32_t read_hex4(std::size_t escape_at) {
        if (pos_ + 4 > text_.size()) fail(escape_at, "incomplete \\u escape in string");
        std::uint32_t value = 0;
        for (int i = 0; i < 4; ++i) {
            const int h = hex_value(text_[pos_ + i]);
            if (h < 0) fail(escape_at, "invalid \\u escape in string: expected four hex digits");
            value = value * 16 + static_cast<std::uint32_t>(h);
        }
        pos_ += 4;
        return value;
    }

    std::string_view text_;
    const Limits& limits_;
    std::size_t pos_ = 0;
    std::size_t depth_ = 0;
};

// Reads a string member of a core attribute into `target`.
void read_core_string(Parser& p, std::string_view name, std::string& target, std::string& scratch) {
    if (p.peek() != '"') {
        const ValueKind kind = p.kind_here();
        const std::size_t start = p.pos();
        p.skip_value();
        throw ValidationError(std::string(name), std::string(p.text().substr(start, p.pos() - start)),
                              "must be a JSON string, not " + std::string(value_kind_name(kind)));
    }
    const std::string_view value = p.read_string(scratch);
    target.assign(value.data(), value.size());
}

std::int32_t parse_integer_extension(std::string_view name, std::string_view number, bool integer) {
    if (!integer) {
        throw ValidationError("extension " + std::string(name), std::string(number),
                              "Integer must be a JSON number without fraction or exponent");
    }
    // Up to 10 digits plus a sign fit in int64 without overflow; longer text
    // is out of range anyway (leading zeros are not valid JSON).
    const bool negative = number.front() == '-';
    const std::string_view digits = negative ? number.substr(1) : number;
    std::int64_t value = 0;
    bool in_range = digits.size() <= 10;
    if (in_range) {
        for (const char c : digits) value = value * 10 + (c - '0');
        if (negative) value = -value;
        in_range = value >= std::numeric_limits<std::int32_t>::min() && value <= std::numeric_limits<std::int32_t>::max();
    }
    if (!in_range) {
        throw ValidationError("extension " + std::string(name), std::string(number),
                              "Integer must fit in 32 bits (-2147483648 to 2147483647)");
    }
    return static_cast<std::int32_t>(value);
}

const char* extension_name_rule(std::string_view name) {
    if (name.empty()) return "names must not be empty";
    for (const char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return "names use only a-z and 0-9";
    }
    return nullptr;
}

void Parser::read_extension(PendingExtension& ext, std::string& scratch) {
    ext.null = false;
    switch (kind_here()) {
        case ValueKind::string: {
            const std::string_view value = read_string(scratch);
            ext.value.emplace<std::string>(value);
            break;
        }
        case ValueKind::number: {
            bool integer;
            const std::string_view number = read_number(integer);
            ext.null = true;  // until the number proves to be an Integer
            ext.value = parse_integer_extension(ext.name, number, integer);
            ext.null = false;
            break;
        }
        case ValueKind::boolean: ext.value = read_literal(); break;
        case ValueKind::null:
            read_literal();
            ext.null = true;
            break;
        case ValueKind::object:
        case ValueKind::array: {
            const ValueKind kind = kind_here();
            const std::size_t start = pos_;
            skip_value();
            ext.null = true;
            throw ValidationError("extension " + ext.name, std::string(text_.substr(start, pos_ - start)),
                                  "must be a string, number or boolean, not " + std::string(value_kind_name(kind)));
        }
    }
    if (const char* rule = extension_name_rule(ext.name)) {
        ext.null = true;
        throw ValidationError("extension name", ext.name, rule);
    }
}

EventPtr Parser::read_event() {
    skip_whitespace();
    if (at_end()) fail(pos_, "unexpected end of input; expected '{' to start an event");
    if (peek() != '{') fail(pos_, "unexpected " + describe_here() + "; expected '{' to start an event");
    ++pos_;
    enter();

    auto event = EventAccess::make();
    Event& e = *event;
    unsigned seen = 0;
    unsigned present = 0;  // members seen with a value other than null
    std::string scratch;
    std::string time_text;
    std::string data_base64;
    std::size_t data_begin = 0;
    std::size_t data_end = 0;
    ValueKind data_kind = ValueKind::null;
    std::vector<PendingExtension> extensions;
    std::optional<ValidationError> deferred;

    skip_whitespace();
    if (peek() == '}') {
        ++pos_;
    } else {
        for (;;) {
            skip_whitespace();
            const std::size_t name_at = pos_;
            if (peek() != '"') fail(pos_, "unexpected " + describe_here() + "; expected a member name in quotes");
            std::string name_scratch;
            const std::string_view name = read_string(name_scratch);
            skip_whitespace();
            expect(':', "':' after the member name");
            skip_whitespace();

            unsigned bit = 0;
            std::string* target = nullptr;
            std::optional<std::string>* optional_target = nullptr;
            if (name == "id") {
                bit = m_id, target = &EventAccess::id(e);
            } else if (name == "source") {
                bit = m_source, target = &EventAccess::source(e);
            } else if (name == "specversion") {
                bit = m_specversion, target = &EventAccess::specversion(e);
            } else if (name == "type") {
                bit = m_type, target = &EventAccess::type(e);
            } else if (name == "datacontenttype") {
                bit = m_datacontenttype, optional_target = &EventAccess::datacontenttype(e);
            } else if (name == "dataschema") {
                bit = m_dataschema, optional_target = &EventAccess::dataschema(e);
            } else if (name == "subject") {
                bit = m_subject, optional_target = &EventAccess::subject(e);
            } else if (name == "time") {
                bit = m_time;
            } else if (name == "data") {
                bit = m_data;
            } else if (name == "data_base64") {
                bit = m_data_base64;
            }

            if (bit != 0 && (seen & bit)) fail(name_at, "duplicate member \"" + std::string(name) + "\"");
            seen |= bit;
            // A rule broken by one member is reported after the specversion
            // check, so an event of another version fails naming specversion.
            try {
                if (bit == m_data) {
                    data_kind = kind_here();
                    data_begin = pos_;
                    skip_value();
                    data_end = pos_;
                    present |= bit;
                } else if (bit != 0 && peek() == 'n') {
                    read_literal();  // null: the attribute is absent
                } else if (bit != 0) {
                    present |= bit;
                    if (target) {
                        read_core_string(*this, name, *target, scratch);
                    } else if (optional_target) {
                        optional_target->emplace();
                        read_core_string(*this, name, **optional_target, scratch);
                    } else if (bit == m_time) {
                        read_core_string(*this, name, time_text, scratch);
                    } else {
                        read_core_string(*this, name, data_base64, scratch);
                    }
                } else {
                    extensions.push_back(PendingExtension{std::string(name), name_at, true, AttributeValue(false)});
                    read_extension(extensions.back(), scratch);
                }
            } catch (const ValidationError& err) {
                if (!deferred) deferred = err;
            }

            skip_whitespace();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == '}') {
                ++pos_;
                break;
            }
            fail(pos_, "unexpected " + describe_here() + "; expected ',' or '}'");
        }
    }
    leave();

    // Duplicate extension members.
    if (extensions.size() > 1) {
        std::stable_sort(extensions.begin(), extensions.end(),
                         [](const PendingExtension& a, const PendingExtension& b) { return a.name < b.name; });
        for (std::size_t i = 1; i < extensions.size(); ++i) {
            if (extensions[i].name == extensions[i - 1].name) {
                const auto& later = extensions[i].offset > extensions[i - 1].offset ? extensions[i] : extensions[i - 1];
                fail(later.offset, "duplicate member \"" + later.name + "\"");
            }
        }
    }

    // The rules of EventBuilder::build(), specversion first because no
    // other rule means anything for an unknown version.
    if (deferred && deferred->attribute() == "specversion") throw *deferred;
    if (!(present & m_specversion)) throw ValidationError("specversion", "", "is required; this library reads \"1.0\"");
    if (e.specversion() != "1.0") {
        throw ValidationError("specversion", e.specversion(), "must be \"1.0\"; no other version is supported");
    }
    if (deferred) throw *deferred;
    if (e.id().empty()) throw ValidationError("id", e.id(), "is required and must not be empty");
    validate_string("id", e.id());
    if (e.source().empty()) throw ValidationError("source", e.source(), "is required and must not be empty");
    validate_uri("source", e.source(), false);
    if (e.type().empty()) throw ValidationError("type", e.type(), "is required and must not be empty");
    validate_string("type", e.type());
    if (e.datacontenttype()) detail::validate_media_type(*e.datacontenttype());
    if (e.dataschema()) validate_uri("dataschema", *e.dataschema(), true);
    if (e.subject()) {
        if (e.subject()->empty()) throw ValidationError("subject", "", "must not be empty when present");
        validate_string("subject", *e.subject());
    }
    if (present & m_time) EventAccess::time(e) = Timestamp::parse(time_text);

    auto& stored = EventAccess::extensions(e);
    stored.reserve(extensions.size());
    for (auto& ext : extensions) {
        if (ext.null) continue;
        if (const auto* s = std::get_if<std::string>(&ext.value)) validate_string("extension " + ext.name, *s);
        stored.emplace_back(std::move(ext.name), std::move(ext.value));
    }

    // Data.
    if ((present & m_data) && (present & m_data_base64)) {
        throw ValidationError("data_base64", data_base64,
                              "an event carries either data or data_base64, not both");
    }
    if (present & m_data_base64) {
        std::size_t bad = 0;
        auto bytes = detail::base64_decode(data_base64, &bad);
        if (!bytes) {
            throw ValidationError("data_base64", data_base64,
                                  "is not valid Base64 (RFC 4648 with padding) at byte " + std::to_string(bad));
        }
        EventAccess::data(e) = std::move(*bytes);
        EventAccess::data_kind(e) = DataKind::binary;
    } else if (present & m_data) {
        const bool json = !e.datacontenttype() || is_json_content_type(*e.datacontenttype());
        if (json) {
            // The JSON value as written, so numbers and key order survive.
            EventAccess::data(e).assign(text_.data() + data_begin, data_end - data_begin);
            EventAccess::data_kind(e) = DataKind::text;
        } else if (data_kind == ValueKind::string) {
            const std::size_t saved = pos_;
            pos_ = data_begin;
            const std::string_view value = read_string(scratch);
            EventAccess::data(e).assign(value.data(), value.size());
            pos_ = saved;
            EventAccess::data_kind(e) = DataKind::text;
        } else if (data_kind != ValueKind::null) {
            throw ValidationError("data", std::string(text_.substr(data_begin, data_end - data_begin)),
                                  "must be a JSON string because datacontenttype \"" + *e.datacontenttype() +
                                      "\" is not JSON; use data_base64 for bytes");
        }
        // `data: null` with a non-JSON content type has no value to carry: no data.
    }
    return event;
}

void check_size(std::string_view text, const Limits& limits) {
    if (text.size() > limits.max_bytes) {
        throw ParseError(limits.max_bytes, "input of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                                               std::to_string(limits.max_bytes) + " bytes");
    }
}

void expect_end(Parser& p) {
    p.skip_whitespace();
    if (!p.at_end()) p.fail(p.pos(), "unexpected " + p.describe_here() + " after the end of the JSON value");
}

// --- encoding ---------------------------------------------------------------

// Bytes that need an escape in a JSON string.
constexpr std::array<bool, 256> make_escape_table() {
    std::array<bool, 256> table{};
    for (int c = 0; c < 0x20; ++c) table[c] = true;
    table['"'] = true;
    table['\\'] = true;
    return table;
}
constexpr auto needs_escape = make_escape_table();

void write_string(std::string& out, std::string_view s) {
    out += '"';
    std::size_t run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (!needs_escape[c]) continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default: {
                static constexpr char hex[] = "0123456789abcdef";
                const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                out.append(esc, 6);
            }
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

void write_member(std::string& out, std::string_view name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    write_string(out, value);
}

void write_extension(std::string& out, std::string_view name, const AttributeValue& value) {
    out += ",\"";
    out += name;
    out += "\":";
    switch (value.index()) {
        case 0: out += std::get<bool>(value) ? "true" : "false"; break;
        case 1: {
            char buf[16];
            const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, std::get<std::int32_t>(value));
            (void)ec;
            out.append(buf, end);
            break;
        }
        case 2: write_string(out, std::get<std::string>(value)); break;
        case 3:
            out += '"';
            detail::base64_encode_to(std::get<Binary>(value).bytes, out);
            out += '"';
            break;
        case 4: write_string(out, std::get<Uri>(value).value); break;
        case 5: write_string(out, std::get<UriRef>(value).value); break;
        case 6: write_string(out, std::get<Timestamp>(value).text()); break;
        default: break;
    }
}

}  // namespace

void append_string(std::string& out, std::string_view text) { write_string(out, text); }

void append_extension(std::string& out, std::string_view name, const AttributeValue& value) {
    write_extension(out, name, value);
}

EventPtr decode(std::string_view text, const Limits& limits) {
    check_size(text, limits);
    Parser p(text, limits);
    p.skip_bom();
    EventPtr event = p.read_event();
    expect_end(p);
    return event;
}

std::vector<EventPtr> decode_batch(std::string_view text, const Limits& limits) {
    check_size(text, limits);
    Parser p(text, limits);
    p.skip_bom();
    p.skip_whitespace();
    if (p.at_end()) p.fail(p.pos(), "unexpected end of input; expected '[' to start a batch");
    if (p.peek() != '[') p.fail(p.pos(), "unexpected " + p.describe_here() + "; expected '[' to start a batch");
    p.expect('[', "'['");
    p.enter();

    std::vector<EventPtr> events;
    p.skip_whitespace();
    if (p.peek() == ']') {
        p.expect(']', "']'");
    } else {
        for (;;) {
            const std::size_t index = events.size();
            if (index >= limits.max_batch) {
                p.fail(p.pos(), "batch holds more than the limit of " + std::to_string(limits.max_batch) + " events");
            }
            try {
                events.push_back(p.read_event());
            } catch (const ValidationError& err) {
                throw ValidationError(err.attribute(), err.value(),
                                      err.rule() + " (batch event " + std::to_string(index) + ")");
            } catch (const ParseError& err) {
                throw ParseError(err.offset(), err.reason() + " (batch event " + std::to_string(index) + ")");
            }
            p.skip_whitespace();
            if (p.peek() == ',') {
                p.expect(',', "','");
                continue;
            }
            if (p.peek() == ']') {
                p.expect(']', "']'");
                break;
            }
            p.fail(p.pos(), "unexpected " + p.describe_here() + "; expected ',' or ']' in the batch");
        }
    }
    p.leave();
    expect_end(p);
    return events;
}

EventPtr from_json_value(const nlohmann::json& value) {
    if (!value.is_object()) {
        throw ValidationError("event", value.dump(), "must be a JSON object");
    }
    // The document is already valid JSON, so the text decoder can only throw
    // ValidationError for it (a depth beyond the limit aside).
    std::string text;
    try {
        text = value.dump();
    } catch (const nlohmann::json::type_error& err) {
        // dump() rejects strings that are not valid UTF-8.
        throw ValidationError("event", "", std::string("contains a string that is not valid UTF-8: ") + err.what());
    }
    try {
        return decode(text);
    } catch (const ParseError& err) {
        throw ValidationError("event", "", err.reason());
    }
}

void encode_to(const Event& event, std::string& out) {
    out.reserve(out.size() + event.approximate_size() + 160);
    out += "{\"specversion\":";
    write_string(out, event.specversion());
    write_member(out, "id", event.id());
    write_member(out, "source", event.source());
    write_member(out, "type", event.type());
    if (event.datacontenttype()) write_member(out, "datacontenttype", *event.datacontenttype());
    if (event.dataschema()) write_member(out, "dataschema", *event.dataschema());
    if (event.subject()) write_member(out, "subject", *event.subject());
    if (event.time()) write_member(out, "time", event.time()->text());
    for (const auto& [name, value] : event.extensions()) write_extension(out, name, value);

    switch (event.data_kind()) {
        case DataKind::none: break;
        case DataKind::binary:
            out += ",\"data_base64\":\"";
            detail::base64_encode_to(event.data(), out);
            out += '"';
            break;
        case DataKind::text:
        case DataKind::native: {
            const auto& type = event.datacontenttype();
            if (!type || is_json_content_type(*type)) {
                // JSON data is embedded as the JSON text it already is.
                out += ",\"data\":";
                out += event.data();
            } else {
                write_member(out, "data", event.data());
            }
            break;
        }
    }
    out += '}';
}

std::string encode(const Event& event) {
    std::string out;
    encode_to(event, out);
    return out;
}

std::string encode_batch(const std::vector<EventPtr>& events) {
    std::string out = "[";
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (i > 0) out += ',';
        encode_to(*events[i], out);
    }
    out += ']';
    return out;
}

nlohmann::json to_json_value(const Event& event) { return nlohmann::json::parse(encode(event)); }

}  // namespace cebus::json
