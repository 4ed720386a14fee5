// A host program built against an installed (or subproject) cebus. It
// publishes one event on a bus and checks that an async subscriber receives
// it unchanged; it exits 0 only then. argv[1], when given, is the version the
// build expects cebus_config.h to report.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <cebus/bus.hpp>
#include <cebus/cebus_config.h>
#include <cebus/event.hpp>
#include <cebus/filter.hpp>

namespace {

int fail(const char* what) {
    std::fprintf(stderr, "consumer: %s\n", what);
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], CEBUS_VERSION) != 0) {
        std::fprintf(stderr, "consumer: headers say version %s, expected %s\n", CEBUS_VERSION, argv[1]);
        return 1;
    }

    cebus::Bus bus;
    std::mutex mutex;
    cebus::EventPtr received;
    std::atomic<int> calls{0};
    cebus::Subscription subscription =
        bus.subscribe(cebus::filters::type("org.example.consumer.ping"), [&](const cebus::EventPtr& event) {
            const std::lock_guard<std::mutex> lock(mutex);
            received = event;
            ++calls;
        });

    const cebus::EventPtr sent = cebus::EventBuilder()
                                     .id("consumer-1")
                                     .source("/tests/consumer")
                                     .type("org.example.consumer.ping")
                                     .data_json(nlohmann::json{{"n", 42}})
                                     .build();
    const cebus::PublishResult result = bus.publish(sent);
    if (result.matched != 1) return fail("the publish matched no subscriber");
    if (!bus.drain(std::chrono::seconds(10)).complete()) return fail("the bus did not drain in 10 s");

    const std::lock_guard<std::mutex> lock(mutex);
    if (calls != 1 || !received) return fail("the event did not arrive exactly once");
    if (!(*received == *sent)) return fail("the event that arrived differs from the one sent");
    if (received->data_json().at("n") != 42) return fail("the event's data changed on the way");
    std::printf("consumer: cebus %s delivered %s\n", CEBUS_VERSION, received->id().c_str());
    return 0;
}
