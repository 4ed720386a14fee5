// The bridge to Adobe I/O Events, run against the emulator in this process:
// events published on the bus are journaled, forwarded by the publisher to
// the emulator's ingress (one request gets a 429 to show a retry), and read back
// from the emulator's registration journal by the journal consumer into a
// second local journal. Every URL points at 127.0.0.1 on a port the OS
// chose; nothing leaves the machine. docs/io-events.md and docs/emulator.md
// quote the snippet regions.
#include <cebus/bus.hpp>
#include <cebus/io_events/config.hpp>
#include <cebus/io_events/emulator.hpp>
#include <cebus/io_events/http_client.hpp>
#include <cebus/io_events/journal_consumer.hpp>
#include <cebus/io_events/publisher.hpp>
#include <cebus/io_events/token.hpp>
#include <cebus/journal.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <system_error>
#include <thread>

#include <unistd.h>

namespace io = cebus::io_events;
namespace cj = cebus::journal;

namespace {

// Polls `done` every 10 ms for at most 5 s.
template <class F>
bool wait_until(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

bool expect(const char* what, std::uint64_t got, std::uint64_t want) {
    std::cout << what << ": " << got << " (expected " << want << ")\n";
    return got == want;
}

}  // namespace

int main() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cebus-bridge-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::cerr << "cannot create a temporary directory\n";
        return EXIT_FAILURE;
    }
    const std::filesystem::path folder(pattern);
    bool ok = true;

    try {
        // [snippet:emulator]
        // The emulator serves ingress, IMS token, journal and public keys on
        // one loopback port. It checks the credentials and the provider.
        io::EmulatorOptions emulator_options;
        emulator_options.host = "127.0.0.1";
        emulator_options.port = 0;  // the OS chooses
        emulator_options.client_id = "example-client-id";
        emulator_options.client_secret = "example-client-secret";
        emulator_options.provider_id = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
        io::Emulator emulator(emulator_options);
        // [snippet:emulator]

        // [snippet:config]
        // The shape of the Developer Console project JSON, plus the bridge's
        // own settings. Here every URL is the emulator's; in production the
        // endpoints object is left out (Adobe's hosts are the defaults) and
        // journal_url is the registration's journal.
        const nlohmann::json document = {
            {"project",
             {{"id", "4566206088344794932"},
              {"org", {{"id", "53444"}, {"ims_org_id", "C74F69D7594880280A495D09@AdobeOrg"}}},
              {"workspace",
               {{"id", "4566206088344812345"},
                {"details",
                 {{"credentials",
                   {{{"id", "566912"},
                     {"integration_type", "oauth_server_to_server"},
                     {"oauth_server_to_server",
                      {{"client_id", "example-client-id"}, {"scopes", {"AdobeID", "openid", "adobeio_api"}}}}}}}}}}}}},
            {"cebus_io_events",
             {{"provider_id", "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"},
              {"event_codes", {{"com.example.order.created", "com.example.order_created"}}},
              {"pass_through_types", false},
              {"endpoints",
               {{"ims_token_url", emulator.ims_token_url()},
                {"ingress_url", emulator.ingress_url()},
                {"public_key_base_url", emulator.public_key_base_url()},
                {"journal_url", emulator.journal_url()}}}}}};
        io::Config config = io::parse_config(document);

        // The client secret is not in the file: it comes from the environment
        // (CEBUS_IO_EVENTS_CLIENT_SECRET). This lookup replaces getenv here.
        const std::map<std::string, std::string> environment = {
            {io::env_client_secret, "example-client-secret"}};
        io::apply_environment(config, [&](const char* name) -> std::optional<std::string> {
            const auto it = environment.find(name);
            if (it == environment.end()) return std::nullopt;
            return it->second;
        });
        io::validate_config(config);
        // [snippet:config]

        // [snippet:publisher]
        // Outbound: the bus routes order events into the outbox journal, and
        // the publisher (a set of durable subscriptions of that journal) POSTs
        // each one to the ingress with a bearer token from IMS.
        cebus::Bus bus;
        cj::Options outbox_options;
        outbox_options.directory = folder / "outbox";
        cj::Journal outbox(outbox_options);
        auto to_outbox = outbox.attach(bus, cebus::filters::prefix("type", "com.example.order."));

        auto client = std::make_shared<io::HttpClient>(io::HttpClientOptions::from_config(config));
        auto tokens = std::make_shared<io::ImsTokenSource>(config, client);
        io::PublisherOptions publisher_options;
        publisher_options.initial_backoff = std::chrono::milliseconds(50);
        io::Publisher publisher(outbox, config, tokens, client, publisher_options);

        for (int n = 1; n <= 3; ++n) {
            cebus::EventBuilder order;
            order.id("order-" + std::to_string(n)).source("/shop").type("com.example.order.created");
            order.data_json({{"number", n}});
            bus.publish(order);
        }
        // [snippet:publisher]

        // [snippet:fault]
        // The next ingress request gets 429 with Retry-After: 0; the publisher
        // retries that event and it is still published once.
        emulator.inject(io::EmulatorRoute::ingress, io::EmulatorFault::throttle("0"));
        cebus::EventBuilder fourth;
        fourth.id("order-4").source("/shop").type("com.example.order.created").data_json({{"number", 4}});
        bus.publish(fourth);
        // [snippet:fault]

        ok = wait_until([&] { return publisher.counters().published == 4; }) && ok;
        const io::PublisherCounters sent = publisher.counters();
        ok = expect("published", sent.published, 4) && ok;
        ok = expect("throttled", sent.throttled, 1) && ok;
        ok = expect("distinct ids at the ingress", emulator.stats().ingress_distinct_ids, 4) && ok;

        // [snippet:journal-consumer]
        // Inbound: follow the registration's journal and store each page, with
        // the position to continue from, in the inbox journal.
        cj::Options inbox_options;
        inbox_options.directory = folder / "inbox";
        cj::Journal inbox(inbox_options);
        io::JournalConsumer consumer(inbox, config, tokens, client);

        // A host would call consumer.start() for a background thread; here the
        // example drives it: poll() makes one request and stores what it got.
        while (consumer.counters().events_stored < 4) {
            const io::PollResult page = consumer.poll();
            if (page.status != 200) break;  // 204: no newer events
        }
        inbox.replay(1, [](const cj::StoredEvent& stored) {
            const cebus::Event& e = *stored.event;
            std::cout << "from I/O Events: " << e.type() << " " << e.id() << " (local type "
                      << e.attribute_text("cebustype").value_or("?") << ")\n";
            return true;
        });
        // [snippet:journal-consumer]
        ok = expect("events read back", consumer.counters().events_stored, 4) && ok;
        ok = expect("inbox events", inbox.stats().events, 4) && ok;
        publisher.stop();
    } catch (const std::exception& e) {
        std::cerr << "io_events_bridge: " << e.what() << '\n';
        ok = false;
    }

    std::error_code ignored;
    std::filesystem::remove_all(folder, ignored);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
