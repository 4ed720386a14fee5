// A journal-backed durable subscription that survives a restart. The program
// runs the same host twice in one process, against one journal folder in a
// temporary directory:
//   run 1: orders 1-3 go through the bus into the journal; the "shipping"
//          subscription retries order 2 once and dead-letters order 3.
//   run 2: a new Journal and Bus on the same folder (as after a restart);
//          orders 4-5 arrive and "shipping" resumes after order 3, so orders
//          1-3 are not delivered again.
// docs/durability.md quotes the snippet regions.
#include <cebus/bus.hpp>
#include <cebus/journal.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <unistd.h>

namespace cj = cebus::journal;

namespace {

struct Order {
    int number = 0;
    int quantity = 0;
};
void to_json(nlohmann::json& j, const Order& o) { j = {{"number", o.number}, {"quantity", o.quantity}}; }
void from_json(const nlohmann::json& j, Order& o) {
    j.at("number").get_to(o.number);
    j.at("quantity").get_to(o.quantity);
}

cebus::EventBuilder order_placed(int number) {
    cebus::EventBuilder builder;
    builder.id("order-" + std::to_string(number)).source("/shop").type("com.example.order.placed");
    return builder;
}

// Waits until the subscription has finished `sequence` (acknowledged or
// dead-lettered it), for at most 5 s.
bool wait_for_cursor(const cj::DurableSubscription& subscription, std::uint64_t sequence) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (subscription.cursor() < sequence) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

// [snippet:durable-handler]
// Decides what happens to each delivery: ack moves the cursor on, retry
// delivers the same event again after a backoff, dead_letter stores it with
// the reason and moves on. A handler that throws counts as a retry.
cj::HandlerResult ship(const cj::Delivery& delivery, std::vector<std::string>& shipped) {
    const Order order = delivery.event->data_as<Order>();
    if (order.quantity <= 0) {
        return cj::HandlerResult::dead_letter("quantity " + std::to_string(order.quantity) + " is not positive");
    }
    if (order.number == 2 && delivery.attempt == 1) {
        return cj::HandlerResult::retry("warehouse busy");  // attempt 2 follows after the backoff
    }
    std::cout << "shipped order " << order.number << " (sequence " << delivery.sequence << ", attempt "
              << delivery.attempt << ")\n";
    shipped.push_back(delivery.event->id());
    return cj::HandlerResult::ack();
}
// [snippet:durable-handler]

// One run of the host: a bus whose order events go to the journal, and the
// durable "shipping" subscription. Returns the ids shipped in this run.
std::vector<std::string> run_host(const std::filesystem::path& folder, const std::vector<Order>& orders,
                                  std::uint64_t expected_last) {
    std::vector<std::string> shipped;

    // [snippet:durable-setup]
    cebus::Bus bus;
    cj::Options options;
    options.directory = folder;  // one LMDB environment; created if missing
    cj::Journal journal(options);

    // Every order event published on the bus is appended to the journal.
    auto to_journal = journal.attach(bus, cebus::filters::type("com.example.order.placed"));

    // The cursor of "shipping" is stored in the journal: on the first run it
    // starts at the beginning, after a restart it resumes where it stopped.
    cj::SubscriptionOptions shipping_options;
    shipping_options.max_deliveries = 5;
    shipping_options.initial_backoff = std::chrono::milliseconds(20);
    auto shipping = journal.subscribe(
        "shipping", [&shipped](const cj::Delivery& d) { return ship(d, shipped); }, shipping_options);
    // [snippet:durable-setup]

    // [snippet:durable-publish]
    for (const Order& order : orders) bus.publish(order_placed(order.number), order);
    journal.flush();  // wait until every append queued so far is on disk
    // [snippet:durable-publish]

    if (!wait_for_cursor(shipping, expected_last)) std::cout << "timed out waiting for the subscription\n";
    shipping.reset();  // stores the cursor; the handler will not run again
    return shipped;
}

bool expect(const char* what, std::size_t got, std::size_t want) {
    std::cout << what << ": " << got << " (expected " << want << ")\n";
    return got == want;
}

}  // namespace

int main() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cebus-durable-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::cerr << "cannot create a temporary directory in " << std::filesystem::temp_directory_path() << '\n';
        return EXIT_FAILURE;
    }
    const std::filesystem::path folder = std::filesystem::path(pattern) / "journal";
    bool ok = true;

    std::cout << "run 1\n";
    const auto first = run_host(folder, {{1, 2}, {2, 1}, {3, 0}}, 3);
    ok = expect("shipped in run 1", first.size(), 2) && ok;

    std::cout << "run 2 (restart)\n";
    const auto second = run_host(folder, {{4, 1}, {5, 3}}, 5);
    ok = expect("shipped in run 2", second.size(), 2) && ok;
    ok = expect("run 2 starts at order 4", !second.empty() && second.front() == "order-4" ? 1 : 0, 1) && ok;

    {
        // [snippet:dead-letters]
        cj::Options options;
        options.directory = folder;
        cj::Journal journal(options);
        for (const cj::DeadLetter& letter : journal.dead_letters("shipping")) {
            std::cout << "dead letter: " << letter.event->id() << " (sequence " << letter.sequence << ", "
                      << letter.attempts << " attempt(s)): " << letter.reason << '\n';
        }
        // [snippet:dead-letters]
        ok = expect("dead letters", journal.dead_letters("shipping").size(), 1) && ok;
        ok = expect("events stored", journal.stats().events, 5) && ok;
    }

    std::error_code ignored;
    std::filesystem::remove_all(pattern, ignored);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
