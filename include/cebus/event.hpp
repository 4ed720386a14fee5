// CloudEvents 1.0.2 event model.
//
// An Event is immutable once built and is shared through EventPtr
// (std::shared_ptr<const Event>), so fanning one event out to many subscribers
// copies nothing. Every accessor of a built Event is thread-safe. EventBuilder
// validates on build(): a bad attribute name, a missing required attribute, an
// Integer outside 32 bits, a `dataschema` that is not an absolute URI or a
// `time` that is not RFC 3339 throws ValidationError naming the attribute, the
// value and the rule.
//
// Data is bytes plus a content type. JSON data (`*/json`, `*/*+json`, media
// type parameters ignored, or no content type at all) can be read as
// nlohmann::json or as any T with a from_json() found by ADL. An in-process
// producer may attach a native C++ value instead of bytes; it is serialised to
// JSON only when something asks for bytes, at most once per event.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeindex>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace cebus {

// Base of every exception cebus throws.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An attribute or value breaks a CloudEvents rule. what() names the attribute,
// the value and the rule, for example:
//   invalid extension name "trace-id": names use only a-z and 0-9
class ValidationError : public Error {
public:
    // Builds the message `invalid ATTRIBUTE "VALUE": RULE`. In the message
    // the value is quoted, control bytes are escaped and text past 120 bytes
    // is cut, but value() keeps it whole.
    ValidationError(std::string attribute, std::string value, std::string rule);
    // The attribute or item checked, such as "source" or "extension name".
    const std::string& attribute() const noexcept { return attribute_; }
    // The rejected value, unshortened.
    const std::string& value() const noexcept { return value_; }
    // The rule the value breaks, as a sentence fragment.
    const std::string& rule() const noexcept { return rule_; }

private:
    std::string attribute_;
    std::string value_;
    std::string rule_;
};

// Input text that cannot be decoded. offset() is the byte offset in the input
// where decoding failed; what() includes it and the reason.
class ParseError : public Error {
public:
    // Builds the message `parse error at byte OFFSET: REASON`.
    ParseError(std::size_t offset, std::string reason);
    // Byte offset in the input, counting from 0, where decoding failed.
    std::size_t offset() const noexcept { return offset_; }
    // The reason decoding failed, without the offset.
    const std::string& reason() const noexcept { return reason_; }

private:
    std::size_t offset_;
    std::string reason_;
};

// An RFC 3339 timestamp that keeps the text it was parsed from, so every
// fractional digit and the original offset survive a round trip.
class Timestamp {
public:
    // Parses RFC 3339 `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`; `t` and
    // `z` may be lower case, second 60 is accepted, and the fraction may have
    // any number of digits. Throws ValidationError (attribute "time").
    static Timestamp parse(std::string_view text);
    // Formats a point in time as UTC with nanosecond precision.
    static Timestamp from_time_point(std::chrono::system_clock::time_point tp);
    // The current system_clock time, formatted as from_time_point() does.
    static Timestamp now() { return from_time_point(std::chrono::system_clock::now()); }

    // The canonical text, always with seconds.
    const std::string& text() const noexcept { return text_; }
    // Seconds since the Unix epoch in UTC (leap second 60 counts as 59).
    std::int64_t unix_seconds() const noexcept { return unix_seconds_; }
    // Nanoseconds within the second; digits past the ninth are kept in text()
    // but not here.
    std::int32_t nanoseconds() const noexcept { return nanoseconds_; }
    // The instant as a system_clock time point, truncated to the clock's
    // resolution. The UTC offset of the text is applied.
    std::chrono::system_clock::time_point time_point() const;

    // Compares the text, so the same instant written with another offset or
    // fraction length is not equal.
    friend bool operator==(const Timestamp& a, const Timestamp& b) { return a.text_ == b.text_; }

private:
    std::string text_;
    std::int64_t unix_seconds_ = 0;
    std::int32_t nanoseconds_ = 0;
};

// Bytes of a Binary attribute (Base64 in JSON and headers).
struct Binary {
    // Raw bytes, not Base64.
    std::string bytes;
    // Byte-wise equality.
    friend bool operator==(const Binary&, const Binary&) = default;
};

// An absolute URI (RFC 3986 section 4.3).
struct Uri {
    // URI text as written; EventBuilder::build() checks that it is absolute.
    std::string value;
    // Exact text equality, with no URI normalisation.
    friend bool operator==(const Uri&, const Uri&) = default;
};

// A URI-reference (RFC 3986 section 4.1); relative references are allowed.
struct UriRef {
    // URI-reference text as written; EventBuilder::build() checks its syntax.
    std::string value;
    // Exact text equality, with no URI normalisation.
    friend bool operator==(const UriRef&, const UriRef&) = default;
};

// One value of the CloudEvents type system. std::int32_t is Integer.
using AttributeValue = std::variant<bool, std::int32_t, std::string, Binary, Uri, UriRef, Timestamp>;

// The canonical string encoding of a value: `true`/`false`, base 10, Base64,
// or the text itself. Allocates.
std::string to_canonical_string(const AttributeValue& value);

// Names of the CloudEvents type system: "Boolean", "Integer", "String",
// "Binary", "URI", "URI-reference", "Timestamp".
std::string_view type_name(const AttributeValue& value) noexcept;

// True for `*/json`, `*/*+json` and an absent content type, ignoring
// parameters and case. This is the JSON format's rule for `data`.
bool is_json_content_type(std::string_view content_type) noexcept;

// Throws ValidationError unless `name` is a valid attribute name: one or more
// of a-z and 0-9, and not the reserved name "data".
void validate_attribute_name(std::string_view name);

class Event;
namespace detail {
struct EventAccess;
}
// Shared, immutable handle to a built event; copying it copies no event data.
using EventPtr = std::shared_ptr<const Event>;

// How the data of an event is held. Bytes from `data_base64` or a binary body
// are `binary`; a JSON value or text from a `data` member is `text`.
enum class DataKind : std::uint8_t {
    none,    // no data
    text,    // UTF-8 text: JSON text when the content type is JSON
    binary,  // arbitrary bytes, written as data_base64 in JSON
    native,  // a C++ value attached in-process, serialised to JSON on demand
};

// One immutable CloudEvent, made by EventBuilder or a decoder and held
// through EventPtr. All const members are thread-safe.
class Event {
public:
    // Required attributes.
    const std::string& id() const noexcept { return id_; }
    const std::string& source() const noexcept { return source_; }
    const std::string& specversion() const noexcept { return specversion_; }
    const std::string& type() const noexcept { return type_; }

    // Optional attributes; an empty optional means absent.
    const std::optional<std::string>& datacontenttype() const noexcept { return datacontenttype_; }
    const std::optional<std::string>& dataschema() const noexcept { return dataschema_; }
    const std::optional<std::string>& subject() const noexcept { return subject_; }
    const std::optional<Timestamp>& time() const noexcept { return time_; }

    // Extension attributes sorted by name.
    const std::vector<std::pair<std::string, AttributeValue>>& extensions() const noexcept {
        return extensions_;
    }
    // The extension called `name`, or nullptr. Never allocates.
    const AttributeValue* extension(std::string_view name) const noexcept;

    // Any attribute by name, core or extension, typed: `id` and friends are
    // String, `source` URI-reference, `dataschema` URI, `time` Timestamp.
    // Allocates a copy; use the accessors above on a hot path.
    std::optional<AttributeValue> attribute(std::string_view name) const;

    // The text of a core String, URI-reference, URI or Timestamp attribute or
    // of an extension of those types, without copying. Empty optional when the
    // attribute is absent or is a Boolean, Integer or Binary extension.
    std::optional<std::string_view> attribute_text(std::string_view name) const noexcept;

    // Data.
    DataKind data_kind() const noexcept { return data_kind_; }
    bool has_data() const noexcept { return data_kind_ != DataKind::none; }
    // True when the data is JSON: the content type is JSON (or absent) and
    // the data is not binary. Native values count as JSON.
    bool data_is_json() const noexcept;
    // The data bytes. For a native value this serialises it to JSON the
    // first time (thread-safe, once per event). Throws what the value's
    // to_json throws.
    std::string_view data() const;
    // The data parsed as JSON. Throws ParseError when the data is not JSON
    // text, Error when there is no data.
    nlohmann::json data_json() const;
    // The native value if the producer attached a T, else nullptr.
    template <class T>
    const T* native_data() const noexcept {
        if (data_kind_ != DataKind::native || native_type_ != std::type_index(typeid(T))) return nullptr;
        return static_cast<const T*>(native_.get());
    }
    // The data as T: the native value when one of type T is attached,
    // otherwise the JSON data converted with from_json. Throws ParseError or
    // nlohmann::json's type_error when the data does not fit T.
    template <class T>
    T data_as() const {
        if (const T* native = native_data<T>()) return *native;
        return data_json().template get<T>();
    }

    // Wire size estimate: attribute and data bytes, used for limits and metrics.
    std::size_t approximate_size() const noexcept;

    // Structural equality of attributes and data bytes.
    friend bool operator==(const Event& a, const Event& b);

private:
    friend class EventBuilder;
    friend struct detail::EventAccess;
    Event() = default;

    std::string id_;
    std::string source_;
    std::string specversion_;
    std::string type_;
    std::optional<std::string> datacontenttype_;
    std::optional<std::string> dataschema_;
    std::optional<std::string> subject_;
    std::optional<Timestamp> time_;
    std::vector<std::pair<std::string, AttributeValue>> extensions_;

    DataKind data_kind_ = DataKind::none;
    std::string data_;
    std::shared_ptr<const void> native_;
    std::type_index native_type_ = std::type_index(typeid(void));
    std::function<std::string(const void*)> native_serialize_;
    mutable std::once_flag serialize_once_;
    mutable std::string serialized_;
};

// Builds and validates an Event. Setters store values without checking;
// build() checks everything and throws ValidationError on the first rule an
// attribute breaks. Not thread-safe; a builder may build many events.
class EventBuilder {
public:
    // Starts with specversion "1.0" and nothing else set.
    EventBuilder() = default;

    // Required attributes: build() throws ValidationError when one is empty,
    // when `id` or `type` is not a valid String, or when `source` is not a
    // URI-reference.
    EventBuilder& id(std::string value);
    EventBuilder& source(std::string value);
    EventBuilder& type(std::string value);
    // Defaults to "1.0", the only version this library produces and accepts.
    EventBuilder& specversion(std::string value);
    // Optional attributes. build() checks that datacontenttype is a media
    // type, dataschema an absolute URI and subject a non-empty String.
    EventBuilder& datacontenttype(std::string value);
    EventBuilder& dataschema(std::string value);
    EventBuilder& subject(std::string value);
    EventBuilder& time(Timestamp value);
    // Parsed on build(); throws ValidationError there if not RFC 3339.
    EventBuilder& time(std::string_view rfc3339);

    // Sets an extension, replacing an earlier one of the same name. A
    // std::string value is String; use Uri, UriRef, Timestamp or Binary for
    // the other types. Any integer type gives Integer; a value outside the
    // 32-bit range CloudEvents allows makes build() throw ValidationError.
    // Character types are not integers here: pass a string.
    EventBuilder& extension(std::string name, AttributeValue value);
    EventBuilder& extension(std::string name, std::int64_t value);
    template <std::integral Integer>
        requires(!std::same_as<Integer, bool> && !std::same_as<Integer, char> &&
                 !std::same_as<Integer, signed char> && !std::same_as<Integer, unsigned char> &&
                 !std::same_as<Integer, wchar_t> && !std::same_as<Integer, char8_t> &&
                 !std::same_as<Integer, char16_t> && !std::same_as<Integer, char32_t> &&
                 !std::same_as<Integer, std::int64_t>)
    EventBuilder& extension(std::string name, Integer value) {
        if (std::in_range<std::int32_t>(value)) {
            return extension(std::move(name), AttributeValue(static_cast<std::int32_t>(value)));
        }
        return out_of_range_integer(std::move(name), std::to_string(value));
    }
    EventBuilder& extension(std::string name, bool value) {
        return extension(std::move(name), AttributeValue(value));
    }
    EventBuilder& extension(std::string name, const char* value) {
        return extension(std::move(name), AttributeValue(std::string(value)));
    }
    // Removes an attribute by name (core optional attribute or extension).
    EventBuilder& remove(std::string_view name);

    // Sets text data (JSON text when the content type is JSON or absent).
    EventBuilder& data(std::string bytes);
    // Sets binary data: written as data_base64 in JSON.
    EventBuilder& data_binary(std::string bytes);
    // Sets JSON data and, unless one is set, `application/json`.
    EventBuilder& data_json(const nlohmann::json& value);
    // Attaches a native C++ value. It is serialised with to_json (ADL) only
    // when bytes are needed. Sets `application/json` unless a content type is set.
    template <class T>
    EventBuilder& data_value(T value) {
        auto holder = std::make_shared<const T>(std::move(value));
        native_ = holder;
        native_type_ = std::type_index(typeid(T));
        native_serialize_ = [](const void* p) {
            nlohmann::json j = *static_cast<const T*>(p);
            return j.dump();
        };
        data_kind_ = DataKind::native;
        data_.clear();
        return *this;
    }
    // Removes the data of any kind but keeps the content type.
    EventBuilder& clear_data();

    // Validates and returns the event. The builder keeps its values, so it
    // can build again. Throws ValidationError. Allocates.
    EventPtr build() const;

private:
    friend struct detail::EventAccess;
    std::string id_;
    std::string source_;
    std::string specversion_ = "1.0";
    std::string type_;
    std::optional<std::string> datacontenttype_;
    std::optional<std::string> dataschema_;
    std::optional<std::string> subject_;
    std::optional<Timestamp> time_;
    std::optional<std::string> time_text_;
    std::vector<std::pair<std::string, AttributeValue>> extensions_;
    // Integer extensions outside the 32-bit range, as decimal text, so
    // build() can name the value it rejects.
    std::vector<std::pair<std::string, std::string>> wide_integers_;

    EventBuilder& out_of_range_integer(std::string name, std::string decimal);

    DataKind data_kind_ = DataKind::none;
    std::string data_;
    std::shared_ptr<const void> native_;
    std::type_index native_type_ = std::type_index(typeid(void));
    std::function<std::string(const void*)> native_serialize_;
};

// Checks that `text` is a valid CloudEvents String: valid UTF-8 with no
// control characters (U+0000-U+001F, U+007F-U+009F) and no Unicode
// noncharacters. Throws ValidationError naming `attribute`.
void validate_string(std::string_view attribute, std::string_view text);

// Checks an absolute URI, or a URI-reference when `absolute` is false.
void validate_uri(std::string_view attribute, std::string_view text, bool absolute);

}  // namespace cebus
