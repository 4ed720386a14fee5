// Router behaviour under real threads: ordering and exactly-once delivery,
// unsubscribe races, cross-publishing handlers, bounded memory under a slow
// subscriber, and subscribe/unsubscribe churn.
#include <catch2/catch.hpp>

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <cebus/bus.hpp>

using namespace cebus;
using namespace std::chrono_literals;

namespace {

// Sanitizer builds may divide loop counts by CEBUS_TEST_SCALE.
int scaled(int n) {
    const char* env = std::getenv("CEBUS_TEST_SCALE");
    const int scale = env ? std::max(1, std::atoi(env)) : 1;
    return std::max(1, n / scale);
}

struct Payload {
    int producer = 0;
    int sequence = 0;
};
void to_json(nlohmann::json& j, const Payload& p) { j = {{"p", p.producer}, {"s", p.sequence}}; }
void from_json(const nlohmann::json& j, Payload& p) {
    j.at("p").get_to(p.producer);
    j.at("s").get_to(p.sequence);
}

std::size_t heap_in_use() {
    const struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

}  // namespace

// Contract 2 and exactly-once: every subscriber sees every event once, and
// the events of each producer in publish order.
TEST_CASE("producers by subscribers exactly once") {
    const int producers = 4;
    const int events = scaled(20000);
    const int subscribers = 6;
    BusOptions options;
    options.worker_count = 2;
    Bus bus(options);

    struct Seen {
        std::vector<int> next;  // next expected sequence per producer
        std::uint64_t checksum = 0;
        std::uint64_t count = 0;
        bool in_order = true;
    };
    std::vector<Seen> seen(subscribers);
    std::vector<Subscription> subs;
    for (int k = 0; k < subscribers; ++k) {
        seen[k].next.assign(producers, 0);
        SubscribeOptions o;
        // Mix sync and async delivery; sync ones run on producer threads.
        o.delivery = k % 3 == 2 ? Delivery::sync : Delivery::async;
        std::mutex* guard = new std::mutex;  // sync subscribers run concurrently
        std::shared_ptr<std::mutex> owned(guard);
        subs.push_back(bus.subscribe(
            filters::type("load"),
            [&seen, k, owned](const Payload& p) {
                std::lock_guard lock(*owned);
                Seen& s = seen[k];
                if (s.next[p.producer] != p.sequence) s.in_order = false;
                s.next[p.producer] = p.sequence + 1;
                s.checksum += static_cast<std::uint64_t>(p.producer) * 1000003u + static_cast<std::uint64_t>(p.sequence);
                ++s.count;
            },
            o.with_overflow(OverflowPolicy::block).with_block_timeout(10000ms)));
    }

    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            EventBuilder b;
            b.source("/producer/" + std::to_string(p)).type("load");
            for (int i = 0; i < events; ++i) {
                b.id(std::to_string(p) + "-" + std::to_string(i));
                bus.publish(b, Payload{p, i});
            }
        });
    }
    for (auto& t : threads) t.join();
    REQUIRE(bus.drain(20s).complete());

    std::uint64_t expected_checksum = 0;
    for (int p = 0; p < producers; ++p) {
        for (int i = 0; i < events; ++i) {
            expected_checksum += static_cast<std::uint64_t>(p) * 1000003u + static_cast<std::uint64_t>(i);
        }
    }
    for (int k = 0; k < subscribers; ++k) {
        INFO("subscriber " << k);
        CHECK(seen[k].count == static_cast<std::uint64_t>(producers) * events);
        CHECK(seen[k].in_order);
        CHECK(seen[k].checksum == expected_checksum);
    }
    auto m = bus.metrics();
    CHECK(m.dropped_total() == 0);
    CHECK(m.failed == 0);
}

// Two topics whose handlers publish to each other, from two threads, for
// sync and async delivery: must finish, not deadlock.
TEST_CASE("cross publishing topics do not deadlock") {
    for (Delivery delivery : {Delivery::sync, Delivery::async}) {
        BusOptions options;
        options.worker_count = 2;
        Bus bus(options);
        std::atomic<int> hops{0};
        const int limit = scaled(2000);
        auto forward = [&](const std::string& target) {
            return [&, target](const Event& e) {
                const int hop = std::stoi(e.id());
                ++hops;
                if (hop < limit) {
                    bus.publish(EventBuilder().id(std::to_string(hop + 1)).source("/ping").type(target));
                }
            };
        };
        SubscribeOptions o;
        o.delivery = delivery;
        auto a = bus.subscribe(filters::type("A"), forward("B"), o);
        auto b = bus.subscribe(filters::type("B"), forward("A"), o);
        std::thread t1([&] { bus.publish(EventBuilder().id("0").source("/ping").type("A")); });
        std::thread t2([&] { bus.publish(EventBuilder().id("0").source("/ping").type("B")); });
        t1.join();
        t2.join();
        REQUIRE(bus.drain(20s).complete());
        CHECK(hops == 2 * (limit + 1));
    }
}

// Contract 5 under a race: once reset() returns on this thread, the handler
// never runs again, while other threads keep publishing.
TEST_CASE("destroyed subscription never runs again") {
    BusOptions options;
    options.worker_count = 2;
    Bus bus(options);
    std::atomic<bool> stop{false};
    std::vector<std::thread> producers;
    for (int p = 0; p < 2; ++p) {
        producers.emplace_back([&] {
            while (!stop.load()) bus.publish(EventBuilder().id("x").source("/s").type("t"));
        });
    }
    const int rounds = scaled(300);
    int violations = 0;
    for (int r = 0; r < rounds; ++r) {
        auto state = std::make_shared<std::atomic<int>>(0);  // 1 once reset returned
        std::atomic<int> late_calls{0};
        SubscribeOptions o;
        o.delivery = r % 2 ? Delivery::sync : Delivery::async;
        auto sub = bus.subscribe(
            Filter(),
            [state, &late_calls](const Event&) {
                if (state->load() == 1) ++late_calls;
                std::this_thread::yield();
                if (state->load() == 1) ++late_calls;
            },
            o);
        std::this_thread::sleep_for(std::chrono::microseconds(100 + (r % 7) * 50));
        sub.reset();
        state->store(1);
        std::this_thread::sleep_for(200us);
        violations += late_calls.load();
    }
    stop = true;
    for (auto& t : producers) t.join();
    CHECK(violations == 0);
}

// Resetting from a different thread while the handler is in its call: the
// destructor blocks until the call returns, and the handler object is
// destroyed by then.
TEST_CASE("handler state released after reset") {
    Bus bus;
    auto captured = std::make_shared<int>(1);
    std::weak_ptr<int> watch = captured;
    std::latch entered(1);
    std::atomic<bool> release{false};
    auto sub = bus.subscribe(Filter(), [captured, &entered, &release](const Event&) {
        entered.count_down();
        while (!release) std::this_thread::sleep_for(100us);
    });
    captured.reset();
    bus.publish(EventBuilder().id("1").source("/s").type("t"));
    entered.wait();
    std::thread t([&] {
        std::this_thread::sleep_for(10ms);
        release = true;
    });
    sub.reset();
    CHECK(watch.expired());
    t.join();
}

// Contract 7 under load: a slow subscriber's mailbox stays bounded for
// each policy, and drops are counted.
TEST_CASE("slow subscriber keeps memory bounded") {
    for (OverflowPolicy policy : {OverflowPolicy::drop_newest, OverflowPolicy::drop_oldest, OverflowPolicy::fail,
                                  OverflowPolicy::block}) {
        INFO("policy " << static_cast<int>(policy));
        BusOptions options;
        options.worker_count = 1;
        Bus bus(options);
        const std::size_t capacity = 64;
        std::atomic<std::int64_t> max_depth{0};
        Subscription sub;
        sub = bus.subscribe(
            Filter(), [&](const Event&) { std::this_thread::sleep_for(20us); },
            SubscribeOptions().with_capacity(capacity).with_overflow(policy).with_block_timeout(1ms));
        const int events = scaled(5000);
        std::size_t failures = 0;
        std::thread producer([&] {
            for (int i = 0; i < events; ++i) {
                try {
                    bus.publish(EventBuilder().id(std::to_string(i)).source("/s").type("t"));
                } catch (const PublishError&) {
                    ++failures;
                }
                const auto depth = static_cast<std::int64_t>(Bus::metrics_of(sub).queue_depth);
                if (depth > max_depth) max_depth = depth;
            }
        });
        producer.join();
        REQUIRE(bus.drain(20s).complete());
        auto m = bus.metrics();
        auto s = Bus::metrics_of(sub);
        // A runner takes up to 64 events out of the mailbox per batch.
        CHECK(max_depth <= static_cast<std::int64_t>(capacity + 64));
        CHECK(s.delivered + s.dropped == static_cast<std::uint64_t>(events));
        CHECK(s.dropped > 0);
        CHECK(m.dropped_total() == s.dropped);
        if (policy == OverflowPolicy::fail || policy == OverflowPolicy::block) CHECK(failures == s.dropped);
        if (policy == OverflowPolicy::block) {
            CHECK(m.dropped[static_cast<std::size_t>(DropReason::timed_out)] == s.dropped);
        }
    }
}

// Contract 8: subscriptions left alive when the bus goes, and a bus
// destroyed while producers still run their last publishes.
TEST_CASE("bus destroyed with live handles") {
    std::vector<Subscription> subs;
    std::atomic<int> calls{0};
    {
        BusOptions options;
        options.worker_count = 2;
        Bus bus(options);
        for (int i = 0; i < 10; ++i) {
            subs.push_back(bus.subscribe(Filter(), [&](const Event&) { ++calls; }));
        }
        for (int i = 0; i < 1000; ++i) bus.publish(EventBuilder().id("1").source("/s").type("t"));
    }
    const int after = calls.load();
    for (auto& s : subs) s.reset();
    CHECK(calls == after);
}

// 1,000,000 subscribe/unsubscribe cycles with no publish: heap use returns
// to where it started.
TEST_CASE("subscribe churn returns memory") {
    Bus bus;
    const int cycles = scaled(1000000);
    auto filter = filters::type("churn");
    // Warm up allocator caches and the registry's node pools.
    for (int i = 0; i < 1000; ++i) {
        auto s = bus.subscribe(filter, [](const Event&) {});
    }
    malloc_trim(0);
    const std::size_t before = heap_in_use();
    for (int i = 0; i < cycles; ++i) {
        auto s = bus.subscribe(filter, [](const Event&) {});
    }
    malloc_trim(0);
    const std::size_t after = heap_in_use();
    INFO("heap before " << before << " after " << after);
    CHECK(after <= before + 64 * 1024);
    CHECK(bus.metrics().subscriptions == 0);
}

// Contract 5 under AddressSanitizer: the handler reads a heap object that is
// freed as soon as reset() returns, while another thread publishes in a
// tight loop. The publisher marks a call in progress with plain stores and
// a compiler fence, and reset() pays the full fence (membarrier). A handler
// call that started or continued after reset() returned would read freed
// memory, which ASan reports.
TEST_CASE("reset under tight publish loop") {
    BusOptions options;
    options.worker_count = 1;
    Bus bus(options);
    std::atomic<bool> stop{false};
    std::thread producer([&] {
        const EventPtr event = EventBuilder().id("x").source("/s").type("t").build();
        while (!stop.load(std::memory_order_relaxed)) bus.publish(event);
    });
    const int rounds = scaled(2000);
    int reached = 0;
    for (int r = 0; r < rounds; ++r) {
        auto* calls = new std::atomic<std::uint64_t>(0);
        SubscribeOptions o;
        o.delivery = r % 2 ? Delivery::sync : Delivery::async;
        auto sub = bus.subscribe(
            filters::type("t"), [calls](const Event&) { calls->fetch_add(1, std::memory_order_relaxed); }, o);
        const auto until = std::chrono::steady_clock::now() + 20ms;
        while (calls->load(std::memory_order_relaxed) < 3 && std::chrono::steady_clock::now() < until) {
            std::this_thread::yield();
        }
        if (calls->load(std::memory_order_relaxed) > 0) ++reached;
        sub.reset();
        delete calls;
    }
    stop = true;
    producer.join();
    // Most rounds must have had the handler running when reset() came.
    CHECK(reached > rounds / 2);
}

// The per-thread publish counters: threads that come and go hand their
// counter blocks on, and nothing they counted is lost; a sync subscriber
// published to from several threads at once counts every call.
TEST_CASE("counters survive thread churn") {
    BusOptions options;
    options.worker_count = 0;
    Bus bus(options);
    auto sub = bus.subscribe(filters::type("t"), [](const Event&) {}, SubscribeOptions().sync());
    const EventPtr hit = EventBuilder().id("1").source("/s").type("t").build();
    const EventPtr miss = EventBuilder().id("2").source("/s").type("other").build();
    const int waves = scaled(40);
    for (int wave = 0; wave < waves; ++wave) {
        std::vector<std::thread> threads;
        for (int t = 0; t < 3; ++t) {
            threads.emplace_back([&] {
                for (int i = 0; i < 100; ++i) {
                    bus.publish(hit);
                    bus.publish(miss);
                }
            });
        }
        for (auto& t : threads) t.join();
    }
    const auto m = bus.metrics();
    const auto expected = static_cast<std::uint64_t>(waves) * 3 * 100;
    CHECK(m.published == 2 * expected);
    CHECK(m.unmatched == expected);
    CHECK(m.delivered == expected);
    CHECK(Bus::metrics_of(sub).delivered == expected);
}
