// Router benchmark: every row runs cebus side by side with the baselines
// it is judged against, in one process on one machine.
//
//   bench_bus [--json FILE] [--quick] [--only ROW]
//
// --only runs one group of rows (sync, async, built, fanout, types,
// latency, memory), for profiling under perf or callgrind.
//
// Rows: sync publish to 1 and 10 subscribers vs a std::function loop and
// Boost.Signals2; async 1 producer -> 1 subscriber vs a raw moodycamel queue
// and a mutex + condition variable queue, with prebuilt and freshly built
// events; fan-out to 64 async subscribers; 10 vs 10,000 subscriptions on
// distinct types; publish-to-handler latency with the worker spinning and
// parked; heap bytes per queued event and per subscription.
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/signals2/signal.hpp>
#include <concurrentqueue/concurrentqueue.h>
#include <nlohmann/json.hpp>

#include <cebus/bus.hpp>

using namespace cebus;
using Clock = std::chrono::steady_clock;

namespace {

bool quick = false;
std::string only;
nlohmann::json results = nlohmann::json::object();

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Best of `reps` runs of f(), which returns seconds for `ops` operations;
// the result is nanoseconds per operation.
template <class F>
double best_ns(int reps, std::size_t ops, F f) {
    double best = 1e300;
    for (int r = 0; r < reps; ++r) best = std::min(best, f());
    return best * 1e9 / static_cast<double>(ops);
}

EventPtr prebuilt() {
    return EventBuilder()
        .id("evt-1")
        .source("/bench")
        .type("com.example.bench")
        .data_json({{"value", 1}})
        .build();
}

// 200 bytes of JSON data and three short attributes, as a new event per call.
const std::string& json_200() {
    static const std::string text = [] {
        std::string s = R"({"order":"A-1","items":[)";
        while (s.size() < 186) s += R"({"n":1},)";
        s.back() = ']';
        s += R"(,"x":"pad"})";
        return s;
    }();
    return text;
}

EventPtr fresh(std::uint64_t i) {
    return EventBuilder()
        .id(std::to_string(i))
        .source("/bench")
        .type("com.example.bench")
        .datacontenttype("application/json")
        .data(json_200())
        .build();
}

void print_row(const std::string& name, const std::string& text) { std::printf("%-44s %s\n", name.c_str(), text.c_str()); }

// ---- Sync publish -------------------------------------------------------------------

void bench_sync(int subscribers) {
    const std::size_t n = quick ? 200000 : 3000000;
    EventPtr event = prebuilt();
    std::uint64_t sink = 0;

    std::vector<std::function<void(const Event&)>> loop;
    for (int i = 0; i < subscribers; ++i) loop.emplace_back([&sink](const Event& e) { sink += e.id().size(); });
    const double loop_ns = best_ns(3, n, [&] {
        const auto start = Clock::now();
        for (std::size_t i = 0; i < n; ++i) {
            for (auto& f : loop) f(*event);
        }
        return seconds_since(start);
    });

    boost::signals2::signal<void(const Event&)> signal;
    for (int i = 0; i < subscribers; ++i) signal.connect([&sink](const Event& e) { sink += e.id().size(); });
    const double signals_ns = best_ns(3, n / 4, [&] {
        const auto start = Clock::now();
        for (std::size_t i = 0; i < n / 4; ++i) signal(*event);
        return seconds_since(start);
    });

    BusOptions options;
    options.worker_count = 0;
    Bus bus(options);
    std::vector<Subscription> subs;
    for (int i = 0; i < subscribers; ++i) {
        subs.push_back(bus.subscribe(filters::type("com.example.bench"),
                                     [&sink](const Event& e) { sink += e.id().size(); }, SubscribeOptions().sync()));
    }
    const double bus_ns = best_ns(3, n, [&] {
        const auto start = Clock::now();
        for (std::size_t i = 0; i < n; ++i) bus.publish(event);
        return seconds_since(start);
    });

    const std::string key = std::string("sync_").append(std::to_string(subscribers));
    results[key] = {{"cebus_ns", bus_ns},
                    {"function_loop_ns", loop_ns},
                    {"signals2_ns", signals_ns},
                    {"vs_loop", bus_ns / loop_ns},
                    {"signals2_speedup", signals_ns / bus_ns},
                    {"sink", sink % 2}};
    char text[256];
    std::snprintf(text, sizeof text, "cebus %.1f ns, loop %.1f ns, signals2 %.1f ns: %.2fx loop, %.1fx faster than signals2",
                  bus_ns, loop_ns, signals_ns, bus_ns / loop_ns, signals_ns / bus_ns);
    print_row(std::string("sync publish, ").append(std::to_string(subscribers)) + " subscriber(s)", text);
}

// ---- Async one producer to one consumer --------------------------------------------

template <class Make>
double raw_queue_rate(std::size_t n, Make make) {
    moodycamel::ConcurrentQueue<EventPtr> queue;
    std::atomic<bool> done{false};
    std::uint64_t sink = 0;
    std::thread consumer([&] {
        EventPtr items[64];
        std::size_t got = 0;
        while (got < n) {
            const std::size_t k = queue.try_dequeue_bulk(items, 64);
            for (std::size_t i = 0; i < k; ++i) {
                sink += items[i]->id().size();
                items[i].reset();
            }
            got += k;
        }
        done = true;
    });
    moodycamel::ProducerToken token(queue);
    const auto start = Clock::now();
    for (std::size_t i = 0; i < n; ++i) queue.enqueue(token, make(i));
    consumer.join();
    const double s = seconds_since(start);
    return static_cast<double>(n) / s + static_cast<double>(sink % 2);
}

template <class Make>
double mutex_queue_rate(std::size_t n, Make make) {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<EventPtr> queue;
    std::uint64_t sink = 0;
    std::thread consumer([&] {
        std::size_t got = 0;
        std::deque<EventPtr> local;
        while (got < n) {
            {
                std::unique_lock lock(mutex);
                cv.wait(lock, [&] { return !queue.empty(); });
                local.swap(queue);
            }
            for (auto& e : local) sink += e->id().size();
            got += local.size();
            local.clear();
        }
    });
    const auto start = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
        EventPtr e = make(i);
        {
            std::lock_guard lock(mutex);
            queue.push_back(std::move(e));
        }
        cv.notify_one();
    }
    consumer.join();
    const double s = seconds_since(start);
    return static_cast<double>(n) / s + static_cast<double>(sink % 2);
}

template <class Make>
double bus_rate(std::size_t n, Make make) {
    BusOptions options;
    options.worker_count = 1;
    options.spin_before_park = std::chrono::microseconds(200);
    Bus bus(options);
    std::atomic<std::size_t> got{0};
    std::uint64_t sink = 0;
    auto sub = bus.subscribe(filters::type("com.example.bench"), [&](const Event& e) {
        sink += e.id().size();
        got.store(got.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    });
    const auto start = Clock::now();
    for (std::size_t i = 0; i < n; ++i) bus.publish(make(i));
    while (got.load(std::memory_order_acquire) < n) std::this_thread::yield();
    const double s = seconds_since(start);
    return static_cast<double>(n) / s + static_cast<double>(sink % 2);
}

template <class Make>
void bench_async(const std::string& label, const std::string& key, std::size_t n, Make make) {
    double raw = 0;
    double mutex = 0;
    double bus = 0;
    for (int r = 0; r < 3; ++r) {
        raw = std::max(raw, raw_queue_rate(n, make));
        mutex = std::max(mutex, mutex_queue_rate(n, make));
        bus = std::max(bus, bus_rate(n, make));
    }
    results[key] = {{"cebus_per_s", bus},
                    {"raw_moodycamel_per_s", raw},
                    {"mutex_queue_per_s", mutex},
                    {"vs_raw", bus / raw},
                    {"vs_mutex", bus / mutex}};
    char text[256];
    std::snprintf(text, sizeof text, "cebus %.2f M/s, raw queue %.2f M/s, mutex queue %.2f M/s: %.2fx raw, %.2fx mutex",
                  bus / 1e6, raw / 1e6, mutex / 1e6, bus / raw, bus / mutex);
    print_row(label, text);
}

// ---- Fan-out ---------------------------------------------------------------------------

void bench_fanout() {
    const std::size_t n = quick ? 20000 : 200000;
    const int subscribers = 64;
    BusOptions options;
    options.worker_count = 1;
    Bus bus(options);
    std::atomic<std::uint64_t> got{0};
    std::vector<Subscription> subs;
    for (int i = 0; i < subscribers; ++i) {
        subs.push_back(bus.subscribe(Filter(), [&](const Event&) { got.fetch_add(1, std::memory_order_relaxed); }));
    }
    EventPtr event = prebuilt();
    const auto start = Clock::now();
    for (std::size_t i = 0; i < n; ++i) bus.publish(event);
    bus.drain(std::chrono::seconds(60));
    const double s = seconds_since(start);
    const double deliveries = static_cast<double>(got.load()) / s;
    results["fanout_64"] = {{"events_per_s", static_cast<double>(n) / s}, {"deliveries_per_s", deliveries}};
    char text[256];
    std::snprintf(text, sizeof text, "%.2f M events/s, %.2f M deliveries/s", static_cast<double>(n) / s / 1e6,
                  deliveries / 1e6);
    print_row("fan-out to 64 async subscribers", text);
}

// ---- Routing cost with many subscriptions ---------------------------------------------

void bench_many_types() {
    const std::size_t n = quick ? 200000 : 2000000;
    auto measure = [&](int subscriptions) {
        BusOptions options;
        options.worker_count = 0;
        Bus bus(options);
        std::uint64_t sink = 0;
        std::vector<Subscription> subs;
        for (int i = 0; i < subscriptions; ++i) {
            subs.push_back(bus.subscribe(filters::type(std::string("com.example.type.").append(std::to_string(i))),
                                         [&sink](const Event& e) { sink += e.id().size(); }, SubscribeOptions().sync()));
        }
        EventPtr event = EventBuilder().id("1").source("/bench").type("com.example.type.7").build();
        return best_ns(3, n, [&] {
            const auto start = Clock::now();
            for (std::size_t i = 0; i < n; ++i) bus.publish(event);
            return seconds_since(start);
        });
    };
    const double few = measure(10);
    const double many = measure(10000);
    results["types_10_vs_10000"] = {{"ns_10", few}, {"ns_10000", many}, {"ratio", many / few}};
    char text[256];
    std::snprintf(text, sizeof text, "10 types %.1f ns, 10,000 types %.1f ns per publish: %.2fx", few, many, many / few);
    print_row("subscriptions on distinct types", text);
}

// ---- Latency ----------------------------------------------------------------------------

struct Stamp {
    std::int64_t sent_ns = 0;
};
void to_json(nlohmann::json& j, const Stamp& s) { j = s.sent_ns; }
void from_json(const nlohmann::json& j, Stamp& s) { s.sent_ns = j.get<std::int64_t>(); }

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

void bench_latency(bool spinning) {
    const int rate = 20000;  // events per second offered
    const int count = quick ? 4000 : 40000;
    BusOptions options;
    options.worker_count = 1;
    options.spin_before_park = spinning ? std::chrono::microseconds(10'000'000) : std::chrono::microseconds(0);
    Bus bus(options);
    std::vector<std::int64_t> samples;
    samples.reserve(count);
    std::mutex mutex;
    auto sub = bus.subscribe(filters::type("lat"), [&](const Stamp& s) {
        const std::int64_t d = now_ns() - s.sent_ns;
        std::lock_guard lock(mutex);
        samples.push_back(d);
    });
    EventBuilder builder;
    builder.id("1").source("/bench").type("lat");
    const auto period = std::chrono::nanoseconds(1'000'000'000 / rate);
    auto next = Clock::now();
    for (int i = 0; i < count; ++i) {
        next += period;
        while (Clock::now() < next) {
        }
        bus.publish(builder, Stamp{now_ns()});
    }
    bus.drain(std::chrono::seconds(10));
    std::sort(samples.begin(), samples.end());
    auto pct = [&](double q) {
        return static_cast<double>(samples[std::min(samples.size() - 1, static_cast<std::size_t>(q * samples.size()))]) /
               1000.0;
    };
    const std::string key = spinning ? "latency_spinning_us" : "latency_parked_us";
    results[key] = {{"p50", pct(0.5)}, {"p99", pct(0.99)}, {"p999", pct(0.999)}, {"rate_per_s", rate}};
    char text[256];
    std::snprintf(text, sizeof text, "p50 %.1f us, p99 %.1f us, p99.9 %.1f us at %d events/s", pct(0.5), pct(0.99),
                  pct(0.999), rate);
    print_row(std::string("publish-to-handler latency, worker ") + (spinning ? "spinning" : "parked"), text);
}

// ---- Memory -----------------------------------------------------------------------------

double heap_in_use() {
    const struct mallinfo2 info = mallinfo2();
    return static_cast<double>(info.uordblks + info.hblkhd);
}

// Runs f on a new thread, so no state that this thread cached for earlier
// buses is freed in the middle of a measurement.
template <class F>
double on_fresh_thread(F f) {
    double out = 0;
    std::thread t([&] { out = f(); });
    t.join();
    return out;
}

void bench_memory() {
    const int n = 100000;
    BusOptions options;
    options.worker_count = 0;
    const double per_event = on_fresh_thread([&] {
        Bus bus(options);
        auto sub = bus.subscribe(Filter(), [](const Event&) {}, SubscribeOptions().with_capacity(1 << 20));
        EventPtr event = prebuilt();
        bus.publish(event);  // builds the snapshot and the producer token
        bus.poll();
        const double before = heap_in_use();
        for (int i = 0; i < n; ++i) bus.publish(event);
        return (heap_in_use() - before) / n;
    });
    auto per_subscription = [&](Delivery delivery) {
        return on_fresh_thread([&] {
        Bus bus(options);
        std::vector<Subscription> subs;
        subs.reserve(n);
        const double before = heap_in_use();
        for (int i = 0; i < n / 10; ++i) {
            SubscribeOptions o;
            o.delivery = delivery;
            subs.push_back(bus.subscribe(filters::type(std::string("t").append(std::to_string(i))), [](const Event&) {}, o));
        }
        bus.publish(prebuilt());  // includes the routing snapshot
        return (heap_in_use() - before) / (n / 10);
        });
    };
    const double sync_sub = per_subscription(Delivery::sync);
    const double async_sub = per_subscription(Delivery::async);
    results["memory_bytes"] = {
        {"per_queued_event", per_event}, {"per_sync_subscription", sync_sub}, {"per_async_subscription", async_sub}};
    char text[256];
    std::snprintf(text, sizeof text, "%.0f B per queued event, %.0f B per sync and %.0f B per async subscription",
                  per_event, sync_sub, async_sub);
    print_row("memory", text);
}

}  // namespace

int main(int argc, char** argv) {
    std::string json_path;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            json_path = argv[++i];
        } else if (std::strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            std::fprintf(stderr, "usage: %s [--json FILE] [--quick] [--only ROW]\n", argv[0]);
            return 2;
        }
    }

    auto selected = [](const char* row) { return only.empty() || only == row; };
    if (selected("sync")) {
        bench_sync(1);
        bench_sync(10);
    }
    const std::size_t n = quick ? 200000 : 2000000;
    EventPtr event = prebuilt();
    if (selected("async")) {
        bench_async("async 1->1, prebuilt events", "async_prebuilt", n, [&](std::uint64_t) { return event; });
    }
    if (selected("built")) {
        bench_async("async 1->1, event built per publish", "async_built", n / 4,
                    [](std::uint64_t i) { return fresh(i); });
    }
    if (selected("fanout")) bench_fanout();
    if (selected("types")) bench_many_types();
    if (selected("latency")) {
        bench_latency(true);
        bench_latency(false);
    }
    if (selected("memory")) bench_memory();

    results["machine"] = {{"hardware_threads", std::thread::hardware_concurrency()}};
    if (!json_path.empty()) {
        std::ofstream out(json_path);
        out << results.dump(2) << "\n";
        if (!out) {
            std::fprintf(stderr, "bench_bus: cannot write %s\n", json_path.c_str());
            return 1;
        }
    }
    return 0;
}
