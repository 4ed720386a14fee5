// The CloudEvents HTTP protocol binding 1.0.2: binary, structured and batched
// content modes, as pure functions over a header list and a body. No HTTP
// library is involved; a host plugs these into the server or client it has.
//
// Header names compare case-insensitively and are emitted in lower case.
// Header values of binary mode are percent-encoded as the binding requires
// (space, `"`, `%` and everything outside U+0021-U+007E, as UTF-8 bytes with
// upper-case hex) and decoded with exactly one round of percent-decoding,
// after undoing RFC 7230 quoted-string syntax; a decoded value that is not
// valid UTF-8 is rejected. All functions are thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <cebus/event.hpp>
#include <cebus/json.hpp>

namespace cebus::http {

// One header field: name, then value, without the colon.
using Header = std::pair<std::string, std::string>;
// Header fields in message order; a name may occur more than once.
using Headers = std::vector<Header>;

// Content mode of a message: `binary` carries the attributes in `ce-`
// headers and the data as the body, `structured` one event in the JSON
// format, `batched` a JSON array of events.
enum class Mode { binary, structured, batched };

// An HTTP message as the binding sees it.
struct Message {
    // Header fields with lower-case names.
    Headers headers;
    // Body bytes with no transfer or content coding applied.
    std::string body;
};

// The value of the first header called `name` (case-insensitive), or empty.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) noexcept;

// Tells the content mode from Content-Type: `application/cloudevents-batch`
// first, then `application/cloudevents`, else binary (case-insensitive).
Mode detect_mode(const Headers& headers) noexcept;

// Decodes a request or response carrying one event (binary or structured) or
// a batch. Throws ParseError or ValidationError; a structured or batched
// Content-Type other than the JSON formats is a ValidationError.
//
// In binary mode, extensions are Strings because a header has no type, and
// an empty body is no data. Content-Type becomes datacontenttype. Without a
// Content-Type there is no datacontenttype, unless the message carries a
// ce-datacontenttype header (which the binding forbids): that one is used. The body becomes text data when
// the content type is JSON and the body is valid JSON (whitespace around it
// dropped), or when the type is textual (text/*, XML, YAML, or any type
// with a charset parameter) and the body is valid UTF-8; any other body,
// including one without a Content-Type, is kept as binary data.
std::vector<EventPtr> decode(const Headers& headers, std::string_view body,
                             const json::Limits& limits = {});
// Decodes exactly one event; a batch is an error.
EventPtr decode_event(const Headers& headers, std::string_view body,
                      const json::Limits& limits = {});

// Encodes in binary mode: `ce-` headers with canonical strings, Content-Type
// from datacontenttype, the data bytes as body. Text data without a
// datacontenttype is JSON by the JSON format's rule, so it is sent with
// `application/json`; otherwise an absent datacontenttype sends no
// Content-Type.
Message encode_binary(const Event& event);
// Encodes in structured mode with `application/cloudevents+json; charset=utf-8`.
Message encode_structured(const Event& event);
// Encodes a batch with `application/cloudevents-batch+json; charset=utf-8`.
Message encode_batch(const std::vector<EventPtr>& events);

// Percent-encoding of binary-mode header values.
std::string percent_encode(std::string_view value);
// Undoes quoted-string syntax, then one round of percent-decoding. Throws
// ParseError on a bad escape or invalid UTF-8 in the result.
std::string percent_decode(std::string_view value);

}  // namespace cebus::http
