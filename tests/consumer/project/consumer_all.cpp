// Links all three cebus libraries: round-trips an event through the journal's
// record codec and checks a URL with the I/O Events bridge's configuration
// rules. Neither opens a file or a socket. Exits 0 when both behave.
#include <cstdio>
#include <exception>

#include <cebus/cebus_config.h>
#include <cebus/event.hpp>
#include <cebus/io_events/config.hpp>
#include <cebus/journal.hpp>

int main() {
    const cebus::EventPtr sent = cebus::EventBuilder()
                                     .id("consumer-2")
                                     .source("/tests/consumer")
                                     .type("org.example.consumer.stored")
                                     .build();
    const cebus::EventPtr back =
        cebus::journal::codec::decode_event(cebus::journal::codec::encode_event(*sent));
    if (!(*back == *sent)) {
        std::fprintf(stderr, "consumer_all: the journal codec changed the event\n");
        return 1;
    }

    try {
        cebus::io_events::validate_url("publish_url", "http://127.0.0.1:8080/api/events");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "consumer_all: a loopback URL was rejected: %s\n", e.what());
        return 1;
    }
    std::printf("consumer_all: journal and io_events linked\n");
    return 0;
}
