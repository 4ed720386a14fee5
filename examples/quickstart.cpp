// Quickstart: real CloudEvents through the bus, a durable journal and the
// bridge to Adobe I/O Events.
//
//   quickstart [--console FILE | --emulator-port N] [FILE...]
//
// Reads structured CloudEvents (one event or a JSON batch per file) from the
// files given, or by default from the sample events under tests/data (the
// CloudEvents spec examples and, when present, the Adobe I/O Events
// samples). It publishes every event that decodes and delivers it to:
//   - a typed sync subscriber that decodes the spec examples' data into a
//     C++ struct with from_json,
//   - a typed async subscriber that reads Adobe events' data as JSON,
//   - one async subscriber per event type, counting what it receives,
//   - a sync audit subscriber that receives every event,
// and prints the bus metrics.
//
// When cebus is built with the I/O Events bridge, the bus also routes every
// event into an outbox journal in a temporary folder. The publisher (a
// durable subscription of that journal) forwards them to I/O Events, and the
// journal consumer reads them back from the registration's journal into an
// inbox journal; the example prints what came back and checks the ids.
//   (default)          an emulator of I/O Events started in this process on
//                      a loopback port; nothing leaves the machine
//   --emulator-port N  the emulator already running on 127.0.0.1:N, e.g.
//                      `cebus io-events emulator --port N`
//   --console FILE     the real service, configured by the project JSON the
//                      Adobe Developer Console downloads (docs/io-events.md);
//                      the client secret may come from the environment
//
// Files that are not valid CloudEvents are reported and skipped. Exits 1
// when no event could be read or, against the emulator, when an event did
// not come back; 2 for a bad command line.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <cebus/bus.hpp>
#include <cebus/cebus_config.h>
#include <cebus/json.hpp>

#if CEBUS_HAVE_IO_EVENTS
#include <unistd.h>

#include <cebus/io_events/config.hpp>
#include <cebus/io_events/emulator.hpp>
#include <cebus/io_events/journal_consumer.hpp>
#include <cebus/io_events/publisher.hpp>
#include <cebus/journal.hpp>
#endif

namespace fs = std::filesystem;

namespace {

// The data of the spec's "com.example.someevent" examples.
struct AppInfo {
    std::string a;
    int b = 0;
    bool c = false;
};
void from_json(const nlohmann::json& j, AppInfo& info) {
    j.at("appinfoA").get_to(info.a);
    j.at("appinfoB").get_to(info.b);
    j.at("appinfoC").get_to(info.c);
}

std::mutex print_mutex;

template <class... Parts>
void say(const Parts&... parts) {
    std::lock_guard lock(print_mutex);
    (std::cout << ... << parts) << '\n';
}

// Sample files under the test data folder: structured events, batches and
// the Adobe samples. HTTP renderings and non-event JSON are left out.
std::vector<fs::path> default_inputs(const fs::path& root) {
    std::vector<fs::path> files;
    auto add_from = [&](const fs::path& dir, auto accept) {
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) return;
        for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
            if (entry.is_regular_file() && accept(entry.path())) files.push_back(entry.path());
        }
    };
    add_from(root / "spec-examples", [](const fs::path& p) {
        const std::string name = p.filename().string();
        const bool event_file = name.ends_with(".structured.json") || name.starts_with("batch-") ||
                                p.parent_path().filename() == "events";
        return event_file && p.extension() == ".json";
    });
    add_from(root / "adobe" / "events", [](const fs::path& p) { return p.extension() == ".json"; });
    // The recorded Marketo webhook delivery is a CloudEvents 1.0 batch. The
    // other recorded deliveries use I/O Events' older envelope, which the
    // bridge's webhook receiver converts and this example does not.
    add_from(root / "adobe" / "webhook", [](const fs::path& p) { return p.filename() == "marketo-lead-activity.batch.json"; });
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<cebus::EventPtr> read_events(const fs::path& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot open the file";
        return {};
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    try {
        const auto first = text.find_first_not_of(" \t\r\n");
        if (first != std::string::npos && text[first] == '[') return cebus::json::decode_batch(text);
        return {cebus::json::decode(text)};
    } catch (const cebus::Error& e) {
        error = e.what();
        return {};
    }
}

// The target of the bridge part, from the command line.
struct BridgeTarget {
    std::optional<fs::path> console_file;  // --console
    int emulator_port = 0;                 // --emulator-port; 0 starts one here
};

#if CEBUS_HAVE_IO_EVENTS
namespace io = cebus::io_events;
namespace cj = cebus::journal;

// A folder under the system's temporary directory, removed at the end.
struct TempFolder {
    fs::path path;
    TempFolder() {
        std::string pattern = (fs::temp_directory_path() / "cebus-quickstart-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a temporary folder");
        path = pattern;
    }
    ~TempFolder() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
};

// Waits until each of the publisher's partitions (durable subscriptions
// "<name>/<k>") has stored a cursor past the last event.
bool wait_for_outbox(const cj::Journal& outbox, const io::PublisherOptions& publisher, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        std::size_t finished = 0;
        for (const auto& c : outbox.cursors()) {
            if (c.name.starts_with(publisher.name + "/") && c.lag == 0) ++finished;
        }
        if (finished == publisher.in_flight) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

// The bridge part: forwards what the bus routed into `outbox` and reads it
// back. Returns false when an event forwarded to the emulator did not come
// back.
bool forward_and_read_back(cj::Journal& outbox, const fs::path& folder, const BridgeTarget& target) {
    auto log = [](io::LogLevel level, std::string_view line) {
        if (level >= io::LogLevel::warning) say("bridge log: ", line);
    };

    // [snippet:quickstart-target]
    // The emulator serves the I/O Events endpoints on a loopback port. A
    // Developer Console project JSON points the same code at the real service.
    std::optional<io::Emulator> emulator;
    io::Config config;
    if (target.console_file) {
        config = io::load_config_file(*target.console_file);
        io::apply_environment(config);  // e.g. CEBUS_IO_EVENTS_CLIENT_SECRET
    } else if (target.emulator_port != 0) {
        config = io::Emulator::client_config_at("http://127.0.0.1:" + std::to_string(target.emulator_port));
    } else {
        emulator.emplace();  // 127.0.0.1, a port the OS chooses
        config = emulator->client_config();
    }
    io::validate_config(config);
    auto client = std::make_shared<io::HttpClient>(io::HttpClientOptions::from_config(config, log));
    auto tokens = std::make_shared<io::ImsTokenSource>(config, client, log);
    // [snippet:quickstart-target]
    say("\nI/O Events bridge: ingress ", config.endpoints.ingress_url);

    // [snippet:quickstart-forward]
    // The publisher forwards every stored event whose type has an event code
    // (by default its own type), 4 requests at a time.
    io::PublisherOptions publisher_options;
    publisher_options.name = "quickstart-outbox";
    publisher_options.max_deliveries = 5;  // then dead-letter, so the example ends
    publisher_options.initial_backoff = std::chrono::milliseconds(200);
    publisher_options.log = log;
    io::Publisher publisher(outbox, config, tokens, client, publisher_options);
    const bool sent_all = wait_for_outbox(outbox, publisher_options, std::chrono::seconds(60));
    publisher.stop();
    // [snippet:quickstart-forward]

    const io::PublisherCounters sent = publisher.counters();
    const cj::Metrics stored = outbox.metrics();
    say("outbox journal: ", stored.appended, " events stored, ", stored.duplicates,
        " repeats of a stored source and id dropped");
    say("publisher: ", sent.published, " published, ", sent.no_registration, " without a registration, ",
        sent.retries, " retries");
    // Ids are compared without the source: I/O Events gives every event the
    // provider's source (the publisher keeps the local one in `cebussource`).
    std::set<std::uint64_t> not_forwarded;
    for (const auto& letter : outbox.dead_letters()) {
        not_forwarded.insert(letter.sequence);
        say("  not forwarded: ", letter.event->id(), " (", letter.event->type(), "): ", letter.reason);
    }
    std::set<std::string> forwarded;
    outbox.replay(1, [&](const cj::StoredEvent& s) {
        if (!not_forwarded.count(s.sequence)) forwarded.insert(s.event->id());
        return true;
    });
    if (!sent_all) say("quickstart: the publisher did not finish within 60 s");

    if (config.endpoints.journal_url.empty()) {
        say("no journal_url configured: nothing to read back");
        return sent_all;
    }

    // [snippet:quickstart-read-back]
    // The journal consumer follows the registration's journal and stores
    // each page, with the position to continue from, in the inbox journal.
    cj::Options inbox_options;
    inbox_options.directory = folder / "inbox";
    cj::Journal inbox(inbox_options);
    io::JournalConsumerOptions consumer_options;
    consumer_options.log = log;
    io::JournalConsumer consumer(inbox, config, tokens, client, consumer_options);

    std::size_t matched = 0;  // forwarded ids found in the inbox
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(emulator ? 10 : 60);
    while (matched < forwarded.size() && std::chrono::steady_clock::now() < deadline) {
        const io::PollResult page = consumer.poll();
        matched = 0;
        inbox.replay(1, [&](const cj::StoredEvent& s) {
            matched += forwarded.count(s.event->id());
            return true;
        });
        if (page.status == 204 && emulator) break;  // its journal is complete
        // Any status but 200 (204: no newer events yet) comes with a wait. The
        // real service fills its journal with some delay.
        if (page.status != 200) {
            std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(page.wait, std::chrono::seconds(1)));
        }
    }
    // [snippet:quickstart-read-back]

    const io::JournalConsumerCounters read = consumer.counters();
    say("journal consumer: ", read.pages, " pages, ", read.events_stored, " events stored in the inbox journal, ",
        read.duplicates, " dropped as repeats of a stored source and id");
    inbox.replay(1, [](const cj::StoredEvent& s) {
        const cebus::Event& e = *s.event;
        say("  from I/O Events: ", e.id(), " type=", e.type(), " local source=",
            e.attribute_text("cebussource").value_or(e.source()));
        return true;
    });
    // Two local events with one id but different local sources have the same
    // source and id at I/O Events, so the inbox keeps the first of them.
    say("ids: ", matched, " of ", forwarded.size(), " distinct forwarded ids came back",
        matched == forwarded.size() ? " (all match)" : "");
    // The real journal may also hold other producers' events and lag behind.
    return target.console_file ? sent_all : sent_all && matched == forwarded.size() && sent.no_registration == 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
    std::vector<fs::path> inputs;
    BridgeTarget target;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--console" && i + 1 < argc) {
            target.console_file = argv[++i];
        } else if (arg == "--emulator-port" && i + 1 < argc) {
            target.emulator_port = std::atoi(argv[++i]);
            if (target.emulator_port <= 0 || target.emulator_port > 65535) {
                std::cerr << "quickstart: --emulator-port needs a port from 1 to 65535\n";
                return 2;
            }
        } else if (arg.starts_with("--")) {
            std::cerr << "usage: quickstart [--console FILE | --emulator-port N] [FILE...]\n";
            return 2;
        } else {
            inputs.emplace_back(arg);
        }
    }
#if !CEBUS_HAVE_IO_EVENTS
    if (target.console_file || target.emulator_port != 0) {
        std::cerr << "quickstart: built without the I/O Events bridge (meson option io_events)\n";
        return 2;
    }
#endif
    if (inputs.empty()) {
        const char* env = std::getenv("CEBUS_TEST_DATA");
        const fs::path root = env ? fs::path(env) : fs::path("tests/data");
        inputs = default_inputs(root);
        if (inputs.empty()) {
            std::cerr << "quickstart: no sample events under " << root
                      << "; run from the repository root or pass event files\n";
            return 1;
        }
    }

    std::vector<cebus::EventPtr> events;
    std::size_t skipped = 0;
    for (const auto& path : inputs) {
        std::string error;
        auto batch = read_events(path, error);
        if (!error.empty()) {
            ++skipped;
            std::cout << "skip " << path.string() << ": " << error << '\n';
            continue;
        }
        events.insert(events.end(), batch.begin(), batch.end());
    }
    std::cout << "read " << events.size() << " events from " << inputs.size() - skipped << " files ("
              << skipped << " skipped)\n\n";
    if (events.empty()) return 1;

    cebus::BusOptions options;
    options.worker_count = 2;
    options.log = [](cebus::LogLevel level, std::string_view line) {
        if (level >= cebus::LogLevel::warning) say("bus log: ", line);
    };
    cebus::Bus bus(options);

    // A typed sync subscriber: the data decodes into AppInfo with from_json.
    auto typed = bus.subscribe(
        cebus::filters::type("com.example.someevent"),
        [](const AppInfo& info, const cebus::Event& e) {
            say("typed    ", e.id(), ": appinfoA=", info.a, " appinfoB=", info.b, " appinfoC=", info.c);
        },
        cebus::SubscribeOptions().sync().with_name("typed-appinfo"));

    // A typed async subscriber for Adobe events: data read as JSON.
    auto adobe = bus.subscribe(
        cebus::filters::prefix("type", "com.adobe."),
        [](const nlohmann::json& data, const cebus::Event& e) {
            say("adobe    ", e.type(), " id=", e.id(), " data members=", data.is_object() ? data.size() : 0);
        },
        cebus::SubscribeOptions().with_name("adobe-json"));

    // One async subscriber per event type.
    std::map<std::string, int> per_type_count;
    std::mutex count_mutex;
    std::vector<cebus::Subscription> per_type;
    for (const auto& e : events) {
        if (per_type_count.emplace(e->type(), 0).second) {
            const std::string type = e->type();
            per_type.push_back(bus.subscribe(
                cebus::filters::type(type),
                [&per_type_count, &count_mutex, type](const cebus::Event&) {
                    std::lock_guard lock(count_mutex);
                    ++per_type_count[type];
                },
                cebus::SubscribeOptions().with_name("type:" + type)));
        }
    }

    // The sync audit subscriber sees every event, on the publishing thread.
    auto audit = bus.subscribe(
        cebus::Filter(),
        [](const cebus::Event& e) {
            say("audit    ", e.id(), " type=", e.type(), " source=", e.source(),
                e.has_data() ? " (" + std::to_string(e.approximate_size()) + " bytes)" : std::string());
        },
        cebus::SubscribeOptions().sync().with_priority(100).with_name("audit"));

#if CEBUS_HAVE_IO_EVENTS
    // [snippet:quickstart-outbox]
    // Durable routing: every event the bus publishes is also appended to the
    // outbox journal, which the bridge's publisher forwards from.
    std::optional<TempFolder> folder;
    std::optional<cj::Journal> outbox;
    cebus::Subscription to_outbox;
    try {
        folder.emplace();
        cj::Options outbox_options;
        outbox_options.directory = folder->path / "outbox";
        outbox.emplace(outbox_options);
        to_outbox = outbox->attach(bus);
    } catch (const std::exception& e) {
        std::cerr << "quickstart: no outbox journal, the bridge part is skipped: " << e.what() << '\n';
    }
    // [snippet:quickstart-outbox]
#endif

    for (const auto& e : events) bus.publish(e);
    const auto left = bus.drain(std::chrono::seconds(10));

    std::cout << "\nper-type async subscribers:\n";
    {
        std::lock_guard lock(count_mutex);
        for (const auto& [type, count] : per_type_count) std::cout << "  " << type << ": " << count << '\n';
    }

    const auto m = bus.metrics();
    std::cout << "\nbus metrics: published=" << m.published << " delivered=" << m.delivered << " failed=" << m.failed
              << " dropped=" << m.dropped_total() << " unmatched=" << m.unmatched << '\n';
    for (const auto& s : bus.subscription_metrics()) {
        if (s.delivered == 0 && s.failed == 0) continue;
        std::cout << "  " << s.name << ": delivered=" << s.delivered << " failed=" << s.failed
                  << " queue_depth=" << s.queue_depth;
        if (s.delivery == cebus::Delivery::async && s.latency.samples() != 0) {
            std::cout << " latency_p50<=" << s.latency.quantile_upper_bound_ns(0.5) << "ns";
        }
        std::cout << '\n';
    }
    if (!left.complete()) {
        std::cerr << "quickstart: drain timed out with " << left.left << " events left\n";
        return 1;
    }

#if CEBUS_HAVE_IO_EVENTS
    if (outbox) {
        to_outbox.reset();
        outbox->flush();  // waits until every routed event is stored
        try {
            if (!forward_and_read_back(*outbox, folder->path, target)) return 1;
        } catch (const std::exception& e) {
            std::cerr << "quickstart: I/O Events bridge: " << e.what() << '\n';
            return 1;
        }
    }
#endif
    return 0;
}
