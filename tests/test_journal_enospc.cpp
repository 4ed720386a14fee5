// The journal on a full file system: a small tmpfs, mounted in a private
// mount namespace of a forked child, so the mount stays invisible outside.
//
// As root (CI) the child needs only unshare(CLONE_NEWNS); as another user it
// first enters a user namespace where it is root. Where neither is allowed
// (a container without the capability, user namespaces turned off) the test
// reports a skip and passes without running, because it cannot fill a real
// disk safely.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <cebus/journal.hpp>

#include "journal_support.hpp"

namespace cj = cebus::journal;
using jtest::make_event;
using jtest::TempDir;

namespace {

constexpr int skip_status = 77;

// Lines the child writes for the parent: "SKIP ...", "FAIL ..." or notes.
class Report {
public:
    explicit Report(int fd) : fd_(fd) {}
    void line(const std::string& text) {
        const std::string l = text + "\n";
        const char* p = l.data();
        std::size_t left = l.size();
        while (left > 0) {
            const ssize_t n = ::write(fd_, p, left);
            if (n <= 0) return;
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    void check(bool ok, const std::string& what) {
        if (!ok) {
            ++failures_;
            line("FAIL " + what);
        }
    }
    int failures() const { return failures_; }

private:
    int fd_;
    int failures_ = 0;
};

bool write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path);
    f << text;
    return static_cast<bool>(f);
}

// Enters a private mount namespace and mounts a tmpfs of `size` on `where`.
// Returns an empty string, or why it could not.
std::string mount_small_tmpfs(const std::string& where, const char* size) {
    if (::geteuid() == 0) {
        if (::unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    } else {
        const uid_t uid = ::geteuid();
        const gid_t gid = ::getegid();
        if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
            return std::string("unshare(CLONE_NEWUSER | CLONE_NEWNS): ") + std::strerror(errno);
        }
        // Map this user to root inside the namespace.
        if (!write_file("/proc/self/setgroups", "deny") ||
            !write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
            !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
            return "writing the user namespace's id maps failed";
        }
    }
    // Keep the mount from propagating to the parent's namespace.
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        return std::string("making / private: ") + std::strerror(errno);
    }
    const std::string options = std::string("size=") + size + ",mode=0755";
    if (::mount("tmpfs", where.c_str(), "tmpfs", 0, options.c_str()) != 0) {
        return std::string("mounting a tmpfs: ") + std::strerror(errno);
    }
    return {};
}

// Replays the journal and returns the ids in sequence order; notes a gap.
std::vector<std::string> stored_ids(cj::Journal& j, Report& report) {
    std::vector<std::string> ids;
    std::uint64_t expect = 1;
    j.replay(1, [&](const cj::StoredEvent& e) {
        report.check(e.sequence == expect, "sequence " + std::to_string(e.sequence) + " where " +
                                               std::to_string(expect) + " was expected");
        expect = e.sequence + 1;
        ids.push_back(e.event->id());
        return true;
    });
    return ids;
}

// The scenario, in the child inside its own mount namespace.
int fill_the_disk(const std::string& mount_point, Report& report) {
    const std::string where_failed = mount_small_tmpfs(mount_point, "1m");
    if (!where_failed.empty()) {
        report.line("SKIP cannot mount a small tmpfs in a private namespace (" + where_failed + ")");
        return skip_status;
    }

    // A filler takes half of the space, so the journal fills the rest soon
    // and removing the filler frees space again.
    const std::string filler = mount_point + "/filler";
    if (!write_file(filler, std::string(512u << 10, 'f'))) {
        report.line("FAIL cannot write the filler file");
        return 1;
    }

    cj::Options o;
    o.directory = mount_point + "/journal";
    o.map_size = std::size_t{64} << 20;  // far above the file system's size
    o.max_map_size = o.map_size;
    std::size_t signalled = 0;
    cj::Errc signalled_code = cj::Errc::invalid;

    std::vector<std::string> acked;
    const std::string payload = "\"" + std::string(1000, 'p') + "\"";
    try {
        cj::Journal j(o);
        j.on_commit_failed([&](const cj::JournalError& e, std::size_t events) {
            if (events > 0) {
                ++signalled;
                signalled_code = e.code();
            }
        });
        bool failed = false;
        std::size_t failed_batch = 0;
        for (int round = 0; round < 1000 && !failed; ++round) {
            std::vector<cebus::EventPtr> batch;
            std::vector<std::string> ids;
            for (int i = 0; i < 10; ++i) {
                ids.push_back("r" + std::to_string(round) + "-" + std::to_string(i));
                batch.push_back(make_event(ids.back(), "/enospc", payload));
            }
            try {
                const auto results = j.append_batch(batch).get();
                for (std::size_t i = 0; i < results.size(); ++i) {
                    report.check(results[i].sequence == acked.size() + 1, "acknowledged sequence " +
                                                                            std::to_string(results[i].sequence));
                    acked.push_back(ids[i]);
                }
            } catch (const cj::JournalError& e) {
                failed = true;
                failed_batch = batch.size();
                report.line("note: batch " + std::to_string(round) + " failed: " + e.what());
                report.check(e.code() == cj::Errc::io || e.code() == cj::Errc::full,
                             std::string("the error category is io or full: ") + e.what());
            }
        }
        report.check(failed, "the journal never hit the full file system");
        if (!failed) return 1;
        report.line("note: " + std::to_string(acked.size()) + " events acknowledged before the disk was full");
        report.check(signalled == 1, "one commit-failed signal for the failed batch, got " + std::to_string(signalled));
        report.check(signalled_code == cj::Errc::io || signalled_code == cj::Errc::full,
                     "the signal carries the batch's error");
        report.check(j.metrics().failed_appends == failed_batch, "failed_appends counts the failed batch");

        // Nothing of the failed batch is visible; the journal reads whole.
        report.check(j.last_sequence() == acked.size(), "last_sequence " + std::to_string(j.last_sequence()) +
                                                            " equals the acknowledged count " +
                                                            std::to_string(acked.size()));
        report.check(stored_ids(j, report) == acked, "the stored events are exactly the acknowledged ones");

        // Space comes back: the next append succeeds without a restart.
        if (::unlink(filler.c_str()) != 0) report.line("FAIL cannot remove the filler");
        try {
            const auto r = j.append_sync(make_event("after", "/enospc", payload));
            report.check(r.sequence == acked.size() + 1, "the first append after freeing space is the next sequence");
            acked.push_back("after");
        } catch (const std::exception& e) {
            report.line(std::string("FAIL an append after freeing space failed: ") + e.what());
        }
    } catch (const std::exception& e) {
        report.line(std::string("FAIL unexpected error: ") + e.what());
        return 1;
    }

    // Reopens with no repair step and contains exactly the acknowledged events.
    try {
        cj::Journal j(o);
        report.check(j.last_sequence() == acked.size(), "after reopening, last_sequence equals the acknowledged count");
        report.check(stored_ids(j, report) == acked, "after reopening, the stored events are the acknowledged ones");
        report.check(j.append_sync(make_event("reopened", "/enospc")).sequence == acked.size() + 1,
                     "appends continue after reopening");
    } catch (const std::exception& e) {
        report.line(std::string("FAIL reopening: ") + e.what());
        return 1;
    }
    return report.failures() == 0 ? 0 : 1;
}

}  // namespace

TEST_CASE("full file system acknowledges nothing", "[journal][faults][enospc]") {
    TempDir tmp;
    const std::string mount_point = (tmp.path() / "small").string();
    REQUIRE(::mkdir(mount_point.c_str(), 0755) == 0);

    int pipe_fd[2];
    REQUIRE(::pipe(pipe_fd) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Catch2's handlers report a crash through the parent's state and
        // may hang in a forked child: let a crash end the child instead.
        for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTERM, SIGINT}) ::signal(sig, SIG_DFL);
        ::close(pipe_fd[0]);
        Report report(pipe_fd[1]);
        int status = 1;
        try {
            status = fill_the_disk(mount_point, report);
        } catch (...) {
            report.line("FAIL an exception escaped the scenario");
        }
        ::_exit(status);
    }
    ::close(pipe_fd[1]);
    // Read the child's report until it exits, for at most 50 seconds.
    std::string output;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(50);
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd pfd{pipe_fd[0], POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
        const ssize_t n = ::read(pipe_fd[0], buf, sizeof buf);
        if (n <= 0) break;
        output.append(buf, static_cast<std::size_t>(n));
    }
    ::close(pipe_fd[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int wstatus = 0;
    REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
    INFO(output);
    REQUIRE_FALSE(timed_out);
    REQUIRE(WIFEXITED(wstatus));
    if (WEXITSTATUS(wstatus) == skip_status) {
        WARN("SKIPPED: " << output);
        return;
    }
    CHECK(output.find("FAIL") == std::string::npos);
    CHECK(WEXITSTATUS(wstatus) == 0);
}
