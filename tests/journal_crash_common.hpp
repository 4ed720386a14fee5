// What the crash child and the crash test agree on: journal options and the
// exact event submitted for each id, so the test can compare stored bytes.
#pragma once

#include <string>

#include <cebus/event.hpp>
#include <cebus/journal.hpp>

namespace crashtest {

inline constexpr int producer_threads = 3;
inline constexpr std::uint64_t retained_events = 500;

inline cebus::journal::Options journal_options(const std::string& dir) {
    cebus::journal::Options o;
    o.directory = dir;
    o.map_size = std::size_t{64} << 20;
    o.retention.max_events = retained_events;
    o.retention.trim_batch = 500;
    o.retention.check_interval = std::chrono::milliseconds(5);
    return o;
}

// About 300 bytes encoded, derived from the id alone.
inline cebus::EventPtr event_for(const std::string& id) {
    std::string filler;
    while (filler.size() < 180) filler += id + ";";
    filler.resize(180);
    return cebus::EventBuilder()
        .id(id)
        .source("/crash/producer")
        .type("com.example.crash")
        .subject(id)
        .data_json(nlohmann::json{{"id", id}, {"filler", filler}})
        .build();
}

}  // namespace crashtest
