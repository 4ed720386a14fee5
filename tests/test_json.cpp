#include <catch2/catch.hpp>

#include <random>
#include <string>

#include <cebus/event.hpp>
#include <cebus/json.hpp>

using namespace cebus;

namespace {

const std::string minimal_members = R"("specversion":"1.0","id":"1","source":"/s","type":"t")";

std::string event_with(const std::string& members) { return "{" + minimal_members + "," + members + "}"; }

// The what() of the ValidationError that decoding `text` throws, or "".
std::string validation_error(const std::string& text) {
    try {
        json::decode(text);
    } catch (const ValidationError& e) {
        return e.what();
    } catch (const ParseError& e) {
        return std::string("unexpected ParseError: ") + e.what();
    }
    return "";
}

// The ParseError that decoding `text` throws; fails the test if none.
ParseError parse_error(const std::string& text, const json::Limits& limits = {}) {
    try {
        json::decode(text, limits);
    } catch (const ParseError& e) {
        return e;
    } catch (const ValidationError& e) {
        FAIL("expected a ParseError, got: " << e.what());
    }
    FAIL("expected a ParseError for: " << text);
    return ParseError(0, "");
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

EventPtr round_trip(const Event& event) { return json::decode(json::encode(event)); }

}  // namespace

TEST_CASE("structured event decodes every attribute") {
    const auto e = json::decode(R"({
        "specversion": "1.0", "id": "A-1", "source": "https://example.com/src", "type": "com.example.t",
        "datacontenttype": "application/json", "dataschema": "https://example.com/schema",
        "subject": "sub", "time": "2024-05-01T12:30:00.25+02:00",
        "astring": "x", "abool": false, "anint": -7,
        "data": {"k": [1, 2, {"n": null}]}
    })");
    CHECK(e->id() == "A-1");
    CHECK(e->source() == "https://example.com/src");
    CHECK(e->type() == "com.example.t");
    CHECK(e->datacontenttype() == "application/json");
    CHECK(e->dataschema() == "https://example.com/schema");
    CHECK(e->subject() == "sub");
    REQUIRE(e->time());
    CHECK(e->time()->text() == "2024-05-01T12:30:00.25+02:00");
    REQUIRE(e->extensions().size() == 3);
    CHECK(std::get<bool>(*e->extension("abool")) == false);
    CHECK(std::get<std::int32_t>(*e->extension("anint")) == -7);
    CHECK(std::get<std::string>(*e->extension("astring")) == "x");
    CHECK(e->data_kind() == DataKind::text);
    CHECK(e->data() == R"({"k": [1, 2, {"n": null}]})");
}

TEST_CASE("members decode in any order") {
    const auto e = json::decode(
        R"({"data":"hello","type":"t","datacontenttype":"text/plain","source":"/s","id":"1","specversion":"1.0"})");
    CHECK(e->datacontenttype() == "text/plain");
    CHECK(e->data_kind() == DataKind::text);
    CHECK(e->data() == "hello");
}

TEST_CASE("null members mean absent") {
    const auto e = json::decode(event_with(
        R"("subject":null,"time":null,"dataschema":null,"datacontenttype":null,"unsetextension":null,"x":"y")"));
    CHECK_FALSE(e->subject());
    CHECK_FALSE(e->time());
    CHECK_FALSE(e->dataschema());
    CHECK_FALSE(e->datacontenttype());
    CHECK(e->extension("unsetextension") == nullptr);
    CHECK(e->extensions().size() == 1);
    CHECK_FALSE(e->has_data());

    CHECK(contains(validation_error(R"({"specversion":"1.0","id":null,"source":"/s","type":"t"})"), "invalid id"));
    CHECK(contains(validation_error(R"({"specversion":null,"id":"1","source":"/s","type":"t"})"),
                   "invalid specversion"));
    CHECK_FALSE(json::decode(event_with(R"("data_base64":null)"))->has_data());
}

TEST_CASE("duplicate members are rejected") {
    const std::string twice = R"({"specversion":"1.0","id":"1","specversion":"1.0","source":"/s","type":"t"})";
    const auto err = parse_error(twice);
    CHECK(contains(err.reason(), "duplicate member \"specversion\""));
    CHECK(err.offset() == twice.find("\"specversion\"", 5));

    const std::string ext_twice = event_with(R"("ext":"a","other":1,"ext":null)");
    const auto ext_err = parse_error(ext_twice);
    CHECK(contains(ext_err.reason(), "duplicate member \"ext\""));
    CHECK(ext_err.offset() == ext_twice.rfind("\"ext\""));

    CHECK(contains(parse_error(event_with(R"("data":1,"data":2)")).reason(), "duplicate member \"data\""));
    // An escaped name is the same name.
    CHECK(contains(parse_error(event_with(R"("\u0069d":"2")")).reason(), "duplicate member \"id\""));
}

TEST_CASE("unknown specversion is rejected") {
    for (const char* version : {"0.3", "9000.1", "1.0.2", "1", ""}) {
        const std::string text =
            std::string(R"({"specversion":")") + version + R"(","id":"1","source":"/s","type":"t"})";
        INFO(text);
        CHECK(contains(validation_error(text), "invalid specversion"));
    }
    CHECK(contains(validation_error(R"({"id":"1","source":"/s","type":"t"})"), "invalid specversion"));
    CHECK(contains(validation_error(R"({"specversion":1.0,"id":"1","source":"/s","type":"t"})"),
                   "must be a JSON string"));
}

TEST_CASE("specversion is checked before other rules") {
    CHECK(contains(validation_error(R"({"specversion":"0.3","id":"1","source":"/s","type":"t","bad_name":1.5})"),
                   "invalid specversion \"0.3\""));
    CHECK(contains(validation_error(R"({"Bad":{},"specversion":"0.3","id":"1","source":"/s","type":"t"})"),
                   "invalid specversion \"0.3\""));
    // With version 1.0 the first broken member is reported.
    CHECK(contains(validation_error(R"({"specversion":"1.0","id":"1","source":"/s","type":"t","a_b":1,"n":1.5})"),
                   "invalid extension name \"a_b\""));
}

TEST_CASE("Integer extensions stay within 32 bits") {
    for (const char* bad : {"5.0", "5e2", "42.42", "1E0", "-0.0"}) {
        INFO(bad);
        CHECK(contains(validation_error(event_with(std::string("\"n\":") + bad)),
                       "without fraction or exponent"));
    }
    for (const char* bad : {"4247483647", "2147483648", "-2147483649", "99999999999999999999"}) {
        INFO(bad);
        CHECK(contains(validation_error(event_with(std::string("\"n\":") + bad)), "fit in 32 bits"));
    }
    CHECK(std::get<std::int32_t>(*json::decode(event_with(R"("n":2147483647)"))->extension("n")) == 2147483647);
    CHECK(std::get<std::int32_t>(*json::decode(event_with(R"("n":-2147483648)"))->extension("n")) ==
          std::numeric_limits<std::int32_t>::min());
    CHECK(std::get<std::int32_t>(*json::decode(event_with(R"("n":0)"))->extension("n")) == 0);
    CHECK(std::get<std::int32_t>(*json::decode(event_with(R"("n":-0)"))->extension("n")) == 0);
}

TEST_CASE("extension values map to CloudEvents types") {
    const auto e = json::decode(event_with(R"("s":"5","b":true,"i":5,"u":"https://x")"));
    CHECK(type_name(*e->extension("s")) == "String");
    CHECK(type_name(*e->extension("b")) == "Boolean");
    CHECK(type_name(*e->extension("i")) == "Integer");
    // A JSON string is String whatever it looks like.
    CHECK(type_name(*e->extension("u")) == "String");

    CHECK(contains(validation_error(event_with(R"("obj":{"a":1})")), "not an object"));
    CHECK(contains(validation_error(event_with(R"("arr":[1])")), "not an array"));
    CHECK(contains(validation_error(event_with(R"("subject":{"a":1})")), "invalid subject"));
    CHECK(contains(validation_error(event_with(R"("time":1)")), "invalid time"));
}

TEST_CASE("extension names with - or _ are rejected") {
    CHECK(validation_error(event_with(R"("trace-id":"x")")) ==
          "invalid extension name \"trace-id\": names use only a-z and 0-9");
    CHECK(contains(validation_error(event_with(R"("string_ex":"x")")), "names use only a-z and 0-9"));
    CHECK(contains(validation_error(event_with(R"("aString":"x")")), "names use only a-z and 0-9"));
    CHECK(contains(validation_error(event_with(R"("":"x")")), "must not be empty"));
}

TEST_CASE("core attribute rules are checked") {
    CHECK(contains(validation_error(R"({"specversion":"1.0","id":"","source":"/s","type":"t"})"), "invalid id"));
    CHECK(contains(validation_error(R"({"specversion":"1.0","id":"1","type":"t"})"), "invalid source"));
    CHECK(contains(validation_error(R"({"specversion":"1.0","id":"1","source":"/s"})"), "invalid type"));
    CHECK(contains(validation_error(event_with(R"("dataschema":"#")")), "invalid dataschema"));
    CHECK(contains(validation_error(event_with(R"("subject":"")")), "invalid subject"));
    CHECK(contains(validation_error(event_with(R"("time":"2024-05-01 12:00:00Z")")), "invalid time"));
    CHECK(contains(validation_error(event_with(R"("datacontenttype":"json")")), "invalid datacontenttype"));
    CHECK(contains(validation_error(event_with(R"("subject":"a\u0001b")")), "control character"));
    CHECK(contains(validation_error(event_with(R"("x":"\uFFFE")")), "noncharacter"));
}

TEST_CASE("JSON data keeps its exact text") {
    const auto object = json::decode(event_with(R"("data" : {"b":1,  "a":2.50e0})"));
    CHECK(object->data() == R"({"b":1,  "a":2.50e0})");
    CHECK(object->data_is_json());

    // A JSON string stays a string: its bytes are the JSON text with quotes.
    const auto string = json::decode(event_with(R"("data":"I'm just a string")"));
    CHECK(string->data_kind() == DataKind::text);
    CHECK(string->data() == R"("I'm just a string")");
    CHECK(string->data_json() == "I'm just a string");

    const auto number = json::decode(event_with(R"("datacontenttype":"application/json","data":1.5)"));
    CHECK(number->data() == "1.5");

    const auto null = json::decode(event_with(R"("data":null)"));
    CHECK(null->has_data());
    CHECK(null->data() == "null");
}

TEST_CASE("charset parameters and +json types are JSON") {
    const auto charset = json::decode(event_with(R"("datacontenttype":"application/json; charset=utf-8","data":{"a":1})"));
    CHECK(charset->data() == R"({"a":1})");
    const auto plus = json::decode(event_with(R"("datacontenttype":"application/vnd.foo+json","data":[1,2])"));
    CHECK(plus->data() == "[1,2]");
    const auto upper = json::decode(event_with(R"("datacontenttype":"TEXT/JSON;Charset=UTF-8","data":true)"));
    CHECK(upper->data() == "true");
}

TEST_CASE("non-JSON data must be a string") {
    const auto text = json::decode(event_with(R"("datacontenttype":"text/plain; charset=utf-8","data":"a\nb \u00e9")"));
    CHECK(text->data_kind() == DataKind::text);
    CHECK(text->data() == "a\nb \xC3\xA9");
    const auto xml = json::decode(event_with(R"("datacontenttype":"application/xml","data":"<much wow=\"xml\"/>")"));
    CHECK(xml->data() == R"(<much wow="xml"/>)");

    CHECK(contains(validation_error(event_with(R"("datacontenttype":"text/plain","data":5)")),
                   "must be a JSON string"));
    CHECK(contains(validation_error(event_with(R"("datacontenttype":"text/plain","data":{"a":1})")),
                   "invalid data"));
    CHECK_FALSE(json::decode(event_with(R"("datacontenttype":"text/plain","data":null)"))->has_data());
}

TEST_CASE("data_base64 decodes to binary data") {
    const auto json_type = json::decode(event_with(R"("datacontenttype":"application/json","data_base64":"e30=")"));
    CHECK(json_type->data_kind() == DataKind::binary);
    CHECK(json_type->data() == "{}");
    CHECK(json_type->data_is_json());

    const auto untyped = json::decode(event_with(R"("data_base64":"eyAieHl6IjogMTIzIH0=")"));
    CHECK(untyped->data_kind() == DataKind::binary);
    CHECK_FALSE(untyped->datacontenttype());
    CHECK_FALSE(untyped->data_is_json());

    CHECK(contains(validation_error(event_with(R"("data_base64":"... base64 encoded string ...")")),
                   "invalid data_base64"));
    CHECK(contains(validation_error(event_with(R"("data_base64":"e30")")), "not valid Base64"));
    CHECK(contains(validation_error(event_with(R"("data_base64":"e30=","data":{})")), "not both"));
    CHECK(contains(validation_error(event_with(R"("data_base64":5)")), "invalid data_base64"));
}

TEST_CASE("time keeps every fraction digit") {
    for (const char* time : {"2018-04-26T14:48:09.1234Z", "2018-04-26T14:48:09.1234567+02:00",
                             "2018-04-26T14:48:09.123456789123Z", "2018-04-26T14:48:09-00:00"}) {
        const auto e = json::decode(event_with(std::string("\"time\":\"") + time + "\""));
        CHECK(e->time()->text() == time);
        CHECK(round_trip(*e)->time()->text() == time);
    }
    CHECK(json::decode(event_with(R"("time":"2018-04-26T14:48:09.1234567Z")"))->time()->nanoseconds() == 123456700);
}

TEST_CASE("string escapes decode to UTF-8") {
    const auto e = json::decode(event_with(R"("subject":"\u00e9\ud83d\ude00\/\"\\")"));
    CHECK(*e->subject() == "\xC3\xA9\xF0\x9F\x98\x80/\"\\");
    const auto text = json::decode(event_with(R"("datacontenttype":"text/plain","data":"\b\f\n\r\t\u0000")"));
    CHECK(text->data() == std::string("\b\f\n\r\t\0", 6));
    // An escaped control character is still a control character in a String.
    CHECK(contains(validation_error(event_with(R"("subject":"a\tb")")), "control character"));
}

TEST_CASE("parse errors carry offsets and reasons") {
    const std::string truncated = R"({"specversion":"1.0","id":)";
    CHECK(parse_error(truncated).offset() == truncated.size());
    CHECK(contains(parse_error(truncated).reason(), "end of input"));

    const std::string trailing = R"({"specversion":"1.0","id":"1","source":"/s","type":"t"} x)";
    CHECK(parse_error(trailing).offset() == trailing.size() - 1);

    CHECK(contains(parse_error(event_with(R"("x":"\q")")).reason(), "invalid escape"));
    CHECK(contains(parse_error(event_with("\"x\":\"\xC0\xA0\"")).reason(), "invalid UTF-8"));
    CHECK(contains(parse_error(event_with("\"x\":\"a\nb\"")).reason(), "control character"));
    CHECK(contains(parse_error(event_with(R"("x":"\ud800")")).reason(), "surrogate"));
    CHECK(contains(parse_error(event_with(R"("x":01)")).reason(), "leading zeros"));
    CHECK(contains(parse_error(event_with(R"("data":[1,])")).reason(), "expected a JSON value"));
    CHECK(contains(parse_error(event_with(R"("data":{"a" 1})")).reason(), "':'"));
    CHECK(contains(parse_error(event_with(R"("x":tru)")).reason(), "invalid literal"));
    CHECK(contains(parse_error("").reason(), "end of input"));
    CHECK(contains(parse_error("[]").reason(), "expected '{'"));
    CHECK(parse_error("{\"id\":\"1\",}").offset() == 10);
}

TEST_CASE("byte order mark is skipped") {
    CHECK(json::decode("\xEF\xBB\xBF" + event_with(R"("x":1)"))->extension("x") != nullptr);
}

TEST_CASE("limits bound size, depth and batch") {
    json::Limits small;
    small.max_bytes = 40;
    CHECK(contains(parse_error(event_with(R"("x":1)"), small).reason(), "exceeds the limit of 40 bytes"));

    json::Limits shallow;
    shallow.max_depth = 4;
    CHECK_NOTHROW(json::decode(event_with(R"("data":[[[1]]])"), shallow));
    CHECK(contains(parse_error(event_with(R"("data":[[[[1]]]])"), shallow).reason(), "deeper than the limit of 4"));

    // Hostile nesting ends in an error, not a stack overflow.
    const std::string deep = event_with(R"("data":)" + std::string(200000, '['));
    CHECK(contains(parse_error(deep).reason(), "deeper than the limit of 64"));
    json::Limits unlimited;
    unlimited.max_depth = 1000000;
    CHECK(contains(parse_error(deep, unlimited).reason(), "expected a JSON value"));

    json::Limits two;
    two.max_batch = 2;
    const std::string one = event_with(R"("x":1)");
    CHECK(json::decode_batch("[" + one + "," + one + "]", two).size() == 2);
    CHECK_THROWS_WITH(json::decode_batch("[" + one + "," + one + "," + one + "]", two),
                      Catch::Contains("more than the limit of 2 events"));
}

TEST_CASE("batch decodes and names the failing index") {
    CHECK(json::decode_batch("[]").empty());
    CHECK(json::decode_batch(" [ ] ").empty());
    const std::string good = event_with(R"("x":1)");
    const std::string bad = event_with(R"("x":1.5)");
    CHECK(json::decode_batch("[" + good + "," + good + "]").size() == 2);

    try {
        json::decode_batch("[" + good + "," + bad + "]");
        FAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
        CHECK(e.attribute() == "extension x");
        CHECK(contains(e.what(), "(batch event 1)"));
    }
    try {
        json::decode_batch("[" + good + "," + good + ",{]");
        FAIL("expected a ParseError");
    } catch (const ParseError& e) {
        CHECK(contains(e.reason(), "(batch event 2)"));
        CHECK(e.offset() == 2 * good.size() + 4);
    }
    CHECK_THROWS_AS(json::decode_batch(good), ParseError);
    CHECK_THROWS_AS(json::decode_batch("[" + good), ParseError);
    CHECK_THROWS_AS(json::decode_batch("[1]"), ParseError);
}

TEST_CASE("encode round trips losslessly") {
    EventBuilder b;
    b.id("id \"1\" \\").source("https://example.com/a%20b").type("com.example.t\xC3\xA9");
    b.subject("sub\x7E").dataschema("urn:schema:1").time("2024-02-29T23:59:60.1234567-05:30");
    b.extension("flag", false).extension("count", std::int64_t{-2147483648LL}).extension("name", "\xF0\x9F\x98\x80");
    b.extension("empty", "");

    SECTION("no data") {
        const auto e = b.build();
        CHECK(*round_trip(*e) == *e);
    }
    SECTION("JSON data") {
        const auto e = b.datacontenttype("application/json").data(R"({"a" : [1, 2.0, "x"]})").build();
        const auto back = round_trip(*e);
        CHECK(*back == *e);
        CHECK(back->data() == R"({"a" : [1, 2.0, "x"]})");
    }
    SECTION("JSON string data without content type") {
        const auto e = b.data(R"("just a string")").build();
        CHECK(*round_trip(*e) == *e);
    }
    SECTION("text data") {
        const auto e = b.datacontenttype("text/plain").data(std::string("line\n\"q\"\\ \x01 end", 16)).build();
        CHECK(*round_trip(*e) == *e);
    }
    SECTION("binary data") {
        const auto e = b.datacontenttype("application/octet-stream").data_binary(std::string("\0\xFF\x10", 3)).build();
        const auto text = json::encode(*e);
        CHECK(contains(text, R"("data_base64":"AP8Q")"));
        CHECK(*round_trip(*e) == *e);
    }
}

TEST_CASE("encode writes valid JSON") {
    const auto e = EventBuilder()
                       .id("1")
                       .source("/s")
                       .type("t")
                       .extension("bin", AttributeValue(Binary{"\x01\x02"}))
                       .extension("uri", AttributeValue(Uri{"https://x"}))
                       .datacontenttype("text/plain")
                       .data(std::string("\x7F\x1F", 2))
                       .build();
    const std::string text = json::encode(*e);
    const auto doc = nlohmann::json::parse(text);
    CHECK(doc["specversion"] == "1.0");
    CHECK(doc["bin"] == "AQI=");
    CHECK(doc["uri"] == "https://x");
    CHECK(doc["data"] == std::string("\x7F\x1F", 2));
    CHECK(text.find('\x1F') == std::string::npos);
    CHECK(json::to_json_value(*e) == doc);
}

namespace {
struct Point {
    int x = 0;
    int y = 0;
};
void to_json(nlohmann::json& j, const Point& p) { j = {{"x", p.x}, {"y", p.y}}; }
}  // namespace

TEST_CASE("native data encodes as JSON") {
    const auto e = EventBuilder().id("1").source("/s").type("t").data_value(Point{1, 2}).build();
    const auto back = round_trip(*e);
    CHECK(back->datacontenttype() == "application/json");
    CHECK(back->data_json() == nlohmann::json({{"x", 1}, {"y", 2}}));
}

TEST_CASE("batch encodes and decodes") {
    std::vector<EventPtr> events;
    for (int i = 0; i < 3; ++i) {
        events.push_back(EventBuilder().id(std::to_string(i)).source("/s").type("t").extension("n", std::int64_t{i}).build());
    }
    const auto back = json::decode_batch(json::encode_batch(events));
    REQUIRE(back.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK(*back[i] == *events[i]);
    CHECK(json::encode_batch({}) == "[]");
}

TEST_CASE("from_json_value converts a document") {
    const auto doc = nlohmann::json::parse(event_with(R"("n":5,"data":{"a":1})"));
    const auto e = json::from_json_value(doc);
    CHECK(std::get<std::int32_t>(*e->extension("n")) == 5);
    CHECK(e->data_json() == nlohmann::json({{"a", 1}}));
    CHECK_THROWS_AS(json::from_json_value(nlohmann::json::array()), ValidationError);
    auto bad = doc;
    bad["n"] = 5.5;
    CHECK_THROWS_AS(json::from_json_value(bad), ValidationError);
    auto not_utf8 = doc;
    not_utf8["subject"] = "\xFF";
    CHECK_THROWS_AS(json::from_json_value(not_utf8), ValidationError);
}

TEST_CASE("mutated inputs end in an event or an error") {
    const std::vector<std::string> seeds = {
        event_with(R"("datacontenttype":"application/json","data":{"a":[1,2,{"b":"\u00e9"}],"c":null},"x":5)"),
        event_with(R"("datacontenttype":"text/plain","data":"hello \"world\"","time":"2018-04-26T14:48:09.1234Z")"),
        event_with(R"("data_base64":"SGVsbG8=","flag":true,"subject":"s")"),
        "[" + event_with(R"("n":1)") + "," + event_with(R"("data":"x")") + "]",
    };
    std::mt19937 rng(20240501);
    const std::string alphabet = std::string("{}[]\":,\\ -0123456789.eEtfnu\xC3\xA9\x80\xFF") + '\0' + "abcdz";
    std::size_t decoded = 0;
    std::size_t rejected = 0;
    for (int round = 0; round < 4000; ++round) {
        std::string text = seeds[static_cast<std::size_t>(round) % seeds.size()];
        if (round % 5 == 0) {
            text.resize(rng() % text.size());  // truncated
        } else {
            const int edits = 1 + static_cast<int>(rng() % 4);
            for (int k = 0; k < edits && !text.empty(); ++k) {
                const std::size_t at = rng() % text.size();
                const char c = alphabet[rng() % alphabet.size()];
                switch (rng() % 3) {
                    case 0: text[at] = c; break;
                    case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c); break;
                    default: text.erase(at, 1); break;
                }
            }
        }
        INFO("input: " << text);
        try {
            if (!text.empty() && text.find_first_not_of(" ") != std::string::npos &&
                text[text.find_first_not_of(" ")] == '[') {
                for (const auto& e : json::decode_batch(text)) CHECK(*round_trip(*e) == *e);
            } else {
                const auto e = json::decode(text);
                // Whatever decodes must survive its own round trip.
                CHECK(*round_trip(*e) == *e);
            }
            ++decoded;
        } catch (const ParseError& e) {
            CHECK(e.offset() <= text.size());
            ++rejected;
        } catch (const ValidationError&) {
            ++rejected;
        }
    }
    CHECK(decoded + rejected == 4000);
    CHECK(decoded > 0);
    CHECK(rejected > 0);
}
