// Entry functions of the core targets: JSON format, HTTP binding and CESQL.
#include "entries.hpp"

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "cebus_config.h"
#include <cebus/cesql.hpp>
#include <cebus/event.hpp>
#include <cebus/http.hpp>
#include <cebus/json.hpp>

namespace cebus::fuzz {

namespace {

// Limits small enough that one input cannot spend the fuzzer's time budget
// on a single huge document, large enough for every seed.
json::Limits fuzz_limits() {
    json::Limits limits;
    limits.max_bytes = 1 << 20;
    limits.max_depth = 64;
    limits.max_batch = 4096;
    return limits;
}

void check(bool ok, std::string_view what) {
    if (!ok) throw OracleFailure(std::string(what));
}

void json_event(std::string_view input) {
    EventPtr first;
    try {
        first = json::decode(input, fuzz_limits());
    } catch (const ParseError&) {
        return;
    } catch (const ValidationError&) {
        return;
    }
    check(first != nullptr, "json::decode returned null without throwing");

    // What we encoded ourselves must decode; a throw here is a bug.
    const std::string encoded = json::encode(*first);
    EventPtr second;
    try {
        second = json::decode(encoded);
    } catch (const Error& e) {
        throw OracleFailure("re-decoding an encoded event failed: " + std::string(e.what()) +
                            "\nencoded: " + encoded);
    }
    check(*first == *second, "JSON round trip changed the event: " + encoded);
    check(json::encode(*second) == encoded, "JSON encoding is not stable: " + encoded);
}

void json_batch(std::string_view input) {
    std::vector<EventPtr> first;
    try {
        first = json::decode_batch(input, fuzz_limits());
    } catch (const ParseError&) {
        return;
    } catch (const ValidationError&) {
        return;
    }

    const std::string encoded = json::encode_batch(first);
    std::vector<EventPtr> second;
    try {
        second = json::decode_batch(encoded);
    } catch (const Error& e) {
        throw OracleFailure("re-decoding an encoded batch failed: " + std::string(e.what()) +
                            "\nencoded: " + encoded);
    }
    check(first.size() == second.size(), "JSON batch round trip changed the event count");
    for (std::size_t i = 0; i < first.size(); ++i) {
        check(*first[i] == *second[i], "JSON batch round trip changed event " + std::to_string(i));
    }
    check(json::encode_batch(second) == encoded, "JSON batch encoding is not stable: " + encoded);
}

}  // namespace

// Splits the input into header lines and a body at the first empty line
// (LF or CRLF line ends).
http::Message split_http_message(std::string_view input) {
    http::Message message;
    std::string_view head = input;
    const std::size_t lf = input.find("\n\n");
    const std::size_t crlf = input.find("\r\n\r\n");
    if (crlf != std::string_view::npos && (lf == std::string_view::npos || crlf < lf)) {
        head = input.substr(0, crlf);
        message.body = std::string(input.substr(crlf + 4));
    } else if (lf != std::string_view::npos) {
        head = input.substr(0, lf);
        message.body = std::string(input.substr(lf + 2));
    }

    while (!head.empty()) {
        const std::size_t end = head.find('\n');
        std::string_view line = head.substr(0, end);
        head = end == std::string_view::npos ? std::string_view() : head.substr(end + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        message.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    return message;
}

namespace {

// Same attributes with the same canonical text, whatever their types. The
// binary mode's Content-Type may name the type a structured event only
// implied (`application/json`), so `after` may add a datacontenttype.
bool same_attribute_text(const Event& after, const Event& before) {
    const Event& a = after;
    const Event& b = before;
    if (a.id() != b.id() || a.source() != b.source() || a.specversion() != b.specversion() ||
        a.type() != b.type() || (b.datacontenttype() && a.datacontenttype() != b.datacontenttype()) ||
        a.dataschema() != b.dataschema() || a.subject() != b.subject() || a.time() != b.time() ||
        a.extensions().size() != b.extensions().size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.extensions().size(); ++i) {
        const auto& [a_name, a_value] = a.extensions()[i];
        const auto& [b_name, b_value] = b.extensions()[i];
        if (a_name != b_name || to_canonical_string(a_value) != to_canonical_string(b_value)) return false;
    }
    return true;
}

EventPtr redecode(const http::Message& message, std::string_view mode) {
    try {
        return http::decode_event(message.headers, message.body);
    } catch (const Error& e) {
        std::string text = "re-decoding an event encoded in " + std::string(mode) +
                           " mode failed: " + e.what() + "\n";
        for (const auto& [name, value] : message.headers) text += name + ": " + value + "\n";
        throw OracleFailure(text + "\n" + message.body);
    }
}

void percent_round_trip(std::string_view value) {
    std::string decoded;
    try {
        decoded = http::percent_decode(value);
    } catch (const ParseError&) {
        return;
    }
    const std::string encoded = http::percent_encode(decoded);
    std::string again;
    try {
        again = http::percent_decode(encoded);
    } catch (const ParseError& e) {
        throw OracleFailure("percent_decode rejected what percent_encode wrote: " + encoded + ": " +
                            e.what());
    }
    check(again == decoded, "percent-encoding round trip changed a value: " + encoded);
}

}  // namespace

void json_format(std::string_view input) {
    json_event(input);
    json_batch(input);
}

void http_message(std::string_view input) {
    const http::Message message = split_http_message(input);
    for (const auto& header : message.headers) percent_round_trip(header.second);

    std::vector<EventPtr> events;
    try {
        events = http::decode(message.headers, message.body, fuzz_limits());
    } catch (const ParseError&) {
        return;
    } catch (const ValidationError&) {
        return;
    }

    for (const EventPtr& event : events) {
        check(event != nullptr, "http::decode returned a null event");
        // Binary mode carries every attribute as a string, so the first trip
        // may turn Integer 42 into String "42" and change the kind of data.
        // After that first trip the event must stay the same.
        const EventPtr binary = redecode(http::encode_binary(*event), "binary");
        check(same_attribute_text(*binary, *event),
              "binary-mode round trip changed an attribute: " + json::encode(*event) + " became " +
                  json::encode(*binary));
        const EventPtr again = redecode(http::encode_binary(*binary), "binary");
        check(*again == *binary, "binary-mode round trip is not a fixed point: " + json::encode(*binary) +
                                     " became " + json::encode(*again));
        const EventPtr structured = redecode(http::encode_structured(*event), "structured");
        check(*structured == *event, "structured-mode round trip changed the event: " +
                                         json::encode(*event) + " became " + json::encode(*structured));
    }
    if (http::detect_mode(message.headers) == http::Mode::batched) {
        const http::Message batch = http::encode_batch(events);
        std::vector<EventPtr> again;
        try {
            again = http::decode(batch.headers, batch.body);
        } catch (const Error& e) {
            throw OracleFailure("re-decoding an encoded batch failed: " + std::string(e.what()));
        }
        check(again.size() == events.size(), "batched-mode round trip changed the event count");
    }
}

void cesql(std::string_view input) {
    // One event with every kind of attribute the language can read.
    static const EventPtr event = EventBuilder()
                                      .id("fuzz-1")
                                      .source("/fuzz/source")
                                      .type("com.example.fuzz")
                                      .subject("subject-\xc3\xa9")
                                      .time("2024-01-02T03:04:05.678Z")
                                      .datacontenttype("application/json")
                                      .extension("count", std::int64_t{-42})
                                      .extension("flag", true)
                                      .extension("name", "Value with 'quotes'")
                                      .extension("big", std::int64_t{2147483647})
                                      .data_json({{"a", 1}})
                                      .build();

    std::optional<cesql::Expression> compiled;
    try {
        compiled = cesql::Expression::compile(input);
    } catch (const cesql::CompileError&) {
        return;
    }
    const cesql::Expression& expression = *compiled;

    const cesql::Result first = expression.evaluate(*event);
    const cesql::Result second = expression.evaluate(*event);
    check(first.type() == second.type() && first.to_string() == second.to_string() &&
              first.errors().size() == second.errors().size(),
          "CESQL evaluation is not deterministic");
    check(expression.matches(*event) == first.is_true(), "CESQL matches() disagrees with evaluate()");

    // The strict mode compiles a subset: whatever it accepts must behave the same.
    cesql::CompileOptions strict;
    strict.reject_unknown_functions = true;
    try {
        const auto checked = cesql::Expression::compile(input, strict);
        check(checked.evaluate(*event).to_string() == first.to_string(),
              "CESQL strict compile changed the result");
    } catch (const cesql::CompileError&) {
    }
}

std::span<const Target> targets() {
    static constexpr std::array list{
        Target{"json", &json_format},
        Target{"http", &http_message},
        Target{"cesql", &cesql},
#if CEBUS_HAVE_IO_EVENTS
        Target{"webhook", &webhook},
#endif
    };
    return list;
}

}  // namespace cebus::fuzz
