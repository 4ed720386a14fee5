// The event model and its formats: building and validating an event, typed
// extension attributes, time precision, JSON and binary data, the JSON format
// and the HTTP binding's binary mode. docs/events.md quotes the snippet
// regions; the checks at the end make the test fail when a behaviour shown
// there changes.
#include <cebus/event.hpp>
#include <cebus/http.hpp>
#include <cebus/json.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

bool expect(const char* what, const std::string& got, const std::string& want) {
    std::cout << what << ": " << got << (got == want ? "" : "   <-- expected " + want) << '\n';
    return got == want;
}

}  // namespace

int main() {
    bool ok = true;

    // [snippet:build]
    cebus::EventBuilder builder;
    builder.id("A234-1234-1234")
        .source("/sensors/tn-1234567/alerts")        // URI-reference
        .type("com.example.sensor.alert")
        .subject("temperature")
        .time("2026-12-04T10:15:30.123456789012Z")    // every fraction digit is kept
        .extension("severity", std::int64_t{3})       // Integer: checked to fit 32 bits
        .extension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .extension("callback", cebus::Uri{"https://example.com/ack"})
        .data_json({{"celsius", 81.5}});              // sets application/json
    const cebus::EventPtr event = builder.build();    // validates; immutable from here on
    // [snippet:build]
    ok = expect("time", event->time()->text(), "2026-12-04T10:15:30.123456789012Z") && ok;
    ok = expect("nanoseconds", std::to_string(event->time()->nanoseconds()), "123456789") && ok;
    ok = expect("severity type", std::string(cebus::type_name(*event->extension("severity"))), "Integer") && ok;

    // [snippet:validation]
    try {
        cebus::EventBuilder bad;
        bad.id("1").source("/s").type("t").extension("trace-id", "abc");
        bad.build();
    } catch (const cebus::ValidationError& e) {
        // e.attribute(), e.value() and e.rule() carry the parts of the message.
        std::cout << "rejected: " << e.what() << '\n';
    }
    // [snippet:validation]
    try {
        cebus::EventBuilder wide;
        wide.id("1").source("/s").type("t").extension("count", std::int64_t{1} << 40);
        wide.build();
        ok = expect("wide integer", "accepted", "rejected") && ok;
    } catch (const cebus::ValidationError& e) {
        ok = expect("wide integer rejected for", e.attribute(), "extension count") && ok;
    }

    // [snippet:json-format]
    const std::string text = cebus::json::encode(*event);  // application/cloudevents+json
    const cebus::EventPtr decoded = cebus::json::decode(text);
    const double celsius = decoded->data_json().at("celsius").get<double>();
    // JSON has no URI type: the callback extension comes back as a String.
    const std::string_view callback_type = cebus::type_name(*decoded->extension("callback"));

    try {
        cebus::json::decode(R"({"specversion":"1.0","id":"1","source":"/s","type":"t",)");
    } catch (const cebus::ParseError& e) {
        std::cout << "parse error at byte " << e.offset() << ": " << e.reason() << '\n';
    }
    // [snippet:json-format]
    ok = expect("JSON text round trip", cebus::json::encode(*decoded) == text ? "equal" : "different", "equal") && ok;
    ok = expect("callback type after JSON", std::string(callback_type), "String") && ok;
    ok = expect("severity type after JSON", std::string(cebus::type_name(*decoded->extension("severity"))), "Integer") && ok;
    ok = expect("celsius", std::to_string(celsius), std::to_string(81.5)) && ok;

    // [snippet:binary-data]
    cebus::EventBuilder image;
    image.id("img-1").source("/camera/3").type("com.example.image").datacontenttype("image/png");
    image.data_binary(std::string("\x89PNG\r\n\x1a\n", 8));
    const std::string image_json = cebus::json::encode(*image.build());
    // image_json has "data_base64":"iVBORw0KGgo=" and no "data" member.
    // [snippet:binary-data]
    ok = expect("data_base64", image_json.find("\"data_base64\":\"iVBORw0KGgo=\"") != std::string::npos ? "yes" : "no",
                "yes") && ok;

    // [snippet:http-binary]
    // Binary mode: attributes travel as ce- headers, percent-encoded where
    // needed; the data is the body and Content-Type is the datacontenttype.
    const cebus::http::Message message = cebus::http::encode_binary(*event);
    for (const auto& [name, value] : message.headers) std::cout << name << ": " << value << '\n';

    const cebus::EventPtr received = cebus::http::decode_event(message.headers, message.body);
    // Header values carry no type: every extension comes back as a String.
    const std::string severity = cebus::to_canonical_string(*received->extension("severity"));
    // [snippet:http-binary]
    ok = expect("http data", std::string(received->data()), std::string(event->data())) && ok;
    ok = expect("http time", received->time()->text(), event->time()->text()) && ok;
    ok = expect("http severity", severity, "3") && ok;
    ok = expect("severity type after HTTP", std::string(cebus::type_name(*received->extension("severity"))), "String") && ok;

    // [snippet:percent-encoding]
    const std::string encoded = cebus::http::percent_encode("Euro € 100%");
    // encoded == "Euro%20%E2%82%AC%20100%25"
    const std::string back = cebus::http::percent_decode(encoded);
    // [snippet:percent-encoding]
    ok = expect("percent_encode", encoded, "Euro%20%E2%82%AC%20100%25") && ok;
    ok = expect("percent_decode", back, "Euro € 100%") && ok;

    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
