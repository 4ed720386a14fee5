// The process that test_journal_crash kills with SIGKILL at random points.
//
//   journal_crash_child append DIR SIDEFILE RETRYFILE CYCLE
//     Appends from several threads (single events and batches of three) and
//     runs a durable subscriber. Writes one line per step to SIDEFILE with a
//     single write(2) each, so the lines survive the kill in the page cache:
//       S <id>          about to submit
//       A <seq> <id>    acknowledged (after the durable commit)
//       D <seq> <id>    delivered to the durable subscriber "crash-sub"
//     First re-appends the ids listed in RETRYFILE, as a producer that
//     retries after a crash would.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <cebus/journal.hpp>

#include "journal_crash_common.hpp"

namespace cj = cebus::journal;

namespace {

int side_fd = -1;

void line(const std::string& s) {
    const std::string l = s + "\n";
    if (::write(side_fd, l.data(), l.size()) != static_cast<ssize_t>(l.size())) std::_Exit(4);
}

int run_append(const char* dir, const char* side, const char* retry_file, int cycle) {
    side_fd = ::open(side, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (side_fd < 0) return 3;

    cj::Journal j(crashtest::journal_options(dir));

    for (const auto& c : j.cursors()) line("C " + std::to_string(c.cursor) + " " + c.name);

    cj::SubscriptionOptions so;
    so.batch_size = 16;
    auto sub = j.subscribe("crash-sub", [](const cj::Delivery& d) {
        line("D " + std::to_string(d.sequence) + " " + d.event->id());
        return cj::HandlerResult::ack();
    }, so);

    std::vector<std::string> retries;
    {
        std::ifstream in(retry_file);
        for (std::string id; std::getline(in, id);) {
            if (!id.empty()) retries.push_back(id);
        }
    }
    std::vector<std::future<cj::AppendResult>> retried;
    for (const auto& id : retries) {
        line("S " + id);
        retried.push_back(j.append(crashtest::event_for(id)));
    }
    for (std::size_t i = 0; i < retries.size(); ++i) {
        line("A " + std::to_string(retried[i].get().sequence) + " " + retries[i]);
    }

    std::vector<std::thread> threads;
    for (int t = 0; t < crashtest::producer_threads; ++t) {
        threads.emplace_back([&j, t, cycle] {
            for (int n = 0;; ++n) {
                const std::string base = "c" + std::to_string(cycle) + "-t" + std::to_string(t) + "-n" + std::to_string(n);
                if (n % 5 == 0) {
                    std::vector<cebus::EventPtr> batch;
                    std::vector<std::string> ids;
                    for (int b = 0; b < 3; ++b) {
                        ids.push_back(base + "-b" + std::to_string(b));
                        line("S " + ids.back());
                        batch.push_back(crashtest::event_for(ids.back()));
                    }
                    const auto res = j.append_batch(std::move(batch)).get();
                    for (int b = 0; b < 3; ++b) line("A " + std::to_string(res[b].sequence) + " " + ids[b]);
                } else {
                    // A few in flight per thread, so commits group.
                    std::vector<std::pair<std::string, std::future<cj::AppendResult>>> fs;
                    for (int k = 0; k < 4; ++k) {
                        const std::string id = base + "-s" + std::to_string(k);
                        line("S " + id);
                        fs.emplace_back(id, j.append(crashtest::event_for(id)));
                    }
                    for (auto& [id, f] : fs) line("A " + std::to_string(f.get().sequence) + " " + id);
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc == 6 && std::strcmp(argv[1], "append") == 0) return run_append(argv[2], argv[3], argv[4], std::atoi(argv[5]));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "journal_crash_child: %s\n", e.what());
        return 5;
    }
    std::fprintf(stderr, "usage: journal_crash_child append DIR SIDEFILE RETRYFILE CYCLE\n");
    return 2;
}
