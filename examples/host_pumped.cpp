// A host that owns its threads: the bus has no workers, and the host's own
// loop runs the async handlers with poll() and run_for(). It also shows a
// handler that publishes (the publish is deferred, never re-entrant), a
// producer thread feeding the host loop, and a small mailbox with the
// drop_oldest policy, counted in the metrics and the dropped signal.
// docs/router.md quotes the snippet regions.
#include <cebus/bus.hpp>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

// [snippet:make-event]
// Builds a small event with the JSON data {"n": n}; the id is unique per type and n.
cebus::EventPtr make_event(const std::string& type, int n) {
    cebus::EventBuilder builder;
    builder.id(type + "-" + std::to_string(n)).source("/example/host").type(type);
    builder.data_json({{"n", n}});
    return builder.build();
}
// [snippet:make-event]

bool expect(const char* what, std::size_t got, std::size_t want) {
    std::cout << what << ": " << got << " (expected " << want << ")\n";
    return got == want;
}

}  // namespace

int main() {
    bool ok = true;

    // [snippet:host-loop]
    cebus::BusOptions options;
    options.worker_count = 0;  // no worker threads: the host pumps the bus
    options.log = [](cebus::LogLevel, std::string_view message) { std::cerr << "cebus: " << message << '\n'; };
    cebus::Bus bus(options);

    int frames = 0, rendered = 0;
    // An async subscriber: with no workers it runs only inside poll(),
    // run_for() or drain() on the host's thread.
    auto on_frame = bus.subscribe(cebus::filters::type("com.example.frame"), [&](const cebus::Event& e) {
        ++frames;
        // A publish inside a handler is queued and routed after this event
        // returns; no handler is re-entered.
        if (e.data_json().at("n").get<int>() % 5 == 4) bus.publish(make_event("com.example.rendered", frames));
    });
    auto on_rendered = bus.subscribe(cebus::filters::type("com.example.rendered"),
                                     [&](const cebus::Event&) { ++rendered; });

    for (int tick = 0; tick < 10; ++tick) {
        bus.publish(make_event("com.example.frame", tick));  // queued, not run yet
        bus.poll(64);  // run at most 64 handler calls, return when idle
    }
    // [snippet:host-loop]
    bus.poll();
    ok = expect("frames handled", static_cast<std::size_t>(frames), 10) && ok;
    ok = expect("rendered events", static_cast<std::size_t>(rendered), 2) && ok;

    // [snippet:producer-thread]
    // Another thread publishes; the host thread waits for work in run_for().
    std::atomic<int> received{0};
    int last_seen = -1;
    bool in_order = true;
    auto on_tick = bus.subscribe(cebus::filters::type("com.example.tick"), [&](const cebus::Event& e) {
        const int n = e.data_json().at("n").get<int>();
        in_order = in_order && n == last_seen + 1;  // one producer: publish order holds
        last_seen = n;
        ++received;
    });
    std::thread producer([&] {
        for (int n = 0; n < 1000; ++n) bus.publish(make_event("com.example.tick", n));
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (received < 1000 && std::chrono::steady_clock::now() < deadline) {
        bus.run_for(std::chrono::milliseconds(10));  // pumps, and waits for work up to 10 ms
    }
    producer.join();
    // [snippet:producer-thread]
    ok = expect("ticks received", static_cast<std::size_t>(received.load()), 1000) && ok;
    ok = expect("ticks in publish order", in_order ? 1 : 0, 1) && ok;

    // [snippet:overflow]
    // A mailbox of 4 that keeps the newest events when the host falls behind.
    std::size_t dropped_seen = 0;
    auto watch = bus.on_dropped([&](const cebus::Event&, std::uint64_t, cebus::DropReason reason) {
        if (reason == cebus::DropReason::evicted) ++dropped_seen;
    });
    std::vector<int> kept;
    auto latest_only = bus.subscribe(
        cebus::filters::type("com.example.sample"),
        [&](const cebus::Event& e) { kept.push_back(e.data_json().at("n").get<int>()); },
        cebus::SubscribeOptions{}.with_capacity(4).with_overflow(cebus::OverflowPolicy::drop_oldest).with_name("samples"));

    for (int n = 0; n < 10; ++n) bus.publish(make_event("com.example.sample", n));
    bus.poll();

    const cebus::SubscriptionMetrics m = cebus::Bus::metrics_of(latest_only);
    std::cout << m.name << ": delivered " << m.delivered << ", dropped " << m.dropped << '\n';
    // [snippet:overflow]
    watch.disconnect();
    ok = expect("samples delivered", m.delivered, 4) && ok;
    ok = expect("samples dropped", m.dropped, 6) && ok;
    ok = expect("dropped signals", dropped_seen, 6) && ok;
    ok = expect("first kept sample", kept.empty() ? 0 : static_cast<std::size_t>(kept.front()), 6) && ok;

    // [snippet:shutdown]
    // drain() pumps on this thread when there are no workers, and never
    // waits past its deadline.
    bus.publish(make_event("com.example.frame", 100));
    const cebus::DrainResult left = bus.drain(std::chrono::seconds(1));
    const cebus::BusMetrics totals = bus.metrics();
    std::cout << "published " << totals.published << ", delivered " << totals.delivered << ", dropped "
              << totals.dropped_total() << ", left " << left.left << '\n';
    // [snippet:shutdown]
    ok = expect("drain complete", left.complete() ? 1 : 0, 1) && ok;
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
