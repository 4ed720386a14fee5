// CESQL evaluation against a hand-written C++ predicate that makes the same
// checks, for expressions of 1, 3 and 10 clauses.
//
//   bench_cesql [--rounds N] [--json FILE]
//
// Every event matches every expression, so each clause is evaluated (no
// short circuit helps either side). Each figure is the median of five runs
// over 256 distinct events, timed in the thread's CPU time so that other
// processes on a shared machine do not inflate it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <cebus/cesql.hpp>
#include <cebus/event.hpp>

using namespace cebus;

namespace {

struct Case {
    std::string name;
    std::string expression;
    std::function<bool(const Event&)> predicate;
};

bool has_prefix(const std::string& text, std::string_view prefix) { return text.starts_with(prefix); }

std::vector<Case> cases() {
    std::vector<Case> list;
    list.push_back({"1 clause", "type = 'com.example.order.created'",
                    [](const Event& e) { return e.type() == "com.example.order.created"; }});
    list.push_back({"3 clauses",
                    "type = 'com.example.order.created' AND source LIKE 'urn:uuid:%' AND EXISTS subject",
                    [](const Event& e) {
                        return e.type() == "com.example.order.created" && has_prefix(e.source(), "urn:uuid:") &&
                               e.subject().has_value();
                    }});
    list.push_back(
        {"10 clauses",
         "type = 'com.example.order.created' AND source LIKE 'urn:uuid:%' AND EXISTS subject"
         " AND subject LIKE 'orders/%' AND specversion = '1.0' AND EXISTS time"
         " AND region = 'eu-west' AND priority > 2 AND NOT EXISTS deprecated AND id != ''",
         [](const Event& e) {
             if (e.type() != "com.example.order.created") return false;
             if (!has_prefix(e.source(), "urn:uuid:")) return false;
             if (!e.subject()) return false;
             if (!has_prefix(*e.subject(), "orders/")) return false;
             if (e.specversion() != "1.0") return false;
             if (!e.time()) return false;
             const AttributeValue* region = e.extension("region");
             const auto* region_text = region ? std::get_if<std::string>(region) : nullptr;
             if (!region_text || *region_text != "eu-west") return false;
             const AttributeValue* priority = e.extension("priority");
             const auto* priority_value = priority ? std::get_if<std::int32_t>(priority) : nullptr;
             if (!priority_value || *priority_value <= 2) return false;
             if (e.extension("deprecated")) return false;
             return !e.id().empty();
         }});
    return list;
}

std::vector<EventPtr> make_events() {
    std::vector<EventPtr> events;
    for (int i = 0; i < 256; ++i) {
        events.push_back(EventBuilder()
                             .id("order-" + std::to_string(i))
                             .source("urn:uuid:6e8bc430-9c3a-11d9-9669-" + std::to_string(100000000000 + i))
                             .type("com.example.order.created")
                             .subject("orders/" + std::to_string(i))
                             .time(std::string_view("2026-12-04T10:00:00.123Z"))
                             .extension("region", "eu-west")
                             .extension("priority", std::int64_t{3 + i % 5})
                             .extension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
                             .build());
    }
    return events;
}

double cpu_now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Nanoseconds per call of `run` over all events, median of five runs.
template <class Run>
double measure(const std::vector<EventPtr>& events, int rounds, Run run) {
    std::vector<double> samples;
    std::size_t matched = 0;
    for (int sample = 0; sample < 5; ++sample) {
        const double start = cpu_now_ns();
        for (int r = 0; r < rounds; ++r) {
            for (const auto& event : events) matched += run(*event) ? 1 : 0;
        }
        const double elapsed = cpu_now_ns() - start;
        samples.push_back(elapsed / (static_cast<double>(rounds) * static_cast<double>(events.size())));
    }
    if (matched != 5 * static_cast<std::size_t>(rounds) * events.size()) {
        std::fprintf(stderr, "bench_cesql: an event did not match; the comparison is invalid\n");
        std::exit(1);
    }
    std::sort(samples.begin(), samples.end());
    return samples[2];
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 2000;
    std::string json_path;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--rounds" && i + 1 < argc) {
            rounds = std::max(1, std::atoi(argv[++i]));
        } else if (arg == "--json" && i + 1 < argc) {
            json_path = argv[++i];
        } else {
            std::fprintf(stderr, "usage: bench_cesql [--rounds N] [--json FILE]\n");
            return 2;
        }
    }

    const auto events = make_events();
    nlohmann::json results = nlohmann::json::array();
    std::printf("%-11s %14s %14s %14s %8s\n", "expression", "hand-written", "matches()", "evaluate()", "ratio");

    for (const Case& c : cases()) {
        const auto expression = cesql::Expression::compile(c.expression);
        const double hand = measure(events, rounds, c.predicate);
        const double matches = measure(events, rounds, [&](const Event& e) { return expression.matches(e); });
        const double evaluate =
            measure(events, rounds, [&](const Event& e) { return expression.evaluate(e).is_true(); });
        const double ratio = matches / hand;
        std::printf("%-11s %11.1f ns %11.1f ns %11.1f ns %7.2fx\n", c.name.c_str(), hand, matches, evaluate, ratio);
        results.push_back({{"case", c.name},
                           {"expression", c.expression},
                           {"hand_written_ns", hand},
                           {"matches_ns", matches},
                           {"evaluate_ns", evaluate},
                           {"ratio_matches_to_hand_written", ratio}});
    }

    if (!json_path.empty()) {
        std::ofstream out(json_path);
        out << nlohmann::json({{"benchmark", "cesql"}, {"events", events.size()}, {"rounds", rounds},
                               {"results", results}})
                   .dump(2)
            << '\n';
        if (!out) {
            std::fprintf(stderr, "bench_cesql: cannot write %s\n", json_path.c_str());
            return 1;
        }
    }
    return 0;
}
