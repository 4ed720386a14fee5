// The durable journal: an append-only log of CloudEvents in one LMDB
// environment, with durable subscriptions, dead letters and retention.
//
// Every stored event gets a sequence number: a 64-bit integer, contiguous from
// the retention watermark (first_sequence()) to last_sequence(). One writer
// thread owns every LMDB write transaction. It takes whatever is queued
// (appends, cursor updates, dead-letter moves, retention trims) and commits it
// as one transaction (group commit). It never waits for a batch to fill. An
// append is acknowledged (its future becomes ready, its callback runs) only
// after that commit is on disk: in Durability::durable LMDB has flushed the
// data pages with fdatasync and written the meta page through an O_DSYNC
// descriptor before mdb_txn_commit returns. A failed commit acknowledges
// nobody in it; the futures hold a JournalError instead.
//
// Durable subscriptions read the journal by name. Each has a cursor stored in
// the journal, so after a restart it resumes after the last event its handler
// finished. Delivery is at least once and in sequence order: an event whose
// handler fails is retried (on a backoff) before any later event is delivered,
// and after a maximum number of deliveries it moves to the dead-letter store
// with the reason and the attempt count, and delivery moves on.
//
// Durability and crashes: after a crash (kill -9, power loss) the journal
// opens with no repair step. Every acknowledged append is present (unless
// retention removed it), sequences have no gaps, a group commit is all or
// nothing, and a stored cursor never goes backwards, except through an
// explicit rewind(). A producer that retries after a crash may hit the
// window where its event was committed but not acknowledged; de-duplication
// on (`source`, `id`) within Options::dedup_window stores it once.
//
// Limits a host should know (see also lmdb.h, "Caveats"):
// - One Journal per directory per process, and only one writing process: a
//   second writable open of the same directory throws JournalError (busy).
//   Read-only opens from other processes (the `cebus` tool) are fine.
// - Never use a Journal in a child after fork(); open a new one after exec.
// - No network file systems: LMDB relies on mmap and POSIX locks.
// - 64-bit only: the map reserves address space up to Options::max_map_size.
// - LMDB never shrinks its file. Space freed by retention is reused for new
//   events but not returned to the file system; use mdb_copy -c offline.
//
// Threads: every public member of Journal is thread-safe unless it says
// otherwise. Handlers run on the subscription's own delivery thread, never
// concurrently with themselves. A handler may append to the journal, but must
// not wait for that append's acknowledgement if the append could need the
// writer to make progress on this subscription's cursor (it never does today;
// waiting is allowed). A handler must not destroy its own Subscription.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/signals2/connection.hpp>

#include <cebus/event.hpp>
#include <cebus/filter.hpp>

namespace cebus {
class Bus;
class Subscription;
}  // namespace cebus

namespace cebus::journal {

// The on-disk format this build reads and writes. A journal written with a
// higher version is rejected on open, never modified.
inline constexpr std::uint32_t format_version = 1;

// Error categories, for callers that branch on them.
enum class Errc {
    closed,         // the journal is closed or closing; nothing was written
    busy,           // another Journal or process has the directory open for writing
    format,         // the files are not a journal of a version this build reads
    full,           // the map is full and may not grow (Options::max_map_size)
    io,             // the file system failed (EIO, ENOSPC, ...): nothing was acknowledged
    corrupt,        // a record failed its checksum or decoding
    too_large,      // one event is bigger than Options::max_event_bytes
    invalid,        // a bad argument (name, range), named in what()
    not_found,      // no such subscription, dead letter or record
};

// Every failure of the journal. what() names the operation, the value and,
// for LMDB failures, LMDB's own error text.
class JournalError : public Error {
public:
    // Takes the message as what() returns it.
    JournalError(Errc code, const std::string& message) : Error(message), code_(code) {}
    // The category of the failure.
    Errc code() const noexcept { return code_; }

private:
    Errc code_;
};

// When an append counts as acknowledged.
enum class Durability {
    // Acknowledged after mdb_txn_commit returns with LMDB's default sync:
    // data pages fdatasync'ed, then the meta page written O_DSYNC. Survives
    // a process crash and a power loss.
    durable,
    // MDB_NOMETASYNC: a commit flushes only its data pages, so the meta page
    // of commit N is made durable by the fdatasync of commit N+1 (or by an
    // explicit mdb_env_sync when the writer finds its queue empty). The
    // writer acknowledges commit N only after that happens, so an
    // acknowledged append is as durable as in `durable` mode. Under load it
    // saves one flush per commit and adds one commit of latency. Durable
    // subscribers never see an event before it is acknowledged.
    relaxed,
};

// What retention does when trimming would pass a durable subscription's cursor
// (events the subscription has not finished yet).
enum class RetentionAtCursor {
    // Do not trim past the cursor: the journal keeps the events until the
    // subscription catches up, so a stalled subscriber grows the file.
    wait,
    // Trim anyway, move the cursor past the trimmed events in the same
    // transaction, and record the skipped range on the subscription
    // (CursorInfo::skipped_*); the subscription's on_skip callback and the
    // log report it. Nothing is skipped silently.
    skip,
};

// Retention trims the oldest events while any limit is exceeded. Zero means no
// limit. Trims run on the writer thread in transactions of at most
// `trim_batch` events, so appends are never held up by a long delete.
struct RetentionPolicy {
    // Events appended longer ago than this are trimmed (by the writer's clock).
    std::chrono::seconds max_age{0};
    std::uint64_t max_bytes = 0;   // sum of stored record sizes (encoded bytes)
    // The number of stored events retention keeps at most.
    std::uint64_t max_events = 0;
    // Maximum events trimmed in one write transaction.
    std::size_t trim_batch = 2000;
    // How often the writer checks the limits when it is idle.
    std::chrono::milliseconds check_interval{500};
};

// A host's log sink. The journal never prints. Messages carry sequence
// numbers, subscription names and event ids, never event data.
enum class LogLevel { debug, info, warning, error };
// Receives log lines. It may be called from any thread, most often the
// writer's, so it should return quickly. An exception it throws is ignored.
// Repeated messages are rate limited: a failing commit, a handler that keeps
// failing, a subscription that cannot read. The first is passed on, then at
// most one a second with the number of like messages suppressed in between.
// When the repeats stop, a last count follows within about a second.
using Logger = std::function<void(LogLevel level, std::string_view message)>;

// Points in the writer where a test can inject a failure. A hook returning a
// non-zero errno-style code makes the writer act as if LMDB had returned it
// there (EIO, ENOSPC, MDB_MAP_FULL, MDB_PANIC): the transaction is aborted
// and handled exactly as a real failure would be. For tests only.
enum class FaultPoint {
    before_commit,  // the batch is written into the transaction, not committed
    after_commit,   // committed and durable, before anyone is acknowledged
};
// Called by the writer at each FaultPoint with the batch's first sequence and
// event count. Returns 0 to go on, or the error code to inject.
using FaultHook = std::function<int(FaultPoint point, std::uint64_t first_seq, std::size_t events)>;

// Settings of a Journal, fixed when it is opened.
struct Options {
    std::filesystem::path directory;  // created if missing (one level)
    // When an append counts as acknowledged (see Durability).
    Durability durability = Durability::durable;

    // Open without a writer: appends and every mutation throw Errc::invalid.
    // For tools reading a journal that a host process is writing.
    bool read_only = false;

    // LMDB map: address space reserved up front; the file grows as pages are
    // written. On MDB_MAP_FULL the writer doubles the map up to
    // max_map_size and retries the batch; max_map_size == map_size turns
    // growth off, and the batch then fails with Errc::full.
    std::size_t map_size = std::size_t{1} << 30;         // 1 GiB
    std::size_t max_map_size = std::size_t{1} << 40;     // 1 TiB
    unsigned max_readers = 126;

    // Group commit caps: one transaction holds at most this much.
    std::size_t max_batch_events = 8192;
    std::size_t max_batch_bytes = 16u << 20;
    // Appends queued and not yet committed. append() blocks while this many
    // are pending (backpressure), so memory stays bounded.
    std::size_t max_pending_events = 65536;
    // The largest encoded event accepted (Errc::too_large above it).
    std::size_t max_event_bytes = 4u << 20;

    // De-duplication on (source, id): an append whose pair was stored within
    // the window is acknowledged with the earlier sequence and
    // AppendResult::duplicate set, and nothing is stored. An entry leaves the
    // index when it is older than dedup_window, when more than
    // dedup_max_entries are held (oldest first), or when retention removes
    // its event, so the index never outgrows the events retention keeps.
    // dedup_window 0 turns it off.
    std::chrono::seconds dedup_window{std::chrono::hours(24)};
    std::uint64_t dedup_max_entries = 1'000'000;

    // Limits that trim the oldest events. The default keeps everything.
    RetentionPolicy retention;
    // Log sink. When empty, the journal's log lines are discarded.
    Logger logger;
    FaultHook fault_hook;  // tests only
};

// The outcome of one acknowledged append.
struct AppendResult {
    std::uint64_t sequence = 0;  // where the event is stored (the earlier one for a duplicate)
    bool duplicate = false;      // (source, id) was already in the de-dup window
};

// Called once per append after the commit is durable (error empty) or failed
// (error set, result meaningless). Runs on the writer thread: keep it short,
// never block in it and never wait in it for another append.
using AppendCallback = std::function<void(const AppendResult& result, std::exception_ptr error)>;

// One stored event as read back.
struct StoredEvent {
    // Position in the journal, from 1.
    std::uint64_t sequence = 0;
    std::chrono::system_clock::time_point appended;  // the writer's clock at commit
    // The decoded event.
    EventPtr event;
};

// What a durable subscription's handler decides for one delivery.
class HandlerResult {
public:
    // The decision, one per factory function below.
    enum class Kind { ack, retry, dead_letter };

    // Done: the cursor moves past this event.
    static HandlerResult ack() { return HandlerResult(Kind::ack, {}, {}); }
    // Deliver this event again after the subscription's backoff.
    static HandlerResult retry(std::string reason = {}) {
        return HandlerResult(Kind::retry, {}, std::move(reason));
    }
    // Deliver this event again after `delay` (e.g. an HTTP Retry-After).
    // Counts as a delivery attempt, so max_deliveries still applies.
    static HandlerResult retry_after(std::chrono::milliseconds delay, std::string reason = {}) {
        return HandlerResult(Kind::retry, delay, std::move(reason));
    }
    // Move the event to the dead-letter store now, with `reason` (e.g. an
    // HTTP status and body), and continue with the next event.
    static HandlerResult dead_letter(std::string reason) {
        return HandlerResult(Kind::dead_letter, {}, std::move(reason));
    }

    // The decision.
    Kind kind() const noexcept { return kind_; }
    // The delay of retry_after(), or empty for the subscription's backoff.
    const std::optional<std::chrono::milliseconds>& delay() const noexcept { return delay_; }
    // The reason for a retry or dead letter, empty for ack().
    const std::string& reason() const noexcept { return reason_; }

private:
    HandlerResult(Kind k, std::optional<std::chrono::milliseconds> d, std::string r)
        : kind_(k), delay_(d), reason_(std::move(r)) {}
    Kind kind_;
    std::optional<std::chrono::milliseconds> delay_;
    std::string reason_;
};

// One delivery to a durable subscription.
struct Delivery {
    // The event's sequence in the journal.
    std::uint64_t sequence = 0;
    // The writer's clock when the event was committed.
    std::chrono::system_clock::time_point appended;
    // The event itself.
    EventPtr event;
    std::uint32_t attempt = 1;  // 1 on the first delivery; counts across restarts
    bool requeued = false;      // redelivered from the dead-letter store
};

// A handler returns what to do with the event. A handler that throws is
// treated as HandlerResult::retry(what()).
using Handler = std::function<HandlerResult(const Delivery& delivery)>;

// Where a subscription starts when it has no stored cursor yet (its first
// subscribe), or when SubscriptionOptions::reset_cursor is set.
struct StartPosition {
    // `beginning`: the oldest stored event. `end`: only events appended after
    // the subscribe. `sequence` and `time`: see the fields below.
    enum class Kind { beginning, end, sequence, time };
    // Which of the positions above.
    Kind kind = Kind::beginning;
    std::uint64_t sequence = 0;                    // first sequence delivered (Kind::sequence)
    std::chrono::system_clock::time_point time{};  // first event appended at or after (Kind::time)

    // Make a position of each Kind.
    static StartPosition beginning() { return {}; }
    static StartPosition end() { return {Kind::end, 0, {}}; }
    static StartPosition at_sequence(std::uint64_t seq) { return {Kind::sequence, seq, {}}; }
    static StartPosition at_time(std::chrono::system_clock::time_point t) { return {Kind::time, 0, t}; }
};

// Settings of one durable subscription, given to Journal::subscribe().
struct SubscriptionOptions {
    // Where delivery starts when no cursor is stored yet.
    StartPosition start = StartPosition::beginning();
    bool reset_cursor = false;  // move the stored cursor to `start` even if one exists

    // Deliveries of one event before it is dead-lettered (>= 1).
    std::uint32_t max_deliveries = 10;
    // Retry delay: initial_backoff * multiplier^(attempt-1), capped at
    // max_backoff, with up to 20 % random jitter subtracted.
    std::chrono::milliseconds initial_backoff{100};
    std::chrono::milliseconds max_backoff{30'000};
    double backoff_multiplier = 2.0;

    // Events read per read transaction; the cursor is stored after each batch
    // (asynchronously, so a crash may redeliver at most one batch).
    std::size_t batch_size = 256;

    // Only events that match are delivered; the cursor passes the others.
    // Empty (nullptr) delivers everything.
    std::function<bool(const Event&)> filter;
    // Checked before `filter`, on the sequence alone: the cursor passes a
    // sequence it rejects without decoding the record. Lets several
    // subscriptions split the journal (sequence % n == k) at the cost of
    // reading keys only. Runs on the delivery thread and must not throw.
    // Empty (nullptr) accepts every sequence.
    std::function<bool(std::uint64_t sequence)> sequence_filter;

    // What retention does when it reaches this subscription's cursor. Stored
    // with the cursor, so it applies while the subscription is detached.
    RetentionAtCursor at_retention = RetentionAtCursor::wait;
    // Called on the delivery thread when retention skipped [first, last]
    // before this subscription finished them (only with RetentionAtCursor::skip).
    std::function<void(std::uint64_t first, std::uint64_t last)> on_skip;
};

// A stored subscription's state.
struct CursorInfo {
    // The subscription's name.
    std::string name;
    std::uint64_t cursor = 0;        // last sequence finished; 0 = none yet
    std::uint64_t lag = 0;           // last_sequence() - cursor
    std::uint64_t head_attempts = 0; // failed deliveries of the event after the cursor
    // The retention policy stored by the subscription's last subscribe().
    RetentionAtCursor at_retention = RetentionAtCursor::wait;
    std::uint64_t skipped_events = 0;  // total trimmed before delivery (skip policy)
    // First sequence of the most recent skipped range; 0 for none.
    std::uint64_t last_skipped_first = 0;
    // Last sequence of the most recent skipped range; 0 for none.
    std::uint64_t last_skipped_last = 0;
    // Entries of this subscription in the dead-letter store (requeued
    // ones included until they are delivered).
    std::uint64_t dead_letters = 0;
    bool attached = false;           // a live Subscription in this process
};

// One event in the dead-letter store. The record is copied there, so it
// survives retention of the main log.
struct DeadLetter {
    // Name of the subscription that gave up on the event.
    std::string subscription;
    // The event's sequence in the main log.
    std::uint64_t sequence = 0;
    // Deliveries made before the event was dead-lettered.
    std::uint32_t attempts = 0;
    // The handler's reason, or why the journal gave up after max_deliveries.
    std::string reason;
    // The writer's clock when the event entered the store.
    std::chrono::system_clock::time_point dead_lettered_at;
    bool requeued = false;  // waiting for redelivery
    // The stored copy of the event.
    EventPtr event;
};

// Counters since open. Plain snapshot; reading it is cheap and lock-free.
struct Metrics {
    std::uint64_t appended = 0;          // events stored
    std::uint64_t duplicates = 0;        // appends answered from the de-dup index
    std::uint64_t commits = 0;           // write transactions committed
    // Write transactions that failed, including a full map that could not grow.
    std::uint64_t failed_commits = 0;
    std::uint64_t failed_appends = 0;    // appends answered with an error
    // Times the writer enlarged the LMDB map after MDB_MAP_FULL.
    std::uint64_t map_growths = 0;
    std::uint64_t reopens = 0;           // environment reopened after an I/O error or MDB_PANIC
    std::uint64_t trimmed = 0;           // events removed by retention
    std::uint64_t delivered = 0;         // handler calls
    // Handler calls that asked for a retry or threw.
    std::uint64_t retries = 0;
    // Events moved to the dead-letter store.
    std::uint64_t dead_lettered = 0;
    std::uint64_t skipped = 0;           // events trimmed past a cursor (skip policy)
    // Reader slots of dead processes that the writer's periodic
    // mdb_reader_check (about every 10 s) freed.
    std::uint64_t stale_readers_cleared = 0;
    // Events in the most recent group commit.
    std::uint64_t last_batch_events = 0;
};

// Sizes and ranges, read from the files.
struct Stats {
    std::uint64_t first_sequence = 0;  // 0 when empty
    // Newest stored sequence; 0 when empty.
    std::uint64_t last_sequence = 0;
    // Events stored: last_sequence - first_sequence + 1, or 0.
    std::uint64_t events = 0;
    std::uint64_t stored_bytes = 0;    // sum of record sizes
    std::uint64_t file_bytes = 0;      // size of data.mdb
    // Current LMDB map size: the address space reserved, not disk use.
    std::uint64_t map_bytes = 0;
    // Entries in the dead-letter store, over all subscriptions.
    std::uint64_t dead_letters = 0;
    // (source, id) pairs in the de-duplication index.
    std::uint64_t dedup_entries = 0;
    std::uint64_t readers_used = 0;    // LMDB reader slots in use (all processes)
    // Every stored subscription, as cursors() returns them.
    std::vector<CursorInfo> cursors;
};

class Journal;

// A live durable subscription. Destroying it (or reset()) stops delivery: when
// it returns, the handler is not running and will not start again, and the
// cursor of every finished event is stored durably. Not copyable; movable.
class DurableSubscription {
public:
    // An empty handle with no subscription.
    DurableSubscription() = default;
    // Takes over the subscription of the other handle, which becomes empty.
    DurableSubscription(DurableSubscription&&) noexcept;
    // Stops this handle's subscription, as reset() does, then takes over the
    // other's.
    DurableSubscription& operator=(DurableSubscription&&) noexcept;
    ~DurableSubscription();

    // Stops delivery as the destructor does. Blocks until the handler
    // returns. Must not be called from inside the handler.
    void reset();
    // True while the handle owns a subscription.
    explicit operator bool() const noexcept { return state_ != nullptr; }
    // The subscription's name; empty for an empty handle.
    const std::string& name() const;
    // Last sequence finished in this process (may be ahead of the stored one).
    std::uint64_t cursor() const noexcept;

    struct State;

private:
    friend class Journal;
    explicit DurableSubscription(std::shared_ptr<State> s) : state_(std::move(s)) {}
    std::shared_ptr<State> state_;
};

// An open journal directory, with the guarantees the file comment lists.
// Not copyable or movable.
class Journal {
public:
    // Opens or creates the journal in options.directory: clears stale LMDB
    // reader slots (mdb_reader_check), checks the format version and starts
    // the writer thread. Blocks on file I/O. Throws JournalError: busy,
    // format, io, invalid.
    explicit Journal(Options options);
    // Commits whatever is queued, stops every subscription (storing their
    // cursors) and the writer, and closes the environment. Blocks.
    ~Journal();
    Journal(const Journal&) = delete;
    Journal& operator=(const Journal&) = delete;

    // ---- Appending -----------------------------------------------------

    // Queues one event. The future becomes ready once the commit holding it
    // is durable, or holds a JournalError (closed, full, io, too_large) if it
    // is not stored. Encodes the event on the calling thread (allocates);
    // blocks only while max_pending_events are queued. Thread-safe.
    std::future<AppendResult> append(EventPtr event);
    // As above, with a callback on the writer thread instead of a future.
    // Errors found before queuing (closed, too_large) are thrown here.
    void append(EventPtr event, AppendCallback callback);
    // Appends and waits for the acknowledgement. Throws JournalError.
    AppendResult append_sync(EventPtr event) { return append(std::move(event)).get(); }

    // Queues several events for ONE transaction: all are stored or none.
    // Results are in input order; de-duplication applies to each event (also
    // between events of the same call).
    std::future<std::vector<AppendResult>> append_batch(std::vector<EventPtr> events);

    // As append_batch, and in the same transaction stores `value` under
    // `state_key` in the journal's key/value store, e.g. the inbound
    // position of an I/O Events registration. After a crash either the
    // events and the value are both there or neither is. Keys: 1..400 bytes;
    // values up to max_event_bytes. Events that are duplicates are not stored
    // again but the value is still written.
    std::future<std::vector<AppendResult>> append_batch_with_state(std::vector<EventPtr> events,
                                                                   std::string state_key,
                                                                   std::string state_value);
    // The last durable value stored under `key`, or nothing. Reads a
    // snapshot; does not wait for the writer. Thread-safe.
    std::optional<std::string> read_state(std::string_view key) const;

    // ---- Reading -------------------------------------------------------

    // Sequence range currently stored and durable (0, 0 when empty).
    std::uint64_t first_sequence() const;
    std::uint64_t last_sequence() const noexcept;

    // Reads one event. Throws JournalError (not_found, corrupt).
    StoredEvent read(std::uint64_t sequence) const;

    // Calls `visit` for up to `max_events` events from `from` in sequence
    // order, until it returns false, and returns how many it visited. Reads
    // in batches with a fresh read transaction each, so a slow visitor pins
    // no pages. Throws JournalError (corrupt) on a bad record.
    std::uint64_t replay(std::uint64_t from, const std::function<bool(const StoredEvent&)>& visit,
                         std::uint64_t max_events = UINT64_MAX) const;

    // The first sequence appended at or after `time`, or last_sequence()+1
    // if none. Binary search over the stored append times (they never
    // decrease with the sequence).
    std::uint64_t sequence_at(std::chrono::system_clock::time_point time) const;

    // Waits until last_sequence() > after or `timeout` passes; returns the
    // new last_sequence(). For tools that follow the journal.
    std::uint64_t wait_for_append(std::uint64_t after, std::chrono::milliseconds timeout) const;

    // ---- Durable subscriptions -----------------------------------------

    // Starts delivering to `handler` on a new thread, from the stored cursor
    // of `name` (or from options.start the first time). Names: 1-200 bytes of
    // printable ASCII. One live subscription per name: a second one throws
    // JournalError (busy). Blocks until the cursor is loaded.
    DurableSubscription subscribe(std::string name, Handler handler, SubscriptionOptions options = {});

    // Deletes a subscription's stored cursor and its dead letters, so
    // retention no longer waits for it. Throws busy while it is attached.
    void remove_subscription(std::string_view name);

    // Moves a stored cursor to just before `position` (backwards too: a
    // replay). Throws busy while the subscription is attached.
    void rewind(std::string_view name, StartPosition position);

    // Every stored subscription with its cursor and lag, read from a
    // snapshot. Throws JournalError on an LMDB read failure.
    std::vector<CursorInfo> cursors() const;

    // ---- Dead letters --------------------------------------------------

    // Dead letters of one subscription (all when empty), oldest first.
    std::vector<DeadLetter> dead_letters(std::string_view subscription = {},
                                         std::size_t limit = SIZE_MAX) const;
    // Marks dead letters for redelivery to their subscription (all of that
    // subscription when `sequences` is empty). A requeued event is delivered
    // again, with its attempt count reset, before the subscription continues;
    // on success it leaves the store. Returns how many were requeued. Blocks
    // until durable.
    std::size_t requeue(std::string_view subscription, const std::vector<std::uint64_t>& sequences = {});
    // Deletes dead letters (all of that subscription when `sequences` is
    // empty; every subscription when `subscription` is empty too). Returns
    // how many. Blocks until durable.
    std::size_t purge(std::string_view subscription, const std::vector<std::uint64_t>& sequences = {});

    // ---- Operations ----------------------------------------------------

    // Runs retention now and waits for it. Returns the events trimmed.
    std::uint64_t trim_now();
    // Waits until everything queued before the call is committed and durable.
    void flush();

    // Sizes, ranges and cursors, read from a snapshot of the files.
    Stats stats() const;
    // The counters since open; lock-free.
    Metrics metrics() const noexcept;
    // The options the journal was opened with.
    const Options& options() const noexcept;

    // ---- Observer signals ----------------------------------------------

    // Called for every event a durable subscription moves to the
    // dead-letter store, once that move is durable, on the subscription's
    // delivery thread. Arguments: the subscription's name, the event's
    // sequence, the reason (the handler's, or why the journal gave up) and
    // the deliveries made (0 for a record that could not be read).
    using DeadLetteredSlot = void(std::string_view subscription, std::uint64_t sequence,
                                  std::string_view reason, std::uint32_t attempts);
    // Called on the writer thread for every write transaction that failed,
    // before the producers of the batch get the error. Arguments: that
    // error, and the events the batch held (0 for retention and other
    // maintenance).
    using CommitFailedSlot = void(const JournalError& error, std::size_t events);
    // Connect a slot, which stays connected until the returned connection
    // is disconnected. Slots must return quickly and must not throw: an
    // exception is caught and logged. Thread-safe; allocates.
    boost::signals2::connection on_dead_lettered(std::function<DeadLetteredSlot> slot);
    boost::signals2::connection on_commit_failed(std::function<CommitFailedSlot> slot);

    // ---- Routing from the bus ------------------------------------------

    // Subscribes a sync handler to `bus` that appends every event `filter`
    // matches, so a host chooses per subscription whether delivery is
    // in-memory (a bus subscriber) or durable (a durable subscription of
    // this journal). publish() does not wait for the disk: the append is
    // acknowledged later and a failed one is logged and counted in
    // Metrics::failed_appends. publish() blocks only while
    // Options::max_pending_events appends are queued. Resetting the returned
    // Subscription detaches; it must not outlive the Journal's use (appends
    // after the Journal is destroyed fail and are logged). Thread-safe.
    Subscription attach(Bus& bus, Filter filter = {});

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

// The binary record encoding, exposed for tools and tests.
namespace codec {
// Encodes an event body (without the record header). Allocates.
std::string encode_event(const Event& event);
// Decodes a body. Throws JournalError (corrupt) with the offset and reason.
EventPtr decode_event(std::string_view bytes);
// CRC32C (Castagnoli) of `data`, continuing from `crc` (0 to start).
std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t size) noexcept;
}  // namespace codec

}  // namespace cebus::journal
