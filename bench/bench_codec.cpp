// Structured JSON codec throughput, side by side with nlohmann/json.
//
// Decoding (json::decode, which parses, validates and builds an Event) is
// compared with nlohmann::json::parse of the same bytes into a document.
// Encoding (json::encode of the Event) is compared with
// nlohmann::json::dump of that document.
// The inputs are 256 distinct events of about 300 bytes with JSON data,
// cycled so that no single input is cached in the branch predictor.
//
// usage: bench_codec [--seconds S] [--json FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <cebus/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;

// Keeps a result alive so the compiler cannot drop the work behind it.
volatile std::size_t sink = 0;

std::vector<std::string> make_inputs() {
    std::vector<std::string> inputs;
    for (int i = 0; i < 256; ++i) {
        char text[512];
        std::snprintf(text, sizeof text,
                      R"({"specversion":"1.0","id":"b7a3e9c2-4d1f-4e8a-9c3b-%012d",)"
                      R"("source":"https://sensors.example.com/building-7/floor-%d","type":"com.example.sensor.reading.v1",)"
                      R"("datacontenttype":"application/json","time":"2024-05-01T12:%02d:00.123456Z","subject":"room-%d",)"
                      R"("sampledrate":%d,"data":{"temperature":%d.5,"humidity":%d,"unit":"celsius","ok":true}})",
                      i * 7919, i % 12, i % 60, 300 + i, 1 + i % 10, 15 + i % 10, 40 + i % 30);
        inputs.emplace_back(text);
    }
    return inputs;
}

struct Result {
    std::string name;
    double ns_per_op = 0;
    double mb_per_s = 0;
};

// Runs `op(i)` over the inputs for about `seconds`, five times, and keeps
// the fastest run (the one least disturbed by other load on the machine).
Result measure(const std::string& name, double seconds, std::size_t bytes_per_op,
               const std::function<std::size_t(std::size_t)>& op) {
    // Calibrate a batch size that takes about 10 ms.
    std::size_t batch = 1000;
    for (;;) {
        const auto start = Clock::now();
        for (std::size_t i = 0; i < batch; ++i) sink = sink + op(i);
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        if (elapsed > 0.01) break;
        batch *= 2;
    }

    double best = 1e30;
    for (int round = 0; round < 5; ++round) {
        std::size_t ops = 0;
        const auto start = Clock::now();
        double elapsed = 0;
        do {
            for (std::size_t i = 0; i < batch; ++i) sink = sink + op(i);
            ops += batch;
            elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        } while (elapsed < seconds / 5);
        best = std::min(best, elapsed * 1e9 / static_cast<double>(ops));
    }
    return {name, best, static_cast<double>(bytes_per_op) / best * 1e3};
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 2.5;
    std::string json_path;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--seconds" && i + 1 < argc) {
            seconds = std::stod(argv[++i]);
        } else if (arg == "--json" && i + 1 < argc) {
            json_path = argv[++i];
        } else {
            std::cerr << "usage: bench_codec [--seconds S] [--json FILE]\n";
            return 2;
        }
    }

    const auto inputs = make_inputs();
    std::size_t total = 0;
    for (const auto& text : inputs) total += text.size();
    const std::size_t average = total / inputs.size();
    const std::size_t mask = inputs.size() - 1;

    std::vector<cebus::EventPtr> events;
    std::vector<nlohmann::json> documents;
    for (const auto& text : inputs) {
        events.push_back(cebus::json::decode(text));
        documents.push_back(nlohmann::json::parse(text));
    }

    const Result decode = measure("cebus json::decode", seconds, average,
                                  [&](std::size_t i) { return cebus::json::decode(inputs[i & mask])->id().size(); });
    const Result parse = measure("nlohmann::json::parse", seconds, average,
                                 [&](std::size_t i) { return nlohmann::json::parse(inputs[i & mask]).size(); });
    const Result encode = measure("cebus json::encode", seconds, average,
                                  [&](std::size_t i) { return cebus::json::encode(*events[i & mask]).size(); });
    const Result dump = measure("nlohmann::json::dump", seconds, average,
                                [&](std::size_t i) { return documents[i & mask].dump().size(); });

    const double decode_ratio = decode.ns_per_op / parse.ns_per_op;
    const double encode_ratio = encode.ns_per_op / dump.ns_per_op;

    std::printf("structured events: %zu distinct inputs, %zu bytes on average\n\n", inputs.size(), average);
    std::printf("%-24s %10s %10s\n", "operation", "ns/event", "MB/s");
    for (const Result* r : {&decode, &parse, &encode, &dump}) {
        std::printf("%-24s %10.0f %10.1f\n", r->name.c_str(), r->ns_per_op, r->mb_per_s);
    }
    std::printf("\ndecode / parse = %.2f (target <= 1.00)\n", decode_ratio);
    std::printf("encode / dump  = %.2f (target <= 1.00)\n", encode_ratio);

    if (!json_path.empty()) {
        nlohmann::json out;
        out["benchmark"] = "codec";
        out["input_bytes_average"] = average;
        out["distinct_inputs"] = inputs.size();
        for (const Result* r : {&decode, &parse, &encode, &dump}) {
            out["results"].push_back({{"name", r->name}, {"ns_per_event", r->ns_per_op}, {"mb_per_s", r->mb_per_s}});
        }
        out["ratios"] = {{"decode_over_parse", decode_ratio}, {"encode_over_dump", encode_ratio}};
        std::ofstream(json_path) << out.dump(2) << '\n';
    }
    return 0;
}
