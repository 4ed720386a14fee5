#include <catch2/catch.hpp>

#include <random>
#include <string>

#include <cebus/http.hpp>

using namespace cebus;

namespace {

http::Headers required_headers() {
    return {{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "/s"}, {"ce-type", "t"}};
}

std::string header_value(const http::Headers& headers, std::string_view name) {
    const auto value = http::find_header(headers, name);
    return value ? std::string(*value) : std::string("<absent>");
}

std::string error_of(const http::Headers& headers, std::string_view body = "") {
    try {
        http::decode_event(headers, body);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("binary mode reads ce headers case-insensitively") {
    const http::Headers headers = {{"Ce-Specversion", "1.0"}, {"CE-ID", "A1"},        {"ce-Source", "/src"},
                                   {"cE-type", "t"},          {"CE-TIME", "2018-04-05T17:31:00Z"},
                                   {"Ce-Subject", "sub"},     {"CE-MYEXT", "v"},       {"Content-Type", "text/plain"},
                                   {"X-Other", "ignored"}};
    const auto e = http::decode_event(headers, "hello");
    CHECK(e->id() == "A1");
    CHECK(e->source() == "/src");
    CHECK(e->time()->text() == "2018-04-05T17:31:00Z");
    CHECK(e->subject() == "sub");
    CHECK(std::get<std::string>(*e->extension("myext")) == "v");
    CHECK(e->extensions().size() == 1);
    CHECK(e->datacontenttype() == "text/plain");
    CHECK(e->data_kind() == DataKind::text);
    CHECK(e->data() == "hello");
}

TEST_CASE("binary mode emits lower-case headers") {
    const auto e = EventBuilder()
                       .id("1")
                       .source("/s")
                       .type("t")
                       .subject("s")
                       .dataschema("https://x/s")
                       .time("2020-01-01T00:00:00Z")
                       .extension("ext", "v")
                       .build();
    const auto message = http::encode_binary(*e);
    for (const auto& [name, value] : message.headers) {
        CHECK(name == cebus::http::percent_encode(name));  // no upper case, nothing to escape
        for (const char c : name) CHECK_FALSE((c >= 'A' && c <= 'Z'));
    }
    CHECK(header_value(message.headers, "ce-specversion") == "1.0");
    CHECK(header_value(message.headers, "ce-dataschema") == "https://x/s");
    CHECK(header_value(message.headers, "ce-ext") == "v");
    CHECK(header_value(message.headers, "content-type") == "<absent>");
    CHECK(message.body.empty());
}

TEST_CASE("percent-encoding follows the binding") {
    CHECK(http::percent_encode("Euro \xE2\x82\xAC \xF0\x9F\x98\x80") == "Euro%20%E2%82%AC%20%F0%9F%98%80");
    CHECK(http::percent_decode("Euro%20%E2%82%AC%20%F0%9F%98%80") == "Euro \xE2\x82\xAC \xF0\x9F\x98\x80");
    CHECK(http::percent_encode("a\"b%c") == "a%22b%25c");
    CHECK(http::percent_encode(std::string("\x7F\x01", 2)) == "%7F%01");
    CHECK(http::percent_encode("!~/:?#[]@") == "!~/:?#[]@");

    CHECK(http::percent_decode("%e2%82%ac") == "\xE2\x82\xAC");
    CHECK(http::percent_decode("%41bc") == "Abc");
    CHECK(http::percent_decode("\"quoted value\"") == "quoted value");
    CHECK(http::percent_decode("\"a\\\"b\"") == "a\"b");
    CHECK(http::percent_decode("\"%20\"") == " ");
    // One round only: %2520 decodes to the text %20.
    CHECK(http::percent_decode("/a%2520b") == "/a%20b");

    CHECK_THROWS_WITH(http::percent_decode("%C0%A0"), Catch::Contains("not valid UTF-8"));
    CHECK_THROWS_WITH(http::percent_decode("%FF"), Catch::Contains("not valid UTF-8"));
    CHECK_THROWS_WITH(http::percent_decode("100%"), Catch::Contains("%XX"));
    CHECK_THROWS_WITH(http::percent_decode("%g1"), Catch::Contains("%XX"));
    CHECK_THROWS_AS(http::percent_decode("\"a\"b\""), ParseError);

    // Every byte value survives encode then decode inside valid UTF-8.
    std::string all;
    for (int c = 1; c < 0x80; ++c) all += static_cast<char>(c);
    all += "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
    const std::string encoded = http::percent_encode(all);
    for (const char c : encoded) CHECK((c >= 0x21 && c <= 0x7E && c != '"'));
    CHECK(http::percent_decode(encoded) == all);
}

TEST_CASE("percent-encoded attributes round trip") {
    const auto e = EventBuilder()
                       .id("id with spaces")
                       .source("/a%20b")
                       .type("t")
                       .subject("Euro \xE2\x82\xAC \xF0\x9F\x98\x80 \"q\"")
                       .build();
    const auto message = http::encode_binary(*e);
    CHECK(header_value(message.headers, "ce-source") == "/a%2520b");
    CHECK(header_value(message.headers, "ce-id") == "id%20with%20spaces");
    CHECK(*http::decode_event(message.headers, message.body) == *e);
}

TEST_CASE("invalid UTF-8 after decoding is rejected") {
    auto headers = required_headers();
    headers.emplace_back("ce-subject", "%C0%A0");
    const std::string error = error_of(headers);
    CHECK(contains(error, "ce-subject"));
    CHECK(contains(error, "not valid UTF-8"));
}

TEST_CASE("Content-Type carries datacontenttype") {
    auto headers = required_headers();
    headers.emplace_back("Content-Type", "application/json; charset=utf-8");
    const auto e = http::decode_event(headers, R"({"a":1})");
    CHECK(e->datacontenttype() == "application/json; charset=utf-8");
    CHECK(e->data_kind() == DataKind::text);

    const auto message = http::encode_binary(*e);
    CHECK(header_value(message.headers, "content-type") == "application/json; charset=utf-8");
    CHECK(header_value(message.headers, "ce-datacontenttype") == "<absent>");
    CHECK(message.body == R"({"a":1})");
}

TEST_CASE("no Content-Type means no datacontenttype") {
    const auto e = http::decode_event(required_headers(), R"({"a":1})");
    CHECK_FALSE(e->datacontenttype());
    // No header declares the bytes to be JSON, so they stay bytes.
    CHECK(e->data_kind() == DataKind::binary);
    CHECK(e->data() == R"({"a":1})");
    CHECK_FALSE(e->data_is_json());

    const auto message = http::encode_binary(*e);
    CHECK(header_value(message.headers, "content-type") == "<absent>");
    CHECK(*http::decode_event(message.headers, message.body) == *e);
}

TEST_CASE("ce-datacontenttype is a fallback only") {
    auto headers = required_headers();
    headers.emplace_back("ce-datacontenttype", "text/plain");
    CHECK(http::decode_event(headers, "x")->datacontenttype() == "text/plain");
    headers.emplace_back("content-type", "application/xml");
    CHECK(http::decode_event(headers, "x")->datacontenttype() == "application/xml");
}

TEST_CASE("JSON text data gets application/json") {
    const auto e = EventBuilder().id("1").source("/s").type("t").data(R"("I'm just a string")").build();
    const auto message = http::encode_binary(*e);
    CHECK(header_value(message.headers, "content-type") == "application/json");
    CHECK(message.body == R"("I'm just a string")");
    const auto back = http::decode_event(message.headers, message.body);
    CHECK(back->datacontenttype() == "application/json");
    CHECK(back->data() == e->data());
    CHECK(back->data_kind() == DataKind::text);
}

TEST_CASE("empty body means no data") {
    auto headers = required_headers();
    headers.emplace_back("content-type", "application/json");
    const auto e = http::decode_event(headers, "");
    CHECK_FALSE(e->has_data());
    CHECK(e->datacontenttype() == "application/json");
    CHECK_FALSE(http::decode_event(required_headers(), "")->has_data());
}

TEST_CASE("invalid JSON body becomes binary data") {
    auto headers = required_headers();
    headers.emplace_back("content-type", "application/json");
    const auto e = http::decode_event(headers, "{not json");
    CHECK(e->data_kind() == DataKind::binary);
    CHECK(e->data() == "{not json");

    auto text_headers = required_headers();
    text_headers.emplace_back("content-type", "text/plain");
    CHECK(http::decode_event(text_headers, "\xFF\xFE")->data_kind() == DataKind::binary);
    auto octets = required_headers();
    octets.emplace_back("content-type", "application/octet-stream");
    CHECK(http::decode_event(octets, "plain ascii")->data_kind() == DataKind::binary);
}

TEST_CASE("typed extensions travel as canonical strings") {
    const auto e = EventBuilder()
                       .id("1")
                       .source("/s")
                       .type("t")
                       .extension("no", false)
                       .extension("zero", std::int64_t{0})
                       .extension("empty", "")
                       .extension("bin", AttributeValue(Binary{"\xE0\xFF"}))
                       .extension("when", AttributeValue(Timestamp::parse("2020-01-01T00:00:00.5Z")))
                       .build();
    const auto message = http::encode_binary(*e);
    CHECK(header_value(message.headers, "ce-no") == "false");
    CHECK(header_value(message.headers, "ce-zero") == "0");
    CHECK(header_value(message.headers, "ce-empty") == "");
    CHECK(header_value(message.headers, "ce-bin") == "4P8=");
    CHECK(header_value(message.headers, "ce-when") == "2020-01-01T00:00:00.5Z");

    const auto back = http::decode_event(message.headers, message.body);
    CHECK(std::get<std::string>(*back->extension("no")) == "false");
    CHECK(std::get<std::string>(*back->extension("zero")) == "0");
    CHECK(std::get<std::string>(*back->extension("empty")) == "");
    CHECK(std::get<std::string>(*back->extension("bin")) == "4P8=");
}

TEST_CASE("binary mode checks attributes") {
    CHECK(contains(error_of({{"ce-id", "1"}, {"ce-source", "/s"}, {"ce-type", "t"}}), "invalid specversion"));
    CHECK(contains(error_of({{"ce-specversion", "0.3"}, {"ce-id", "1"}, {"ce-source", "/s"}, {"ce-type", "t"}}),
                   "invalid specversion \"0.3\""));
    CHECK(contains(error_of({{"ce-specversion", "1.0"}, {"ce-source", "/s"}, {"ce-type", "t"}}), "invalid id"));

    auto bad_name = required_headers();
    bad_name.emplace_back("ce-trace-id", "x");
    CHECK(contains(error_of(bad_name), "invalid extension name \"trace-id\""));
    auto underscore = required_headers();
    underscore.emplace_back("ce-my_ext", "x");
    CHECK(contains(error_of(underscore), "names use only a-z and 0-9"));

    auto twice = required_headers();
    twice.emplace_back("CE-ID", "2");
    CHECK(contains(error_of(twice), "more than one ce-id header"));

    auto bad_time = required_headers();
    bad_time.emplace_back("ce-time", "yesterday");
    CHECK(contains(error_of(bad_time), "invalid time"));
    auto empty_subject = required_headers();
    empty_subject.emplace_back("ce-subject", "");
    CHECK(contains(error_of(empty_subject), "invalid subject"));
}

TEST_CASE("content mode follows Content-Type") {
    CHECK(http::detect_mode({}) == http::Mode::binary);
    CHECK(http::detect_mode({{"Content-Type", "application/json"}}) == http::Mode::binary);
    CHECK(http::detect_mode({{"content-type", "application/cloudevents+json"}}) == http::Mode::structured);
    CHECK(http::detect_mode({{"CONTENT-TYPE", "Application/CloudEvents+JSON; charset=UTF-8"}}) ==
          http::Mode::structured);
    CHECK(http::detect_mode({{"content-type", "application/cloudevents-batch+json"}}) == http::Mode::batched);
    CHECK(http::detect_mode({{"content-type", " application/cloudevents-batch+json"}}) == http::Mode::batched);
}

TEST_CASE("structured mode decodes the body") {
    const std::string body = R"({"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":1}})";
    // ce- headers beside a structured body are ignored: the body rules.
    const auto e = http::decode_event({{"content-type", "application/cloudevents+json; charset=utf-8"},
                                       {"ce-id", "other"}},
                                      body);
    CHECK(e->id() == "1");
    CHECK(e->data() == R"({"a":1})");

    const auto message = http::encode_structured(*e);
    CHECK(header_value(message.headers, "content-type") == "application/cloudevents+json; charset=utf-8");
    CHECK(*http::decode_event(message.headers, message.body) == *e);

    CHECK(contains(error_of({{"content-type", "application/cloudevents+avro"}}, body), "invalid Content-Type"));
    CHECK_THROWS_AS(http::decode_event({{"content-type", "application/cloudevents+json"}}, "{"), ParseError);
}

TEST_CASE("batched mode decodes every event") {
    const auto a = EventBuilder().id("a").source("/s").type("t").build();
    const auto b = EventBuilder().id("b").source("/s").type("t").datacontenttype("text/plain").data("x").build();
    const auto message = http::encode_batch({a, b});
    CHECK(header_value(message.headers, "content-type") == "application/cloudevents-batch+json; charset=utf-8");
    const auto events = http::decode(message.headers, message.body);
    REQUIRE(events.size() == 2);
    CHECK(*events[0] == *a);
    CHECK(*events[1] == *b);
    CHECK(http::decode({{"content-type", "application/cloudevents-batch+json"}}, "[]").empty());
    CHECK(contains(error_of(message.headers, message.body), "batch where one event is expected"));

    // decode() also takes single events.
    const auto single = http::encode_binary(*b);
    REQUIRE(http::decode(single.headers, single.body).size() == 1);
}

TEST_CASE("binary mode round trips data kinds") {
    EventBuilder base;
    base.id("1").source("/s").type("t");
    const std::vector<EventPtr> events = {
        EventBuilder(base).datacontenttype("application/json").data(R"({"a": [1, 2]})").build(),
        EventBuilder(base).datacontenttype("text/plain; charset=utf-8").data("h\xC3\xA9llo").build(),
        EventBuilder(base).datacontenttype("application/xml").data("<a/>").build(),
        EventBuilder(base).datacontenttype("application/octet-stream").data_binary(std::string("\0\1\2", 3)).build(),
        EventBuilder(base).data_binary("raw").build(),
        base.build(),
    };
    for (const auto& e : events) {
        const auto message = http::encode_binary(*e);
        INFO(json::encode(*e));
        CHECK(*http::decode_event(message.headers, message.body) == *e);
    }
}

TEST_CASE("oversized body is rejected") {
    json::Limits limits;
    limits.max_bytes = 4;
    CHECK_THROWS_AS(http::decode_event(required_headers(), "12345", limits), ParseError);
}

TEST_CASE("mutated messages end in an event or an error") {
    const auto seed_event = EventBuilder()
                                .id("id-1")
                                .source("https://example.com/a%20b")
                                .type("t")
                                .subject("Euro \xE2\x82\xAC")
                                .time("2020-01-01T00:00:00.5Z")
                                .extension("ext", "v")
                                .datacontenttype("application/json")
                                .data(R"({"a":[1,"\u00e9"]})")
                                .build();
    const auto seed = http::encode_binary(*seed_event);
    const std::string alphabet = std::string("%\"\\ 0123456789ABCDEFabcdefgz{}[]:,\xC0\xA0\xFF\x80") + '\0';
    std::mt19937 rng(7);
    std::size_t decoded = 0;
    for (int round = 0; round < 3000; ++round) {
        http::Message message = seed;
        auto mutate = [&](std::string& text) {
            if (text.empty() || rng() % 4 == 0) {
                text.insert(text.begin() + static_cast<std::ptrdiff_t>(text.empty() ? 0 : rng() % text.size()),
                            alphabet[rng() % alphabet.size()]);
            } else if (rng() % 3 == 0) {
                text.resize(rng() % text.size());
            } else {
                text[rng() % text.size()] = alphabet[rng() % alphabet.size()];
            }
        };
        const int edits = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < edits; ++k) {
            const std::size_t target = rng() % (message.headers.size() + 1);
            if (target == message.headers.size()) {
                mutate(message.body);
            } else if (rng() % 5 == 0) {
                mutate(message.headers[target].first);
            } else {
                mutate(message.headers[target].second);
            }
        }
        try {
            const auto e = http::decode_event(message.headers, message.body);
            const auto again = http::encode_binary(*e);
            CHECK(*http::decode_event(again.headers, again.body) == *e);
            ++decoded;
        } catch (const ParseError&) {
        } catch (const ValidationError&) {
        }
    }
    CHECK(decoded > 0);
}
