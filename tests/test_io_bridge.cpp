// The publisher and the journal consumer against the emulator, with a real
// LMDB journal in a temporary folder.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include <cebus/json.hpp>
#include <cebus/io_events/emulator.hpp>
#include <cebus/io_events/journal_consumer.hpp>
#include <cebus/io_events/publisher.hpp>
#include <cebus/journal.hpp>

using namespace cebus::io_events;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() /
               ("cebus-io-bridge-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
};

// Captures every log line so tests can grep them for secrets.
struct LogCapture {
    std::mutex mutex;
    std::vector<std::string> lines;
    LogCallback callback() {
        return [this](LogLevel, std::string_view message) {
            std::lock_guard lock(mutex);
            lines.emplace_back(message);
        };
    }
    bool contains(const std::string& needle) {
        std::lock_guard lock(mutex);
        for (const auto& l : lines) {
            if (l.find(needle) != std::string::npos) return true;
        }
        return false;
    }
};

cebus::journal::Options journal_options(const fs::path& dir) {
    cebus::journal::Options o;
    o.directory = dir;
    return o;
}

cebus::EventPtr local_event(const std::string& id, const std::string& type = "com.example.order.created") {
    return cebus::EventBuilder()
        .id(id)
        .source("/shop/orders")
        .type(type)
        .data_json(json{{"order", id}})
        .build();
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::milliseconds(20000)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
}

PublisherOptions fast_publisher(LogCallback log = {}) {
    PublisherOptions o;
    o.initial_backoff = std::chrono::milliseconds(20);
    o.max_backoff = std::chrono::milliseconds(200);
    o.log = std::move(log);
    return o;
}

// The setup every test here starts from: an emulator, a Config for it
// (`adjust` may change it first), an HTTP client and IMS token source for
// that Config, and a journal in a temporary folder.
struct Bridge {
    Emulator emu;
    TempDir dir;
    Config config;
    std::shared_ptr<HttpClient> client;
    std::shared_ptr<ImsTokenSource> tokens;
    std::optional<cebus::journal::Journal> journal;

    explicit Bridge(EmulatorOptions options = {}, const std::function<void(Config&)>& adjust = {},
                    const LogCallback& log = {})
        : emu(std::move(options)), config(emu.client_config()) {
        if (adjust) adjust(config);
        client = std::make_shared<HttpClient>(HttpClientOptions::from_config(config, log));
        tokens = std::make_shared<ImsTokenSource>(config, client, log);
        journal.emplace(journal_options(dir.path));
    }

    Publisher publisher(PublisherOptions options = fast_publisher()) {
        return Publisher(*journal, config, tokens, client, std::move(options));
    }
    JournalConsumer consumer(JournalConsumerOptions options = {}) {
        return JournalConsumer(*journal, config, tokens, client, std::move(options));
    }
};

}  // namespace

TEST_CASE("publisher forwards mapped events") {
    EmulatorOptions eo;
    eo.provider_id = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
    Bridge b(eo, [](Config& c) { c.event_codes["com.example.order.created"] = "com.example.order_created"; });

    for (int i = 0; i < 40; ++i) b.journal->append_sync(local_event("o" + std::to_string(i)));
    Publisher publisher = b.publisher();
    REQUIRE(wait_for([&] { return b.emu.accepted_events().size() == 40; }));
    CHECK(publisher.counters().published == 40);

    const auto records = b.emu.ingress_records();
    REQUIRE_FALSE(records.empty());
    const IngressRecord& r = records.front();
    CHECK(r.status == 200);
    CHECK(r.headers.at("content-type") == "application/cloudevents+json");
    CHECK(r.headers.at("x-api-key") == b.config.client_id);
    CHECK(r.headers.at("authorization").starts_with("Bearer emu-"));
    json body = json::parse(r.body);
    CHECK(body["source"] == "urn:uuid:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
    CHECK(body["type"] == "com.example.order_created");
    CHECK(body["cebussource"] == "/shop/orders");
    CHECK(body["cebustype"] == "com.example.order.created");
    CHECK(body["datacontenttype"] == "application/json");
    CHECK(body["data"]["order"].is_string());
    CHECK(b.emu.stats().tokens_issued == 1);
}

TEST_CASE("ingress body keeps attributes") {
    Config config;
    config.provider_id = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
    auto event = cebus::EventBuilder()
                     .id("q\"1\\")
                     .source("/shop/\u00e9t\u00e9")
                     .type("com.example.order.created")
                     .subject("\"quoted\" and \\ escaped")
                     .time("2026-12-04T10:00:00.5Z")
                     .dataschema("https://example.com/order.json")
                     .extension("flag", true)
                     .extension("count", std::int64_t{-7})
                     .extension("blob", cebus::Binary{std::string("\x00\xff", 2)})
                     .extension("cebustype", "overwritten")
                     .data(R"({"a": [1, 2.5, "x"]})")
                     .build();
    const std::string text = Publisher::ingress_body(*event, config, "com.example.order_created");
    // The body is a valid CloudEvent that carries everything but source and
    // type unchanged, and those two in the cebus extensions.
    const auto decoded = cebus::json::decode(text);
    CHECK(decoded->id() == "q\"1\\");
    CHECK(decoded->source() == "urn:uuid:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
    CHECK(decoded->type() == "com.example.order_created");
    CHECK(decoded->subject() == "\"quoted\" and \\ escaped");
    CHECK(decoded->time()->text() == "2026-12-04T10:00:00.5Z");
    CHECK(decoded->dataschema() == "https://example.com/order.json");
    CHECK(decoded->datacontenttype() == "application/json");
    CHECK(decoded->attribute_text("cebussource") == "/shop/\u00e9t\u00e9");
    CHECK(decoded->attribute_text("cebustype") == "com.example.order.created");
    CHECK(json::parse(text)["flag"] == true);
    CHECK(json::parse(text)["count"] == -7);
    CHECK(json::parse(text)["blob"] == "AP8=");
    CHECK(json::parse(decoded->data()) == json::parse(R"({"a": [1, 2.5, "x"]})"));

    auto xml = cebus::EventBuilder().id("x").source("/s").type("t").datacontenttype("text/xml").data("<a/>").build();
    CHECK_THROWS_AS(Publisher::ingress_body(*xml, config, "t"), cebus::ValidationError);
}

TEST_CASE("publisher counts 204 as no registration") {
    EmulatorOptions eo;
    eo.all_codes_registered = false;
    Bridge b(eo);
    Publisher publisher = b.publisher();
    b.journal->append_sync(local_event("n1"));
    REQUIRE(wait_for([&] { return publisher.counters().no_registration == 1; }));
    CHECK(publisher.counters().published == 0);
}

TEST_CASE("publisher partitions send each event once") {
    Bridge b;
    for (int i = 0; i < 60; ++i) b.journal->append_sync(local_event("p" + std::to_string(i)));
    PublisherOptions po = fast_publisher();
    po.in_flight = 7;
    Publisher publisher = b.publisher(po);
    REQUIRE(wait_for([&] { return publisher.counters().published == 60; }));
    REQUIRE(wait_for([&] {
        for (const auto& c : b.journal->cursors()) {
            if (c.name.starts_with("io-events-publisher/") && c.lag != 0) return false;
        }
        return true;
    }));
    const auto stats = b.emu.stats();
    CHECK(stats.ingress_distinct_ids == 60);
    CHECK(stats.ingress_duplicates == 0);
    CHECK(publisher.counters().published == 60);
}

TEST_CASE("publisher retries 429 5xx and drops") {
    Bridge b({}, [](Config& c) { c.request_timeout = std::chrono::milliseconds(500); });
    b.emu.inject(EmulatorRoute::ingress, EmulatorFault::throttle("1"));
    b.emu.inject(EmulatorRoute::ingress, EmulatorFault::server_error(503));
    b.emu.inject(EmulatorRoute::ingress, EmulatorFault::drop(true));
    b.emu.inject(EmulatorRoute::ingress, EmulatorFault::drop(false));
    b.emu.inject(EmulatorRoute::ingress, EmulatorFault::slow(std::chrono::milliseconds(800)));

    PublisherOptions po = fast_publisher();
    po.in_flight = 1;
    Publisher publisher = b.publisher(po);
    const auto start = std::chrono::steady_clock::now();
    b.journal->append_sync(local_event("r1"));
    REQUIRE(wait_for([&] { return publisher.counters().published == 1; }));
    // Retry-After: 1 was honoured.
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(1000));
    const auto c = publisher.counters();
    CHECK(c.throttled == 1);
    CHECK(c.server_errors == 1);
    CHECK(c.network_errors == 3);
    CHECK(c.dead_lettered == 0);
    // The drop after accepting makes a duplicate with the same id and body.
    const auto accepted = b.emu.accepted_events();
    REQUIRE(accepted.count("r1") == 1);
    CHECK(accepted.at("r1").size() == 2);
    CHECK(accepted.at("r1")[0] == accepted.at("r1")[1]);
}

TEST_CASE("publisher refreshes token after 401") {
    Bridge b;
    PublisherOptions po = fast_publisher();
    po.in_flight = 1;
    Publisher publisher = b.publisher(po);
    b.journal->append_sync(local_event("t1"));
    REQUIRE(wait_for([&] { return publisher.counters().published == 1; }));
    b.emu.revoke_tokens();
    b.journal->append_sync(local_event("t2"));
    REQUIRE(wait_for([&] { return publisher.counters().published == 2; }));
    CHECK(publisher.counters().unauthorized == 1);
    CHECK(publisher.counters().retries == 0);
    CHECK(b.emu.stats().tokens_issued == 2);
}

TEST_CASE("publisher dead-letters other 4xx") {
    EmulatorOptions eo;
    eo.provider_id = "11111111-2222-4333-8444-555555555555";
    // Not the emulator's provider.
    Bridge b(eo, [](Config& c) { c.provider_id = "99999999-2222-4333-8444-555555555555"; });
    PublisherOptions po = fast_publisher();
    po.in_flight = 1;
    Publisher publisher = b.publisher(po);
    b.journal->append_sync(local_event("d1"));
    REQUIRE(wait_for([&] { return publisher.counters().dead_lettered == 1; }));
    REQUIRE(wait_for([&] { return b.journal->dead_letters("io-events-publisher/0").size() == 1; }));
    auto letters = b.journal->dead_letters("io-events-publisher/0");
    CHECK(letters[0].reason.starts_with("HTTP 400: "));
    CHECK(letters[0].reason.find("urn:uuid") != std::string::npos);
    CHECK(letters[0].event->id() == "d1");
}

TEST_CASE("publisher stays under rate limit") {
    EmulatorOptions eo;
    eo.rate_limit_requests = 20;
    eo.rate_limit_window = std::chrono::milliseconds(1000);
    Bridge b(eo);
    PublisherOptions po = fast_publisher();
    // Below the emulator's 20 by more than the requests in flight, because a
    // request may reach the server up to in_flight sends later than sent.
    po.rate_limit_requests = 15;
    po.rate_limit_window = std::chrono::milliseconds(1000);
    po.in_flight = 4;
    for (int i = 0; i < 45; ++i) b.journal->append_sync(local_event("l" + std::to_string(i)));
    const auto start = std::chrono::steady_clock::now();
    Publisher publisher = b.publisher(po);
    REQUIRE(wait_for([&] { return publisher.counters().published == 45; }));
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(2000));
    CHECK(publisher.counters().throttled == 0);
}

TEST_CASE("no secret or token in logs") {
    LogCapture logs;
    Bridge b({},
             [](Config& c) {
                 c.client_secret = Secret("p8e-very-secret-value-42");
                 c.request_timeout = std::chrono::milliseconds(400);
             },
             logs.callback());
    b.emu.inject(EmulatorRoute::token, EmulatorFault::server_error(500));
    b.emu.inject(EmulatorRoute::ingress, EmulatorFault::throttle("0"));
    b.emu.inject(EmulatorRoute::ingress, EmulatorFault::server_error(502));
    b.emu.inject(EmulatorRoute::ingress, EmulatorFault::drop(false));
    PublisherOptions po = fast_publisher(logs.callback());
    po.in_flight = 1;
    {
        Publisher publisher = b.publisher(po);
        b.journal->append_sync(local_event("s1"));
        REQUIRE(wait_for([&] { return publisher.counters().published == 1; }));
        b.emu.revoke_tokens();
        b.journal->append_sync(local_event("s2"));
        REQUIRE(wait_for([&] { return publisher.counters().published == 2; }));
        const auto c = publisher.counters();
        CHECK(c.token_failures == 1);
        CHECK(c.unauthorized == 1);
    }
    JournalConsumerOptions co;
    co.log = logs.callback();
    JournalConsumer consumer = b.consumer(co);
    b.emu.revoke_tokens();
    consumer.poll();

    REQUIRE(logs.lines.size() >= 4);
    CHECK_FALSE(logs.contains("p8e-very-secret-value-42"));
    for (const auto& token : b.emu.issued_tokens()) {
        CHECK_FALSE(logs.contains(token));
        CHECK_FALSE(logs.contains(token.substr(4)));
    }
    // Error messages of failed token requests carry neither.
    b.emu.inject(EmulatorRoute::token, EmulatorFault::server_error(500));
    b.tokens->invalidate(b.tokens->token());
    try {
        b.tokens->token();
        FAIL("token() ignored an injected 500");
    } catch (const TokenError& e) {
        CHECK(std::string(e.what()).find("p8e-very-secret-value-42") == std::string::npos);
    }
}

TEST_CASE("consumer stores pages with position") {
    Bridge b;
    for (int i = 0; i < 7; ++i) {
        json e = {{"specversion", "1.0"}, {"id", "c" + std::to_string(i)}, {"source", "urn:uuid:p"},
                  {"type", "com.example.x"}, {"datacontenttype", "application/json"}, {"data", {{"i", i}}}};
        b.emu.append_journal_event(Emulator::delivery_event(e, b.config.client_id));
    }
    // An older format entry is wrapped.
    b.emu.append_journal_event(json{{"event_id", "legacy-1"}, {"event", {{"hello", "world"}}}});

    JournalConsumerOptions co;
    co.limit = 3;
    {
        JournalConsumer consumer = b.consumer(co);
        auto first = consumer.poll();
        CHECK(first.status == 200);
        CHECK(first.events == 3);
        CHECK(b.journal->last_sequence() == 3);
        CHECK(consumer.next_url().find("since=emu:3") != std::string::npos);
        CHECK(consumer.next_url().find("limit=3") != std::string::npos);
    }
    // A restart continues from the stored position.
    b.journal.reset();
    b.journal.emplace(journal_options(b.dir.path));
    JournalConsumer consumer = b.consumer(co);
    CHECK(consumer.next_url().find("since=emu:3") != std::string::npos);
    CHECK(consumer.poll().events == 3);
    CHECK(consumer.poll().events == 2);
    CHECK(b.journal->last_sequence() == 8);
    CHECK(b.journal->read(1).event->id() == "c0");
    CHECK(b.journal->read(1).event->extension("eventid") != nullptr);
    auto wrapped = b.journal->read(8).event;
    CHECK(wrapped->id() == "legacy-1");
    CHECK(wrapped->type() == "com.adobe.io.events.entry");

    EmulatorOptions unused;
    auto end = consumer.poll();
    CHECK(end.status == 204);
    CHECK(end.wait == std::chrono::seconds(unused.journal_retry_after));
    // Counters are per instance: this one read two of the three pages.
    CHECK(consumer.counters().pages == 2);
    CHECK(consumer.counters().events_stored == 5);
}

TEST_CASE("consumer drops duplicate events") {
    Bridge b;
    json e = {{"specversion", "1.0"}, {"id", "dup"}, {"source", "urn:uuid:p"}, {"type", "t"}, {"eventid", "A1"}};
    b.emu.append_journal_event(e);
    b.emu.append_journal_event(e);  // same Adobe event id in one page
    json again = e;
    again["eventid"] = "A2";        // same source and id, another page
    JournalConsumer consumer = b.consumer();
    CHECK(consumer.poll().events == 1);
    b.emu.append_journal_event(again);
    consumer.poll();
    CHECK(b.journal->last_sequence() == 1);
    CHECK(consumer.counters().duplicates == 2);
}

TEST_CASE("consumer resets after expired position") {
    Bridge b;
    auto plain = [](const std::string& id) { return json{{"specversion", "1.0"}, {"id", id}, {"source", "s"}, {"type", "t"}}; };
    for (int i = 0; i < 4; ++i) b.emu.append_journal_event(plain("g" + std::to_string(i)));

    std::vector<JournalGap> gaps;
    JournalConsumerOptions co;
    co.limit = 2;
    co.on_expired = JournalConsumerOptions::Reset::latest;
    co.on_gap = [&](const JournalGap& g) { gaps.push_back(g); };
    JournalConsumer consumer = b.consumer(co);
    CHECK(consumer.poll().events == 2);
    b.emu.expire_journal();
    b.emu.append_journal_event(plain("g4"));
    CHECK(consumer.poll().status == 410);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].status == 410);
    CHECK(gaps[0].reset_url.find("latest=true") != std::string::npos);
    CHECK(consumer.counters().gaps == 1);
    CHECK(consumer.poll().status == 204);  // latest: nothing after the end
    b.emu.append_journal_event(plain("g5"));
    CHECK(consumer.poll().events == 1);
    CHECK(b.journal->read(b.journal->last_sequence()).event->id() == "g5");
}

TEST_CASE("consumer backs off on server errors") {
    Bridge b;
    JournalConsumer consumer = b.consumer();
    b.emu.inject(EmulatorRoute::journal, EmulatorFault::throttle("2"));
    auto r = consumer.poll();
    CHECK(r.status == 429);
    CHECK(r.wait >= std::chrono::milliseconds(2000));
    b.emu.inject(EmulatorRoute::journal, EmulatorFault::server_error(500));
    CHECK(consumer.poll().wait > std::chrono::milliseconds(0));
    CHECK(consumer.counters().errors == 2);
    b.emu.append_journal_event(json{{"specversion", "1.0"}, {"id", "b1"}, {"source", "s"}, {"type", "t"}});
    CHECK(consumer.poll().events == 1);
}
