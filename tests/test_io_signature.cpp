// Webhook signature verification and the webhook receiver, against the
// emulator's keys over loopback and against real signed bodies from Adobe's
// SDK test suites.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <cebus/io_events/emulator.hpp>
#include <cebus/io_events/signature.hpp>
#include <cebus/io_events/webhook.hpp>
#include <cebus/journal.hpp>

using namespace cebus::io_events;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& relative) {
    const char* root = std::getenv("CEBUS_TEST_DATA");
    REQUIRE(root != nullptr);
    std::ifstream in(std::string(root) + "/" + relative, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

cebus::http::Headers read_headers(const std::string& relative) {
    cebus::http::Headers headers;
    std::istringstream in(read_file(relative));
    std::string line;
    while (std::getline(in, line)) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
    return headers;
}

std::shared_ptr<HttpClient> client() { return std::make_shared<HttpClient>(); }

SignatureVerifierOptions verifier_options(const Emulator& emu, const std::string& client_id = "me") {
    SignatureVerifierOptions o;
    o.client_id = client_id;
    o.public_key_base_url = emu.public_key_base_url();
    return o;
}

std::string single_body(const std::string& recipient = "me") {
    return json{{"specversion", "1.0"}, {"id", "e1"}, {"source", "urn:uuid:p"}, {"type", "t"},
                {"eventid", "adobe-1"}, {"recipientclientid", recipient}, {"data", {{"big", 12345678901234567890ull}}}}
        .dump();
}

cebus::http::Headers signed_headers(const Emulator& emu, const std::string& body) {
    return {{"x-adobe-digital-signature-1", emu.sign(body, 1)},
            {"x-adobe-digital-signature-2", emu.sign(body, 2)},
            {"x-adobe-public-key1-path", emu.public_key_path(1)},
            {"x-adobe-public-key2-path", emu.public_key_path(2)}};
}

DeliveryOptions signed_as(SignatureMode mode) {
    DeliveryOptions o;
    o.signature = mode;
    return o;
}

cebus::journal::Options journal_options(const fs::path& dir) {
    cebus::journal::Options o;
    o.directory = dir;
    return o;
}

void set_header(cebus::http::Headers& headers, const std::string& name, const std::string& value) {
    for (auto& [k, v] : headers) {
        if (k == name) v = value;
    }
}

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("cebus-io-sig-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(std::rand()));
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("valid single and batch pass") {
    Emulator emu;
    SignatureVerifier v(verifier_options(emu), client());
    const std::string body = single_body();
    CHECK(v.verify(signed_headers(emu, body), body).ok());

    const std::string batch = "[" + single_body() + "," + single_body() + "]";
    CHECK(v.verify(signed_headers(emu, batch), batch).ok());
    // Keys are cached: two fetches for two paths.
    CHECK(emu.stats().key_requests == 1);  // signature 1 verified, key 2 never needed
}

TEST_CASE("either signature suffices") {
    Emulator emu;
    SignatureVerifier v(verifier_options(emu), client());
    const std::string body = single_body();
    auto headers = signed_headers(emu, body);
    set_header(headers, "x-adobe-digital-signature-1", emu.sign("other bytes", 1));
    CHECK(v.verify(headers, body).ok());
}

TEST_CASE("changed byte is rejected") {
    Emulator emu;
    SignatureVerifier v(verifier_options(emu), client());
    const std::string body = single_body();
    auto headers = signed_headers(emu, body);
    std::string changed = body;
    changed[changed.find("12345")] = '9';
    auto r = v.verify(headers, changed);
    CHECK(r.status == VerifyStatus::bad_signature);
    // A re-serialised body is a changed body too (large numbers, spacing).
    CHECK(v.verify(headers, json::parse(body).dump(1)).status == VerifyStatus::bad_signature);
}

TEST_CASE("wrong key is rejected") {
    Emulator emu;
    SignatureVerifier v(verifier_options(emu), client());
    const std::string body = single_body();
    auto headers = signed_headers(emu, body);
    // Each signature checked against the other pair's public key.
    set_header(headers, "x-adobe-digital-signature-1", emu.sign(body, 2));
    set_header(headers, "x-adobe-digital-signature-2", emu.sign(body, 1));
    CHECK(v.verify(headers, body).status == VerifyStatus::bad_signature);
}

TEST_CASE("missing header is rejected") {
    Emulator emu;
    SignatureVerifier v(verifier_options(emu), client());
    const std::string body = single_body();
    for (const char* name : {"x-adobe-digital-signature-1", "x-adobe-digital-signature-2",
                             "x-adobe-public-key1-path", "x-adobe-public-key2-path"}) {
        auto headers = signed_headers(emu, body);
        std::erase_if(headers, [&](const auto& h) { return h.first == name; });
        auto r = v.verify(headers, body);
        CHECK(r.status == VerifyStatus::missing_header);
        CHECK(r.detail.find(name) != std::string::npos);
    }
}

TEST_CASE("key path on another host is rejected") {
    Emulator emu;
    SignatureVerifier v(verifier_options(emu), client());
    const std::string body = single_body();
    for (const std::string path : {"https://evil.example/prod/keys/k.pem", "//evil.example/k.pem",
                                   "/prod/../../k.pem", "@evil.example/k.pem", "/k.pem?x=https://evil",
                                   "\\\\evil\\k.pem", "/prod/keys/k .pem", "prod/keys/k.pem"}) {
        auto headers = signed_headers(emu, body);
        set_header(headers, "x-adobe-public-key1-path", path);
        auto r = v.verify(headers, body);
        CHECK(r.status == VerifyStatus::invalid_key_path);
    }
    CHECK(emu.stats().key_requests == 0);
}

TEST_CASE("expired cached key is rejected") {
    Emulator emu;
    auto now = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    auto options = verifier_options(emu);
    options.clock = [now] { return *now; };
    SignatureVerifier v(options, client());
    const std::string body = single_body();
    const auto old_headers = signed_headers(emu, body);
    REQUIRE(v.verify(old_headers, body).ok());

    // Keys rotate: the old paths answer 404. A cached key still verifies
    // within its TTL ...
    emu.rotate_keys();
    *now += std::chrono::hours(23);
    CHECK(v.verify(old_headers, body).ok());
    // ... and is never used after 24 h.
    *now += std::chrono::hours(2);
    auto r = v.verify(old_headers, body);
    CHECK(r.status == VerifyStatus::key_unavailable);
    CHECK(r.detail.find("HTTP 404") != std::string::npos);
    CHECK(v.verify(signed_headers(emu, body), body).ok());
}

TEST_CASE("wrong recipient is rejected") {
    Emulator emu;
    SignatureVerifier v(verifier_options(emu, "me"), client());
    const std::string other = single_body("someone-else");
    CHECK(v.verify(signed_headers(emu, other), other).status == VerifyStatus::wrong_recipient);

    const std::string batch = "[" + single_body() + "," + single_body("someone-else") + "]";
    CHECK(v.verify(signed_headers(emu, batch), batch).status == VerifyStatus::wrong_recipient);

    const std::string none = R"({"specversion":"1.0","id":"x","source":"s","type":"t"})";
    CHECK(v.verify(signed_headers(emu, none), none).status == VerifyStatus::wrong_recipient);

    const std::string legacy = R"({"event_id":"x","event":{},"recipient_client_id":"me"})";
    CHECK(v.verify(signed_headers(emu, legacy), legacy).ok());

    CHECK(v.verify(signed_headers(emu, "[]"), "[]").status == VerifyStatus::invalid_body);
    CHECK(v.verify(signed_headers(emu, "nope"), "nope").status == VerifyStatus::invalid_body);
}

TEST_CASE("recorded adobe bodies verify") {
    Emulator emu;  // only to have a loopback key host; no key is fetched
    auto o = verifier_options(emu, "client_id1");

    SECTION("aio-lib-java single") {
        SignatureVerifier v(o, client());
        v.add_key("/junit/pub-key-1.pem", read_file("adobe/webhook/aio-lib-java.pub-key-1.pem"));
        v.add_key("/junit/pub-key-2.pem", read_file("adobe/webhook/aio-lib-java.pub-key-2.pem"));
        const std::string body = read_file("adobe/webhook/aio-lib-java.single.body.json");
        const auto headers = read_headers("adobe/webhook/aio-lib-java.single.headers.txt");
        CHECK(v.verify(headers, body).ok());
        CHECK(v.verify(headers, body + "\n").status == VerifyStatus::bad_signature);
        // Each signature alone.
        auto only2 = headers;
        set_header(only2, "x-adobe-digital-signature-1", "AAAA");
        CHECK(v.verify(only2, body).ok());
    }
    SECTION("aio-lib-java batch") {
        SignatureVerifier v(o, client());
        v.add_key("/junit/pub-key-1.pem", read_file("adobe/webhook/aio-lib-java.batch.pub-key-1.pem"));
        v.add_key("/junit/pub-key-2.pem", read_file("adobe/webhook/aio-lib-java.batch.pub-key-2.pem"));
        const std::string body = read_file("adobe/webhook/aio-lib-java.batch.body.json");
        CHECK(v.verify(read_headers("adobe/webhook/aio-lib-java.batch.headers.txt"), body).ok());
        // The single body's signatures do not fit these keys.
        CHECK(v.verify(read_headers("adobe/webhook/aio-lib-java.single.headers.txt"),
                       read_file("adobe/webhook/aio-lib-java.single.body.json"))
                  .status == VerifyStatus::bad_signature);
    }
    SECTION("aio-lib-events with right and wrong key") {
        auto headers = read_headers("adobe/webhook/aio-lib-events.headers.txt");
        headers.emplace_back("x-adobe-public-key1-path", "/k1.pem");
        headers.emplace_back("x-adobe-public-key2-path", "/k2.pem");
        const std::string body = read_file("adobe/webhook/aio-lib-events.body.json");

        SignatureVerifier good(o, client());
        good.add_key("/k1.pem", read_file("adobe/webhook/aio-lib-events.pub-key.pem"));
        good.add_key("/k2.pem", read_file("adobe/webhook/aio-lib-events.pub-key.pem"));
        CHECK(good.verify(headers, body).ok());

        SignatureVerifier bad(o, client());
        bad.add_key("/k1.pem", read_file("adobe/webhook/aio-lib-events.wrong-pub-key.pem"));
        bad.add_key("/k2.pem", read_file("adobe/webhook/aio-lib-java.another-pub-key.pem"));
        CHECK(bad.verify(headers, body).status == VerifyStatus::bad_signature);

        SignatureVerifier other_client(verifier_options(emu, "client_id2"), client());
        other_client.add_key("/k1.pem", read_file("adobe/webhook/aio-lib-events.pub-key.pem"));
        CHECK(other_client.verify(headers, body).status == VerifyStatus::wrong_recipient);
    }
}

TEST_CASE("webhook answers both challenge forms") {
    Emulator emu;
    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    Config config = emu.client_config();
    WebhookReceiver receiver(journal, config, client());
    std::string body;
    REQUIRE(emu.challenge(receiver.url(), &body));
    CHECK(json::parse(body).contains("challenge"));

    HttpClient http;
    HttpRequest r;
    r.method = "POST";
    r.url = receiver.url();
    r.headers = {{"Content-Type", "application/json"}};
    r.body = R"({"challenge":"abc-123"})";
    auto res = http.send(r);
    CHECK(res.status == 200);
    CHECK(json::parse(res.body)["challenge"] == "abc-123");

    WebhookReceiverOptions text;
    text.challenge_as_json = false;
    WebhookReceiver plain(journal, config, client(), text);
    std::string plain_body;
    REQUIRE(emu.challenge(plain.url(), &plain_body));
    CHECK(plain_body.find('{') == std::string::npos);
    CHECK(receiver.counters().challenges == 2);
}

TEST_CASE("servers reject a port in use") {
    Emulator emu;
    EmulatorOptions taken;
    taken.port = emu.port();
    CHECK_THROWS_WITH(Emulator(taken), Catch::Contains("cannot bind"));

    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    WebhookReceiver receiver(journal, emu.client_config(), client());
    WebhookReceiverOptions same_port;
    same_port.port = receiver.port();
    CHECK_THROWS_WITH(WebhookReceiver(journal, emu.client_config(), client(), same_port),
                      Catch::Contains("cannot bind"));
    WebhookReceiverOptions emulator_port;
    emulator_port.port = emu.port();
    CHECK_THROWS_WITH(WebhookReceiver(journal, emu.client_config(), client(), emulator_port),
                      Catch::Contains("cannot bind"));
}

TEST_CASE("webhook stores verified deliveries") {
    Emulator emu;
    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    Config config = emu.client_config();
    WebhookReceiver receiver(journal, config, client());

    json event = {{"specversion", "1.0"}, {"id", "w1"}, {"source", "urn:uuid:" + config.provider_id},
                  {"type", "com.example.created"}, {"datacontenttype", "application/json"}, {"data", {{"a", 1}}}};
    const std::string single = Emulator::delivery_event(event, config.client_id).dump();
    auto delivered = emu.deliver(receiver.url(), single);
    CHECK(delivered.status == 200);
    REQUIRE(journal.last_sequence() == 1);
    auto stored = journal.read(1).event;
    CHECK(stored->id() == "w1");
    CHECK(stored->extension("recipientclientid") != nullptr);
    CHECK(stored->extension("eventid") != nullptr);

    // Redelivery of the same event is stored once.
    CHECK(emu.deliver(receiver.url(), single).status == 200);
    CHECK(journal.last_sequence() == 1);
    CHECK(receiver.counters().duplicates == 1);

    json e2 = event, e3 = event;
    e2["id"] = "w2";
    e3["id"] = "w3";
    const std::string batch =
        json::array({Emulator::delivery_event(e2, config.client_id), Emulator::delivery_event(e3, config.client_id)})
            .dump();
    CHECK(emu.deliver(receiver.url(), batch).status == 200);
    CHECK(journal.last_sequence() == 3);

    // Older formats are wrapped, not lost.
    const std::string marketo = read_file("adobe/webhook/marketo-lead-activity.batch.json");
    json m = json::parse(marketo);
    for (auto& item : m) item["recipientclientid"] = config.client_id;
    CHECK(emu.deliver(receiver.url(), m.dump()).status == 200);
    CHECK(journal.last_sequence() == 5);
}

TEST_CASE("webhook rejects forged deliveries") {
    Emulator emu;
    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    Config config = emu.client_config();
    WebhookReceiverOptions o;
    o.max_body_bytes = 4096;
    WebhookReceiver receiver(journal, config, client(), o);
    const json event = {{"specversion", "1.0"}, {"id", "x1"}, {"source", "urn:uuid:p"}, {"type", "t"}};
    const std::string body = Emulator::delivery_event(event, config.client_id).dump();

    // A key host that fails asks Adobe to retry.
    emu.inject(EmulatorRoute::public_key, EmulatorFault::server_error(500), 2);
    CHECK(emu.deliver(receiver.url(), body).status == 503);

    CHECK(emu.deliver(receiver.url(), body, signed_as(SignatureMode::wrong_key)).status == 401);
    CHECK(emu.deliver(receiver.url(), body, signed_as(SignatureMode::corrupt)).status == 401);
    CHECK(emu.deliver(receiver.url(), body, signed_as(SignatureMode::missing)).status == 401);
    DeliveryOptions elsewhere;
    elsewhere.key1_path = "https://evil.example/key.pem";
    CHECK(emu.deliver(receiver.url(), body, elsewhere).status == 401);
    const std::string misaddressed = Emulator::delivery_event(event, "another-client").dump();
    CHECK(emu.deliver(receiver.url(), misaddressed).status == 401);
    CHECK(emu.deliver(receiver.url(), "{broken").status == 400);
    CHECK(emu.deliver(receiver.url(), std::string(5000, ' ')).status == 413);
    CHECK(journal.last_sequence() == 0);

    CHECK(emu.deliver(receiver.url(), body, signed_as(SignatureMode::second_only)).status == 200);
    CHECK(journal.last_sequence() == 1);
}
