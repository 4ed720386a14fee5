// Forwarding throughput of the I/O Events publisher against the emulator on
// loopback, with 1, 4 and 16 requests in flight, side by side with a plain
// libcurl loop (one easy handle per thread, keep-alive) posting the same
// bodies. The emulator runs in a child process, so the CPU time measured
// here is the sender's alone.
//
// usage: bench_io_events [--events N] [--in-flight N]... [--only curl|bridge]
//                        [--json FILE]
// --in-flight may repeat (default 1, 4 and 16); --only runs one sender, for
// profiling one side. Bounded: N events per run (default 5000), each run stops after 120 s.
#include <curl/curl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <cebus/io_events/emulator.hpp>
#include <cebus/io_events/publisher.hpp>
#include <cebus/journal.hpp>

using namespace cebus::io_events;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Figures {
    std::string kind;
    std::size_t in_flight = 0;
    std::size_t events = 0;
    double seconds = 0;
    double cpu = 0;
    // Bridge only: time to construct the publisher (durable subscriptions
    // attached) and TCP connections opened during the run.
    double startup_seconds = 0;
    std::uint64_t connections = 0;
    double per_second() const { return static_cast<double>(events) / seconds; }
    double cpu_us_per_event() const { return cpu * 1e6 / static_cast<double>(events); }
};

std::size_t discard(char*, std::size_t size, std::size_t count, void*) { return size * count; }

Figures curl_loop(const Config& config, const std::string& token, const std::vector<std::string>& bodies,
                  std::size_t threads) {
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> failures{0};
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    std::vector<std::thread> workers;
    for (std::size_t t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            CURL* h = curl_easy_init();
            curl_slist* headers = nullptr;
            headers = curl_slist_append(headers, "Content-Type: application/cloudevents+json");
            headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
            headers = curl_slist_append(headers, ("x-api-key: " + config.client_id).c_str());
            headers = curl_slist_append(headers, "Expect:");
            curl_easy_setopt(h, CURLOPT_URL, config.endpoints.ingress_url.c_str());
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
            for (std::size_t i; (i = next++) < bodies.size();) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, bodies[i].data());
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(bodies[i].size()));
                long status = 0;
                if (curl_easy_perform(h) != CURLE_OK) ++failures;
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
                if (status != 200) ++failures;
            }
            curl_slist_free_all(headers);
            curl_easy_cleanup(h);
        });
    }
    for (auto& w : workers) w.join();
    Figures f{"libcurl loop", threads, bodies.size(), std::chrono::duration<double>(Clock::now() - t0).count(),
              cpu_seconds() - cpu0};
    if (failures > 0) std::cerr << "libcurl loop: " << failures << " failed requests\n";
    return f;
}

Figures bridge_run(cebus::journal::Journal& journal, const Config& config, std::shared_ptr<HttpClient> client,
                   std::shared_ptr<TokenSource> tokens, std::size_t in_flight, std::size_t events) {
    PublisherOptions po;
    po.name = "bench-" + std::to_string(in_flight);
    po.in_flight = in_flight;
    po.rate_limit_requests = 0;  // the loopback emulator has no limit here
    const double cpu0 = cpu_seconds();
    const std::uint64_t connections0 = client->counters().new_connections;
    const auto t0 = Clock::now();
    Publisher publisher(journal, config, tokens, client, po);
    const double startup = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto deadline = t0 + std::chrono::seconds(120);
    while (publisher.counters().published < events && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const auto published = publisher.counters().published;
    Figures f{"bridge publisher", in_flight, static_cast<std::size_t>(published),
              std::chrono::duration<double>(Clock::now() - t0).count(), cpu_seconds() - cpu0};
    f.startup_seconds = startup;
    f.connections = client->counters().new_connections - connections0;
    publisher.stop();
    if (published < events) std::cerr << "bridge: only " << published << " of " << events << " within 120 s\n";
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t events = 5000;
    std::string json_path;
    std::vector<std::size_t> in_flight_list;
    bool run_curl = true, run_bridge = true;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--events" && i + 1 < argc) {
            events = std::stoul(argv[++i]);
        } else if (arg == "--json" && i + 1 < argc) {
            json_path = argv[++i];
        } else if (arg == "--in-flight" && i + 1 < argc) {
            in_flight_list.push_back(std::stoul(argv[++i]));
        } else if (arg == "--only" && i + 1 < argc && (argv[i + 1] == std::string("curl") ||
                                                        argv[i + 1] == std::string("bridge"))) {
            run_curl = argv[++i] == std::string("curl");
            run_bridge = !run_curl;
        } else {
            std::cerr << "usage: bench_io_events [--events N] [--in-flight N]... [--only curl|bridge] [--json FILE]\n";
            return 2;
        }
    }
    if (in_flight_list.empty()) in_flight_list = {1, 4, 16};

    // The emulator runs in a child, started before this process has threads.
    int ports[2];
    if (pipe(ports) != 0) return 1;
    const pid_t child = fork();
    if (child == 0) {
        // Its threads inherit this name, so a profile of the whole run can be
        // split with `perf report --comm bench_io_events`.
        prctl(PR_SET_NAME, "emulator");
        EmulatorOptions eo;
        eo.rate_limit_requests = 0;
        Emulator emu(eo);
        const int port = emu.port();
        if (write(ports[1], &port, sizeof port) != sizeof port) _exit(1);
        for (;;) pause();
    }
    int port = 0;
    if (read(ports[0], &port, sizeof port) != sizeof port) return 1;
    const std::string base = "http://127.0.0.1:" + std::to_string(port);

    Config config;
    config.client_id = "emulator-client";
    config.client_secret = Secret("emulator-secret");
    config.provider_id = "00000000-0000-4000-8000-000000000001";
    config.endpoints.ims_token_url = base + "/ims/token/v3";
    config.endpoints.ingress_url = base + "/";
    config.endpoints.public_key_base_url = base;
    auto client = std::make_shared<HttpClient>(HttpClientOptions::from_config(config));
    auto tokens = std::make_shared<ImsTokenSource>(config, client);

    const fs::path dir = fs::temp_directory_path() / ("cebus-bench-io-" + std::to_string(getpid()));
    fs::create_directories(dir);
    std::vector<Figures> results;
    {
        cebus::journal::Options jo;
        jo.directory = dir;
        cebus::journal::Journal journal(jo);
        std::vector<std::string> bodies;
        std::vector<cebus::EventPtr> batch;
        for (std::size_t i = 0; i < events; ++i) {
            auto e = cebus::EventBuilder()
                         .id("bench-" + std::to_string(i))
                         .source("/bench")
                         .type("com.example.bench")
                         .data_json({{"i", i}, {"text", "a small JSON payload of a typical event"}})
                         .build();
            bodies.push_back(Publisher::ingress_body(*e, config, "com.example.bench"));
            batch.push_back(std::move(e));
        }
        journal.append_batch(std::move(batch)).get();
        const std::string token = tokens->token().reveal();

        for (std::size_t n : in_flight_list) {
            if (run_curl) results.push_back(curl_loop(config, token, bodies, n));
            if (run_bridge) results.push_back(bridge_run(journal, config, client, tokens, n, events));
        }
    }
    fs::remove_all(dir);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);

    nlohmann::json out = nlohmann::json::array();
    std::printf("%-18s %9s %8s %10s %14s %10s %12s\n", "sender", "in flight", "events", "events/s", "CPU us/event",
                "start ms", "connections");
    for (std::size_t i = 0; i < results.size(); ++i) {
        const Figures& f = results[i];
        std::printf("%-18s %9zu %8zu %10.0f %14.1f %10.1f %12llu\n", f.kind.c_str(), f.in_flight, f.events,
                    f.per_second(), f.cpu_us_per_event(), f.startup_seconds * 1e3,
                    static_cast<unsigned long long>(f.connections));
        out.push_back({{"sender", f.kind}, {"in_flight", f.in_flight}, {"events", f.events},
                       {"seconds", f.seconds}, {"events_per_second", f.per_second()},
                       {"cpu_us_per_event", f.cpu_us_per_event()}, {"startup_seconds", f.startup_seconds},
                       {"connections", f.connections}});
    }
    for (std::size_t i = 0; run_curl && run_bridge && i + 1 < results.size(); i += 2) {
        const Figures& curl = results[i];
        const Figures& bridge = results[i + 1];
        std::printf("in flight %2zu: bridge/libcurl throughput %.2f, CPU per event %.2f\n", curl.in_flight,
                    bridge.per_second() / curl.per_second(), bridge.cpu_us_per_event() / curl.cpu_us_per_event());
    }
    if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << '\n';
    return 0;
}
