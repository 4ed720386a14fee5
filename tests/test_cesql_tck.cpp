// Runs every case of the CESQL conformance suite (TCK) in
// tests/data/cesql_tck/tck.json, converted from the upstream YAML files.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <cebus/cesql.hpp>

using namespace cebus;
using cesql::ErrorKind;

namespace {

std::string data_path(const std::string& relative) {
    const char* root = std::getenv("CEBUS_TEST_DATA");
    REQUIRE(root != nullptr);
    return std::string(root) + "/" + relative;
}

nlohmann::json load_tck() {
    std::ifstream in(data_path("cesql_tck/tck.json"));
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    return nlohmann::json::parse(text.str());
}

void set_attribute(EventBuilder& b, const std::string& name, const nlohmann::json& value) {
    if (name == "specversion") {
        b.specversion(value.get<std::string>());
    } else if (name == "id") {
        b.id(value.get<std::string>());
    } else if (name == "source") {
        b.source(value.get<std::string>());
    } else if (name == "type") {
        b.type(value.get<std::string>());
    } else if (name == "subject") {
        b.subject(value.get<std::string>());
    } else if (name == "time") {
        b.time(std::string_view(value.get<std::string>()));
    } else if (name == "datacontenttype") {
        b.datacontenttype(value.get<std::string>());
    } else if (name == "dataschema") {
        b.dataschema(value.get<std::string>());
    } else if (value.is_boolean()) {
        b.extension(name, value.get<bool>());
    } else if (value.is_number_integer()) {
        b.extension(name, value.get<std::int64_t>());
    } else {
        b.extension(name, value.get<std::string>());
    }
}

// `event` is a whole event; `eventOverrides` patch any valid event.
EventPtr event_for(const nlohmann::json& test) {
    EventBuilder b;
    if (test.contains("event")) {
        for (const auto& [name, value] : test["event"].items()) set_attribute(b, name, value);
        return b.build();
    }
    b.id("tck-default").source("/cebus/tck").type("dev.cebus.tck");
    if (test.contains("eventOverrides")) {
        for (const auto& [name, value] : test["eventOverrides"].items()) set_attribute(b, name, value);
    }
    return b.build();
}

ErrorKind kind_of(const std::string& name) {
    for (const auto kind : {ErrorKind::parse, ErrorKind::math, ErrorKind::cast, ErrorKind::missing_attribute,
                            ErrorKind::missing_function, ErrorKind::function_evaluation, ErrorKind::generic}) {
        if (cesql::error_kind_name(kind) == name) return kind;
    }
    FAIL("unknown error kind in the TCK: " << name);
    return ErrorKind::generic;
}

// HASPREFIX and KONKAT, the user-defined functions of sdk-go's TCK file.
cesql::Functions tck_functions() {
    using cesql::Type;
    using cesql::Value;
    cesql::Functions functions;
    functions.add("HASPREFIX", {Type::string, Type::string}, Type::boolean,
                  [](std::span<const Value> a, cesql::Call&) {
                      return Value::boolean(a[0].as_string().starts_with(a[1].as_string()));
                  });
    functions.add_variadic("KONKAT", {}, Type::string, Type::string, [](std::span<const Value> a, cesql::Call& call) {
        std::string joined;
        for (const Value& part : a) joined += part.as_string();
        return Value::string(call.store(joined));
    });
    return functions;
}

// Checks one case; returns true when it passes.
bool run_case(const nlohmann::json& test, const cesql::Functions& functions) {
    const std::string expression = test["expression"].get<std::string>();
    cesql::CompileOptions options;
    options.functions = &functions;

    // Like sdk-go, an expected parse error checks only that compiling fails.
    if (test.contains("error") && test["error"] == "parse") {
        bool rejected = false;
        try {
            cesql::Expression::compile(expression, options);
        } catch (const cesql::CompileError&) {
            rejected = true;
        }
        CHECK(rejected);
        return rejected;
    }

    const auto compiled = cesql::Expression::compile(expression, options);
    const EventPtr event = event_for(test);
    const cesql::Result result = compiled.evaluate(*event);
    bool passed = true;

    if (test.contains("result")) {
        const auto& expected = test["result"];
        if (expected.is_boolean()) {
            CHECK(result.type() == cesql::Type::boolean);
            CHECK(result.as_boolean() == expected.get<bool>());
            passed = passed && result.type() == cesql::Type::boolean && result.as_boolean() == expected.get<bool>();
        } else if (expected.is_number_integer()) {
            CHECK(result.type() == cesql::Type::integer);
            CHECK(result.as_integer() == expected.get<std::int64_t>());
            passed = passed && result.type() == cesql::Type::integer &&
                     result.as_integer() == expected.get<std::int64_t>();
        } else {
            CHECK(result.type() == cesql::Type::string);
            CHECK(result.as_string() == expected.get<std::string>());
            passed = passed && result.type() == cesql::Type::string && result.as_string() == expected.get<std::string>();
        }
    }

    if (test.contains("error")) {
        const ErrorKind kind = kind_of(test["error"].get<std::string>());
        CHECK(result.has_error(kind));
        passed = passed && result.has_error(kind);
    } else {
        for (const auto& error : result.errors()) INFO("unexpected error: " << error.message);
        CHECK(result.ok());
        passed = passed && result.ok();
    }

    // The fail-fast filter path agrees with complete evaluation.
    CHECK(compiled.matches(*event) == result.is_true());
    return passed;
}

}  // namespace

TEST_CASE("every TCK case passes") {
    const nlohmann::json tck = load_tck();
    const cesql::Functions functions = tck_functions();
    std::size_t cases = 0;
    std::size_t passed = 0;

    for (const auto& suite : tck["suites"]) {
        for (const auto& test : suite["tests"]) {
            // Some case names (TRUE, false) load from YAML as Booleans.
            INFO(suite["file"].get<std::string>() << ": " << test["name"].dump() << ": "
                                                  << test["expression"].get<std::string>());
            ++cases;
            if (run_case(test, functions)) ++passed;
        }
    }

    // 275 cases of the spec's TCK plus 8 of sdk-go's user-defined functions.
    CHECK(cases == 283);
    CHECK(passed == cases);
    WARN("TCK: " << passed << " of " << cases << " cases pass");
}

TEST_CASE("TCK keeps corrected NOT 10 case") {
    const nlohmann::json tck = load_tck();
    bool found = false;
    for (const auto& suite : tck["suites"]) {
        for (const auto& test : suite["tests"]) {
            if (test["expression"] != "NOT 10") continue;
            found = true;
            CHECK(test["result"] == false);
            CHECK_FALSE(test.contains("error"));
        }
    }
    CHECK(found);
}
