// The README's first program: a typed async subscriber and a sync audit
// subscriber on one bus. The README quotes this file between the snippet
// markers, and the test suite runs it.
// [snippet:first-program]
#include <cebus/bus.hpp>

#include <iostream>

struct Reading {
    std::string unit;
    double value = 0;
};
// nlohmann/json's usual ADL hooks make Reading usable as event data.
void to_json(nlohmann::json& j, const Reading& r) { j = {{"unit", r.unit}, {"value", r.value}}; }
void from_json(const nlohmann::json& j, Reading& r) {
    j.at("unit").get_to(r.unit);
    j.at("value").get_to(r.value);
}

int main() {
    cebus::Bus bus;  // one worker thread for async subscribers

    // A typed async subscriber for one event type (an indexed exact match).
    auto readings = bus.subscribe(cebus::filters::type("com.example.reading"),
                                  [](const Reading& r, const cebus::Event& e) {
                                      std::cout << e.source() << ": " << r.value << ' ' << r.unit << '\n';
                                  });

    // A sync subscriber runs on the publishing thread before publish() returns.
    auto audit = bus.subscribe(
        cebus::Filter{}, [](const cebus::Event& e) { std::cout << "audit " << e.id() << '\n'; },
        cebus::SubscribeOptions{}.sync());

    cebus::EventBuilder event;
    event.id("1").source("/sensors/7").type("com.example.reading");
    bus.publish(event, Reading{"C", 21.5});  // serialised only if something needs bytes

    const auto left = bus.drain(std::chrono::seconds(1));
    return left.complete() ? 0 : 1;
}
// [snippet:first-program]
