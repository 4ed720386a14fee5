// Router contracts on one or two threads: delivery modes, nested publish,
// unsubscribe semantics, failures, overflow policies, drain and stop.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <cebus/bus.hpp>

using namespace cebus;
using namespace std::chrono_literals;

namespace {

EventPtr make_event(const std::string& type, const std::string& id = "1") {
    return EventBuilder().id(id).source("/test").type(type).build();
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

// Collects strings from any thread.
struct Log {
    std::mutex mutex;
    std::vector<std::string> entries;
    void add(std::string s) {
        std::lock_guard lock(mutex);
        entries.push_back(std::move(s));
    }
    std::vector<std::string> get() {
        std::lock_guard lock(mutex);
        return entries;
    }
};

// Polls `done` for up to `timeout`.
template <class F>
bool wait_for(F done, std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(200us);
    }
    return true;
}

BusOptions host_pumped() {
    BusOptions o;
    o.worker_count = 0;
    return o;
}

}  // namespace

// Contract 3: a sync subscriber runs on the publisher's thread before
// publish() returns; an async one runs on a worker.
TEST_CASE("sync runs on publisher thread") {
    Bus bus;
    std::thread::id sync_thread;
    std::atomic<bool> async_ran{false};
    std::thread::id async_thread;
    auto s = bus.subscribe(Filter(), [&](const Event&) { sync_thread = std::this_thread::get_id(); },
                           SubscribeOptions().sync());
    auto a = bus.subscribe(Filter(), [&](const Event&) {
        async_thread = std::this_thread::get_id();
        async_ran = true;
    });
    auto result = bus.publish(make_event("t"));
    CHECK(sync_thread == std::this_thread::get_id());
    CHECK(result.delivered == 1);
    CHECK(result.queued == 1);
    REQUIRE(bus.drain(5s).complete());
    CHECK(async_ran);
    CHECK(async_thread != std::this_thread::get_id());
}

// Contract 3: an async subscriber with concurrency 1 never overlaps itself,
// even with several workers and producers.
TEST_CASE("async handler never overlaps itself") {
    BusOptions options;
    options.worker_count = 2;
    Bus bus(options);
    std::atomic<int> inside{0};
    std::atomic<int> max_inside{0};
    std::atomic<int> count{0};
    auto sub = bus.subscribe(Filter(), [&](const Event&) {
        const int now = ++inside;
        int seen = max_inside.load();
        while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
        }
        // A short busy wait widens the window for an overlap; yield() would
        // hand the core to other processes for milliseconds on a busy host.
        std::atomic<int> spin{0};
        while (spin.fetch_add(1, std::memory_order_relaxed) < 200) {
        }
        --inside;
        ++count;
    });
    std::vector<std::thread> producers;
    for (int p = 0; p < 2; ++p) {
        producers.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) bus.publish(make_event("t"));
        });
    }
    for (auto& t : producers) t.join();
    REQUIRE(bus.drain(10s).complete());
    CHECK(count == 4000);
    CHECK(max_inside == 1);
}

TEST_CASE("concurrency above one runs in parallel") {
    BusOptions options;
    options.worker_count = 2;
    Bus bus(options);
    std::latch both(2);
    std::atomic<int> met{0};
    auto sub = bus.subscribe(
        Filter(),
        [&](const Event&) {
            both.count_down();
            // Returns only if the other call runs at the same time.
            if (both.try_wait() || wait_for([&] { return both.try_wait(); }, 5000ms)) ++met;
        },
        SubscribeOptions().with_concurrency(2));
    bus.publish(make_event("t", "1"));
    bus.publish(make_event("t", "2"));
    REQUIRE(bus.drain(10s).complete());
    CHECK(met == 2);
}

// Contract 4: nested publishes are queued and delivered after the current
// event, in FIFO order, and no handler is re-entered.
TEST_CASE("nested publish order is A B C D") {
    Bus bus(host_pumped());
    std::vector<std::string> seen;
    int depth = 0;
    int max_depth = 0;
    auto chain = bus.subscribe(
        Filter(),
        [&](const Event& e) {
            max_depth = std::max(max_depth, ++depth);
            seen.push_back(e.type());
            if (e.type() == "A") {
                bus.publish(make_event("B"));
                bus.publish(make_event("C"));
            } else if (e.type() == "B") {
                bus.publish(make_event("D"));
            }
            --depth;
        },
        SubscribeOptions().sync());
    std::vector<std::string> second;
    auto other = bus.subscribe(Filter(), [&](const Event& e) { second.push_back(e.type()); }, SubscribeOptions().sync());

    auto result = bus.publish(make_event("A"));
    CHECK_FALSE(result.deferred);
    CHECK(seen == std::vector<std::string>{"A", "B", "C", "D"});
    CHECK(second == std::vector<std::string>{"A", "B", "C", "D"});
    CHECK(max_depth == 1);
}

TEST_CASE("nested publish from async handler") {
    Bus bus;
    Log log;
    auto chain = bus.subscribe(Filter(), [&](const Event& e) {
        log.add("async:" + e.type());
        if (e.type() == "A") {
            auto r = bus.publish(make_event("B"));
            log.add(r.deferred ? "deferred" : "immediate");
        }
    });
    auto sync = bus.subscribe(Filter(), [&](const Event& e) { log.add("sync:" + e.type()); }, SubscribeOptions().sync());
    bus.publish(make_event("A"));
    REQUIRE(bus.drain(5s).complete());
    auto entries = log.get();
    // The sync subscriber of B runs on the worker after A's handler returned.
    auto pos = [&](const std::string& s) { return std::find(entries.begin(), entries.end(), s) - entries.begin(); };
    CHECK(pos("deferred") < pos("sync:B"));
    CHECK(pos("async:A") < pos("sync:B"));
    CHECK(pos("sync:B") < static_cast<long>(entries.size()));
    CHECK(pos("async:B") < static_cast<long>(entries.size()));
}

// Contract 1: no bus lock is held while user code runs, so a handler may
// call every bus function.
TEST_CASE("handler may call back into bus") {
    Bus bus;
    std::atomic<int> calls{0};
    std::vector<Subscription> created;
    std::mutex created_mutex;
    auto sub = bus.subscribe(
        Filter(),
        [&](const Event& e) {
            if (e.type() != "outer") return;
            auto metrics = bus.metrics();
            (void)metrics;
            auto s = bus.subscribe(filters::type("inner"), [&](const Event&) { ++calls; }, SubscribeOptions().sync());
            std::lock_guard lock(created_mutex);
            created.push_back(std::move(s));
            bus.publish(make_event("inner"));
        },
        SubscribeOptions().sync());
    std::thread other([&] { bus.publish(make_event("outer")); });
    bus.publish(make_event("outer"));
    other.join();
    REQUIRE(bus.drain(5s).complete());
    CHECK(calls >= 2);
}

// Contract 5: a subscriber added inside a handler does not see the event in
// flight but sees the next one.
TEST_CASE("subscribe inside handler misses in-flight event") {
    Bus bus(host_pumped());
    std::vector<std::string> late_seen;
    Subscription late;
    auto first = bus.subscribe(
        Filter(),
        [&](const Event& e) {
            if (!late) {
                late = bus.subscribe(Filter(), [&](const Event& x) { late_seen.push_back(x.id()); },
                                     SubscribeOptions().sync());
            }
            (void)e;
        },
        SubscribeOptions().sync());
    bus.publish(make_event("t", "1"));
    bus.publish(make_event("t", "2"));
    CHECK(late_seen == std::vector<std::string>{"2"});
}

// Contract 5: reset from another thread waits for a running call.
TEST_CASE("reset waits for running handler") {
    Bus bus;
    std::latch entered(1);
    std::atomic<bool> release{false};
    std::atomic<bool> finished{false};
    auto sub = bus.subscribe(Filter(), [&](const Event&) {
        entered.count_down();
        while (!release) std::this_thread::sleep_for(100us);
        std::this_thread::sleep_for(20ms);
        finished = true;
    });
    bus.publish(make_event("t"));
    entered.wait();
    std::thread releaser([&] {
        std::this_thread::sleep_for(20ms);
        release = true;
    });
    sub.reset();
    // reset() returned: the handler must have finished.
    CHECK(finished);
    releaser.join();
}

TEST_CASE("reset inside own handler returns") {
    Bus bus(host_pumped());
    Subscription sub;
    std::atomic<int> calls{0};
    std::atomic<bool> returned{false};
    sub = bus.subscribe(Filter(), [&](const Event&) {
        ++calls;
        sub.reset();
        returned = true;
    });
    for (int i = 0; i < 5; ++i) bus.publish(make_event("t"));
    bus.poll();
    CHECK(returned);
    CHECK(calls == 1);
    CHECK(bus.metrics().dropped[static_cast<std::size_t>(DropReason::unsubscribed)] == 4);
}

// A handler that drops the last reference to the object owning its
// subscription: the object's destructor resets the subscription from inside
// the handler's call.
TEST_CASE("handler dropping its own object") {
    struct Owner {
        Subscription sub;
        std::atomic<int>* destroyed;
        ~Owner() { ++*destroyed; }
    };
    for (Delivery delivery : {Delivery::sync, Delivery::async}) {
        Bus bus;
        std::atomic<int> destroyed{0};
        std::atomic<int> calls{0};
        auto owner = std::make_shared<Owner>();
        owner->destroyed = &destroyed;
        std::shared_ptr<Owner> holder = owner;
        std::mutex holder_mutex;
        SubscribeOptions options;
        options.delivery = delivery;
        options.track(owner);
        owner->sub = bus.subscribe(
            Filter(),
            [&](const Event&) {
                ++calls;
                std::lock_guard lock(holder_mutex);
                holder.reset();
            },
            options);
        owner.reset();
        bus.publish(make_event("t"));
        bus.publish(make_event("t"));
        REQUIRE(wait_for([&] { return destroyed.load() == 1; }));
        bus.drain(5s);
        CHECK(calls == 1);
        CHECK(bus.metrics().subscriptions == 0);
    }
}

// Lifetime tracking: once the tracked object is gone the handler is skipped
// and the drop is counted.
TEST_CASE("tracked object gone skips handler") {
    Bus bus(host_pumped());
    auto object = std::make_shared<int>(5);
    int calls = 0;
    auto sub = bus.subscribe(Filter(), [&](const Event&) { ++calls; }, SubscribeOptions().sync().track(object));
    bus.publish(make_event("t"));
    object.reset();
    bus.publish(make_event("t"));
    CHECK(calls == 1);
    CHECK(bus.metrics().dropped[static_cast<std::size_t>(DropReason::expired)] == 1);
}

// Contract 6: a throwing handler is counted and reported; delivery goes on.
TEST_CASE("throwing handler does not stop delivery") {
    Bus bus(host_pumped());
    std::vector<std::string> reasons;
    auto connection = bus.on_failed(
        [&](const Event&, std::uint64_t, std::string_view reason) { reasons.emplace_back(reason); });
    std::vector<std::string> logs;
    int later = 0;
    auto bad = bus.subscribe(Filter(), [](const Event&) { throw std::runtime_error("boom"); },
                             SubscribeOptions().sync().with_priority(10));
    auto bad_async = bus.subscribe(Filter(), [](const Event&) { throw 42; });
    auto good = bus.subscribe(Filter(), [&](const Event&) { ++later; }, SubscribeOptions().sync());
    bus.publish(make_event("t", "1"));
    bus.publish(make_event("t", "2"));
    bus.poll();
    CHECK(later == 2);
    auto m = bus.metrics();
    CHECK(m.failed == 4);
    CHECK(m.delivered == 2);
    REQUIRE(reasons.size() == 4);
    CHECK(reasons[0] == "boom");
    CHECK(std::count(reasons.begin(), reasons.end(), "a non-standard exception was thrown") == 2);
    CHECK(Bus::metrics_of(bad).failed == 2);
}

TEST_CASE("failures reach log callback") {
    BusOptions options = host_pumped();
    std::vector<std::string> lines;
    options.log = [&](LogLevel level, std::string_view line) {
        if (level == LogLevel::warning) lines.emplace_back(line);
    };
    Bus bus(options);
    auto bad = bus.subscribe(Filter(), [](const Event&) { throw std::runtime_error("boom"); },
                             SubscribeOptions().sync().with_name("auditor"));
    bus.publish(make_event("com.example.t", "ev-9"));
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("auditor") != std::string::npos);
    CHECK(lines[0].find("ev-9") != std::string::npos);
    CHECK(lines[0].find("boom") != std::string::npos);
}

// Typed handlers: native values pass through, JSON data decodes, and a
// decode failure is a handler failure with a reason naming the type.
TEST_CASE("typed handler decodes data") {
    Bus bus(host_pumped());
    std::vector<int> values;
    std::vector<std::string> failures;
    auto failed = bus.on_failed(
        [&](const Event&, std::uint64_t, std::string_view reason) { failures.emplace_back(reason); });
    auto typed = bus.subscribe(filters::type("reading"), [&](const Reading& r) { values.push_back(r.value); },
                               SubscribeOptions().sync());
    auto both = bus.subscribe(
        filters::type("reading"), [&](const Reading& r, const Event& e) { CHECK(e.type() == "reading"); (void)r; },
        SubscribeOptions().sync());

    bus.publish(EventBuilder().id("1").source("/s").type("reading"), Reading{"C", 21});
    bus.publish(EventBuilder().id("2").source("/s").type("reading").data_json({{"unit", "F"}, {"value", 70}}));
    bus.publish(EventBuilder().id("3").source("/s").type("reading").data_json({{"unit", "F"}}));
    bus.publish(EventBuilder().id("4").source("/s").type("reading"));

    CHECK(values == std::vector<int>{21, 70});
    REQUIRE(failures.size() == 4);
    CHECK(failures[0].find("Reading") != std::string::npos);
    CHECK(failures[0].find("value") != std::string::npos);
}

TEST_CASE("native value reaches typed handler") {
    Bus bus(host_pumped());
    const Reading* address = nullptr;
    EventPtr kept;
    auto ptr_sub = bus.subscribe(Filter(), [&](const EventPtr& e) { kept = e; }, SubscribeOptions().sync());
    auto typed = bus.subscribe(Filter(), [&](const Reading& r) { address = &r; }, SubscribeOptions().sync());
    bus.publish(EventBuilder().id("1").source("/s").type("reading"), Reading{"C", 1});
    REQUIRE(kept);
    CHECK(address == kept->native_data<Reading>());
}

// Contract 7, one test per policy.
TEST_CASE("drop newest keeps first events") {
    Bus bus(host_pumped());
    std::vector<std::string> seen;
    auto sub = bus.subscribe(Filter(), [&](const Event& e) { seen.push_back(e.id()); },
                             SubscribeOptions().with_capacity(4).with_overflow(OverflowPolicy::drop_newest));
    for (int i = 0; i < 10; ++i) bus.publish(make_event("t", std::to_string(i)));
    CHECK(Bus::metrics_of(sub).queue_depth == 4);
    bus.poll();
    CHECK(seen == std::vector<std::string>{"0", "1", "2", "3"});
    CHECK(bus.metrics().dropped[static_cast<std::size_t>(DropReason::queue_full)] == 6);
    CHECK(Bus::metrics_of(sub).dropped == 6);
}

TEST_CASE("drop oldest keeps last events") {
    Bus bus(host_pumped());
    std::vector<std::string> seen;
    std::vector<std::string> evicted;
    auto dropped = bus.on_dropped([&](const Event& e, std::uint64_t, DropReason r) {
        if (r == DropReason::evicted) evicted.push_back(e.id());
    });
    auto sub = bus.subscribe(Filter(), [&](const Event& e) { seen.push_back(e.id()); },
                             SubscribeOptions().with_capacity(4).with_overflow(OverflowPolicy::drop_oldest));
    for (int i = 0; i < 10; ++i) bus.publish(make_event("t", std::to_string(i)));
    CHECK(Bus::metrics_of(sub).queue_depth == 4);
    bus.poll();
    CHECK(seen == std::vector<std::string>{"6", "7", "8", "9"});
    CHECK(evicted == std::vector<std::string>{"0", "1", "2", "3", "4", "5"});
    CHECK(bus.metrics().dropped[static_cast<std::size_t>(DropReason::evicted)] == 6);
}

TEST_CASE("fail policy throws publish error") {
    Bus bus(host_pumped());
    int other = 0;
    auto sub = bus.subscribe(Filter(), [](const Event&) {},
                             SubscribeOptions().with_capacity(2).with_overflow(OverflowPolicy::fail).with_name("slow"));
    auto sync = bus.subscribe(Filter(), [&](const Event&) { ++other; }, SubscribeOptions().sync());
    bus.publish(make_event("t", "1"));
    bus.publish(make_event("t", "2"));
    try {
        bus.publish(make_event("t", "3"));
        FAIL("publish did not throw");
    } catch (const PublishError& e) {
        CHECK(e.reason() == DropReason::rejected);
        CHECK(std::string(e.what()).find("slow") != std::string::npos);
        CHECK(std::string(e.what()).find("capacity 2") != std::string::npos);
    }
    // The other subscriber still received the event.
    CHECK(other == 3);
    CHECK(bus.metrics().dropped[static_cast<std::size_t>(DropReason::rejected)] == 1);
}

TEST_CASE("block policy times out publisher") {
    BusOptions options;
    options.worker_count = 1;
    Bus bus(options);
    std::latch release(1);
    auto sub = bus.subscribe(Filter(), [&](const Event&) { release.wait(); },
                             SubscribeOptions().with_capacity(2).with_overflow(OverflowPolicy::block).with_block_timeout(50ms));
    // One event is taken by the worker (and blocks), two fill the mailbox.
    bus.publish(make_event("t", "0"));
    REQUIRE(wait_for([&] { return Bus::metrics_of(sub).queue_depth == 0; }));
    bus.publish(make_event("t", "1"));
    bus.publish(make_event("t", "2"));
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(bus.publish(make_event("t", "3")), PublishError);
    const auto waited = std::chrono::steady_clock::now() - start;
    CHECK(waited >= 45ms);
    CHECK(waited < 2s);
    CHECK(bus.metrics().dropped[static_cast<std::size_t>(DropReason::timed_out)] == 1);

    release.count_down();
    CHECK(bus.drain(5s).complete());
    CHECK(Bus::metrics_of(sub).delivered == 3);

    // A publisher blocked on a full mailbox continues once room appears. The
    // deadline is long so that a loaded machine cannot turn the wait into a
    // timeout, and the releasing thread joins even if a check throws.
    std::latch release_second(1);
    auto second = bus.subscribe(Filter(), [&](const Event&) { release_second.wait(); },
                                SubscribeOptions().with_capacity(2).with_overflow(OverflowPolicy::block).with_block_timeout(30s));
    sub.reset();
    bus.publish(make_event("u", "0"));
    REQUIRE(wait_for([&] { return Bus::metrics_of(second).queue_depth == 0; }));
    bus.publish(make_event("u", "1"));
    bus.publish(make_event("u", "2"));
    std::jthread unblock([&] {
        std::this_thread::sleep_for(20ms);
        release_second.count_down();
    });
    const auto blocked_at = std::chrono::steady_clock::now();
    const auto result = bus.publish(make_event("u", "3"));
    CHECK(result.queued == 1);
    CHECK(std::chrono::steady_clock::now() - blocked_at >= 15ms);
    unblock.join();
    CHECK(bus.drain(5s).complete());
    CHECK(Bus::metrics_of(second).delivered == 4);
}

// Contract 8: drain has a deadline even if a handler never returns.
TEST_CASE("drain returns at deadline") {
    Bus bus;
    std::latch release(1);
    auto stuck = bus.subscribe(Filter(), [&](const Event&) { release.wait(); });
    for (int i = 0; i < 5; ++i) bus.publish(make_event("t", std::to_string(i)));
    const auto start = std::chrono::steady_clock::now();
    auto left = bus.drain(100ms);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= 100ms);
    CHECK(took < 2s);
    CHECK(left.running == 1);
    CHECK(left.left == 4);
    CHECK_FALSE(left.complete());
    release.count_down();
    CHECK(bus.drain(5s).complete());
}

TEST_CASE("stop now drops and reports") {
    Bus bus;
    std::latch release(1);
    std::atomic<int> calls{0};
    auto stuck = bus.subscribe(Filter(), [&](const Event&) {
        ++calls;
        release.wait();
    });
    for (int i = 0; i < 5; ++i) bus.publish(make_event("t", std::to_string(i)));
    REQUIRE(wait_for([&] { return calls.load() == 1; }));
    auto report = bus.stop_now(20ms);
    CHECK(report.left == 4);
    CHECK(report.running == 1);
    CHECK(bus.stopped());
    bus.publish(make_event("t", "late"));
    release.count_down();
    // The worker drops the events it held once the handler returns.
    CHECK(wait_for([&] { return bus.metrics().dropped[static_cast<std::size_t>(DropReason::stopped)] == 5; }));
    CHECK(calls == 1);
}

TEST_CASE("subscription outlives bus safely") {
    Subscription sub;
    {
        Bus bus;
        sub = bus.subscribe(Filter(), [](const Event&) {});
        bus.publish(make_event("t"));
    }
    CHECK_FALSE(sub.active());
    sub.reset();
    CHECK(sub.id() == 0);
}

TEST_CASE("create and stop 10000 times") {
    const char* scale_env = std::getenv("CEBUS_TEST_SCALE");
    const int scale = scale_env ? std::max(1, std::atoi(scale_env)) : 1;
    const int rounds = 10000 / scale;
    BusOptions options;
    options.worker_count = 2;
    for (int i = 0; i < rounds; ++i) {
        Bus bus(options);
        if (i % 2 == 0) bus.stop_now(0ns);
    }
    SUCCEED("created and stopped " << rounds << " buses");
}

// Contract 10: priority first, then registration order.
TEST_CASE("invocation order is priority then registration") {
    Bus bus(host_pumped());
    std::vector<int> order;
    std::vector<int> priorities(100);
    for (int i = 0; i < 100; ++i) priorities[i] = i % 7;
    std::mt19937 rng(12345);
    std::shuffle(priorities.begin(), priorities.end(), rng);

    std::vector<Subscription> subs;
    std::vector<std::pair<int, int>> expected;  // (priority, registration)
    for (int i = 0; i < 100; ++i) {
        // Half use the type index, half a general filter: the merge must
        // interleave them correctly.
        Filter f = i % 2 ? filters::type("t") : filters::prefix("type", "t");
        subs.push_back(bus.subscribe(f, [&order, i](const Event&) { order.push_back(i); },
                                     SubscribeOptions().sync().with_priority(priorities[i])));
        expected.emplace_back(priorities[i], i);
    }
    std::stable_sort(expected.begin(), expected.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::vector<int> expected_order;
    for (auto& e : expected) expected_order.push_back(e.second);

    bus.publish(make_event("t"));
    CHECK(order == expected_order);
    order.clear();
    bus.publish(make_event("t"));
    CHECK(order == expected_order);
}

// Contract 9: exact type goes through the index; other subscribers' filters
// are not evaluated.
TEST_CASE("type index skips other types") {
    struct CountingNode : FilterNode {
        std::atomic<int>* calls;
        explicit CountingNode(std::atomic<int>* c) : calls(c) {}
        bool match(const Event&) const override {
            ++*calls;
            return true;
        }
        nlohmann::json to_json() const override { return nlohmann::json::object(); }
    };
    Bus bus(host_pumped());
    std::vector<std::atomic<int>> calls(200);
    std::vector<Subscription> subs;
    for (int i = 0; i < 200; ++i) {
        Filter counting(std::make_shared<CountingNode>(&calls[i]));
        subs.push_back(bus.subscribe(filters::all({filters::type("type." + std::to_string(i)), counting}),
                                     [](const Event&) {}, SubscribeOptions().sync()));
    }
    auto result = bus.publish(make_event("type.17"));
    CHECK(result.matched == 1);
    int evaluated = 0;
    for (auto& c : calls) evaluated += c.load();
    CHECK(evaluated == 1);
    CHECK(calls[17] == 1);
}

TEST_CASE("host pumped bus runs on host thread") {
    Bus bus(host_pumped());
    std::thread::id ran_on;
    int calls = 0;
    auto sub = bus.subscribe(Filter(), [&](const Event&) {
        ran_on = std::this_thread::get_id();
        ++calls;
    });
    for (int i = 0; i < 10; ++i) bus.publish(make_event("t"));
    CHECK(calls == 0);
    CHECK(bus.poll(3) == 3);
    CHECK(calls == 3);
    CHECK(ran_on == std::this_thread::get_id());
    std::thread late([&] {
        std::this_thread::sleep_for(20ms);
        bus.publish(make_event("t"));
    });
    const auto handled = bus.run_for(200ms);
    late.join();
    CHECK(handled == 8);
    CHECK(calls == 11);
}

TEST_CASE("metrics count delivery and latency") {
    Bus bus;
    auto sub = bus.subscribe(filters::type("a"), [](const Event&) {}, SubscribeOptions().with_name("lat"));
    for (int i = 0; i < 100; ++i) bus.publish(make_event(i % 2 ? "a" : "b"));
    REQUIRE(bus.drain(5s).complete());
    auto m = bus.metrics();
    CHECK(m.published == 100);
    CHECK(m.unmatched == 50);
    CHECK(m.delivered == 50);
    CHECK(m.subscriptions == 1);
    auto s = Bus::metrics_of(sub);
    CHECK(s.name == "lat");
    CHECK(s.delivered == 50);
    CHECK(s.queue_depth == 0);
    CHECK(s.latency.samples() >= 1);
    CHECK(s.latency.samples() <= 50);
    CHECK(s.latency.quantile_upper_bound_ns(0.5) > 0);
    CHECK(bus.subscription_metrics().size() == 1);
}

TEST_CASE("delivered signal only when connected") {
    Bus bus(host_pumped());
    int signalled = 0;
    auto sub = bus.subscribe(Filter(), [](const Event&) {}, SubscribeOptions().sync());
    bus.publish(make_event("t"));
    auto c = bus.on_delivered([&](const Event&, std::uint64_t id) {
        CHECK(id == sub.id());
        ++signalled;
    });
    bus.publish(make_event("t"));
    c.disconnect();
    bus.publish(make_event("t"));
    CHECK(signalled == 1);
}

TEST_CASE("invalid subscribe options rejected") {
    Bus bus(host_pumped());
    CHECK_THROWS_AS(bus.subscribe(Filter(), [](const Event&) {}, SubscribeOptions().with_concurrency(0)),
                    std::invalid_argument);
    CHECK_THROWS_AS(bus.subscribe_raw(Filter(), {}, {}), std::invalid_argument);
    CHECK_THROWS_AS(bus.publish(EventPtr()), std::invalid_argument);
}
