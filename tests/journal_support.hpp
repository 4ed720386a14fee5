// Helpers shared by the journal tests: temporary folders on the real disk and
// event factories.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <cebus/event.hpp>
#include <cebus/journal.hpp>

namespace jtest {

// A fresh folder under $TMPDIR (or /tmp), removed on destruction.
class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/cebus-journal-XXXXXX";
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

inline cebus::EventPtr make_event(const std::string& id, const std::string& source = "/test/journal",
                                  const std::string& data = R"({"n":1})") {
    return cebus::EventBuilder()
        .id(id)
        .source(source)
        .type("com.example.journal.test")
        .data_json(nlohmann::json::parse(data))
        .build();
}

inline cebus::journal::Options options_for(const TempDir& dir) {
    cebus::journal::Options o;
    o.directory = dir.path();
    o.map_size = std::size_t{64} << 20;
    return o;
}

// Polls `pred` until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pred();
}

}  // namespace jtest
