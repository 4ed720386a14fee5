// Subscriptions API filters loaded from JSON: the spec's examples, the sql
// dialect and every malformed filter a manager must reject.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <cebus/cesql.hpp>
#include <cebus/filter.hpp>

using namespace cebus;
using nlohmann::json;

namespace {

json spec_filter(std::size_t index) {
    const char* root = std::getenv("CEBUS_TEST_DATA");
    REQUIRE(root != nullptr);
    std::ifstream in(std::string(root) + "/spec-examples/subscriptions-filter-examples.json");
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    const json examples = json::parse(text.str());
    REQUIRE(examples["filters"].size() == 7);
    return examples["filters"][index]["filter"];
}

EventPtr event(std::string type, std::optional<std::string> subject,
               std::string source = "https://github.com/cloudevents/spec/pull/123") {
    EventBuilder b;
    b.id("1").source(std::move(source)).type(std::move(type));
    if (subject) b.subject(*subject);
    return b.build();
}

const std::string spec_repo = "https://github.com/cloudevents/spec";

// The message of the ValidationError that loading `text` throws, or "".
std::string rejection(const std::string& text) {
    try {
        filters::from_json(json::parse(text));
    } catch (const ValidationError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("spec exact example") {
    const Filter f = filters::from_json(spec_filter(0));
    CHECK(f.match(*event("com.github.push", spec_repo)));
    CHECK_FALSE(f.match(*event("com.github.push", spec_repo + "/x")));
    CHECK_FALSE(f.match(*event("com.github.pull", spec_repo)));
    CHECK_FALSE(f.match(*event("com.github.push", std::nullopt)));
}

TEST_CASE("spec prefix example") {
    const Filter f = filters::from_json(spec_filter(1));
    CHECK(f.match(*event("com.github.pull_request.opened", "https://github.com/cloudevents/sdk-go")));
    CHECK_FALSE(f.match(*event("com.gitlab.push", "https://github.com/cloudevents/sdk-go")));
    CHECK_FALSE(f.match(*event("com.github.push", "https://github.com/knative")));
    CHECK_FALSE(f.match(*event("com.github.push", std::nullopt)));
}

TEST_CASE("spec suffix example") {
    const Filter f = filters::from_json(spec_filter(2));
    CHECK(f.match(*event("com.github.issue.created", "https://github.com/cloudevents/spec")));
    CHECK_FALSE(f.match(*event("com.github.issue.closed", "https://github.com/cloudevents/spec")));
    CHECK_FALSE(f.match(*event("com.github.issue.created", "https://github.com/cloudevents/sdk-go")));
}

TEST_CASE("spec all example") {
    const Filter f = filters::from_json(spec_filter(3));
    CHECK(f.match(*event("com.github.push", spec_repo)));
    CHECK_FALSE(f.match(*event("com.github.push", spec_repo + "-not")));
    CHECK_FALSE(f.match(*event("com.github.pull", spec_repo)));
    CHECK(f.exact_type() == "com.github.push");
}

TEST_CASE("spec any example") {
    const Filter f = filters::from_json(spec_filter(4));
    CHECK(f.match(*event("com.github.push", "elsewhere")));
    CHECK(f.match(*event("com.github.pull", spec_repo)));
    CHECK_FALSE(f.match(*event("com.github.pull", "elsewhere")));
}

TEST_CASE("spec not example") {
    const Filter f = filters::from_json(spec_filter(5));
    CHECK_FALSE(f.match(*event("com.github.push", spec_repo)));
    CHECK(f.match(*event("com.github.pull", spec_repo)));
}

TEST_CASE("spec sql example") {
    const Filter f = filters::from_json(spec_filter(6));
    CHECK(f.match(*event("x", std::nullopt, "https://github.com/cloudevents/spec")));
    CHECK_FALSE(f.match(*event("x", std::nullopt, "https://github.com/knative/eventing")));
    CHECK(f.to_json() == spec_filter(6));
}

TEST_CASE("spec examples survive to_json") {
    const auto push = event("com.github.push", spec_repo);
    const auto other = event("com.github.issue.created", "https://github.com/cloudevents/spec");
    for (std::size_t i = 0; i < 7; ++i) {
        INFO("example " << i);
        const Filter original = filters::from_json(spec_filter(i));
        const Filter again = filters::from_json(original.to_json());
        CHECK(again.match(*push) == original.match(*push));
        CHECK(again.match(*other) == original.match(*other));
    }
}

TEST_CASE("sql filter needs true without error") {
    const auto e = event("com.github.push", spec_repo);
    CHECK(filters::sql("type = 'com.github.push'").match(*e));
    CHECK_FALSE(filters::sql("type = 'other'").match(*e));
    CHECK_FALSE(filters::sql("'true'").match(*e));      // a String, not a Boolean
    CHECK_FALSE(filters::sql("1").match(*e));           // an Integer
    CHECK_FALSE(filters::sql("missing = 'x' OR true").match(*e));  // error beats true
    CHECK_FALSE(filters::sql("NOT (missing = 'x')").match(*e));
    CHECK(filters::sql("EXISTS subject").match(*e));
}

TEST_CASE("sql filter rejects bad expressions") {
    try {
        filters::sql("type = ");
        FAIL("compiled");
    } catch (const cesql::CompileError& e) {
        CHECK(e.offset() == 7);
    }
    CHECK_THROWS_AS(filters::sql("NOPE(type)"), cesql::CompileError);
    CHECK_THROWS_AS(filters::from_json(json::parse(R"({"sql": "type LIKE 3"})")), cesql::CompileError);
}

TEST_CASE("sql filter with host functions") {
    using cesql::Type;
    using cesql::Value;
    cesql::Functions functions;
    functions.add("IS_PUSH", {Type::string}, Type::boolean, [](std::span<const Value> a, cesql::Call&) {
        return Value::boolean(a[0].as_string().ends_with(".push"));
    });
    cesql::CompileOptions options;
    options.functions = &functions;
    const Filter f = filters::sql(cesql::Expression::compile("IS_PUSH(type)", options));
    CHECK(f.match(*event("com.github.push", spec_repo)));
    CHECK_FALSE(f.match(*event("com.github.pull", spec_repo)));
}

TEST_CASE("filters array means all") {
    const Filter f = filters::from_json(json::parse(
        R"([{"prefix": {"type": "com.github."}}, {"sql": "subject LIKE '%/spec'"}])"));
    CHECK(f.match(*event("com.github.push", spec_repo)));
    CHECK_FALSE(f.match(*event("com.github.push", "https://github.com/cloudevents/sdk-go")));
    CHECK_FALSE(f.match(*event("org.gitlab.push", spec_repo)));

    const Filter everything = filters::from_json(json::array());
    CHECK(everything.matches_all());
    CHECK(everything.match(*event("anything", std::nullopt)));
}

TEST_CASE("malformed filters are rejected") {
    CHECK(rejection(R"({"regex": {"type": ".*"}})").find("unsupported") != std::string::npos);
    CHECK(rejection(R"({"regex": {"type": ".*"}})").find("regex") != std::string::npos);
    CHECK_FALSE(rejection(R"({"EXACT": {"type": "x"}})").empty());
    CHECK_FALSE(rejection(R"({"exact": {}})").empty());
    CHECK_FALSE(rejection(R"({"exact": {"type": ""}})").empty());
    CHECK_FALSE(rejection(R"({"exact": {"": "x"}})").empty());
    CHECK_FALSE(rejection(R"({"exact": {"Type": "x"}})").empty());
    CHECK_FALSE(rejection(R"({"exact": {"type": 3}})").empty());
    CHECK_FALSE(rejection(R"({"exact": "type"})").empty());
    CHECK_FALSE(rejection(R"({"prefix": {"type": ""}})").empty());
    CHECK_FALSE(rejection(R"({"suffix": []})").empty());
    CHECK_FALSE(rejection(R"({"all": []})").empty());
    CHECK_FALSE(rejection(R"({"any": []})").empty());
    CHECK_FALSE(rejection(R"({"any": {"exact": {"type": "x"}}})").empty());
    CHECK_FALSE(rejection(R"({"all": ["x"]})").empty());
    CHECK_FALSE(rejection(R"({"not": [{"exact": {"type": "x"}}]})").empty());
    CHECK_FALSE(rejection(R"({"sql": 42})").empty());
    CHECK_FALSE(rejection(R"({})").empty());
    CHECK_FALSE(rejection(R"({"exact": {"type": "x"}, "prefix": {"type": "y"}})").empty());
    CHECK_FALSE(rejection(R"("exact")").empty());
    CHECK_FALSE(rejection(R"([1])").empty());
}

TEST_CASE("deeply nested filters are rejected") {
    std::string text = R"({"exact": {"type": "x"}})";
    for (int i = 0; i < 200; ++i) text = R"({"not": )" + text + "}";
    CHECK(rejection(text).find("nested deeper") != std::string::npos);

    std::string fine = R"({"exact": {"type": "x"}})";
    for (int i = 0; i < 20; ++i) fine = R"({"not": )" + fine + "}";
    CHECK(filters::from_json(json::parse(fine)).match(*event("x", std::nullopt)));
}
