// The publisher and the journal consumer against the emulator, with a real
// LMDB journal in a temporary folder.
#include <catch2/catch.hpp>

#include <filesystem>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

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

}  // namespace

TEST_CASE("publisher forwards mapped events") {
    EmulatorOptions eo;
    eo.provider_id = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
    Emulator emu(eo);
    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    Config config = emu.client_config();
    config.event_codes["com.example.order.created"] = "com.example.order_created";
    auto client = std::make_shared<HttpClient>(HttpClientOptions::from_config(config));
    auto tokens = std::make_shared<ImsTokenSource>(config, client);

    for (int i = 0; i < 40; ++i) journal.append_sync(local_event("o" + std::to_string(i)));
    Publisher publisher(journal, config, tokens, client, fast_publisher());
    REQUIRE(wait_for([&] { return emu.accepted_events().size() == 40; }));
    CHECK(publisher.counters().published == 40);

    const auto records = emu.ingress_records();
    REQUIRE_FALSE(records.empty());
    const IngressRecord& r = records.front();
    CHECK(r.status == 200);
    CHECK(r.headers.at("content-type") == "application/cloudevents+json");
    CHECK(r.headers.at("x-api-key") == config.client_id);
    CHECK(r.headers.at("authorization").starts_with("Bearer emu-"));
    json body = json::parse(r.body);
    CHECK(body["source"] == "urn:uuid:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
    CHECK(body["type"] == "com.example.order_created");
    CHECK(body["cebussource"] == "/shop/orders");
    CHECK(body["cebustype"] == "com.example.order.created");
    CHECK(body["datacontenttype"] == "application/json");
    CHECK(body["data"]["order"].is_string());
    CHECK(emu.stats().tokens_issued == 1);
}

TEST_CASE("publisher counts 204 as no registration") {
    EmulatorOptions eo;
    eo.all_codes_registered = false;
    Emulator emu(eo);
    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    Config config = emu.client_config();
    auto client = std::make_shared<HttpClient>();
    Publisher publisher(journal, config, std::make_shared<ImsTokenSource>(config, client), client, fast_publisher());
    journal.append_sync(local_event("n1"));
    REQUIRE(wait_for([&] { return publisher.counters().no_registration == 1; }));
    CHECK(publisher.counters().published == 0);
}

TEST_CASE("publisher retries 429 5xx and drops") {
    Emulator emu;
    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    Config config = emu.client_config();
    config.request_timeout = std::chrono::milliseconds(500);
    auto client = std::make_shared<HttpClient>(HttpClientOptions::from_config(config));
    emu.inject(EmulatorRoute::ingress, EmulatorFault::throttle("1"));
    emu.inject(EmulatorRoute::ingress, EmulatorFault::server_error(503));
    emu.inject(EmulatorRoute::ingress, EmulatorFault::drop(true));
    emu.inject(EmulatorRoute::ingress, EmulatorFault::drop(false));
    emu.inject(EmulatorRoute::ingress, EmulatorFault::slow(std::chrono::milliseconds(800)));

    PublisherOptions po = fast_publisher();
    po.in_flight = 1;
    Publisher publisher(journal, config, std::make_shared<ImsTokenSource>(config, client), client, po);
    const auto start = std::chrono::steady_clock::now();
    journal.append_sync(local_event("r1"));
    REQUIRE(wait_for([&] { return publisher.counters().published == 1; }));
    // Retry-After: 1 was honoured.
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(1000));
    const auto c = publisher.counters();
    CHECK(c.throttled == 1);
    CHECK(c.server_errors == 1);
    CHECK(c.network_errors == 3);
    CHECK(c.dead_lettered == 0);
    // The drop after accepting makes a duplicate with the same id and body.
    const auto accepted = emu.accepted_events();
    REQUIRE(accepted.count("r1") == 1);
    CHECK(accepted.at("r1").size() == 2);
    CHECK(accepted.at("r1")[0] == accepted.at("r1")[1]);
}

TEST_CASE("publisher refreshes token after 401") {
    Emulator emu;
    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    Config config = emu.client_config();
    auto client = std::make_shared<HttpClient>();
    auto tokens = std::make_shared<ImsTokenSource>(config, client);
    PublisherOptions po = fast_publisher();
    po.in_flight = 1;
    Publisher publisher(journal, config, tokens, client, po);
    journal.append_sync(local_event("t1"));
    REQUIRE(wait_for([&] { return publisher.counters().published == 1; }));
    emu.revoke_tokens();
    journal.append_sync(local_event("t2"));
    REQUIRE(wait_for([&] { return publisher.counters().published == 2; }));
    CHECK(publisher.counters().unauthorized == 1);
    CHECK(publisher.counters().retries == 0);
    CHECK(emu.stats().tokens_issued == 2);
}

TEST_CASE("publisher dead-letters other 4xx") {
    EmulatorOptions eo;
    eo.provider_id = "11111111-2222-4333-8444-555555555555";
    Emulator emu(eo);
    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    Config config = emu.client_config();
    config.provider_id = "99999999-2222-4333-8444-555555555555";  // not the emulator's
    auto client = std::make_shared<HttpClient>();
    PublisherOptions po = fast_publisher();
    po.in_flight = 1;
    Publisher publisher(journal, config, std::make_shared<ImsTokenSource>(config, client), client, po);
    journal.append_sync(local_event("d1"));
    REQUIRE(wait_for([&] { return publisher.counters().dead_lettered == 1; }));
    REQUIRE(wait_for([&] { return journal.dead_letters("io-events-publisher/0").size() == 1; }));
    auto letters = journal.dead_letters("io-events-publisher/0");
    CHECK(letters[0].reason.starts_with("HTTP 400: "));
    CHECK(letters[0].reason.find("urn:uuid") != std::string::npos);
    CHECK(letters[0].event->id() == "d1");
}

TEST_CASE("publisher stays under rate limit") {
    EmulatorOptions eo;
    eo.rate_limit_requests = 20;
    eo.rate_limit_window = std::chrono::milliseconds(1000);
    Emulator emu(eo);
    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    Config config = emu.client_config();
    auto client = std::make_shared<HttpClient>();
    PublisherOptions po = fast_publisher();
    // Below the emulator's 20 by more than the requests in flight, because a
    // request may reach the server up to in_flight sends later than sent.
    po.rate_limit_requests = 15;
    po.rate_limit_window = std::chrono::milliseconds(1000);
    po.in_flight = 4;
    for (int i = 0; i < 45; ++i) journal.append_sync(local_event("l" + std::to_string(i)));
    const auto start = std::chrono::steady_clock::now();
    Publisher publisher(journal, config, std::make_shared<ImsTokenSource>(config, client), client, po);
    REQUIRE(wait_for([&] { return publisher.counters().published == 45; }));
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(2000));
    CHECK(publisher.counters().throttled == 0);
}

TEST_CASE("no secret or token in logs") {
    Emulator emu;
    TempDir dir;
    cebus::journal::Journal journal(journal_options(dir.path));
    Config config = emu.client_config();
    config.client_secret = Secret("p8e-very-secret-value-42");
    config.request_timeout = std::chrono::milliseconds(400);
    LogCapture logs;
    auto client = std::make_shared<HttpClient>(HttpClientOptions::from_config(config, logs.callback()));
    auto tokens = std::make_shared<ImsTokenSource>(config, client, logs.callback());
    emu.inject(EmulatorRoute::token, EmulatorFault::server_error(500));
    emu.inject(EmulatorRoute::ingress, EmulatorFault::throttle("0"));
    emu.inject(EmulatorRoute::ingress, EmulatorFault::server_error(502));
    emu.inject(EmulatorRoute::ingress, EmulatorFault::drop(false));
    PublisherOptions po = fast_publisher(logs.callback());
    po.in_flight = 1;
    {
        Publisher publisher(journal, config, tokens, client, po);
        journal.append_sync(local_event("s1"));
        REQUIRE(wait_for([&] { return publisher.counters().published == 1; }));
        emu.revoke_tokens();
        journal.append_sync(local_event("s2"));
        REQUIRE(wait_for([&] { return publisher.counters().published == 2; }));
        const auto c = publisher.counters();
        CHECK(c.token_failures == 1);
        CHECK(c.unauthorized == 1);
    }
    config.endpoints.journal_url = emu.journal_url();
    JournalConsumerOptions co;
    co.log = logs.callback();
    JournalConsumer consumer(journal, config, tokens, client, co);
    emu.revoke_tokens();
    consumer.poll();

    REQUIRE(logs.lines.size() >= 4);
    CHECK_FALSE(logs.contains("p8e-very-secret-value-42"));
    for (const auto& token : emu.issued_tokens()) {
        CHECK_FALSE(logs.contains(token));
        CHECK_FALSE(logs.contains(token.substr(4)));
    }
    // Error messages of failed token requests carry neither.
    emu.inject(EmulatorRoute::token, EmulatorFault::server_error(500));
    tokens->invalidate(tokens->token());
    try {
        tokens->token();
        FAIL("token() ignored an injected 500");
    } catch (const TokenError& e) {
        CHECK(std::string(e.what()).find("p8e-very-secret-value-42") == std::string::npos);
    }
}

TEST_CASE("consumer stores pages with position") {
    Emulator emu;
    TempDir dir;
    Config config = emu.client_config();
    config.endpoints.journal_url = emu.journal_url();
    auto client = std::make_shared<HttpClient>();
    auto tokens = std::make_shared<ImsTokenSource>(config, client);
    for (int i = 0; i < 7; ++i) {
        json e = {{"specversion", "1.0"}, {"id", "c" + std::to_string(i)}, {"source", "urn:uuid:p"},
                  {"type", "com.example.x"}, {"datacontenttype", "application/json"}, {"data", {{"i", i}}}};
        emu.append_journal_event(Emulator::delivery_event(e, config.client_id));
    }
    // An older format entry is wrapped.
    emu.append_journal_event(json{{"event_id", "legacy-1"}, {"event", {{"hello", "world"}}}});

    JournalConsumerOptions co;
    co.limit = 3;
    {
        cebus::journal::Journal journal(journal_options(dir.path));
        JournalConsumer consumer(journal, config, tokens, client, co);
        auto first = consumer.poll();
        CHECK(first.status == 200);
        CHECK(first.events == 3);
        CHECK(journal.last_sequence() == 3);
        CHECK(consumer.next_url().find("since=emu:3") != std::string::npos);
        CHECK(consumer.next_url().find("limit=3") != std::string::npos);
    }
    // A restart continues from the stored position.
    cebus::journal::Journal journal(journal_options(dir.path));
    JournalConsumer consumer(journal, config, tokens, client, co);
    CHECK(consumer.next_url().find("since=emu:3") != std::string::npos);
    CHECK(consumer.poll().events == 3);
    CHECK(consumer.poll().events == 2);
    CHECK(journal.last_sequence() == 8);
    CHECK(journal.read(1).event->id() == "c0");
    CHECK(journal.read(1).event->extension("eventid") != nullptr);
    auto wrapped = journal.read(8).event;
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
    Emulator emu;
    TempDir dir;
    Config config = emu.client_config();
    config.endpoints.journal_url = emu.journal_url();
    auto client = std::make_shared<HttpClient>();
    auto tokens = std::make_shared<ImsTokenSource>(config, client);
    json e = {{"specversion", "1.0"}, {"id", "dup"}, {"source", "urn:uuid:p"}, {"type", "t"}, {"eventid", "A1"}};
    emu.append_journal_event(e);
    emu.append_journal_event(e);  // same Adobe event id in one page
    json again = e;
    again["eventid"] = "A2";      // same source and id, another page
    cebus::journal::Journal journal(journal_options(dir.path));
    JournalConsumer consumer(journal, config, tokens, client);
    CHECK(consumer.poll().events == 1);
    emu.append_journal_event(again);
    consumer.poll();
    CHECK(journal.last_sequence() == 1);
    CHECK(consumer.counters().duplicates == 2);
}

TEST_CASE("consumer resets after expired position") {
    Emulator emu;
    TempDir dir;
    Config config = emu.client_config();
    config.endpoints.journal_url = emu.journal_url();
    auto client = std::make_shared<HttpClient>();
    auto tokens = std::make_shared<ImsTokenSource>(config, client);
    for (int i = 0; i < 4; ++i) emu.append_journal_event(json{{"specversion", "1.0"}, {"id", "g" + std::to_string(i)}, {"source", "s"}, {"type", "t"}});

    std::vector<JournalGap> gaps;
    JournalConsumerOptions co;
    co.limit = 2;
    co.on_expired = JournalConsumerOptions::Reset::latest;
    co.on_gap = [&](const JournalGap& g) { gaps.push_back(g); };
    cebus::journal::Journal journal(journal_options(dir.path));
    JournalConsumer consumer(journal, config, tokens, client, co);
    CHECK(consumer.poll().events == 2);
    emu.expire_journal();
    emu.append_journal_event(json{{"specversion", "1.0"}, {"id", "g4"}, {"source", "s"}, {"type", "t"}});
    CHECK(consumer.poll().status == 410);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].status == 410);
    CHECK(gaps[0].reset_url.find("latest=true") != std::string::npos);
    CHECK(consumer.counters().gaps == 1);
    CHECK(consumer.poll().status == 204);  // latest: nothing after the end
    emu.append_journal_event(json{{"specversion", "1.0"}, {"id", "g5"}, {"source", "s"}, {"type", "t"}});
    CHECK(consumer.poll().events == 1);
    CHECK(journal.read(journal.last_sequence()).event->id() == "g5");
}

TEST_CASE("consumer backs off on server errors") {
    Emulator emu;
    TempDir dir;
    Config config = emu.client_config();
    config.endpoints.journal_url = emu.journal_url();
    auto client = std::make_shared<HttpClient>();
    auto tokens = std::make_shared<ImsTokenSource>(config, client);
    cebus::journal::Journal journal(journal_options(dir.path));
    JournalConsumer consumer(journal, config, tokens, client);
    emu.inject(EmulatorRoute::journal, EmulatorFault::throttle("2"));
    auto r = consumer.poll();
    CHECK(r.status == 429);
    CHECK(r.wait >= std::chrono::milliseconds(2000));
    emu.inject(EmulatorRoute::journal, EmulatorFault::server_error(500));
    CHECK(consumer.poll().wait > std::chrono::milliseconds(0));
    CHECK(consumer.counters().errors == 2);
    emu.append_journal_event(json{{"specversion", "1.0"}, {"id", "b1"}, {"source", "s"}, {"type", "t"}});
    CHECK(consumer.poll().events == 1);
}
