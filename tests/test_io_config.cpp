// Configuration of the I/O Events bridge: Console JSON, overrides, environment.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <string>

#include <cebus/io_events/config.hpp>

using namespace cebus::io_events;

namespace {

std::string data_path(const std::string& name) {
    const char* root = std::getenv("CEBUS_TEST_DATA");
    REQUIRE(root != nullptr);
    return std::string(root) + "/" + name;
}

EnvironmentLookup fake_env(std::map<std::string, std::string> values) {
    return [values = std::move(values)](const char* name) -> std::optional<std::string> {
        auto it = values.find(name);
        if (it == values.end()) return std::nullopt;
        return it->second;
    };
}

}  // namespace

TEST_CASE("console json fills credentials") {
    Config c = load_config_file(data_path("adobe/console-project.json"));
    CHECK(c.consumer_org_id == "53444");
    CHECK(c.ims_org_id == "C74F69D7594880280A495D09@AdobeOrg");
    CHECK(c.project_id == "4566206088344794932");
    CHECK(c.workspace_id == "4566206088344812345");
    // The API-key credential listed first is skipped.
    CHECK(c.credential_id == "566912");
    CHECK(c.client_id == "3f1c0a9ab0e64f6c8f3a2c1e5d7b9a01");
    CHECK(c.client_secret.reveal() == "p8e-TEST-secret-never-log-me-0001");
    REQUIRE(c.scopes.size() == 4);
    CHECK(c.scopes[3] == "adobeio_api");
}

TEST_CASE("bridge settings override defaults") {
    Config c = load_config_file(data_path("adobe/console-project.json"));
    CHECK(c.provider_id == "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
    CHECK(c.provider_source() == "urn:uuid:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
    CHECK(c.endpoints.ingress_url == "http://127.0.0.1:9/");
    CHECK(c.endpoints.ims_token_url == "http://127.0.0.1:9/ims/token/v3");
    CHECK(c.endpoints.public_key_base_url == "http://127.0.0.1:9");
    CHECK(c.endpoints.journal_url.ends_with("/reg-1"));
    CHECK(c.verify_tls);
}

TEST_CASE("defaults name adobe hosts") {
    Config c;
    CHECK(c.endpoints.ims_token_url == "https://ims-na1.adobelogin.com/ims/token/v3");
    CHECK(c.endpoints.ingress_url == "https://eventsingress.adobe.io");
    CHECK(c.endpoints.public_key_base_url == "https://static.adobeioevents.com");
    CHECK(c.endpoints.journal_url.empty());
    CHECK(c.verify_tls);
}

TEST_CASE("event code mapping and pass-through") {
    Config c = load_config_file(data_path("adobe/console-project.json"));
    CHECK(c.event_code_for("com.example.order.created") == "com.example.order_created");
    CHECK(c.event_code_for("com.example.other") == "com.example.other");
    c.pass_through_types = false;
    CHECK_FALSE(c.event_code_for("com.example.other").has_value());
    CHECK(c.event_code_for("com.example.order.created") == "com.example.order_created");
}

TEST_CASE("environment overrides file values") {
    Config c = load_config_file(data_path("adobe/console-project.json"));
    apply_environment(c, fake_env({{env_client_secret, "from-env-secret"},
                                   {env_client_id, "env-client"},
                                   {env_scopes, "adobeio_api,openid"},
                                   {env_ingress_url, "http://127.0.0.1:7000/"},
                                   {env_provider_id, ""}}));
    CHECK(c.client_secret.reveal() == "from-env-secret");
    CHECK(c.client_id == "env-client");
    REQUIRE(c.scopes.size() == 2);
    CHECK(c.scopes[1] == "openid");
    CHECK(c.endpoints.ingress_url == "http://127.0.0.1:7000/");
    // An empty variable changes nothing.
    CHECK(c.provider_id == "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
}

TEST_CASE("secret only from environment") {
    Config c = parse_config_text(R"({"cebus_io_events": {"client_id": "x", "provider_id": "p"}})");
    CHECK_THROWS_AS(validate_config(c), ConfigError);
    apply_environment(c, fake_env({{env_client_secret, "s3cr3t"}}));
    CHECK_NOTHROW(validate_config(c));
}

TEST_CASE("invalid values name the field") {
    CHECK_THROWS_WITH(
        parse_config_text(R"({"cebus_io_events": {"endpoints": {"ingress_url": "ftp://x"}}})"),
        Catch::Contains("endpoints.ingress_url") && Catch::Contains("http"));
    CHECK_THROWS_WITH(parse_config_text(R"({"cebus_io_events": {"provider_id": 5}})"),
                      Catch::Contains("cebus_io_events.provider_id"));
    CHECK_THROWS_WITH(parse_config_text(R"({"cebus_io_events": {"event_codes": {"a": ""}}})"),
                      Catch::Contains("event_codes.a"));
    CHECK_THROWS_WITH(parse_config_text(R"({"cebus_io_events": {"request_timeout_ms": -1}})"),
                      Catch::Contains("request_timeout_ms"));
    CHECK_THROWS_AS(parse_config_text("{not json"), cebus::ParseError);
    CHECK_THROWS_WITH(load_config_file("/nonexistent/cebus.json"), Catch::Contains("cannot be opened"));
    Config c;
    CHECK_THROWS_AS(apply_environment(c, fake_env({{env_journal_url, "not a url"}})), ConfigError);
}

TEST_CASE("config errors never show secrets") {
    Config c = parse_config_text(R"({"cebus_io_events": {"client_secret": "hunter2-secret"}})");
    try {
        validate_config(c);
        FAIL("validate_config accepted a config without client id");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()).find("hunter2-secret") == std::string::npos);
    }
    CHECK_THROWS_WITH(parse_config_text(R"({"cebus_io_events": {"client_secret": 42}})"),
                      !Catch::Contains("42"));
}

TEST_CASE("validate requires provider") {
    Config c = load_config_file(data_path("adobe/console-project.json"));
    c.provider_id.clear();
    CHECK_THROWS_WITH(validate_config(c), Catch::Contains("provider_id"));
    CHECK_NOTHROW(validate_config(c, false));
}
