// Kill -9 loops against a real journal: a child appends from several threads
// and runs a durable subscriber; this test kills it at random points, reopens
// and checks every invariant the journal promises after a crash.
//
// CEBUS_CRASH_CYCLES sets the number of append cycles (default 200) and
// CEBUS_READER_CYCLES the reader-table cycles (default 1000);
// scripts/crash-loop.sh runs longer loops. CEBUS_CRASH_SEED repeats a run.
// Under ThreadSanitizer every child starts about ten times slower, so the
// defaults drop to 100 and 200 cycles. The reader loop still outnumbers the
// 126 reader slots, and the plain build runs the full loops.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "journal_crash_common.hpp"
#include "journal_support.hpp"

namespace cj = cebus::journal;

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int default_crash_cycles = 100;
constexpr int default_reader_cycles = 200;
#else
constexpr int default_crash_cycles = 200;
constexpr int default_reader_cycles = 1000;
#endif

int env_int(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : fallback;
}

std::string child_path() {
    const char* p = std::getenv("CEBUS_JOURNAL_CRASH_CHILD");
    if (!p || !*p) FAIL("CEBUS_JOURNAL_CRASH_CHILD is not set; run through meson test");
    return p;
}

struct SideLog {
    std::vector<std::string> submitted;
    std::vector<std::pair<std::uint64_t, std::string>> acked;
    std::vector<std::pair<std::uint64_t, std::string>> delivered;
    std::uint64_t loaded_cursor = 0;  // the cursor the child found on open
};

SideLog read_side(const std::string& path) {
    SideLog log;
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) break;  // a torn last line
        std::istringstream ls(text.substr(pos, nl - pos));
        pos = nl + 1;
        char kind = 0;
        ls >> kind;
        if (kind == 'S') {
            std::string id;
            ls >> id;
            log.submitted.push_back(id);
        } else if (kind == 'C') {
            ls >> log.loaded_cursor;
        } else if (kind == 'A' || kind == 'D') {
            std::uint64_t seq = 0;
            std::string id;
            ls >> seq >> id;
            (kind == 'A' ? log.acked : log.delivered).emplace_back(seq, id);
        }
    }
    return log;
}

// Starts the child; returns its pid.
pid_t spawn(const std::vector<std::string>& args, int stdout_fd = -1) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (stdout_fd >= 0) ::dup2(stdout_fd, 1);
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

void kill_and_reap(pid_t pid, int& status) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
}

}  // namespace

TEST_CASE("kill -9 loop keeps every invariant", "[journal][crash]") {
    const std::string child = child_path();
    const int cycles = env_int("CEBUS_CRASH_CYCLES", default_crash_cycles);
    const unsigned seed = static_cast<unsigned>(env_int("CEBUS_CRASH_SEED", static_cast<int>(std::random_device{}())));
    INFO("CEBUS_CRASH_SEED=" << seed);
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> kill_after_us(5000, 100000);

    jtest::TempDir tmp;
    const std::string dir = (tmp.path() / "journal").string();
    const std::string side = (tmp.path() / "side.log").string();
    const std::string retry = (tmp.path() / "retry.txt").string();

    std::set<std::string> submitted_ever;
    std::map<std::string, std::uint64_t> stored_at;  // id -> sequence, over all cycles
    std::map<std::uint64_t, std::string> acked_ever; // sequence -> id
    std::vector<std::string> to_retry;
    std::uint64_t prev_cursor = 0;
    std::uint64_t prev_first = 0;
    std::uint64_t prev_last = 0;
    std::uint64_t cycles_with_unacked_tail = 0;
    std::uint64_t total_acked = 0;

    for (int cycle = 0; cycle < cycles; ++cycle) {
        INFO("cycle " << cycle);
        {
            std::ofstream r(retry, std::ios::trunc);
            for (const auto& id : to_retry) r << id << '\n';
        }
        std::filesystem::remove(side);

        const pid_t pid = spawn({child, "append", dir, side, retry, std::to_string(cycle)});
        REQUIRE(pid > 0);
        ::usleep(static_cast<useconds_t>(kill_after_us(rng)));
        int status = 0;
        kill_and_reap(pid, status);
        INFO("child exit status " << status);
        REQUIRE(WIFSIGNALED(status));  // it ran until killed, no error exit

        const SideLog log = read_side(side);
        for (const auto& id : log.submitted) submitted_ever.insert(id);
        for (const auto& [seq, id] : log.acked) acked_ever[seq] = id;
        total_acked += log.acked.size();
        if (!std::filesystem::exists(std::filesystem::path(dir) / "data.mdb")) continue;

        // Opens with no repair step. Each cycle opens afresh for a reason
        // found by this test: while another process keeps the environment
        // open, a commit whose writer was killed after writing the meta page
        // but before publishing it in the lock file stays hidden from
        // readers. LMDB 0.9.24 publishes it when the next writer takes the
        // write lock, so the restarted child does see it.
        auto ro = crashtest::journal_options(dir);
        ro.read_only = true;
        std::optional<cj::Journal> opened;
        try {
            opened.emplace(ro);
        } catch (const cj::JournalError& e) {
            // Killed before the first commit: nothing can have been
            // acknowledged, and the next child creates the journal.
            if (e.code() != cj::Errc::not_found) throw;
            CHECK(acked_ever.empty());
            continue;
        }
        cj::Journal& j = *opened;
        const cj::Stats st = j.stats();
        const std::uint64_t first = st.first_sequence;
        const std::uint64_t last = st.last_sequence;

        // Watermark and tail never move backwards.
        CHECK(last >= prev_last);
        if (first != 0) CHECK(first >= prev_first);

        // Contiguous from the watermark, checksums and bytes intact, no
        // phantom, no duplicate.
        std::map<std::uint64_t, std::string> scan;
        std::uint64_t expect = first;
        std::uint64_t mismatches = 0, phantoms = 0, duplicates = 0;
        j.replay(first, [&](const cj::StoredEvent& s) {
            if (s.sequence != expect) ++mismatches;
            expect = s.sequence + 1;
            const std::string& id = s.event->id();
            if (!submitted_ever.count(id)) ++phantoms;
            if (!(*s.event == *crashtest::event_for(id))) ++mismatches;
            auto [it, fresh] = stored_at.emplace(id, s.sequence);
            if (!fresh && it->second != s.sequence) ++duplicates;
            scan.emplace(s.sequence, id);
            return true;
        });
        CHECK(mismatches == 0);
        CHECK(phantoms == 0);
        CHECK(duplicates == 0);
        if (first != 0) CHECK(expect == last + 1);

        // Every acknowledged append is present (or trimmed by retention).
        std::uint64_t lost = 0;
        for (const auto& [seq, id] : log.acked) {
            if (first != 0 && seq < first) continue;
            auto it = scan.find(seq);
            if (it == scan.end() || it->second != id) ++lost;
        }
        CHECK(lost == 0);
        if (!log.submitted.empty() && scan.size() > 0 && log.acked.size() < log.submitted.size()) {
            for (const auto& id : log.submitted) {
                if (stored_at.count(id) && std::none_of(log.acked.begin(), log.acked.end(),
                                                        [&](const auto& a) { return a.second == id; })) {
                    ++cycles_with_unacked_tail;
                    break;
                }
            }
        }

        // A batch of three is all or nothing.
        std::uint64_t torn = 0;
        for (const auto& [seq, id] : scan) {
            const auto b = id.rfind("-b");
            if (b == std::string::npos) continue;
            const int member = id[b + 2] - '0';
            const std::string base = id.substr(0, b);
            for (int m = 0; m < 3; ++m) {
                const std::uint64_t want = seq - static_cast<std::uint64_t>(member) + static_cast<std::uint64_t>(m);
                if (want < first) continue;  // trimmed
                auto it = scan.find(want);
                if (it == scan.end() || it->second != base + "-b" + std::to_string(m)) ++torn;
            }
        }
        CHECK(torn == 0);

        // Cursors never go backwards and never pass the tail.
        std::uint64_t cursor = prev_cursor;
        for (const auto& c : st.cursors) {
            if (c.name == "crash-sub") cursor = c.cursor;
        }
        CHECK(cursor >= prev_cursor);
        CHECK(cursor <= last);
        // Retention waited for the cursor.
        if (first != 0) CHECK(first <= cursor + 1);

        // The subscriber got every sequence after its stored cursor, in order.
        std::uint64_t next = prev_cursor + 1;
        std::uint64_t out_of_order = 0;
        std::string first_problem;
        for (const auto& [seq, id] : log.delivered) {
            auto it = scan.find(seq);
            if (seq != next || (it != scan.end() && it->second != id)) {
                if (out_of_order++ == 0) {
                    first_problem = "expected " + std::to_string(next) + ", delivered " + std::to_string(seq) + " " +
                                    id + ", stored " + (it == scan.end() ? "(none)" : it->second);
                }
            }
            next = seq + 1;
        }
        INFO(first_problem << "; the child loaded cursor " << log.loaded_cursor);
        CHECK(out_of_order == 0);

        // Reader slots do not pile up.
        CHECK(st.readers_used < 40);

        prev_cursor = cursor;
        prev_first = first;
        prev_last = last;

        // Submitted but unacknowledged ids are retried next cycle, as a
        // producer would; de-duplication must keep them single.
        std::set<std::string> acked_now;
        for (const auto& a : log.acked) acked_now.insert(a.second);
        to_retry.clear();
        for (const auto& id : log.submitted) {
            // Batch members are not retried one by one: that would store
            // them apart and break the all-or-nothing check.
            if (!acked_now.count(id) && id.find("-b") == std::string::npos && to_retry.size() < 30) {
                to_retry.push_back(id);
            }
        }
    }

    WARN("crash cycles: " << cycles << ", acknowledged appends: " << total_acked
                          << ", cycles with a committed but unacknowledged tail: " << cycles_with_unacked_tail
                          << ", final sequence: " << prev_last);
    CHECK(total_acked > 0);
    CHECK(prev_cursor > 0);
}

TEST_CASE("reader table survives killed readers", "[journal][crash]") {
    const int cycles = env_int("CEBUS_READER_CYCLES", default_reader_cycles);
    jtest::TempDir tmp;
    const std::string dir = (tmp.path() / "journal").string();
    {
        cj::Journal j(crashtest::journal_options(dir));
        for (int i = 0; i < 50; ++i) j.append_sync(crashtest::event_for("r" + std::to_string(i)));
    }
    // A raw environment kept open here keeps the lock file in use, so LMDB
    // does not reset it when a child opens: only the journal's
    // mdb_reader_check on open can clear the slots the killed children
    // leave. Without that check the 126 slots filled after 123 cycles here.
    MDB_env* watcher = nullptr;
    REQUIRE(mdb_env_create(&watcher) == 0);
    mdb_env_set_maxdbs(watcher, 8);
    REQUIRE(mdb_env_open(watcher, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0644) == 0);

    int failures = 0;
    for (int cycle = 0; cycle < cycles && failures == 0; ++cycle) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            // The child never touches `watcher`. It opens its own journal,
            // reads from 8 threads and waits to be killed.
            ::close(fds[0]);
            try {
                auto o = crashtest::journal_options(dir);
                o.read_only = true;
                cj::Journal j(o);
                std::atomic<int> holding{0};
                std::vector<std::thread> ts;
                for (int t = 0; t < 8; ++t) {
                    ts.emplace_back([&] {
                        j.replay(1, [&](const cj::StoredEvent& s) {
                            if (s.sequence == 1) ++holding;
                            // The pooled read transactions keep their slots.
                            while (true) ::pause();
                            return true;
                        });
                    });
                }
                while (holding.load() < 8) ::usleep(100);
                if (::write(fds[1], "R", 1) != 1) ::_exit(4);
                ::pause();
            } catch (...) {
                ::_exit(3);
            }
            ::_exit(0);
        }
        ::close(fds[1]);
        char c = 0;
        const bool ready = ::read(fds[0], &c, 1) == 1 && c == 'R';
        ::close(fds[0]);
        int status = 0;
        kill_and_reap(pid, status);
        if (!ready) {
            ++failures;
            INFO("cycle " << cycle << ": the child failed before holding its readers, status " << status);
            CHECK(ready);
        }
    }
    CHECK(failures == 0);

    int used = 0;
    mdb_reader_list(
        watcher,
        [](const char* line, void* ctx) -> int {
            const std::string_view l(line);
            if (l.find("pid") == std::string_view::npos && l.find("no active") == std::string_view::npos) {
                ++*static_cast<int*>(ctx);
            }
            return 0;
        },
        &used);
    INFO("reader slots in use after " << cycles << " killed readers: " << used);
    CHECK(used <= 20);  // at most the last child's slots
    mdb_env_close(watcher);
}
