// The CloudEvents JSON event format (`application/cloudevents+json`) and the
// JSON batch format (`application/cloudevents-batch+json`), version 1.0.2.
//
// Decoding accepts members in any order, treats `null` members as absent,
// keeps a JSON string in `data` as a string (never parsed again), decodes
// `data_base64` to bytes whatever the content type, and rejects everything
// else the spec forbids with a ParseError (malformed JSON or a duplicate
// member, with its byte offset) or a ValidationError (a well-formed event
// that breaks a rule). Only specversion "1.0" is read; an event of another
// version fails naming specversion before any other rule is checked.
//
// `data` with a JSON content type (or none) becomes DataKind::text holding
// the member's JSON text exactly as written, so `"data": "x"` gives the three
// bytes `"x"` and `"data": null` gives `null`. With any other content type
// `data` must be a JSON string (or null, meaning no data) and its decoded
// characters become the text. An extension that is a JSON string is String,
// a JSON integer in 32 bits is Integer, true/false is Boolean; objects,
// arrays, fractions and exponents are rejected.
//
// Encoding writes `data` as a JSON value for JSON content types, as a string
// for other text, and `data_base64` for binary data. JSON data text is
// embedded unchanged, so whitespace inside it survives a round trip but
// whitespace around it does not.
//
// All functions are pure and thread-safe. Decoding bounds its own work: input
// larger than Limits::max_bytes or nested deeper than Limits::max_depth is
// rejected before or during parsing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <cebus/event.hpp>

namespace cebus::json {

// Media types of the structured and batched formats, without parameters.
inline constexpr std::string_view media_type = "application/cloudevents+json";
inline constexpr std::string_view batch_media_type = "application/cloudevents-batch+json";

// Bounds on the work of one decode call, here and in http::decode(). Input
// over a limit throws ParseError naming the limit.
struct Limits {
    std::size_t max_bytes = 16 * 1024 * 1024;  // whole input
    std::size_t max_depth = 64;                // JSON nesting, data included
    std::size_t max_batch = 100000;            // events in one batch
};

// Decodes one structured event. Throws ParseError or ValidationError.
EventPtr decode(std::string_view text, const Limits& limits = {});
// Decodes a batch: a JSON array of events; `[]` is valid and yields none.
// Every event must share one specversion. Throws ParseError or ValidationError
// whose message ends with "(batch event N)", N counting from 0.
std::vector<EventPtr> decode_batch(std::string_view text, const Limits& limits = {});

// Converts an already parsed JSON object by the same rules as decode().
// Throws ValidationError.
EventPtr from_json_value(const nlohmann::json& value);

// Encodes one event as structured JSON. Allocates. Throws what a native data
// value's to_json throws.
std::string encode(const Event& event);
// Appends the encoding to `out`, for callers that reuse a buffer.
void encode_to(const Event& event, std::string& out);
// Encodes events as a JSON array in the batch format (`[]` for none).
// Allocates. Throws what a native data value's to_json throws.
std::string encode_batch(const std::vector<EventPtr>& events);
// The event as a JSON object (slower than encode(); for tools and tests).
nlohmann::json to_json_value(const Event& event);

// Building blocks of encode(), for callers that write a variant of the
// structured format. Appends `text` as a JSON string with the RFC 8259
// escapes; `text` must be valid UTF-8, as every validated attribute is.
void append_string(std::string& out, std::string_view text);
// Appends `,"name":value` with the value in the JSON type the structured
// format gives its CloudEvents type (Boolean and Integer as JSON literals,
// Binary as base64, the rest as strings).
void append_extension(std::string& out, std::string_view name, const AttributeValue& value);

}  // namespace cebus::json
