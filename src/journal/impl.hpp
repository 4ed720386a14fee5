// Journal internals shared by the writer (journal.cpp), the read side
// (read.cpp) and durable subscriptions (subscription.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/signals2/signal.hpp>

#include <cebus/journal.hpp>

#include "env.hpp"
#include "records.hpp"

namespace cebus::journal::detail {

// Thrown inside a write transaction when LMDB reports MDB_MAP_FULL, so the
// writer aborts the whole transaction, grows the map and retries the batch.
struct MapFullSignal {};

// Fails with MapFullSignal or JournalError for a non-zero LMDB code.
inline void check_write(int rc, std::string_view what) {
    if (rc == MDB_MAP_FULL) throw MapFullSignal{};
    if (rc != 0) throw_lmdb(rc, what);
}

// Reads an 8-byte little-endian value from the meta database, or `fallback`
// when the key is missing or has another size.
inline std::uint64_t meta_get(MDB_txn* txn, const Dbis& dbi, std::string_view key, std::uint64_t fallback) {
    MDB_val k = to_val(key);
    MDB_val v;
    if (mdb_get(txn, dbi.meta, &k, &v) != 0 || v.mv_size != 8) return fallback;
    return get_le64(static_cast<const char*>(v.mv_data));
}

// Stores an 8-byte little-endian value in the meta database.
inline void meta_put(MDB_txn* txn, const Dbis& dbi, std::string_view key, std::uint64_t value) {
    char buf[8];
    put_le64(buf, value);
    MDB_val k = to_val(key);
    MDB_val v{8, buf};
    check_write(mdb_put(txn, dbi.meta, &k, &v, 0), "writing journal metadata");
}

// The view of an operation run by the writer: its own nested transaction.
struct OpContext {
    MDB_txn* txn;
    const Dbis& dbi;
    std::int64_t now_ns;
};

struct PendingEvent {
    std::string record;     // header_size placeholder bytes, then the body
    std::string dedup_key;  // empty: not de-duplicated
    bool dedup_hashed = false;
    std::string dedup_pair;  // source '\0' id, kept when the key is a hash
};

// Encodes an event for the writer on the caller's thread. Throws too_large.
PendingEvent encode_pending(const Options& opt, const Event& e);

struct Request {
    enum class Kind { single, batch, callback, op };
    Kind kind = Kind::single;
    std::vector<PendingEvent> events;
    bool has_state = false;
    std::string state_key, state_value;
    std::function<void(OpContext&)> op;
    std::function<void(std::exception_ptr)> op_done;

    // Only the promise of the request's kind exists: a std::promise
    // allocates its shared state when constructed.
    std::optional<std::promise<AppendResult>> single;
    std::optional<std::promise<std::vector<AppendResult>>> batch;
    AppendCallback callback;

    AppendResult one;                   // the result of a single or callback append
    std::vector<AppendResult> results;  // the results of a batch

    // The results of this request's events (one, or the batch's).
    AppendResult* result_slots() noexcept { return kind == Kind::batch ? results.data() : &one; }
    std::size_t result_count() const noexcept { return kind == Kind::batch ? results.size() : (kind == Kind::op ? 0 : 1); }
    std::exception_ptr op_error;
    std::size_t bytes = 0;
};

// Keeps a repeated log message from flooding the host's logger. The first
// message of a key is passed on, and later ones within `interval` of the last
// passed one are counted instead. The count goes out with the next passed
// message, or else through due(), which the writer's housekeeping and the
// close call. Thread-safe.
class LogLimiter {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds interval{1000};

    // Returns the message to log now (with the count of those suppressed
    // before it appended), or an empty string to drop it.
    std::string admit(std::string_view key, LogLevel level, std::string message, Clock::time_point now);

    struct Summary {
        LogLevel level;
        std::string message;
    };
    // Summaries of keys whose suppressed messages have waited `interval`.
    // Forgets keys idle for a minute, so the table stays small.
    std::vector<Summary> due(Clock::time_point now, bool flush_all = false);

private:
    struct Entry {
        Clock::time_point last_passed;
        std::uint64_t suppressed = 0;
        LogLevel level = LogLevel::info;
        std::string last_message;
    };
    std::mutex mu_;
    std::map<std::string, Entry, std::less<>> entries_;
};

struct AtomicMetrics {
    std::atomic<std::uint64_t> appended{0}, duplicates{0}, commits{0}, failed_commits{0}, failed_appends{0},
        map_growths{0}, reopens{0}, trimmed{0}, delivered{0}, retries{0}, dead_lettered{0}, skipped{0},
        stale_readers_cleared{0}, last_batch_events{0};
};

}  // namespace cebus::journal::detail

namespace cebus::journal {

struct Journal::Impl : std::enable_shared_from_this<Journal::Impl> {
    explicit Impl(Options o);
    ~Impl();

    // ---- set up in the constructor, then read-only
    Options opt;
    std::unique_ptr<detail::Env> env;
    int lock_fd = -1;
    std::pair<unsigned long, unsigned long> dir_id{0, 0};

    // ---- writer queue (mu)
    std::mutex mu;
    std::condition_variable cv_work;
    std::condition_variable cv_space;
    std::vector<std::unique_ptr<detail::Request>> queue;
    std::size_t pending_events = 0;
    bool stopping = false;
    bool trim_pending = false;
    std::thread writer;
    std::thread::id writer_id;

    // ---- writer thread only
    std::int64_t last_time_ns = 0;
    std::vector<std::unique_ptr<detail::Request>> held;  // relaxed mode: committed, not yet durable
    std::uint64_t held_last_seq = 0;
    std::chrono::steady_clock::time_point next_housekeeping{};
    std::chrono::steady_clock::time_point next_reader_check{};
    std::uint64_t retention_blocked_logged = 0;

    // ---- visible state
    std::atomic<std::uint64_t> last_seq{0};  // durable and visible to subscribers
    mutable std::mutex notify_mu;
    mutable std::condition_variable notify_cv;
    std::atomic<std::uint64_t> requeue_gen{0};
    detail::AtomicMetrics metrics;

    std::mutex subs_mu;
    std::map<std::string, std::weak_ptr<DurableSubscription::State>, std::less<>> subs;

    void log(LogLevel level, const std::string& message) const noexcept;
    // As log(), but a message of the same `key` repeated within a second is
    // counted instead of logged (LogLimiter).
    void log_limited(LogLevel level, std::string_view key, std::string message) noexcept;
    // Logs the counts of suppressed messages that are due (all on close).
    void flush_log_summaries(bool all) noexcept;
    mutable detail::LogLimiter limiter;

    // Observer signals (Journal::on_dead_lettered, on_commit_failed).
    boost::signals2::signal<Journal::DeadLetteredSlot> dead_lettered_signal;
    boost::signals2::signal<Journal::CommitFailedSlot> commit_failed_signal;
    // Emits commit_failed_signal and logs (limited) a failed write
    // transaction of `events` events. Writer thread.
    void report_commit_failure(const std::exception_ptr& error, std::size_t events) noexcept;

    // Queues a request; blocks for backpressure. Throws closed.
    void submit(std::unique_ptr<detail::Request> req);
    // Runs `op` in the next group commit and waits until it is durable.
    // Rethrows what the op threw, or the commit's JournalError.
    void run_op(std::function<void(detail::OpContext&)> op);
    // As run_op without waiting; `done` runs on the writer thread.
    void post_op(std::function<void(detail::OpContext&)> op, std::function<void(std::exception_ptr)> done);

    void writer_loop();
    void process(std::vector<std::unique_ptr<detail::Request>>& work);
    void commit_chunk(std::unique_ptr<detail::Request>* begin, std::unique_ptr<detail::Request>* end);
    void apply(MDB_txn* txn, std::unique_ptr<detail::Request>* begin, std::unique_ptr<detail::Request>* end,
               std::uint64_t& last);
    void complete(std::vector<std::unique_ptr<detail::Request>>& done, std::exception_ptr error);
    void complete_held();
    void publish_last(std::uint64_t seq);
    void after_failure(int rc);
    // For EIO and ENOSPC: the free space of the journal's file system, as a
    // note for the error message; empty otherwise.
    std::string space_note(int rc) const;
    void housekeeping();
    std::uint64_t load_last_seq(MDB_txn* txn);
    std::uint64_t refresh_last_seq() const;

    // Retention: trims at most one batch. Returns events trimmed; sets
    // `more` when limits are still exceeded and the next batch may trim.
    std::uint64_t trim_batch(detail::OpContext& ctx, bool& more);
    std::uint64_t prune_dedup(detail::OpContext& ctx, bool& more);

    // Cursor record helpers (inside a write transaction).
    static bool get_cursor(MDB_txn* txn, const detail::Dbis& dbi, std::string_view name, detail::CursorRecord& r);
    static void put_cursor(MDB_txn* txn, const detail::Dbis& dbi, std::string_view name,
                           const detail::CursorRecord& r);
    std::uint64_t resolve_start(MDB_txn* txn, const StartPosition& pos);
    std::uint64_t first_in(MDB_txn* txn) const;
    std::uint64_t last_in(MDB_txn* txn) const;

    std::atomic<bool> closed{false};
    mutable std::atomic<std::uint64_t> ro_last_cache{0};
};

struct DurableSubscription::State {
    std::shared_ptr<Journal::Impl> impl;
    std::string name;
    Handler handler;
    SubscriptionOptions opt;
    std::thread thread;
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> cursor{0};
    // Failed deliveries of head_seq stored before this run (delivery thread).
    std::uint64_t head_seq = 0;
    std::uint32_t head_attempts = 0;
    std::mutex stop_mu;
    bool joined = false;

    void run() noexcept;
    void shutdown();
};

}  // namespace cebus::journal
