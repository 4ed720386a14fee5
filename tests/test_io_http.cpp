// Every documented status code and header of the I/O Events endpoints,
// against the emulator over real HTTP on loopback, through the bridge's
// libcurl client and IMS token source.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <cebus/io_events/emulator.hpp>
#include <cebus/io_events/http_client.hpp>
#include <cebus/io_events/token.hpp>

using namespace cebus::io_events;
using nlohmann::json;

namespace {

EmulatorOptions options(const std::function<void(EmulatorOptions&)>& set) {
    EmulatorOptions o;
    set(o);
    return o;
}

std::shared_ptr<HttpClient> make_client(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    HttpClientOptions o;
    o.request_timeout = timeout;
    o.connect_timeout = std::chrono::milliseconds(2000);
    return std::make_shared<HttpClient>(o);
}

HttpResponse post_token(HttpClient& client, const Emulator& emu, const std::string& body) {
    HttpRequest r;
    r.method = "POST";
    r.url = emu.ims_token_url();
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    r.body = body;
    return client.send(r);
}

std::string token_for(const Emulator& emu, HttpClient& client) {
    auto res = post_token(client, emu, "grant_type=client_credentials&client_id=emulator-client&client_secret=s&scope=adobeio_api");
    INFO("token request error: " << res.error);
    REQUIRE(res.status == 200);
    return json::parse(res.body)["access_token"].get<std::string>();
}

HttpResponse publish(HttpClient& client, const Emulator& emu, const std::string& token, const std::string& body,
                     const std::string& api_key = "emulator-client",
                     const std::string& content_type = "application/cloudevents+json") {
    HttpRequest r;
    r.method = "POST";
    r.url = emu.ingress_url();
    r.headers = {{"Content-Type", content_type}, {"x-api-key", api_key}};
    if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
    r.body = body;
    return client.send(r);
}

std::string event_body(const std::string& id, const std::string& type = "com.example.created") {
    return json{{"specversion", "1.0"}, {"id", id}, {"source", "urn:uuid:00000000-0000-4000-8000-000000000001"},
                {"type", type}, {"datacontenttype", "application/json"}, {"data", {{"n", 1}}}}
        .dump();
}

HttpResponse get(HttpClient& client, const std::string& url, const std::string& token) {
    HttpRequest r;
    r.url = url;
    r.headers = {{"x-api-key", "emulator-client"}, {"Authorization", "Bearer " + token}};
    return client.send(r);
}

}  // namespace

TEST_CASE("ims token 200 has documented fields") {
    Emulator emu(options([](EmulatorOptions& o) { o.client_id = "cid"; o.client_secret = "csecret"; o.token_expires_in = 86399; }));
    auto client = make_client();
    auto res = post_token(*client, emu, "grant_type=client_credentials&client_id=cid&client_secret=csecret&scope=adobeio_api");
    REQUIRE(res.status == 200);
    CHECK(res.header("Content-Type")->starts_with("application/json"));
    json body = json::parse(res.body);
    CHECK(body["token_type"] == "bearer");
    CHECK(body["expires_in"] == 86399);
    CHECK(body["access_token"].get<std::string>().size() > 10);
}

TEST_CASE("ims token errors are 400 and 401") {
    Emulator emu(options([](EmulatorOptions& o) { o.client_id = "cid"; o.client_secret = "csecret"; }));
    auto client = make_client();
    CHECK(post_token(*client, emu, "grant_type=client_credentials&client_id=cid").status == 400);
    auto grant = post_token(*client, emu, "grant_type=password&client_id=cid&client_secret=csecret");
    CHECK(grant.status == 400);
    CHECK(json::parse(grant.body)["error"] == "unsupported_grant_type");
    auto wrong = post_token(*client, emu, "grant_type=client_credentials&client_id=cid&client_secret=nope");
    CHECK(wrong.status == 401);
    CHECK(json::parse(wrong.body)["error"] == "invalid_client");
}

TEST_CASE("ingress 200 for a registered code") {
    Emulator emu(options([](EmulatorOptions& o) {
        o.registered_event_codes = {"com.example.created"};
        o.all_codes_registered = false;
    }));
    auto client = make_client();
    const std::string token = token_for(emu, *client);
    CHECK(publish(*client, emu, token, event_body("a1")).status == 200);
    CHECK(publish(*client, emu, token, event_body("a2", "com.example.nobody")).status == 204);
    CHECK(emu.journal_size() == 1);
    auto accepted = emu.accepted_events();
    CHECK(accepted.count("a1") == 1);
    CHECK(accepted.count("a2") == 1);
}

TEST_CASE("ingress rejects bad requests") {
    Emulator emu;
    auto client = make_client();
    const std::string token = token_for(emu, *client);
    CHECK(publish(*client, emu, token, "{not json").status == 400);
    CHECK(publish(*client, emu, token, R"({"specversion":"1.0","id":"x"})").status == 400);
    CHECK(publish(*client, emu, token, event_body("b1"), "emulator-client", "application/json").status == 400);
    auto no_token = publish(*client, emu, "", event_body("b2"));
    CHECK(no_token.status == 401);
    CHECK(no_token.header("WWW-Authenticate").has_value());
    CHECK(publish(*client, emu, "forged", event_body("b3")).status == 401);
    CHECK(publish(*client, emu, token, event_body("b4"), "").status == 403);
    CHECK(emu.accepted_events().empty());
}

TEST_CASE("ingress wrong api key is 403") {
    Emulator emu(options([](EmulatorOptions& o) { o.client_id = "right"; }));
    auto client = make_client();
    auto res = post_token(*client, emu, "grant_type=client_credentials&client_id=right&client_secret=x");
    const std::string token = json::parse(res.body)["access_token"];
    CHECK(publish(*client, emu, token, event_body("c1"), "wrong").status == 403);
    CHECK(publish(*client, emu, token, event_body("c2"), "right").status == 200);
}

TEST_CASE("ingress rate limit is 429 with Retry-After") {
    Emulator emu(options([](EmulatorOptions& o) {
        o.rate_limit_requests = 3;
        o.rate_limit_window = std::chrono::milliseconds(60'000);
        o.rate_limit_retry_after = "7";
    }));
    auto client = make_client();
    const std::string token = token_for(emu, *client);
    for (int i = 0; i < 3; ++i) CHECK(publish(*client, emu, token, event_body("r" + std::to_string(i))).status == 200);
    auto res = publish(*client, emu, token, event_body("r3"));
    CHECK(res.status == 429);
    REQUIRE(res.header("Retry-After").has_value());
    CHECK(*res.header("Retry-After") == "7");
}

TEST_CASE("injected faults reach the client") {
    Emulator emu;
    // Only the slow response needs the short timeout; the other requests get the
    // default, so a loaded machine (sanitizer runs) cannot time them out.
    auto client = make_client();
    auto impatient = make_client(std::chrono::milliseconds(300));
    const std::string token = token_for(emu, *client);

    emu.inject(EmulatorRoute::ingress, EmulatorFault::throttle("3"));
    auto throttled = publish(*client, emu, token, event_body("f1"));
    CHECK(throttled.status == 429);
    CHECK(throttled.header("Retry-After") == std::optional<std::string_view>("3"));

    emu.inject(EmulatorRoute::ingress, EmulatorFault::server_error(503));
    CHECK(publish(*client, emu, token, event_body("f2")).status == 503);

    emu.inject(EmulatorRoute::ingress, EmulatorFault::drop(false));
    auto dropped = publish(*client, emu, token, event_body("f3"));
    CHECK(dropped.network_error());
    CHECK_FALSE(dropped.error.empty());
    CHECK(emu.accepted_events().count("f3") == 0);

    emu.inject(EmulatorRoute::ingress, EmulatorFault::drop(true));
    CHECK(publish(*client, emu, token, event_body("f4")).network_error());
    CHECK(emu.accepted_events().count("f4") == 1);

    emu.inject(EmulatorRoute::ingress, EmulatorFault::slow(std::chrono::milliseconds(1000)));
    auto slow = publish(*impatient, emu, token, event_body("f5"));
    CHECK(slow.network_error());
    CHECK(slow.error.find("imed out") != std::string::npos);

    CHECK(publish(*client, emu, token, event_body("f6")).status == 200);
}

TEST_CASE("journal pages follow documented shape") {
    Emulator emu(options([](EmulatorOptions& o) { o.journal_retry_after = 10; }));
    auto client = make_client();
    const std::string token = token_for(emu, *client);
    for (int i = 0; i < 5; ++i) publish(*client, emu, token, event_body("j" + std::to_string(i)));

    auto first = get(*client, emu.journal_url() + "?limit=2", token);
    REQUIRE(first.status == 200);
    json page = json::parse(first.body);
    REQUIRE(page["events"].size() == 2);
    CHECK(page["_page"]["count"] == 2);
    CHECK(page["_page"]["last"] == page["events"][1]["position"]);
    CHECK(page["events"][0]["event"]["id"] == "j0");
    CHECK(page["events"][0]["event"].contains("eventid"));
    CHECK(page["events"][0]["event"].contains("recipientclientid"));
    auto link = first.header("Link");
    REQUIRE(link.has_value());
    CHECK(link->starts_with("</events/organizations/"));
    CHECK(link->find("limit=2") != std::string_view::npos);
    CHECK(link->ends_with("rel=\"next\""));

    // since is exclusive.
    const std::string since = page["_page"]["last"];
    auto second = get(*client, emu.journal_url() + "?since=" + since, token);
    REQUIRE(second.status == 200);
    CHECK(json::parse(second.body)["events"][0]["event"]["id"] == "j2");

    auto latest = get(*client, emu.journal_url() + "?latest=true", token);
    CHECK(latest.status == 204);
    CHECK(latest.header("retry-after") == std::optional<std::string_view>("10"));
    auto links = latest.header_values("Link");
    REQUIRE(links.size() == 2);
    CHECK(links[0].find("rel=\"next\"") != std::string_view::npos);
    CHECK(links[1].find("/validate?since=") != std::string_view::npos);
    CHECK(links[1].find("rel=\"validate\"") != std::string_view::npos);
}

TEST_CASE("journal expired position is 410") {
    Emulator emu;
    auto client = make_client();
    const std::string token = token_for(emu, *client);
    const std::string pos = emu.append_journal_event(json{{"id", "x"}});
    emu.append_journal_event(json{{"id", "y"}});
    emu.expire_journal();
    auto gone = get(*client, emu.journal_url() + "?since=emu:1", token);
    CHECK(gone.status == 410);
    CHECK(gone.body.find("have expired") != std::string::npos);
    CHECK(get(*client, emu.journal_url() + "/validate?since=emu:1", token).status == 400);
    CHECK(get(*client, emu.journal_url() + "?since=bogus", token).status == 400);
    CHECK(get(*client, emu.journal_url(), token).status == 204);  // oldest available: nothing left
    emu.append_journal_event(json{{"id", "z"}});
    CHECK(get(*client, emu.journal_url() + "/validate?since=emu:2", token).status == 200);
    CHECK(get(*client, emu.journal_url(), "forged").status == 401);
    (void)pos;
}

TEST_CASE("public keys are served as PEM") {
    Emulator emu;
    auto client = make_client();
    HttpRequest r;
    r.url = emu.public_key_base_url() + emu.public_key_path(1);
    auto res = client->send(r);
    REQUIRE(res.status == 200);
    CHECK(res.body.starts_with("-----BEGIN PUBLIC KEY-----"));
    CHECK(res.body == emu.public_key_pem(1));
    r.url = emu.public_key_base_url() + "/prod/keys/pub-key-unknown.pem";
    CHECK(client->send(r).status == 404);
}

TEST_CASE("client reuses keep-alive connections") {
    Emulator emu;
    auto client = make_client();
    const std::string token = token_for(emu, *client);
    for (int i = 0; i < 20; ++i) REQUIRE(publish(*client, emu, token, event_body("k" + std::to_string(i))).status == 200);
    CHECK(client->counters().new_connections == 1);
    CHECK(client->counters().requests == 21);
}

TEST_CASE("client refuses response over limit") {
    Emulator emu;
    HttpClientOptions o;
    o.max_response_bytes = 100;
    HttpClient client(o);
    HttpRequest r;
    r.url = emu.public_key_base_url() + emu.public_key_path(1);
    auto res = client.send(r);
    CHECK(res.network_error());
    CHECK(res.error.find("larger than 100") != std::string::npos);
}

TEST_CASE("ims token source caches one token") {
    Emulator emu;
    auto client = make_client();
    ImsTokenSource tokens(emu.client_config(), client);
    std::vector<std::thread> threads;
    std::atomic<int> distinct_errors{0};
    std::vector<std::string> seen(8);
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] {
            try {
                seen[i] = tokens.token().reveal();
            } catch (...) {
                ++distinct_errors;
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(distinct_errors == 0);
    CHECK(emu.stats().token_requests == 1);
    for (const auto& s : seen) CHECK(s == seen[0]);
    CHECK(tokens.token().reveal() == seen[0]);
    CHECK(emu.stats().token_requests == 1);
    // The form carries the documented parameters.
    const std::string body = emu.token_request_bodies().at(0);
    CHECK(body.find("grant_type=client_credentials") != std::string::npos);
    CHECK(body.find("scope=adobeio_api") != std::string::npos);
}

TEST_CASE("token refreshed after invalidate") {
    Emulator emu;
    ImsTokenSource tokens(emu.client_config(), make_client());
    const Secret first = tokens.token();
    tokens.invalidate(Secret("some-older-token"));
    CHECK(tokens.token() == first);
    tokens.invalidate(first);
    const Secret second = tokens.token();
    CHECK_FALSE(second == first);
    CHECK(emu.stats().tokens_issued == 2);
}

TEST_CASE("token refreshed before expiry") {
    CHECK(ImsTokenSource::refresh_margin(std::chrono::seconds(86399)) == std::chrono::seconds(300));
    CHECK(ImsTokenSource::refresh_margin(std::chrono::seconds(100)) == std::chrono::seconds(10));
    Emulator emu(options([](EmulatorOptions& o) { o.token_expires_in = 1; }));
    ImsTokenSource tokens(emu.client_config(), make_client());
    const Secret first = tokens.token();
    CHECK(tokens.token() == first);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    CHECK_FALSE(tokens.token() == first);
}

TEST_CASE("token errors name status not secret") {
    Emulator emu(options([](EmulatorOptions& o) { o.client_id = "cid"; o.client_secret = "right-secret"; }));
    Config c = emu.client_config();
    c.client_secret = Secret("wrong-secret-value-123");
    std::vector<std::string> logs;
    std::mutex m;
    ImsTokenSource tokens(c, make_client(), [&](LogLevel, std::string_view msg) {
        std::lock_guard lock(m);
        logs.emplace_back(msg);
    });
    try {
        tokens.token();
        FAIL("token() accepted a wrong secret");
    } catch (const TokenError& e) {
        CHECK(e.status() == 401);
        const std::string what = e.what();
        CHECK(what.find("HTTP 401") != std::string::npos);
        CHECK(what.find("invalid_client") != std::string::npos);
        CHECK(what.find("wrong-secret-value-123") == std::string::npos);
    }
    REQUIRE_FALSE(logs.empty());
    for (const auto& line : logs) CHECK(line.find("wrong-secret-value-123") == std::string::npos);
    emu.inject(EmulatorRoute::token, EmulatorFault::server_error(503));
    c.client_secret = Secret("right-secret");
    ImsTokenSource retry_tokens(c, make_client());
    CHECK_THROWS_AS(retry_tokens.token(), TokenError);
    CHECK_NOTHROW(retry_tokens.token());
}
