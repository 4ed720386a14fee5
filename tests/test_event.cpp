#include <catch2/catch.hpp>

#include <cebus/event.hpp>

#include <string>
#include <vector>

using namespace cebus;

namespace {

EventBuilder minimal() {
    EventBuilder b;
    b.id("1").source("/sensors/7").type("com.example.reading");
    return b;
}

struct Reading {
    std::string unit;
    int value = 0;
};
void to_json(nlohmann::json& j, const Reading& r) { j = {{"unit", r.unit}, {"value", r.value}}; }
void from_json(const nlohmann::json& j, Reading& r) {
    j.at("unit").get_to(r.unit);
    j.at("value").get_to(r.value);
}

std::string error_of(const EventBuilder& b) {
    try {
        b.build();
    } catch (const ValidationError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("minimal event builds with defaults") {
    auto e = minimal().build();
    CHECK(e->id() == "1");
    CHECK(e->source() == "/sensors/7");
    CHECK(e->specversion() == "1.0");
    CHECK(e->type() == "com.example.reading");
    CHECK_FALSE(e->datacontenttype());
    CHECK_FALSE(e->has_data());
}

TEST_CASE("missing required attributes are rejected by name") {
    CHECK(error_of(EventBuilder().source("s").type("t")) == "invalid id \"\": is required and must not be empty");
    CHECK(error_of(EventBuilder().id("1").type("t")).find("invalid source") == 0);
    CHECK(error_of(EventBuilder().id("1").source("s")).find("invalid type") == 0);
    CHECK(error_of(minimal().specversion("0.3")).find("invalid specversion \"0.3\"") == 0);
}

TEST_CASE("extension names follow the naming rule") {
    CHECK(error_of(minimal().extension("trace-id", "x")) ==
          "invalid extension name \"trace-id\": names use only a-z and 0-9");
    CHECK(error_of(minimal().extension("Upper", "x")).find("names use only a-z and 0-9") != std::string::npos);
    CHECK(error_of(minimal().extension("string_ex", "x")).find("names use only") != std::string::npos);
    CHECK(error_of(minimal().extension("data", "x")).find("reserved") != std::string::npos);
    CHECK(error_of(minimal().extension("", "x")).find("must not be empty") != std::string::npos);
    CHECK(error_of(minimal().extension("id", "x")).find("core attribute") != std::string::npos);
    CHECK_NOTHROW(minimal().extension("a1b2", "x").build());
}

TEST_CASE("integer extensions must fit in 32 bits") {
    CHECK_NOTHROW(minimal().extension("n", std::int64_t{2147483647}).build());
    CHECK_NOTHROW(minimal().extension("n", std::int64_t{-2147483648LL}).build());
    CHECK(error_of(minimal().extension("n", std::int64_t{2147483648LL})).find("fit in 32 bits") !=
          std::string::npos);
}

TEST_CASE("integer extensions take any integer type") {
    const auto integer_of = [](const EventPtr& event) {
        return std::get<std::int32_t>(*event->extension("n"));
    };
    CHECK(integer_of(minimal().extension("n", 7).build()) == 7);
    CHECK(integer_of(minimal().extension("n", std::int32_t{-7}).build()) == -7);
    CHECK(integer_of(minimal().extension("n", std::int16_t{300}).build()) == 300);
    CHECK(integer_of(minimal().extension("n", 4000000000U - 3999999999U).build()) == 1);
    CHECK(integer_of(minimal().extension("n", std::size_t{2147483647}).build()) == 2147483647);

    const auto too_large = error_of(minimal().extension("n", std::uint64_t{18446744073709551615ULL}));
    CHECK(too_large.find("18446744073709551615") != std::string::npos);
    CHECK(too_large.find("fit in 32 bits") != std::string::npos);
    CHECK(error_of(minimal().extension("n", 2147483648U)).find("2147483648") != std::string::npos);
}

TEST_CASE("dataschema must be an absolute URI") {
    CHECK_NOTHROW(minimal().dataschema("https://example.com/s.json").build());
    CHECK(error_of(minimal().dataschema("#")).find("invalid dataschema \"#\"") == 0);
    CHECK(error_of(minimal().dataschema("/relative")).find("absolute URI") != std::string::npos);
}

TEST_CASE("strings reject control characters and invalid UTF-8") {
    CHECK(error_of(minimal().subject("a\x01" "b")).find("control character") != std::string::npos);
    CHECK(error_of(minimal().subject("\xC0\xA0")).find("not valid UTF-8") != std::string::npos);
    CHECK(error_of(minimal().subject("\xEF\xB7\x90")).find("noncharacter") != std::string::npos);
    CHECK(error_of(minimal().subject("")).find("must not be empty") != std::string::npos);
    CHECK_NOTHROW(minimal().subject("Euro \xE2\x82\xAC \xF0\x9F\x98\x80").build());
}

TEST_CASE("time keeps every fractional digit") {
    for (const char* text : {"2018-04-05T17:31:00Z", "2018-04-05T17:31:00.1234Z", "2018-04-05T17:31:00.1234567+02:00",
                             "2018-04-05t17:31:00.123456789012z", "2016-12-31T23:59:60Z"}) {
        auto e = minimal().time(std::string_view(text)).build();
        REQUIRE(e->time());
        CHECK(e->time()->text() == text);
    }
    auto e = minimal().time(std::string_view("2018-04-05T17:31:00.1234567+02:00")).build();
    CHECK(e->time()->unix_seconds() == 1522942260);  // 15:31:00Z
    CHECK(e->time()->nanoseconds() == 123456700);
}

TEST_CASE("time that is not RFC 3339 is rejected") {
    for (const char* text : {"2018-04-05", "2018-04-05T17:31Z", "2018-04-05 17:31:00Z", "2018-02-30T00:00:00Z",
                             "2018-04-05T17:31:00", "2018-04-05T17:31:00.Z", "2018-04-05T25:00:00Z",
                             "2018-04-05T17:31:00+0200", "2018-04-05T17:31:00Zjunk"}) {
        INFO(text);
        CHECK(error_of(minimal().time(std::string_view(text))).find("invalid time") == 0);
    }
}

TEST_CASE("timestamps made from a clock carry seconds and UTC") {
    using namespace std::chrono;
    const auto ts = Timestamp::from_time_point(system_clock::time_point(seconds(1522935060) + milliseconds(250)));
    CHECK(ts.text() == "2018-04-05T13:31:00.250Z");
    CHECK(Timestamp::parse(ts.text()).time_point() == ts.time_point());
}

TEST_CASE("json content types are detected ignoring parameters") {
    CHECK(is_json_content_type("application/json"));
    CHECK(is_json_content_type("application/json; charset=utf-8"));
    CHECK(is_json_content_type("text/json"));
    CHECK(is_json_content_type("application/cloudevents+json"));
    CHECK(is_json_content_type("APPLICATION/VND.FOO+JSON;x=y"));
    CHECK(is_json_content_type(""));
    CHECK_FALSE(is_json_content_type("application/xml"));
    CHECK_FALSE(is_json_content_type("application/jsonx"));
    CHECK_FALSE(is_json_content_type("text/plain"));
}

TEST_CASE("typed data round trips through from_json") {
    auto e = minimal().data_json({{"unit", "C"}, {"value", 21}}).build();
    CHECK(e->data_is_json());
    CHECK(e->datacontenttype() == "application/json");
    const auto r = e->data_as<Reading>();
    CHECK(r.unit == "C");
    CHECK(r.value == 21);
}

TEST_CASE("native data is serialised only on demand") {
    auto e = minimal().data_value(Reading{"K", 300}).build();
    REQUIRE(e->native_data<Reading>() != nullptr);
    CHECK(e->native_data<Reading>()->value == 300);
    CHECK(e->native_data<int>() == nullptr);
    CHECK(e->data_as<Reading>().unit == "K");
    CHECK(nlohmann::json::parse(e->data()) == nlohmann::json({{"unit", "K"}, {"value", 300}}));
}

TEST_CASE("text data must match its content type") {
    CHECK_NOTHROW(minimal().datacontenttype("text/plain").data("hello").build());
    CHECK(error_of(minimal().datacontenttype("application/json").data("{not json")).find("not valid JSON") !=
          std::string::npos);
    CHECK(error_of(minimal().datacontenttype("text/plain").data("\xFF")).find("not valid UTF-8") !=
          std::string::npos);
    CHECK_NOTHROW(minimal().datacontenttype("application/octet-stream").data_binary("\xFF\x00").build());
}

TEST_CASE("extensions are found by name and sorted") {
    auto e = minimal().extension("zeta", "z").extension("alpha", true).extension("mid", std::int64_t{5}).build();
    REQUIRE(e->extensions().size() == 3);
    CHECK(e->extensions()[0].first == "alpha");
    CHECK(std::get<bool>(*e->extension("alpha")));
    CHECK(std::get<std::int32_t>(*e->extension("mid")) == 5);
    CHECK(e->extension("missing") == nullptr);
    CHECK(e->attribute_text("zeta") == "z");
    CHECK_FALSE(e->attribute_text("alpha"));
    CHECK(to_canonical_string(*e->attribute("alpha")) == "true");
}

// Building an event checks JSON data with a fast scanner that must agree with
// nlohmann::json::accept (plus the NUL rule) on every input: valid documents,
// and many small corruptions of them.
TEST_CASE("json data check agrees with the parser") {
    const std::vector<std::string> seeds = {
        R"({"a":[1,2.5,-0,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"],"b":{}})",
        R"([[],[[]],{"k":{"k":[{}]}}, "caf\u00E9", "\u20ac", "€", 0.125, -12])",
        " \t\r\n 42 \n", R"("plain")", "1e5", "-1.5E-3", "\xEF\xBB\xBF{}", std::string(350, '9'),
        R"({"deep":)" + std::string(300, '[') + std::string(300, ']') + "}",
    };
    const std::string alphabet = "{}[]:,\"\\u0aeE.-+ \n\x01\x7f\xc3\xa9\xed\xa0\x80tfn/";
    std::uint32_t rng = 12345;
    auto next = [&rng] {
        rng = rng * 1664525u + 1013904223u;
        return rng >> 8;
    };
    int checked = 0;
    auto compare = [&](const std::string& text) {
        const bool expected = text.find('\0') == std::string::npos && nlohmann::json::accept(text);
        bool built = true;
        try {
            (void)EventBuilder().id("1").source("/s").type("t").datacontenttype("application/json").data(text).build();
        } catch (const ValidationError&) {
            built = false;
        }
        INFO("data: " << text);
        CHECK(built == expected);
        ++checked;
    };
    for (const auto& seed : seeds) {
        compare(seed);
        for (int round = 0; round < 400; ++round) {
            std::string text = seed;
            const int edits = 1 + static_cast<int>(next() % 3);
            for (int e = 0; e < edits && !text.empty(); ++e) {
                const std::size_t at = next() % text.size();
                switch (next() % 4) {
                    case 0:
                        text[at] = alphabet[next() % alphabet.size()];
                        break;
                    case 1:
                        text.insert(at, 1, alphabet[next() % alphabet.size()]);
                        break;
                    case 2:
                        text.erase(at, 1);
                        break;
                    default:
                        text.resize(at);
                        break;
                }
            }
            compare(text);
        }
    }
    CHECK(checked > 3000);
}
