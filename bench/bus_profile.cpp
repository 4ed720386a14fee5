// Fixed-work loops over the router's hot paths, for instruction counts
// under callgrind (bench/RESULTS.md, Router): run each mode with two
// counts and divide the difference in instructions by the difference in
// counts, so start-up cost drops out.
//
//   bench_bus_profile sync1|sync10|async|build COUNT
//
// sync1/sync10: a host-pumped bus publishing one prebuilt event to 1 or 10
// sync subscribers of its type. async: the same event to one async
// subscriber on one worker (use --separate-threads=yes to split publisher
// and worker). build: builds the benchmark's event (three short attributes,
// 200 bytes of JSON data) without publishing it.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <cebus/bus.hpp>

using namespace cebus;

namespace {

EventPtr prebuilt() {
    return EventBuilder().id("evt-1").source("/bench").type("com.example.bench").data_json({{"value", 1}}).build();
}

std::string json_200() {
    std::string s = R"({"order":"A-1","items":[)";
    while (s.size() < 186) s += R"({"n":1},)";
    s.back() = ']';
    s += R"(,"x":"pad"})";
    return s;
}

std::uint64_t run_sync(int subscribers, long count) {
    BusOptions options;
    options.worker_count = 0;
    Bus bus(options);
    std::uint64_t sink = 0;
    std::vector<Subscription> subs;
    for (int i = 0; i < subscribers; ++i) {
        subs.push_back(bus.subscribe(filters::type("com.example.bench"),
                                     [&sink](const Event& e) { sink += e.id().size(); }, SubscribeOptions().sync()));
    }
    const EventPtr event = prebuilt();
    for (long i = 0; i < count; ++i) bus.publish(event);
    return sink;
}

std::uint64_t run_async(long count) {
    BusOptions options;
    options.worker_count = 1;
    options.spin_before_park = std::chrono::microseconds(200);
    Bus bus(options);
    std::atomic<long> handled{0};
    std::uint64_t sink = 0;
    auto sub = bus.subscribe(filters::type("com.example.bench"), [&](const Event& e) {
        sink += e.id().size();
        handled.store(handled.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    });
    const EventPtr event = prebuilt();
    for (long i = 0; i < count; ++i) bus.publish(event);
    while (handled.load(std::memory_order_acquire) < count) std::this_thread::yield();
    return sink;
}

std::uint64_t run_build(long count) {
    const std::string data = json_200();
    std::uint64_t sink = 0;
    for (long i = 0; i < count; ++i) {
        const EventPtr e = EventBuilder()
                               .id(std::to_string(i))
                               .source("/bench")
                               .type("com.example.bench")
                               .datacontenttype("application/json")
                               .data(data)
                               .build();
        sink += e->id().size();
    }
    return sink;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 || std::atol(argv[2]) <= 0) {
        std::fprintf(stderr, "usage: %s sync1|sync10|async|build COUNT\n", argv[0]);
        return 2;
    }
    const long count = std::atol(argv[2]);
    std::uint64_t sink = 0;
    if (std::strcmp(argv[1], "sync1") == 0) {
        sink = run_sync(1, count);
    } else if (std::strcmp(argv[1], "sync10") == 0) {
        sink = run_sync(10, count);
    } else if (std::strcmp(argv[1], "async") == 0) {
        sink = run_async(count);
    } else if (std::strcmp(argv[1], "build") == 0) {
        sink = run_build(count);
    } else {
        std::fprintf(stderr, "%s: unknown mode \"%s\": use sync1, sync10, async or build\n", argv[0], argv[1]);
        return 2;
    }
    std::printf("%llu\n", static_cast<unsigned long long>(sink));
    return 0;
}
