#include <catch2/catch.hpp>

#include <cebus/filter.hpp>

using namespace cebus;

namespace {

EventPtr sample() {
    return EventBuilder()
        .id("a-1")
        .source("/shop/orders")
        .type("com.example.order.created")
        .subject("orders/42")
        .extension("tenant", "acme")
        .extension("priority", std::int64_t{7})
        .extension("urgent", true)
        .build();
}

}  // namespace

TEST_CASE("exact filter compares whole value") {
    auto e = sample();
    CHECK(filters::exact("type", "com.example.order.created").match(*e));
    CHECK_FALSE(filters::exact("type", "com.example.order").match(*e));
    CHECK(filters::exact({{"type", "com.example.order.created"}, {"source", "/shop/orders"}}).match(*e));
    CHECK_FALSE(filters::exact({{"type", "com.example.order.created"}, {"source", "/shop"}}).match(*e));
    CHECK(filters::exact("tenant", "acme").match(*e));
    CHECK_FALSE(filters::exact("tenant", "ACME").match(*e));
}

TEST_CASE("prefix and suffix filters") {
    auto e = sample();
    CHECK(filters::prefix("type", "com.example.").match(*e));
    CHECK_FALSE(filters::prefix("type", "org.").match(*e));
    CHECK(filters::suffix("type", ".created").match(*e));
    CHECK_FALSE(filters::suffix("type", ".deleted").match(*e));
    CHECK(filters::prefix("subject", "orders/").match(*e));
    CHECK(filters::suffix("source", "/orders").match(*e));
}

TEST_CASE("absent attribute never matches") {
    auto e = sample();
    CHECK_FALSE(filters::exact("dataschema", "x").match(*e));
    CHECK_FALSE(filters::prefix("missing", "a").match(*e));
    CHECK(filters::negate(filters::exact("missing", "a")).match(*e));
}

TEST_CASE("non-text extensions use canonical strings") {
    auto e = sample();
    CHECK(filters::exact("priority", "7").match(*e));
    CHECK_FALSE(filters::exact("priority", "07").match(*e));
    CHECK(filters::exact("urgent", "true").match(*e));
    CHECK(filters::prefix("urgent", "tr").match(*e));
}

TEST_CASE("all any and not combine") {
    auto e = sample();
    auto yes = filters::exact("tenant", "acme");
    auto no = filters::exact("tenant", "other");
    CHECK(filters::all({yes, yes}).match(*e));
    CHECK_FALSE(filters::all({yes, no}).match(*e));
    CHECK(filters::any({no, yes}).match(*e));
    CHECK_FALSE(filters::any({no, no}).match(*e));
    CHECK(filters::negate(no).match(*e));
    CHECK_FALSE(filters::negate(yes).match(*e));
    CHECK(Filter().match(*e));
    CHECK(Filter().matches_all());
}

TEST_CASE("invalid filters are rejected") {
    CHECK_THROWS_AS(filters::exact("", "x"), ValidationError);
    CHECK_THROWS_AS(filters::exact("type", ""), ValidationError);
    CHECK_THROWS_AS(filters::prefix("Type", "x"), ValidationError);
    CHECK_THROWS_AS(filters::suffix("trace-id", "x"), ValidationError);
    CHECK_THROWS_AS(filters::exact(std::vector<std::pair<std::string, std::string>>{}), ValidationError);
    CHECK_THROWS_AS(filters::all({}), ValidationError);
    CHECK_THROWS_AS(filters::any({}), ValidationError);
    try {
        filters::prefix("Type", "x");
    } catch (const ValidationError& e) {
        CHECK(std::string(e.what()).find("Type") != std::string::npos);
    }
}

TEST_CASE("exact type is found for index") {
    CHECK(filters::type("a.b").exact_type() == std::optional<std::string>("a.b"));
    CHECK(filters::exact({{"source", "/s"}, {"type", "a.b"}}).exact_type() == std::optional<std::string>("a.b"));
    CHECK(filters::all({filters::prefix("source", "/"), filters::type("a.b")}).exact_type() ==
          std::optional<std::string>("a.b"));
    CHECK_FALSE(filters::prefix("type", "a.b").exact_type());
    CHECK_FALSE(filters::any({filters::type("a.b"), filters::type("c")}).exact_type());
    CHECK_FALSE(filters::negate(filters::type("a.b")).exact_type());
    CHECK_FALSE(Filter().exact_type());
}

TEST_CASE("filters serialise to subscriptions json") {
    CHECK(filters::exact("type", "x").to_json() == nlohmann::json::parse(R"({"exact":{"type":"x"}})"));
    CHECK(filters::prefix("source", "/a").to_json() == nlohmann::json::parse(R"({"prefix":{"source":"/a"}})"));
    CHECK(filters::suffix("subject", ".png").to_json() == nlohmann::json::parse(R"({"suffix":{"subject":".png"}})"));
    auto combined = filters::all({filters::type("x"), filters::negate(filters::any({filters::prefix("source", "/a")}))});
    CHECK(combined.to_json() ==
          nlohmann::json::parse(R"({"all":[{"exact":{"type":"x"}},{"not":{"any":[{"prefix":{"source":"/a"}}]}}]})"));
    CHECK(Filter().to_json() == nlohmann::json::array());
}
