// HTTP protocol binding: binary, structured and batched content modes.
#include <cebus/http.hpp>

#include <algorithm>
#include <optional>

#include "text.hpp"

namespace cebus::http {

namespace {

constexpr std::string_view structured_type = "application/cloudevents+json; charset=utf-8";
constexpr std::string_view batch_type = "application/cloudevents-batch+json; charset=utf-8";

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The media type without parameters, trimmed.
std::string_view essence_of(std::string_view content_type) noexcept {
    return trim(content_type.substr(0, content_type.find(';')));
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool has_charset(std::string_view content_type) noexcept {
    std::size_t pos = content_type.find(';');
    while (pos != std::string_view::npos) {
        const std::string_view param = trim(content_type.substr(pos + 1, content_type.find(';', pos + 1) - pos - 1));
        if (detail::istarts_with(param, "charset")) return true;
        pos = content_type.find(';', pos + 1);
    }
    return false;
}

// Tells media types whose bytes are text. A binary-mode body of such a type
// that is valid UTF-8 becomes text data, a JSON string in structured mode.
// Any other body stays bytes, which structured mode writes as data_base64.
bool is_text_content_type(std::string_view content_type) noexcept {
    const std::string_view essence = essence_of(content_type);
    const auto slash = essence.find('/');
    if (slash == std::string_view::npos) return false;
    const std::string_view type = essence.substr(0, slash);
    const std::string_view subtype = essence.substr(slash + 1);
    auto ends_with = [](std::string_view s, std::string_view suffix) {
        return s.size() >= suffix.size() && detail::iequals(s.substr(s.size() - suffix.size()), suffix);
    };
    return detail::iequals(type, "text") || detail::iequals(subtype, "xml") || ends_with(subtype, "+xml") ||
           detail::iequals(subtype, "yaml") || ends_with(subtype, "+yaml") ||
           detail::iequals(subtype, "javascript") || detail::iequals(subtype, "x-www-form-urlencoded") ||
           has_charset(content_type);
}

EventPtr decode_binary(const Headers& headers, std::string_view body, const json::Limits& limits) {
    if (body.size() > limits.max_bytes) {
        throw ParseError(limits.max_bytes, "body of " + std::to_string(body.size()) + " bytes exceeds the limit of " +
                                               std::to_string(limits.max_bytes) + " bytes");
    }

    EventBuilder builder;
    std::vector<std::string> seen;
    std::optional<std::string> ce_datacontenttype;
    bool has_specversion = false;
    for (const auto& [header, raw_value] : headers) {
        if (!detail::istarts_with(header, "ce-")) continue;
        std::string name = detail::to_lower(std::string_view(header).substr(3));
        if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
            throw ValidationError(name, raw_value, "appears in more than one ce-" + name + " header");
        }
        seen.push_back(name);

        std::string value;
        try {
            value = percent_decode(raw_value);
        } catch (const ParseError& err) {
            throw ParseError(err.offset(), "header ce-" + name + ": " + err.reason());
        }

        if (name == "id") {
            builder.id(std::move(value));
        } else if (name == "source") {
            builder.source(std::move(value));
        } else if (name == "specversion") {
            has_specversion = true;
            builder.specversion(std::move(value));
        } else if (name == "type") {
            builder.type(std::move(value));
        } else if (name == "subject") {
            builder.subject(std::move(value));
        } else if (name == "dataschema") {
            builder.dataschema(std::move(value));
        } else if (name == "time") {
            builder.time(std::string_view(value));
        } else if (name == "datacontenttype") {
            ce_datacontenttype = std::move(value);
        } else {
            // The type of an extension cannot be known from a header, so
            // it stays a String; build() checks the name.
            builder.extension(std::move(name), AttributeValue(std::move(value)));
        }
    }
    if (!has_specversion) {
        throw ValidationError("specversion", "", "is required; a binary-mode message needs a ce-specversion header");
    }

    // Content-Type carries datacontenttype. A ce-datacontenttype header breaks
    // the binding's rules, but when Content-Type is missing it is the only
    // statement of the sender's intent, so it is used then.
    std::optional<std::string> content_type;
    if (const auto header = find_header(headers, "content-type")) {
        content_type = std::string(trim(*header));
    } else if (ce_datacontenttype) {
        content_type = std::move(ce_datacontenttype);
    }
    if (content_type) builder.datacontenttype(*content_type);

    // An empty body is no data. A body that does not match what its type
    // promises (JSON that does not parse, text that is not UTF-8) is kept
    // as bytes rather than rejected, so nothing the sender sent is lost.
    if (!body.empty()) {
        bool text = false;
        std::string_view text_body = body;
        if (content_type && is_json_content_type(*content_type)) {
            // nlohmann's lexer stops at a NUL byte, which JSON text never holds.
            text = body.find('\0') == std::string_view::npos && nlohmann::json::accept(body);
            // Whitespace around a JSON value carries no meaning, and the
            // structured format could not keep it.
            const auto first = body.find_first_not_of(" \t\r\n");
            const auto last = body.find_last_not_of(" \t\r\n");
            if (text) text_body = body.substr(first, last - first + 1);
        } else if (content_type && is_text_content_type(*content_type)) {
            text = detail::find_invalid_utf8(body) == std::string_view::npos;
        }
        if (text) {
            builder.data(std::string(text_body));
        } else {
            builder.data_binary(std::string(body));
        }
    }
    return builder.build();
}

void check_format(std::string_view content_type, std::string_view expected) {
    if (!detail::iequals(essence_of(content_type), expected)) {
        throw ValidationError("Content-Type", std::string(content_type),
                              "names an event format this library does not read; it reads " + std::string(expected));
    }
}

}  // namespace

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) noexcept {
    for (const auto& [key, value] : headers) {
        if (detail::iequals(key, name)) return std::string_view(value);
    }
    return std::nullopt;
}

Mode detect_mode(const Headers& headers) noexcept {
    const auto content_type = find_header(headers, "content-type");
    if (!content_type) return Mode::binary;
    const std::string_view value = trim(*content_type);
    if (detail::istarts_with(value, "application/cloudevents-batch")) return Mode::batched;
    if (detail::istarts_with(value, "application/cloudevents")) return Mode::structured;
    return Mode::binary;
}

std::vector<EventPtr> decode(const Headers& headers, std::string_view body, const json::Limits& limits) {
    switch (detect_mode(headers)) {
        case Mode::batched:
            check_format(*find_header(headers, "content-type"), json::batch_media_type);
            return json::decode_batch(body, limits);
        case Mode::structured:
            check_format(*find_header(headers, "content-type"), json::media_type);
            return {json::decode(body, limits)};
        case Mode::binary: break;
    }
    return {decode_binary(headers, body, limits)};
}

EventPtr decode_event(const Headers& headers, std::string_view body, const json::Limits& limits) {
    switch (detect_mode(headers)) {
        case Mode::batched:
            throw ValidationError("Content-Type", std::string(*find_header(headers, "content-type")),
                                  "announces a batch where one event is expected");
        case Mode::structured:
            check_format(*find_header(headers, "content-type"), json::media_type);
            return json::decode(body, limits);
        case Mode::binary: break;
    }
    return decode_binary(headers, body, limits);
}

Message encode_binary(const Event& event) {
    Message message;
    auto& headers = message.headers;
    headers.reserve(8 + event.extensions().size());
    headers.emplace_back("ce-specversion", percent_encode(event.specversion()));
    headers.emplace_back("ce-id", percent_encode(event.id()));
    headers.emplace_back("ce-source", percent_encode(event.source()));
    headers.emplace_back("ce-type", percent_encode(event.type()));
    if (event.subject()) headers.emplace_back("ce-subject", percent_encode(*event.subject()));
    if (event.dataschema()) headers.emplace_back("ce-dataschema", percent_encode(*event.dataschema()));
    if (event.time()) headers.emplace_back("ce-time", percent_encode(event.time()->text()));
    for (const auto& [name, value] : event.extensions()) {
        headers.emplace_back("ce-" + name, percent_encode(to_canonical_string(value)));
    }

    if (event.datacontenttype()) {
        headers.emplace_back("content-type", *event.datacontenttype());
    } else if (event.data_kind() == DataKind::text || event.data_kind() == DataKind::native) {
        // Text data without a content type is JSON by the JSON format's
        // rule, and the binding asks senders to state that explicitly.
        headers.emplace_back("content-type", "application/json");
    }
    if (event.has_data()) message.body = std::string(event.data());
    return message;
}

Message encode_structured(const Event& event) {
    Message message;
    message.headers.emplace_back("content-type", std::string(structured_type));
    message.body = json::encode(event);
    return message;
}

Message encode_batch(const std::vector<EventPtr>& events) {
    Message message;
    message.headers.emplace_back("content-type", std::string(batch_type));
    message.body = json::encode_batch(events);
    return message;
}

std::string percent_encode(std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size());
    for (const char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7F || c == '"' || c == '%') {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    return out;
}

std::string percent_decode(std::string_view value) {
    // Offsets in errors count from the start of the value as given.
    std::size_t base = 0;
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
        ++base;
    }
    value = trim(value);

    // RFC 7230 quoted-string: strip the quotes and undo backslash escapes.
    std::string unquoted;
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        unquoted.reserve(value.size() - 2);
        for (std::size_t i = 1; i + 1 < value.size(); ++i) {
            const char c = value[i];
            if (c == '\\') {
                if (i + 2 >= value.size()) throw ParseError(base + i, "backslash at the end of a quoted string");
                unquoted += value[++i];
            } else if (c == '"') {
                throw ParseError(base + i, "unescaped '\"' inside a quoted string");
            } else {
                unquoted += c;
            }
        }
        value = unquoted;
        base += 1;  // positions now count inside the quotes, escapes aside
    }

    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '%') {
            out += value[i];
            continue;
        }
        const int high = i + 1 < value.size() ? hex_value(value[i + 1]) : -1;
        const int low = i + 2 < value.size() ? hex_value(value[i + 2]) : -1;
        if (high < 0 || low < 0) throw ParseError(base + i, "'%' must start a %XX escape with two hex digits");
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }

    if (const auto bad = detail::find_invalid_utf8(out); bad != std::string::npos) {
        throw ParseError(base, "value is not valid UTF-8 after percent-decoding (byte " + std::to_string(bad) +
                                   " of the decoded value); overlong forms such as %C0%A0 are rejected");
    }
    return out;
}

}  // namespace cebus::http
