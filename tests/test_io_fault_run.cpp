// Fault run: events forwarded through the publisher while the emulator
// injects 429s, 5xx and dropped connections and the host process is killed
// with SIGKILL and restarted. Afterwards the emulator must hold every event,
// and every duplicate must carry the same id and the same bytes.
//
// The host is this test binary run again as a child with the hidden test
// "fault run child". CEBUS_IO_FAULT_EVENTS sets the event count (2,000 by
// default; scripts/io-events-fault-run.sh runs 100,000).
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include <cebus/io_events/emulator.hpp>
#include <cebus/io_events/publisher.hpp>
#include <cebus/journal.hpp>

using namespace cebus::io_events;
namespace fs = std::filesystem;

namespace {

std::size_t event_count() {
    const char* text = std::getenv("CEBUS_IO_FAULT_EVENTS");
    return text != nullptr ? static_cast<std::size_t>(std::strtoull(text, nullptr, 10)) : 2000;
}

pid_t spawn_child() {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_io_fault_run", "fault run child", static_cast<char*>(nullptr));
        _exit(127);
    }
    return pid;
}

void kill_child(pid_t pid) {
    ::kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
}

}  // namespace

TEST_CASE("fault run child", "[.]") {
    const char* dir = std::getenv("CEBUS_IO_FAULT_DIR");
    const char* base = std::getenv("CEBUS_IO_FAULT_URL");
    REQUIRE(dir != nullptr);
    REQUIRE(base != nullptr);
    const std::size_t n = event_count();

    cebus::journal::Options jo;
    jo.directory = dir;
    cebus::journal::Journal journal(jo);

    Config config;
    config.client_id = "emulator-client";
    config.client_secret = Secret("emulator-secret");
    config.provider_id = "00000000-0000-4000-8000-000000000001";
    config.endpoints.ims_token_url = std::string(base) + "/ims/token/v3";
    config.endpoints.ingress_url = std::string(base) + "/";
    config.endpoints.public_key_base_url = base;
    config.request_timeout = std::chrono::milliseconds(2000);
    auto client = std::make_shared<HttpClient>(HttpClientOptions::from_config(config));
    PublisherOptions po;
    po.in_flight = 8;
    po.initial_backoff = std::chrono::milliseconds(10);
    po.max_backoff = std::chrono::milliseconds(200);
    po.rate_limit_requests = 0;
    Publisher publisher(journal, config, std::make_shared<ImsTokenSource>(config, client), client, po);

    // Appending again after a restart is harmless: (source, id) de-duplication.
    const std::size_t batch = 500;
    for (std::size_t first = 0; first < n; first += batch) {
        std::vector<cebus::EventPtr> events;
        for (std::size_t i = first; i < std::min(n, first + batch); ++i) {
            events.push_back(cebus::EventBuilder()
                                 .id("fault-" + std::to_string(i))
                                 .source("/fault-run")
                                 .type("com.example.fault")
                                 .data_json({{"i", i}})
                                 .build());
        }
        journal.append_batch(std::move(events)).get();
    }
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

TEST_CASE("fault run loses no event") {
    const std::size_t n = event_count();
    EmulatorOptions eo;
    eo.rate_limit_requests = 0;
    Emulator emu(eo);
    EmulatorFaultRates rates;
    rates.throttle = 0.03;
    rates.server_error = 0.03;
    rates.drop = 0.03;
    rates.retry_after = "0";
    emu.set_fault_rates(EmulatorRoute::ingress, rates);

    const fs::path dir = fs::temp_directory_path() / ("cebus-io-fault-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    setenv("CEBUS_IO_FAULT_DIR", dir.c_str(), 1);
    setenv("CEBUS_IO_FAULT_URL", emu.base_url().c_str(), 1);
    setenv("CEBUS_IO_FAULT_EVENTS", std::to_string(n).c_str(), 1);

    std::mt19937 rng(42);
    const int kills = n > 10'000 ? 6 : 3;
    for (int k = 0; k < kills; ++k) {
        const pid_t child = spawn_child();
        std::this_thread::sleep_for(std::chrono::milliseconds(700 + rng() % 1500));
        kill_child(child);
    }

    const pid_t last = spawn_child();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(n > 10'000 ? 1800 : 45);
    while (emu.stats().ingress_distinct_ids < n && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill_child(last);

    const auto stats = emu.stats();
    INFO("accepted " << stats.ingress_accepted << ", duplicates " << stats.ingress_duplicates << ", faults "
                     << stats.faults_injected);
    CHECK(stats.faults_injected > 0);
    const auto accepted = emu.accepted_events();
    CHECK(accepted.size() == n);
    std::size_t missing = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (accepted.count("fault-" + std::to_string(i)) == 0) ++missing;
    }
    CHECK(missing == 0);
    std::size_t differing = 0;
    for (const auto& [id, bodies] : accepted) {
        for (const auto& body : bodies) {
            if (body != bodies.front()) ++differing;
        }
    }
    CHECK(differing == 0);
    fs::remove_all(dir);
}
