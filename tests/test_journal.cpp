// The journal against a real LMDB file in a temporary folder.
#include <lmdb.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cctype>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <cebus/bus.hpp>
#include <cebus/journal.hpp>

#include "journal_support.hpp"

using namespace std::chrono_literals;
namespace cj = cebus::journal;
using jtest::eventually;
using jtest::make_event;
using jtest::options_for;
using jtest::TempDir;

namespace {

// Collects deliveries of a durable subscription.
struct Recorder {
    std::mutex mu;
    std::vector<std::uint64_t> seqs;
    std::vector<std::string> ids;
    std::vector<std::uint32_t> attempts;

    cj::Handler ack_all() {
        return [this](const cj::Delivery& d) {
            std::lock_guard lk(mu);
            seqs.push_back(d.sequence);
            ids.push_back(d.event->id());
            attempts.push_back(d.attempt);
            return cj::HandlerResult::ack();
        };
    }
    std::size_t size() {
        std::lock_guard lk(mu);
        return seqs.size();
    }
    std::vector<std::uint64_t> snapshot() {
        std::lock_guard lk(mu);
        return seqs;
    }
};

void append_n(cj::Journal& j, int n, const std::string& prefix = "e") {
    std::vector<std::future<cj::AppendResult>> fs;
    for (int i = 0; i < n; ++i) fs.push_back(j.append(make_event(prefix + std::to_string(i))));
    for (auto& f : fs) f.get();
}

}  // namespace

TEST_CASE("crc32c matches known vectors", "[journal][codec]") {
    const std::string check = "123456789";
    CHECK(cj::codec::crc32c(0, check.data(), check.size()) == 0xE3069283u);
    const std::string zeros(32, '\0');
    CHECK(cj::codec::crc32c(0, zeros.data(), zeros.size()) == 0x8A9136AAu);
    // Continuing a CRC over two parts equals one pass.
    const std::uint32_t part = cj::codec::crc32c(0, check.data(), 4);
    CHECK(cj::codec::crc32c(part, check.data() + 4, 5) == 0xE3069283u);
}

TEST_CASE("codec round trips every attribute type", "[journal][codec]") {
    auto e = cebus::EventBuilder()
                 .id("id-1")
                 .source("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66")
                 .type("com.example.all")
                 .subject("sub/ject")
                 .dataschema("https://example.com/schema")
                 .time("2024-01-02T03:04:05.123456789123+02:00")
                 .datacontenttype("application/octet-stream")
                 .extension("flag", true)
                 .extension("count", std::int64_t{-42})
                 .extension("text", "héllo")
                 .extension("bin", cebus::AttributeValue(cebus::Binary{std::string("\0\x01\xff", 3)}))
                 .extension("link", cebus::AttributeValue(cebus::Uri{"https://example.com/x"}))
                 .extension("ref", cebus::AttributeValue(cebus::UriRef{"../rel"}))
                 .extension("at", cebus::AttributeValue(cebus::Timestamp::parse("2020-02-29T23:59:60Z")))
                 .data_binary(std::string("\x00\x10" "binary", 8))
                 .build();
    const std::string body = cj::codec::encode_event(*e);
    auto back = cj::codec::decode_event(body);
    CHECK(*back == *e);
    CHECK(back->time()->text() == e->time()->text());
    CHECK(back->data_kind() == cebus::DataKind::binary);

    auto plain = make_event("p");
    CHECK(*cj::codec::decode_event(cj::codec::encode_event(*plain)) == *plain);
}

TEST_CASE("codec rejects every truncated body", "[journal][codec]") {
    auto e = make_event("trunc", "/src", R"({"a":[1,2,3],"b":"text"})");
    const std::string body = cj::codec::encode_event(*e);
    for (std::size_t n = 0; n < body.size(); ++n) {
        INFO("prefix length " << n);
        CHECK_THROWS_AS(cj::codec::decode_event(std::string_view(body).substr(0, n)), cj::JournalError);
    }
    std::string extra = body + "x";
    CHECK_THROWS_AS(cj::codec::decode_event(extra), cj::JournalError);
}

TEST_CASE("append is acknowledged and reads back", "[journal]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    auto e = make_event("a1");
    const auto r = j.append_sync(e);
    CHECK(r.sequence == 1);
    CHECK_FALSE(r.duplicate);
    CHECK(j.last_sequence() == 1);
    CHECK(j.first_sequence() == 1);
    const auto stored = j.read(1);
    CHECK(*stored.event == *e);
    CHECK(stored.sequence == 1);
    CHECK_THROWS_AS(j.read(2), cj::JournalError);
}

TEST_CASE("callback append runs after commit", "[journal]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    std::promise<std::uint64_t> got;
    j.append(make_event("cb"), [&](const cj::AppendResult& r, std::exception_ptr err) {
        CHECK_FALSE(err);
        got.set_value(r.sequence);
    });
    CHECK(got.get_future().get() == 1);
}

TEST_CASE("sequences continue after reopen", "[journal]") {
    TempDir dir;
    {
        cj::Journal j(options_for(dir));
        append_n(j, 10);
    }
    cj::Journal j(options_for(dir));
    CHECK(j.last_sequence() == 10);
    CHECK(j.append_sync(make_event("after")).sequence == 11);
    std::uint64_t expect = 1;
    j.replay(1, [&](const cj::StoredEvent& s) {
        CHECK(s.sequence == expect++);
        return true;
    });
    CHECK(expect == 12);
}

TEST_CASE("concurrent producers get contiguous sequences", "[journal]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    constexpr int threads = 4, per = 500;
    std::vector<std::thread> ts;
    std::mutex mu;
    std::set<std::uint64_t> seqs;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            std::vector<std::future<cj::AppendResult>> fs;
            for (int i = 0; i < per; ++i) fs.push_back(j.append(make_event(std::to_string(t) + "-" + std::to_string(i))));
            for (auto& f : fs) {
                const auto r = f.get();
                std::lock_guard lk(mu);
                CHECK(seqs.insert(r.sequence).second);
            }
        });
    }
    for (auto& t : ts) t.join();
    REQUIRE(seqs.size() == threads * per);
    CHECK(*seqs.begin() == 1);
    CHECK(*seqs.rbegin() == threads * per);
    // Group commit: fewer transactions than events.
    CHECK(j.metrics().commits < static_cast<std::uint64_t>(threads * per));
}

TEST_CASE("format version is checked on open", "[journal]") {
    TempDir dir;
    { cj::Journal j(options_for(dir)); }
    {
        // Write a future format version with raw LMDB.
        MDB_env* env = nullptr;
        REQUIRE(mdb_env_create(&env) == 0);
        mdb_env_set_maxdbs(env, 8);
        REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0644) == 0);
        MDB_txn* txn = nullptr;
        REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
        MDB_dbi meta;
        REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
        char v[4] = {2, 0, 0, 0};
        MDB_val k{6, const_cast<char*>("format")}, val{4, v};
        REQUIRE(mdb_put(txn, meta, &k, &val, 0) == 0);
        REQUIRE(mdb_txn_commit(txn) == 0);
        mdb_env_close(env);
    }
    try {
        cj::Journal j(options_for(dir));
        FAIL("open of a version-2 journal succeeded");
    } catch (const cj::JournalError& e) {
        CHECK(e.code() == cj::Errc::format);
        CHECK(std::string(e.what()).find("format version 2") != std::string::npos);
    }
}

TEST_CASE("second open in one process is busy", "[journal]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    try {
        cj::Journal again(options_for(dir));
        FAIL("second open succeeded");
    } catch (const cj::JournalError& e) {
        CHECK(e.code() == cj::Errc::busy);
    }
}

TEST_CASE("read-only open reads and rejects writes", "[journal]") {
    TempDir dir;
    {
        cj::Journal j(options_for(dir));
        append_n(j, 3);
    }
    auto o = options_for(dir);
    o.read_only = true;
    cj::Journal ro(o);
    CHECK(ro.last_sequence() == 3);
    CHECK(ro.read(2).event->id() == "e1");
    CHECK_THROWS_AS(ro.append_sync(make_event("x")), cj::JournalError);
}

TEST_CASE("read-only open of uncommitted environment", "[journal]") {
    // What a writer killed before its first commit leaves behind: an LMDB
    // environment with no databases. It is no journal yet, not a foreign file.
    TempDir dir;
    const auto path = dir.path() / "journal";
    std::filesystem::create_directories(path);
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_open(env, path.c_str(), 0, 0644) == 0);
    mdb_env_close(env);

    cj::Options o;
    o.directory = path;
    o.read_only = true;
    try {
        cj::Journal ro(o);
        FAIL("read-only open of an uncommitted environment succeeded");
    } catch (const cj::JournalError& e) {
        CHECK(e.code() == cj::Errc::not_found);
    }
    o.read_only = false;
    cj::Journal rw(o);
    CHECK(rw.last_sequence() == 0);
}

TEST_CASE("batch with state is atomic", "[journal]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    std::vector<cebus::EventPtr> evs{make_event("b1"), make_event("b2"), make_event("b3")};
    auto res = j.append_batch_with_state(evs, "registration/r1", "position-17").get();
    REQUIRE(res.size() == 3);
    CHECK(res[0].sequence == 1);
    CHECK(res[2].sequence == 3);
    CHECK(j.read_state("registration/r1") == std::optional<std::string>("position-17"));
    CHECK_FALSE(j.read_state("registration/none"));

    // A failed commit stores neither the events nor the state.
    TempDir dir2;
    auto o = options_for(dir2);
    o.fault_hook = [](cj::FaultPoint p, std::uint64_t, std::size_t) {
        return p == cj::FaultPoint::before_commit ? EIO : 0;
    };
    cj::Journal bad(o);
    CHECK_THROWS_AS(bad.append_batch_with_state(evs, "k", "v").get(), cj::JournalError);
    CHECK_FALSE(bad.read_state("k"));
    CHECK(bad.last_sequence() == 0);
}

TEST_CASE("duplicate source and id stored once", "[journal][dedup]") {
    TempDir dir;
    {
        cj::Journal j(options_for(dir));
        auto first = j.append_sync(make_event("same"));
        auto again = j.append_sync(make_event("same"));
        CHECK(again.duplicate);
        CHECK(again.sequence == first.sequence);
        // Same id, other source: not a duplicate.
        CHECK_FALSE(j.append_sync(make_event("same", "/other")).duplicate);
        // Duplicates inside one batch.
        auto res = j.append_batch({make_event("x"), make_event("x")}).get();
        CHECK_FALSE(res[0].duplicate);
        CHECK(res[1].duplicate);
        CHECK(res[1].sequence == res[0].sequence);
        CHECK(j.metrics().duplicates == 2);
    }
    // The index is durable: a retry after a restart is recognised.
    cj::Journal j(options_for(dir));
    CHECK(j.append_sync(make_event("same")).duplicate);
    CHECK(j.last_sequence() == 3);
}

TEST_CASE("dedup window drops oldest entries", "[journal][dedup]") {
    TempDir dir;
    auto o = options_for(dir);
    o.dedup_max_entries = 5;
    cj::Journal j(o);
    append_n(j, 10, "w");
    j.trim_now();  // also prunes the de-dup index
    CHECK(j.stats().dedup_entries == 5);
    // The oldest left the window: stored again.
    CHECK_FALSE(j.append_sync(make_event("w0")).duplicate);
    // A recent one is still known.
    CHECK(j.append_sync(make_event("w9")).duplicate);
}

TEST_CASE("dedup off stores every append", "[journal][dedup]") {
    TempDir dir;
    auto o = options_for(dir);
    o.dedup_window = 0s;
    cj::Journal j(o);
    CHECK_FALSE(j.append_sync(make_event("d")).duplicate);
    CHECK_FALSE(j.append_sync(make_event("d")).duplicate);
    CHECK(j.last_sequence() == 2);
}

TEST_CASE("oversized event is rejected", "[journal]") {
    TempDir dir;
    auto o = options_for(dir);
    o.max_event_bytes = 100;
    cj::Journal j(o);
    try {
        j.append_sync(make_event("big", "/s", "\"" + std::string(500, 'x') + "\""));
        FAIL("accepted");
    } catch (const cj::JournalError& e) {
        CHECK(e.code() == cj::Errc::too_large);
    }
    CHECK(j.last_sequence() == 0);
}

TEST_CASE("subscription delivers in order", "[journal][subscription]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    Recorder rec;
    auto sub = j.subscribe("ordered", rec.ack_all());
    append_n(j, 300);
    REQUIRE(eventually([&] { return rec.size() == 300; }));
    auto seqs = rec.snapshot();
    for (std::size_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == i + 1);
}

TEST_CASE("subscription resumes after restart", "[journal][subscription]") {
    TempDir dir;
    {
        cj::Journal j(options_for(dir));
        Recorder rec;
        auto sub = j.subscribe("resume", rec.ack_all());
        append_n(j, 50, "first");
        REQUIRE(eventually([&] { return rec.size() == 50; }));
    }
    cj::Journal j(options_for(dir));
    auto cs = j.cursors();
    REQUIRE(cs.size() == 1);
    CHECK(cs[0].cursor == 50);
    append_n(j, 20, "second");
    Recorder rec;
    auto sub = j.subscribe("resume", rec.ack_all());
    REQUIRE(eventually([&] { return rec.size() == 20; }));
    CHECK(rec.snapshot().front() == 51);
    std::this_thread::sleep_for(50ms);
    CHECK(rec.size() == 20);
}

TEST_CASE("subscription name is attached once", "[journal][subscription]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    Recorder rec;
    auto sub = j.subscribe("one", rec.ack_all());
    CHECK_THROWS_AS(j.subscribe("one", rec.ack_all()), cj::JournalError);
    CHECK_THROWS_AS(j.subscribe("bad name", rec.ack_all()), cj::JournalError);
    sub.reset();
    CHECK_NOTHROW(j.subscribe("one", rec.ack_all()));
}

TEST_CASE("failed delivery retries with backoff", "[journal][subscription]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    std::mutex mu;
    std::vector<std::pair<std::uint64_t, std::chrono::steady_clock::time_point>> calls;
    cj::SubscriptionOptions so;
    so.initial_backoff = 20ms;
    so.backoff_multiplier = 2.0;
    auto sub = j.subscribe(
        "retry",
        [&](const cj::Delivery& d) {
            std::lock_guard lk(mu);
            calls.emplace_back(d.sequence, std::chrono::steady_clock::now());
            if (d.sequence == 1 && d.attempt < 3) return cj::HandlerResult::retry("not yet");
            return cj::HandlerResult::ack();
        },
        so);
    append_n(j, 2);
    REQUIRE(eventually([&] {
        std::lock_guard lk(mu);
        return calls.size() == 4;
    }));
    std::lock_guard lk(mu);
    // Sequence 1 three times, then 2: order holds across retries.
    CHECK(calls[0].first == 1);
    CHECK(calls[1].first == 1);
    CHECK(calls[2].first == 1);
    CHECK(calls[3].first == 2);
    // Backoff: >= 80 % of 20 ms, then of 40 ms.
    CHECK(calls[1].second - calls[0].second >= 16ms);
    CHECK(calls[2].second - calls[1].second >= 32ms);
    CHECK(j.metrics().retries == 2);
}

TEST_CASE("retry_after honours the delay", "[journal][subscription]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    std::atomic<int> n{0};
    std::chrono::steady_clock::time_point t0, t1;
    auto sub = j.subscribe("later", [&](const cj::Delivery&) {
        if (n++ == 0) {
            t0 = std::chrono::steady_clock::now();
            return cj::HandlerResult::retry_after(120ms, "429");
        }
        t1 = std::chrono::steady_clock::now();
        return cj::HandlerResult::ack();
    });
    j.append_sync(make_event("r"));
    REQUIRE(eventually([&] { return n.load() == 2; }));
    CHECK(t1 - t0 >= 120ms);
}

TEST_CASE("throwing handler is retried then dead-lettered", "[journal][subscription][dead]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    Recorder after;
    cj::SubscriptionOptions so;
    so.max_deliveries = 3;
    so.initial_backoff = 1ms;
    std::atomic<int> calls{0};
    auto sub = j.subscribe(
        "poison",
        [&](const cj::Delivery& d) {
            ++calls;
            if (d.event->id() == "bad") throw std::runtime_error("cannot parse order");
            return after.ack_all()(d);
        },
        so);
    j.append_sync(make_event("bad"));
    j.append_sync(make_event("good"));
    REQUIRE(eventually([&] { return after.size() == 1; }));
    CHECK(calls.load() == 4);
    auto dl = j.dead_letters("poison");
    REQUIRE(dl.size() == 1);
    CHECK(dl[0].sequence == 1);
    CHECK(dl[0].attempts == 3);
    CHECK(dl[0].reason.find("cannot parse order") != std::string::npos);
    CHECK(dl[0].event->id() == "bad");
    CHECK(j.metrics().dead_lettered == 1);
}

TEST_CASE("handler dead-letters with its reason", "[journal][subscription][dead]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    auto sub = j.subscribe("http", [](const cj::Delivery&) {
        return cj::HandlerResult::dead_letter("HTTP 400: {\"error\":\"bad event\"}");
    });
    j.append_sync(make_event("rejected"));
    REQUIRE(eventually([&] { return j.stats().dead_letters == 1; }));
    auto dl = j.dead_letters();
    REQUIRE(dl.size() == 1);
    CHECK(dl[0].subscription == "http");
    CHECK(dl[0].attempts == 1);
    CHECK(dl[0].reason == "HTTP 400: {\"error\":\"bad event\"}");
    REQUIRE(eventually([&] { return j.cursors().at(0).cursor == 1; }));
}

TEST_CASE("requeue redelivers and purge deletes", "[journal][subscription][dead]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    std::atomic<bool> healthy{false};
    Recorder rec;
    auto sub = j.subscribe("requeue", [&](const cj::Delivery& d) {
        if (!healthy) return cj::HandlerResult::dead_letter("downstream down");
        return rec.ack_all()(d);
    });
    append_n(j, 3);
    REQUIRE(eventually([&] { return j.stats().dead_letters == 3; }));

    healthy = true;
    CHECK(j.requeue("requeue", {2}) == 1);
    REQUIRE(eventually([&] { return rec.size() == 1; }));
    CHECK(rec.snapshot()[0] == 2);
    REQUIRE(eventually([&] { return j.dead_letters("requeue").size() == 2; }));
    CHECK(j.purge("requeue", {1}) == 1);
    auto left = j.dead_letters("requeue");
    REQUIRE(left.size() == 1);
    CHECK(left[0].sequence == 3);
    CHECK(j.purge("requeue") == 1);
    CHECK(j.stats().dead_letters == 0);
}

TEST_CASE("attempt count survives a restart", "[journal][subscription]") {
    TempDir dir;
    cj::SubscriptionOptions so;
    so.max_deliveries = 4;
    so.initial_backoff = 1ms;
    {
        cj::Journal j(options_for(dir));
        std::atomic<int> n{0};
        auto sub = j.subscribe("counted", [&](const cj::Delivery&) {
            ++n;
            return cj::HandlerResult::retry("flaky");
        }, so);
        j.append_sync(make_event("f"));
        REQUIRE(eventually([&] { return n.load() >= 2; }));
        sub.reset();
        j.flush();
    }
    cj::Journal j(options_for(dir));
    std::vector<std::uint32_t> attempts;
    std::mutex mu;
    auto sub = j.subscribe("counted", [&](const cj::Delivery& d) {
        std::lock_guard lk(mu);
        attempts.push_back(d.attempt);
        return cj::HandlerResult::retry("still flaky");
    }, so);
    REQUIRE(eventually([&] { return j.stats().dead_letters == 1; }));
    std::lock_guard lk(mu);
    REQUIRE_FALSE(attempts.empty());
    CHECK(attempts.front() >= 3);  // resumed the count, not restarted at 1
    CHECK(j.dead_letters().at(0).attempts == 4);
}

TEST_CASE("replay from sequence and time", "[journal][replay]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    append_n(j, 5, "early");
    std::this_thread::sleep_for(20ms);
    const auto mid = std::chrono::system_clock::now();
    std::this_thread::sleep_for(20ms);
    append_n(j, 5, "late");

    CHECK(j.sequence_at(mid) == 6);
    CHECK(j.sequence_at(std::chrono::system_clock::now() + 1h) == 11);
    CHECK(j.sequence_at(std::chrono::system_clock::time_point{}) == 1);

    Recorder by_time;
    cj::SubscriptionOptions so;
    so.start = cj::StartPosition::at_time(mid);
    auto s1 = j.subscribe("by-time", by_time.ack_all(), so);
    REQUIRE(eventually([&] { return by_time.size() == 5; }));
    CHECK(by_time.snapshot().front() == 6);

    Recorder by_seq;
    so.start = cj::StartPosition::at_sequence(8);
    auto s2 = j.subscribe("by-seq", by_seq.ack_all(), so);
    REQUIRE(eventually([&] { return by_seq.size() == 3; }));
    CHECK(by_seq.snapshot().front() == 8);

    Recorder from_end;
    so.start = cj::StartPosition::end();
    auto s3 = j.subscribe("from-end", from_end.ack_all(), so);
    j.append_sync(make_event("new"));
    REQUIRE(eventually([&] { return from_end.size() == 1; }));
    CHECK(from_end.snapshot().front() == 11);

    std::vector<std::uint64_t> seen;
    j.replay(9, [&](const cj::StoredEvent& s) {
        seen.push_back(s.sequence);
        return true;
    });
    CHECK(seen == std::vector<std::uint64_t>{9, 10, 11});
}

TEST_CASE("rewind replays a stored subscription", "[journal][replay]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    append_n(j, 4);
    {
        Recorder rec;
        auto sub = j.subscribe("rw", rec.ack_all());
        REQUIRE(eventually([&] { return rec.size() == 4; }));
        CHECK_THROWS_AS(j.rewind("rw", cj::StartPosition::beginning()), cj::JournalError);
    }
    j.rewind("rw", cj::StartPosition::at_sequence(3));
    CHECK(j.cursors().at(0).cursor == 2);
    Recorder rec;
    auto sub = j.subscribe("rw", rec.ack_all());
    REQUIRE(eventually([&] { return rec.size() == 2; }));
    CHECK(rec.snapshot() == std::vector<std::uint64_t>{3, 4});
}

TEST_CASE("subscription filter skips events", "[journal][subscription]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    Recorder rec;
    cj::SubscriptionOptions so;
    so.filter = [](const cebus::Event& e) { return e.id().rfind("keep", 0) == 0; };
    auto sub = j.subscribe("filtered", rec.ack_all(), so);
    j.append_sync(make_event("keep1"));
    j.append_sync(make_event("drop1"));
    j.append_sync(make_event("keep2"));
    REQUIRE(eventually([&] { return rec.size() == 2; }));
    CHECK(rec.snapshot() == std::vector<std::uint64_t>{1, 3});
    REQUIRE(eventually([&] { return j.cursors().at(0).cursor == 3; }));
}

TEST_CASE("retention waits for a durable cursor", "[journal][retention]") {
    TempDir dir;
    auto o = options_for(dir);
    o.retention.max_events = 10;
    o.retention.check_interval = 10ms;
    cj::Journal j(o);
    // A subscription created at the start, then detached: its cursor stays 0.
    { auto sub = j.subscribe("stalled", [](const cj::Delivery&) { return cj::HandlerResult::retry(); }); }
    append_n(j, 30);
    j.trim_now();
    CHECK(j.first_sequence() == 1);  // nothing passed the cursor
    CHECK(j.stats().events == 30);

    j.remove_subscription("stalled");
    j.trim_now();
    CHECK(j.stats().events == 10);
    CHECK(j.first_sequence() == 21);
    CHECK(j.metrics().trimmed == 20);
}

TEST_CASE("retention skip records the range", "[journal][retention]") {
    TempDir dir;
    auto o = options_for(dir);
    o.retention.max_events = 10;
    cj::Journal j(o);
    {
        cj::SubscriptionOptions so;
        so.at_retention = cj::RetentionAtCursor::skip;
        auto sub = j.subscribe("lossy", [](const cj::Delivery&) { return cj::HandlerResult::retry(); }, so);
    }
    append_n(j, 25);
    CHECK(j.trim_now() == 15);
    auto c = j.cursors().at(0);
    CHECK(c.cursor == 15);
    CHECK(c.skipped_events == 15);
    CHECK(c.last_skipped_first == 1);
    CHECK(c.last_skipped_last == 15);
    CHECK(j.metrics().skipped == 15);

    // A live subscriber that is behind hears about the skip.
    std::mutex mu;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> skips;
    Recorder rec;
    cj::SubscriptionOptions so;
    so.at_retention = cj::RetentionAtCursor::skip;
    so.start = cj::StartPosition::at_sequence(16);
    so.on_skip = [&](std::uint64_t a, std::uint64_t b) {
        std::lock_guard lk(mu);
        skips.emplace_back(a, b);
    };
    so.batch_size = 1;
    std::atomic<bool> entered{false}, release{false};
    auto sub = j.subscribe("behind", [&](const cj::Delivery& d) {
        entered = true;
        while (!release) std::this_thread::sleep_for(1ms);
        return rec.ack_all()(d);
    }, so);
    REQUIRE(eventually([&] { return entered.load(); }));
    append_n(j, 20, "more");  // 26..45; keeping 10 trims 16..35
    j.remove_subscription("lossy");
    CHECK(j.trim_now() == 20);
    release = true;
    REQUIRE(eventually([&] { return !rec.snapshot().empty() && rec.snapshot().back() == 45; }));
    CHECK(rec.snapshot().front() == 16);  // already in flight when trimmed
    CHECK(rec.size() == 11);
    std::lock_guard lk(mu);
    REQUIRE(skips.size() == 1);
    CHECK(skips[0].first == 17);
    CHECK(skips[0].second == 35);
}

TEST_CASE("retention by age and size", "[journal][retention]") {
    TempDir dir;
    auto o = options_for(dir);
    o.retention.max_age = 1s;
    cj::Journal j(o);
    append_n(j, 5, "old");
    std::this_thread::sleep_for(1100ms);
    append_n(j, 3, "new");
    j.trim_now();  // the writer may have trimmed already
    CHECK(j.first_sequence() == 6);
    CHECK(j.metrics().trimmed == 5);

    TempDir dir2;
    auto o2 = options_for(dir2);
    o2.retention.max_bytes = 2000;
    cj::Journal k(o2);
    append_n(k, 100);
    k.trim_now();
    const auto s = k.stats();
    CHECK(s.stored_bytes <= 2000);
    CHECK(s.events > 0);
    CHECK(s.events < 100);
    CHECK(s.first_sequence == 101 - s.events);
}

TEST_CASE("retention trims in the background", "[journal][retention]") {
    TempDir dir;
    auto o = options_for(dir);
    o.retention.max_events = 50;
    o.retention.trim_batch = 7;
    o.retention.check_interval = 5ms;
    cj::Journal j(o);
    append_n(j, 200);
    REQUIRE(eventually([&] { return j.stats().events == 50; }));
    CHECK(j.first_sequence() == 151);
}

TEST_CASE("full map grows and keeps appending", "[journal][faults]") {
    TempDir dir;
    auto o = options_for(dir);
    o.map_size = 256 << 10;
    o.max_map_size = 64 << 20;
    cj::Journal j(o);
    const std::string payload = "\"" + std::string(1000, 'p') + "\"";
    std::vector<std::future<cj::AppendResult>> fs;
    for (int i = 0; i < 2000; ++i) fs.push_back(j.append(make_event("g" + std::to_string(i), "/g", payload)));
    for (auto& f : fs) CHECK_NOTHROW(f.get());
    CHECK(j.metrics().map_growths > 0);
    CHECK(j.last_sequence() == 2000);
}

TEST_CASE("full map without growth acknowledges nothing", "[journal][faults]") {
    TempDir dir;
    auto o = options_for(dir);
    o.map_size = 256 << 10;
    o.max_map_size = o.map_size;  // growth off
    std::vector<std::uint64_t> acked;
    {
        cj::Journal j(o);
        const std::string payload = "\"" + std::string(1000, 'p') + "\"";
        int failed = 0;
        for (int round = 0; round < 40 && failed == 0; ++round) {
            std::vector<cebus::EventPtr> batch;
            for (int i = 0; i < 20; ++i) batch.push_back(make_event(std::to_string(round) + "-" + std::to_string(i), "/f", payload));
            try {
                for (const auto& r : j.append_batch(batch).get()) acked.push_back(r.sequence);
            } catch (const cj::JournalError& e) {
                CHECK(e.code() == cj::Errc::full);
                ++failed;
            }
        }
        REQUIRE(failed == 1);
        CHECK(j.metrics().failed_appends == 20);
        // The journal still works for reads and small writes fail cleanly.
        CHECK(j.last_sequence() == acked.size());
    }
    cj::Journal j(o);
    CHECK(j.last_sequence() == acked.size());
    std::uint64_t n = j.replay(1, [](const cj::StoredEvent&) { return true; });
    CHECK(n == acked.size());
}

TEST_CASE("injected commit failure acknowledges nobody", "[journal][faults]") {
    TempDir dir;
    auto o = options_for(dir);
    std::atomic<int> fail_next{0};
    o.fault_hook = [&](cj::FaultPoint p, std::uint64_t, std::size_t) {
        if (p == cj::FaultPoint::before_commit && fail_next > 0) {
            --fail_next;
            return EIO;
        }
        return 0;
    };
    cj::Journal j(o);
    append_n(j, 5, "ok");
    fail_next = 1;
    std::vector<std::future<cj::AppendResult>> fs;
    fs.push_back(j.append(make_event("lost")));
    int errors = 0;
    for (auto& f : fs) {
        try {
            f.get();
        } catch (const cj::JournalError& e) {
            CHECK(e.code() == cj::Errc::io);
            ++errors;
        }
    }
    CHECK(errors == 1);
    CHECK(j.metrics().reopens == 1);
    CHECK(j.last_sequence() == 5);
    // The reopened environment keeps working, with no gap.
    CHECK(j.append_sync(make_event("next")).sequence == 6);
    CHECK(j.read(6).event->id() == "next");
}

TEST_CASE("panic reopens the environment", "[journal][faults]") {
    TempDir dir;
    auto o = options_for(dir);
    std::atomic<bool> panic{false};
    o.fault_hook = [&](cj::FaultPoint p, std::uint64_t, std::size_t) {
        return p == cj::FaultPoint::after_commit && panic.exchange(false) ? MDB_PANIC : 0;
    };
    cj::Journal j(o);
    j.append_sync(make_event("p1"));
    panic = true;
    // Committed but reported failed: the producer is not acknowledged and
    // may retry; de-duplication then stores it once.
    CHECK_THROWS_AS(j.append_sync(make_event("p2")), cj::JournalError);
    CHECK(j.metrics().reopens == 1);
    auto retry = j.append_sync(make_event("p2"));
    CHECK(retry.duplicate);
    CHECK(retry.sequence == 2);
    CHECK(j.append_sync(make_event("p3")).sequence == 3);
}

TEST_CASE("relaxed mode acknowledges durable appends", "[journal]") {
    TempDir dir;
    auto o = options_for(dir);
    o.durability = cj::Durability::relaxed;
    {
        cj::Journal j(o);
        Recorder rec;
        auto sub = j.subscribe("relaxed", rec.ack_all());
        append_n(j, 200);
        CHECK(j.last_sequence() == 200);
        REQUIRE(eventually([&] { return rec.size() == 200; }));
    }
    cj::Journal j(o);
    CHECK(j.last_sequence() == 200);
}

TEST_CASE("slow subscriber does not grow the file", "[journal][retention]") {
    TempDir dir;
    auto o = options_for(dir);
    o.retention.max_events = 2000;
    o.retention.check_interval = 1ms;
    o.dedup_max_entries = 2000;  // the de-dup index has its own bound
    cj::Journal j(o);
    cj::SubscriptionOptions so;
    so.at_retention = cj::RetentionAtCursor::skip;
    so.batch_size = 64;
    auto sub = j.subscribe("slow", [](const cj::Delivery&) {
        std::this_thread::sleep_for(50us);
        return cj::HandlerResult::ack();
    }, so);
    const std::string payload = "\"" + std::string(250, 'x') + "\"";
    std::uint64_t size_after_warmup = 0;
    for (int round = 0; round < 40; ++round) {
        std::vector<std::future<cj::AppendResult>> fs;
        for (int i = 0; i < 500; ++i) fs.push_back(j.append(make_event(std::to_string(round) + "/" + std::to_string(i), "/s", payload)));
        for (auto& f : fs) f.get();
        j.trim_now();
        if (round == 10) size_after_warmup = j.stats().file_bytes;
    }
    const auto s = j.stats();
    CHECK(s.events <= 2000);
    INFO("file bytes after warm-up " << size_after_warmup << ", at end " << s.file_bytes);
    // Freed pages are reused: the file stops growing once retention runs.
    CHECK(s.file_bytes <= size_after_warmup + size_after_warmup / 4);
}

TEST_CASE("concurrent readers and writers agree", "[journal]") {
    TempDir dir;
    auto o = options_for(dir);
    o.map_size = 1 << 20;  // forces growth while readers run
    cj::Journal j(o);
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> read_errors{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
        readers.emplace_back([&] {
            while (!done) {
                const auto last = j.last_sequence();
                if (last == 0) continue;
                std::uint64_t expect = 1;
                j.replay(1, [&](const cj::StoredEvent& s) {
                    if (s.sequence != expect++) ++read_errors;
                    return s.sequence < last;
                });
            }
        });
    }
    const std::string payload = "\"" + std::string(400, 'r') + "\"";
    std::vector<std::future<cj::AppendResult>> fs;
    for (int i = 0; i < 5000; ++i) fs.push_back(j.append(make_event("c" + std::to_string(i), "/c", payload)));
    for (auto& f : fs) f.get();
    done = true;
    for (auto& t : readers) t.join();
    CHECK(read_errors == 0);
    CHECK(j.metrics().map_growths > 0);
}

TEST_CASE("attach routes matching bus events", "[journal][bus]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    cebus::Bus bus;
    auto route = j.attach(bus, cebus::filters::type("com.example.durable"));
    auto durable = cebus::EventBuilder().id("d1").source("/bus").type("com.example.durable").build();
    auto memory = cebus::EventBuilder().id("m1").source("/bus").type("com.example.memory").build();
    bus.publish(durable);
    bus.publish(memory);
    j.flush();
    CHECK(j.last_sequence() == 1);
    CHECK(*j.read(1).event == *durable);

    // Detached: later events stay in memory.
    route.reset();
    bus.publish(cebus::EventBuilder().id("d2").source("/bus").type("com.example.durable").build());
    j.flush();
    CHECK(j.last_sequence() == 1);
}

namespace {

// Collects log lines of a journal, thread-safe.
struct LogSink {
    std::mutex mu;
    std::vector<std::string> lines;

    cj::Logger logger() {
        return [this](cj::LogLevel, std::string_view m) {
            std::lock_guard lk(mu);
            lines.emplace_back(m);
        };
    }
    // For the lines that contain `needle`: how many were passed on, and how
    // many messages they report as suppressed (a summary line, "journal: N
    // similar message(s) suppressed ...; the last: ...", or a passed line
    // with " [N similar message(s) suppressed ...]" appended).
    struct Counts {
        std::size_t lines = 0;
        std::size_t passed = 0;
        std::uint64_t suppressed = 0;
    };
    Counts count(const std::string& needle) {
        std::lock_guard lk(mu);
        Counts c;
        for (const auto& l : lines) {
            if (l.find(needle) == std::string::npos) continue;
            ++c.lines;
            const auto at = l.find(" similar message(s) suppressed");
            if (at != std::string::npos) {
                const auto start = l.find_last_not_of("0123456789", at - 1) + 1;
                c.suppressed += std::stoull(l.substr(start, at - start));
            }
            const bool summary = l.rfind("journal: ", 0) == 0 && l.size() > 9 && std::isdigit(static_cast<unsigned char>(l[9]));
            if (!summary) ++c.passed;
        }
        return c;
    }
};

}  // namespace

TEST_CASE("trim under load keeps the file flat", "[journal][retention]") {
    // The soak's pattern, shortened: producers on several threads, a slow
    // durable subscriber that retention waits for, a filtered one, a
    // subscription that comes and goes every round, retention trimming on
    // its own and on demand, and de-duplication left at its defaults.
    TempDir dir;
    auto o = options_for(dir);
    o.durability = cj::Durability::relaxed;
    o.retention.max_events = 4000;
    o.retention.check_interval = 5ms;
    cj::Journal j(o);

    std::atomic<std::uint64_t> slow_seen{0};
    auto slow = j.subscribe("slow", [&](const cj::Delivery&) {
        if (++slow_seen % 100 == 0) std::this_thread::sleep_for(1ms);
        return cj::HandlerResult::ack();
    });
    cj::SubscriptionOptions odd;
    odd.filter = [](const cebus::Event& e) { return e.id().back() % 2 == 1; };
    auto filtered = j.subscribe("odd", [](const cj::Delivery&) { return cj::HandlerResult::ack(); }, odd);

    const std::string payload = "\"" + std::string(250, 'x') + "\"";
    constexpr int producers = 3;
    constexpr int per_round = 1000;  // per producer
    constexpr int warmup_rounds = 8;
    constexpr int measured_rounds = 16;
    std::uint64_t size_after_warmup = 0;
    for (int round = 0; round < warmup_rounds + measured_rounds; ++round) {
        std::vector<std::thread> threads;
        for (int p = 0; p < producers; ++p) {
            threads.emplace_back([&, p] {
                std::vector<std::future<cj::AppendResult>> fs;
                fs.reserve(per_round);
                for (int i = 0; i < per_round; ++i) {
                    fs.push_back(j.append(make_event(std::to_string(round) + "-" + std::to_string(i),
                                                     "/soak/producer/" + std::to_string(p), payload)));
                }
                for (auto& f : fs) f.get();
            });
        }
        {
            cj::SubscriptionOptions from_end;
            from_end.start = cj::StartPosition::end();
            const std::string name = "churn-" + std::to_string(round);
            auto churn = j.subscribe(name, [](const cj::Delivery&) { return cj::HandlerResult::ack(); }, from_end);
            std::this_thread::sleep_for(20ms);
            churn.reset();
            j.remove_subscription(name);
        }
        for (auto& t : threads) t.join();
        // The subscribers keep up between rounds, as in the soak; retention
        // would otherwise wait for them and the file grow for that reason.
        REQUIRE(eventually([&] { return slow.cursor() == j.last_sequence(); }, 20s));
        j.trim_now();
        if (round == warmup_rounds - 1) size_after_warmup = j.stats().file_bytes;
    }
    const auto s = j.stats();
    CHECK(s.events <= 4000);
    CHECK(j.metrics().trimmed >= (warmup_rounds + measured_rounds) * producers * per_round - 4000);
    // The de-duplication index follows retention instead of its own bound.
    CHECK(s.dedup_entries <= 4000 + o.retention.trim_batch);
    INFO("file bytes after warm-up " << size_after_warmup << ", after " << measured_rounds
                                      << " more rounds " << s.file_bytes << "; de-dup entries " << s.dedup_entries);
    // 48,000 events pass through a journal that keeps 4,000, about 1.5 MB of
    // records. Freed pages are reused, so the file may grow by LMDB's page
    // reuse slack, not with the events: at most 10 % plus 256 KiB.
    CHECK(s.file_bytes <= size_after_warmup + size_after_warmup / 10 + (256u << 10));
}

TEST_CASE("dead-lettered signal reports reason and attempts", "[journal][signals][dead]") {
    TempDir dir;
    cj::Journal j(options_for(dir));
    struct Seen {
        std::string name;
        std::uint64_t seq;
        std::string reason;
        std::uint32_t attempts;
    };
    std::mutex mu;
    std::vector<Seen> seen;
    auto conn = j.on_dead_lettered([&](std::string_view name, std::uint64_t seq, std::string_view reason,
                                       std::uint32_t attempts) {
        std::lock_guard lk(mu);
        seen.push_back({std::string(name), seq, std::string(reason), attempts});
    });
    cj::SubscriptionOptions so;
    so.max_deliveries = 3;
    so.initial_backoff = 1ms;
    auto sub = j.subscribe("hook", [](const cj::Delivery& d) {
        if (d.event->id() == "bad") return cj::HandlerResult::dead_letter("HTTP 400: bad payload");
        return cj::HandlerResult::retry("HTTP 503");
    }, so);
    j.append_sync(make_event("bad"));
    j.append_sync(make_event("flaky"));
    REQUIRE(eventually([&] {
        std::lock_guard lk(mu);
        return seen.size() == 2;
    }));
    {
        std::lock_guard lk(mu);
        CHECK(seen[0].name == "hook");
        CHECK(seen[0].seq == 1);
        CHECK(seen[0].reason == "HTTP 400: bad payload");
        CHECK(seen[0].attempts == 1);
        CHECK(seen[1].seq == 2);
        CHECK(seen[1].attempts == 3);
        CHECK(seen[1].reason.find("HTTP 503") != std::string::npos);
    }
    // The count per subscription matches the store.
    auto cursors = j.cursors();
    REQUIRE(cursors.size() == 1);
    CHECK(cursors[0].dead_letters == 2);
    // A disconnected slot is not called again.
    conn.disconnect();
    j.append_sync(make_event("bad"));  // a duplicate: nothing new is delivered
    j.append_sync(make_event("bad2", "/other"));
    REQUIRE(eventually([&] { return j.metrics().dead_lettered == 3; }));
    std::lock_guard lk(mu);
    CHECK(seen.size() == 2);
}

TEST_CASE("commit-failed signal carries the error", "[journal][signals][faults]") {
    TempDir dir;
    auto o = options_for(dir);
    std::atomic<bool> fail{false};
    o.fault_hook = [&](cj::FaultPoint p, std::uint64_t, std::size_t) {
        return p == cj::FaultPoint::before_commit && fail.exchange(false) ? ENOSPC : 0;
    };
    cj::Journal j(o);
    std::vector<std::pair<cj::Errc, std::size_t>> seen;
    std::atomic<bool> acked_before_signal{false};
    std::atomic<bool> producer_notified{false};
    j.on_commit_failed([&](const cj::JournalError& e, std::size_t events) {
        // Runs on the writer before the producers of the batch are notified.
        if (producer_notified) acked_before_signal = true;
        seen.emplace_back(e.code(), events);
    });
    j.append_sync(make_event("a"));
    fail = true;
    auto f = j.append_batch({make_event("b"), make_event("c")});
    CHECK_THROWS_AS(f.get(), cj::JournalError);
    producer_notified = true;
    j.flush();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].first == cj::Errc::io);
    CHECK(seen[0].second == 2);
    CHECK_FALSE(acked_before_signal);
    CHECK(j.append_sync(make_event("b")).sequence == 2);
}

TEST_CASE("repeated commit failures are rate limited", "[journal][signals][faults]") {
    TempDir dir;
    auto o = options_for(dir);
    std::atomic<bool> failing{true};
    o.fault_hook = [&](cj::FaultPoint p, std::uint64_t, std::size_t) {
        return p == cj::FaultPoint::before_commit && failing ? EIO : 0;
    };
    o.retention.check_interval = 20ms;
    LogSink sink;
    o.logger = sink.logger();
    cj::Journal j(o);
    std::atomic<int> signalled{0};
    j.on_commit_failed([&](const cj::JournalError&, std::size_t) { ++signalled; });

    constexpr int failures = 60;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < failures; ++i) CHECK_THROWS_AS(j.append_sync(make_event("x" + std::to_string(i))), cj::JournalError);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Every failure is signalled, but the log gets the first, then at most
    // one line a second.
    CHECK(signalled == failures);
    const auto during = sink.count("event(s) not acknowledged");
    INFO(during.passed << " commit failures logged in " << seconds << " s");
    CHECK(during.passed <= 2 + static_cast<std::size_t>(seconds));
    // Once the failures stop, a summary accounts for every one of them.
    failing = false;
    REQUIRE(eventually([&] {
        const auto c = sink.count("event(s) not acknowledged");
        return c.passed + c.suppressed == failures;
    }, 5000ms));
    CHECK(j.append_sync(make_event("ok")).sequence == 1);
}

TEST_CASE("repeated handler failures are rate limited", "[journal][signals][subscription]") {
    TempDir dir;
    auto o = options_for(dir);
    o.retention.check_interval = 20ms;
    LogSink sink;
    o.logger = sink.logger();
    cj::Journal j(o);
    cj::SubscriptionOptions so;
    so.max_deliveries = 300;
    so.initial_backoff = 0ms;
    so.max_backoff = 0ms;
    auto sub = j.subscribe("broken", [](const cj::Delivery&) -> cj::HandlerResult {
        throw std::runtime_error("downstream refused");
    }, so);
    const auto start = std::chrono::steady_clock::now();
    j.append_sync(make_event("e"));
    REQUIRE(eventually([&] { return j.metrics().dead_lettered == 1; }, 20000ms));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto c = sink.count("retries sequence 1");
    INFO(c.passed << " retry lines in " << seconds << " s");
    CHECK(c.passed <= 2 + static_cast<std::size_t>(seconds));
    // 299 retries (the 300th failure dead-letters), each either logged or
    // counted in a summary.
    REQUIRE(eventually([&] {
        const auto n = sink.count("retries sequence 1");
        return n.passed + n.suppressed == 299;
    }, 5000ms));
}
