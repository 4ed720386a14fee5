// Quickstart: real CloudEvents through the bus.
//
//   quickstart [FILE...]
//
// Reads structured CloudEvents (one event or a JSON batch per file) from the
// files given, or by default from the sample events under tests/data (the
// CloudEvents spec examples and, when present, the Adobe I/O Events
// samples). It publishes every event that decodes and delivers it to:
//   - a typed sync subscriber that decodes the spec examples' data into a
//     C++ struct with from_json,
//   - a typed async subscriber that reads Adobe events' data as JSON,
//   - one async subscriber per event type, counting what it receives,
//   - a sync audit subscriber that sees everything.
// Then it prints the bus metrics. Files that are not valid CloudEvents are
// reported and skipped. Exits 1 when no event could be read, 0 otherwise.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <cebus/bus.hpp>
#include <cebus/json.hpp>

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

}  // namespace

int main(int argc, char** argv) {
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) inputs.emplace_back(argv[i]);
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
    return 0;
}
