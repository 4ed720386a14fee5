// Internals of the router shared by bus.cpp and bus_runtime.cpp. Not part
// of the public API.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/signals2/signal.hpp>
#include <concurrentqueue/concurrentqueue.h>

#include <cebus/bus.hpp>

// Everything here is private to libcebus. Hidden visibility lets the
// compiler call and inline these functions directly. With the default
// visibility, a shared library routes every call between them through the
// PLT, because another library could interpose them.
#pragma GCC visibility push(hidden)

namespace cebus::detail {

inline constexpr std::size_t cache_line = 64;

// A sequentially consistent fence. ThreadSanitizer does not model
// std::atomic_thread_fence (GCC warns), so its builds use a seq_cst
// read-modify-write, which is a full barrier on the hardware it runs on.
inline void full_fence() noexcept {
#if defined(__SANITIZE_THREAD__)
    static std::atomic<int> fence_word{0};
    fence_word.fetch_add(0, std::memory_order_seq_cst);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// ---- Clock: cheap ticks for latency sampling --------------------------------

// A monotonic tick count: the TSC on x86-64 (constant rate on the CPUs this
// runs on), steady_clock nanoseconds elsewhere.
std::uint64_t now_ticks() noexcept;
// Converts a tick difference to nanoseconds using a one-time calibration.
std::uint64_t ticks_to_ns(std::uint64_t ticks) noexcept;

// ---- Futex wait/wake on a 32-bit word ----------------------------------------

// Sleeps while *word == expected, at most `timeout` (negative: no limit).
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept;
void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;
void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept;

// ---- Invocation guard ---------------------------------------------------------
//
// Tells Subscription::reset() whether a handler is running. Each thread that
// calls handlers owns a record with a small stack of "currently invoking"
// slots. The invoking side stores the subscriber into its slot and then reads
// the subscriber's `active` flag; the resetting side clears `active` and then
// scans every record. This is Dekker's pattern, so each side needs a full
// fence between its store and its load. On Linux the invoking side uses only
// a compiler fence and the resetting side issues membarrier(2), which forces
// a full fence on every running thread of the process; resets are rare and
// handler calls are not. Without membarrier both sides use seq_cst fences.

class SubscriberState;

// Cache-line aligned: records of different threads must not share a line,
// since each is written on every handler call.
struct alignas(cache_line) InvokeRecord {
    static constexpr int slot_count = 8;
    std::atomic<const SubscriberState*> slots[slot_count]{};
    std::atomic<bool> in_use{false};
    InvokeRecord* next = nullptr;
    int depth = 0;  // owner thread only
};

// The calling thread's record, acquired on first use.
InvokeRecord& this_thread_record();
// True once membarrier(2) registration succeeded. Set before any handler
// can run, because every BusCore constructor calls init_fences(), and
// never cleared.
extern std::atomic<bool> g_asymmetric_fences;
// Makes sure the fence mode is settled; called by every BusCore constructor.
void init_fences() noexcept;
// Full fence on the invoking side (a compiler fence when membarrier works).
// A thread that still reads false pays a real fence, which is also correct.
[[gnu::always_inline]] inline void light_fence() noexcept {
    if (g_asymmetric_fences.load(std::memory_order_relaxed)) {
        std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
        full_fence();
    }
}
// Full fence on every thread of the process (the resetting side).
void heavy_fence() noexcept;
// True when the calling thread is inside a handler call of `state`.
bool invoking_on_this_thread(const SubscriberState* state) noexcept;
// Blocks until no other thread is inside a handler call of `state`. The
// caller has already cleared state->active and called heavy_fence().
void wait_until_idle(const SubscriberState* state) noexcept;
// The slow path of InvokeScope for calls nested deeper than the slot stack.
void enter_overflow(SubscriberState* state) noexcept;
void leave_overflow(SubscriberState* state) noexcept;

// Marks a handler call in progress for reset(); see InvokeRecord. Inline
// because every delivery pays for it: two plain stores and a compiler fence.
class InvokeScope {
public:
    [[gnu::always_inline]] InvokeScope(InvokeRecord& record, SubscriberState* state) noexcept
        : record_(record), state_(state), in_slot_(record.depth < InvokeRecord::slot_count) {
        if (in_slot_) [[likely]] {
            // Release so that a resetter that reads a later value of this
            // slot also sees everything the previous handler call did.
            record_.slots[record_.depth].store(state, std::memory_order_release);
            ++record_.depth;
        } else {
            enter_overflow(state_);
        }
        light_fence();
    }
    [[gnu::always_inline]] ~InvokeScope() {
        if (in_slot_) [[likely]] {
            --record_.depth;
            record_.slots[record_.depth].store(nullptr, std::memory_order_release);
        } else {
            leave_overflow(state_);
        }
    }
    InvokeScope(const InvokeScope&) = delete;
    InvokeScope& operator=(const InvokeScope&) = delete;

private:
    InvokeRecord& record_;
    SubscriberState* state_;
    bool in_slot_;
};

// ---- Single-writer counters ------------------------------------------------------
//
// A counter that one thread at a time writes: a relaxed load and store, so
// no locked read-modify-write and no cache line taken from other cores.
// Readers use relaxed loads, as for every other counter.
[[gnu::always_inline]] inline void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// A per-thread identity that is never reused, unlike a thread's address.
std::uint64_t this_thread_token() noexcept;

// A counter many threads may write, cheap for the first one: the thread
// that first counts owns `owned` and adds with bump(); any other thread
// uses a locked add on `shared`. Sync subscribers are usually published to
// from one thread and async ones run on one worker, so most adds are cheap.
struct OwnedCounter {
    std::atomic<std::uint64_t> owner{0};
    std::atomic<std::uint64_t> owned{0};
    std::atomic<std::uint64_t> shared{0};

    [[gnu::always_inline]] void add(std::uint64_t thread_token, std::uint64_t n = 1) noexcept {
        std::uint64_t current = owner.load(std::memory_order_relaxed);
        if (current == thread_token) [[likely]] {
            bump(owned, n);
            return;
        }
        if (current == 0 && owner.compare_exchange_strong(current, thread_token, std::memory_order_relaxed)) {
            bump(owned, n);
            return;
        }
        shared.fetch_add(n, std::memory_order_relaxed);
    }
    std::uint64_t load() const noexcept {
        return owned.load(std::memory_order_relaxed) + shared.load(std::memory_order_relaxed);
    }
};

// ---- Subscribers -----------------------------------------------------------------

struct MailboxItem {
    EventPtr event;
    std::uint64_t stamp = 0;  // now_ticks() at enqueue when sampled, else 0
};

struct MailboxTraits : moodycamel::ConcurrentQueueDefaultTraits {
    static const std::size_t BLOCK_SIZE = 32;
};
using Mailbox = moodycamel::ConcurrentQueue<MailboxItem, MailboxTraits>;

class [[gnu::visibility("hidden")]] SubscriberState : public std::enable_shared_from_this<SubscriberState> {
public:
    SubscriberState() : mailbox(0) {}

    // Fixed at subscribe().
    std::uint64_t id = 0;
    std::uint64_t sequence = 0;
    std::string name;
    Filter filter;
    std::optional<std::string> type_key;  // Filter::exact_type(), for the index
    bool type_only = false;  // the filter is exactly exact("type", X)
    Delivery delivery = Delivery::async;
    int priority = 0;
    std::size_t capacity = 0;
    OverflowPolicy overflow = OverflowPolicy::block;
    std::chrono::milliseconds block_timeout{0};
    unsigned concurrency = 1;
    bool tracking = false;
    std::weak_ptr<const void> tracked;
    std::uint32_t slot_index = 0;  // dense per bus, for producer-token caches

    // Called only while `active` was seen true under an InvokeScope; reset()
    // destroys it after wait_until_idle().
    RawHandler handler;

    std::atomic<bool> active{true};
    std::atomic<bool> closed{false};     // teardown done once
    std::atomic<int> overflow_calls{0};  // calls nested deeper than the slot stack
    bool in_snapshot = false;            // guarded by the registry mutex

    Mailbox mailbox;
    // The mailbox's depth is reserved - released: events reserved by
    // publishers and not yet taken by a runner or discarded. The two sides
    // count on separate cache lines, so a publisher and a runner that keep
    // pace with each other do not bounce one line per event. Bounded by
    // capacity: a publisher reserves before it enqueues.
    alignas(cache_line) std::atomic<std::int64_t> reserved{0};
    alignas(cache_line) std::atomic<std::int64_t> released{0};
    // Dequeued by a runner but not yet started; with the depth, what is left.
    std::atomic<std::int64_t> in_hand{0};
    // Read by publishers on every enqueue, written when a runner starts or
    // stops and when a publisher blocks.
    alignas(cache_line) std::atomic<unsigned> runners{0};  // scheduling tickets held, at most concurrency
    std::atomic<int> block_waiters{0};
    std::mutex block_mutex;
    std::condition_variable block_cv;

    std::int64_t depth() const noexcept {
        return reserved.load(std::memory_order_seq_cst) - released.load(std::memory_order_seq_cst);
    }

    alignas(cache_line) OwnedCounter delivered;
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> dropped{0};
    std::atomic<std::uint64_t> lag_ns{0};
    std::array<std::atomic<std::uint64_t>, LatencyHistogram::bucket_count> latency{};
};

// ---- Routing snapshot -------------------------------------------------------------

struct RouteEntry {
    SubscriberState* state;
    int priority;
    std::uint64_t sequence;
    bool check_filter;
    bool sync;  // state->delivery == Delivery::sync, kept here to spare a load
};

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Immutable once published; read by publishers without a lock.
struct Snapshot {
    std::uint64_t version = 0;
    std::vector<std::shared_ptr<SubscriberState>> owners;
    std::unordered_map<std::string, std::vector<RouteEntry>, StringHash, std::equal_to<>> by_type;
    std::vector<RouteEntry> general;  // filters without an exact type
};

// ---- Bus core ----------------------------------------------------------------------

// Counters of rare events (failures, drops) that any thread may add to.
struct alignas(cache_line) CounterShard {
    std::atomic<std::uint64_t> failed{0};
    std::array<std::atomic<std::uint64_t>, drop_reason_count> dropped{};
};
inline constexpr std::size_t shard_count = 8;

// The per-publish counters of one thread for one bus, written with bump()
// by that thread only. A thread that stops using the bus hands its block
// back (in_use false) and a later thread continues counting in it, so the
// list is as long as the peak number of threads that used the bus at once.
struct alignas(cache_line) CounterBlock {
    std::atomic<std::uint64_t> published{0};
    std::atomic<std::uint64_t> unmatched{0};
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<bool> in_use{true};
    CounterBlock* next = nullptr;  // fixed before the block is pushed
};

struct DispatchFrame;
struct ThreadState;
struct BusLocal;
struct TokenSlot;

class [[gnu::visibility("hidden")]] BusCore {
public:
    explicit BusCore(BusOptions options);
    ~BusCore();

    void start();
    // Inlined into Bus::publish, its only caller.
    [[gnu::always_inline]] PublishResult publish(const EventPtr& event);
    std::shared_ptr<SubscriberState> subscribe(Filter filter, RawHandler handler, SubscribeOptions options);
    void unsubscribe(const std::shared_ptr<SubscriberState>& state) noexcept;
    std::size_t pump(std::size_t max_events, std::chrono::steady_clock::time_point until, bool wait);
    DrainResult drain(std::chrono::steady_clock::time_point deadline);
    DrainResult stop_now(std::chrono::nanoseconds grace);
    void shutdown() noexcept;
    BusMetrics metrics() const;
    std::vector<SubscriptionMetrics> subscription_metrics() const;

    bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

    // Observer signals; emitted only when the matching flag is set.
    boost::signals2::signal<Bus::DeliveredSlot> delivered_signal;
    boost::signals2::signal<Bus::FailedSlot> failed_signal;
    boost::signals2::signal<Bus::DroppedSlot> dropped_signal;
    std::atomic<bool> observe_delivered{false};
    std::atomic<bool> observe_failed{false};
    std::atomic<bool> observe_dropped{false};

    void log(LogLevel level, const std::string& message) noexcept;
    bool log_enabled(LogLevel level) const noexcept { return options_.log && level >= options_.min_log_level; }

    const std::uint64_t bus_id;

private:
    friend struct DispatchFrame;
    struct RouteOutcome;

    // The thread's cache for this bus; inline for the common case of the
    // same bus as last time (defined in bus.cpp, where BusLocal is).
    [[gnu::always_inline]] BusLocal& local_for(ThreadState& ts);
    [[gnu::noinline]] BusLocal& local_for_slow(ThreadState& ts);
    void refresh_snapshot(BusLocal& local);
    std::shared_ptr<CounterBlock> acquire_counter_block();
    void rebuild_snapshot_locked();
    [[gnu::always_inline]] void route(ThreadState& ts, const EventPtr& event, PublishResult& result, RouteOutcome& outcome);
    [[gnu::always_inline]] bool deliver_sync(ThreadState& ts, SubscriberState& state, const EventPtr& event, PublishResult& result);
    [[gnu::always_inline]] bool invoke_sync(ThreadState& ts, SubscriberState& state, const EventPtr& event, PublishResult& result);
    [[gnu::noinline]] bool deliver_tracked(ThreadState& ts, SubscriberState& state, const EventPtr& event, PublishResult& result);
    void enqueue(ThreadState& ts, BusLocal& local, SubscriberState& state, const EventPtr& event, PublishResult& result,
                 RouteOutcome& outcome);
    [[gnu::always_inline]] bool reserve_slot(SubscriberState& state, TokenSlot& slot, const EventPtr& event,
                                             RouteOutcome& outcome, std::int64_t& previous_depth);
    [[gnu::noinline]] bool reserve_slot_slow(SubscriberState& state, TokenSlot& slot, const EventPtr& event,
                                             RouteOutcome& outcome, std::int64_t& previous_depth, std::int64_t ticket);
    [[gnu::always_inline]] void schedule(SubscriberState& state);
    [[gnu::noinline]] void schedule_slow(SubscriberState& state, unsigned runners);
    void flush_deferred(DispatchFrame& frame);

    void worker_main(unsigned index);
    bool run_one(std::size_t budget, std::size_t& handled);
    std::size_t process(const std::shared_ptr<SubscriberState>& state, std::size_t budget);
    void call_handler(ThreadState& ts, SubscriberState& state, const EventPtr& event);
    void count_drop(SubscriberState* state, const Event& event, DropReason reason, std::uint64_t n = 1) noexcept;
    void report_failure(SubscriberState& state, const Event& event, std::string_view reason) noexcept;
    std::size_t discard_mailbox(SubscriberState& state, DropReason reason) noexcept;
    void teardown(SubscriberState& state, DropReason reason) noexcept;
    CounterShard& shard() noexcept;
    std::size_t total_depth() const;

    BusOptions options_;
    std::array<CounterShard, shard_count> shards_;
    // False once the bus shut down; threads that cached state for this bus
    // check it to release that state.
    std::shared_ptr<std::atomic<bool>> alive_flag_ = std::make_shared<std::atomic<bool>>(true);
    std::shared_ptr<const std::atomic<bool>> alive_ = alive_flag_;

    // Registry: the source of truth that snapshots are built from.
    mutable std::mutex registry_mutex_;
    std::map<std::uint64_t, std::shared_ptr<SubscriberState>> registry_;
    std::vector<std::uint32_t> free_slots_;
    std::uint32_t next_slot_ = 0;
    std::uint64_t next_sequence_ = 1;
    std::shared_ptr<const Snapshot> current_;
    // Read by every publish and changed rarely: kept off the lines that
    // workers write.
    alignas(cache_line) std::atomic<std::uint64_t> version_{1};
    std::atomic<bool> stopping_{false};

    // Per-thread publish counters (see CounterBlock). Readers walk the list
    // from the head without a lock; the vector owns the blocks and is only
    // touched when a thread takes a block.
    std::atomic<CounterBlock*> counter_head_{nullptr};
    std::mutex counter_mutex_;
    std::vector<std::shared_ptr<CounterBlock>> counter_blocks_;

    // Scheduling: subscribers with queued work, and parked workers.
    moodycamel::ConcurrentQueue<std::shared_ptr<SubscriberState>> ready_;
    alignas(cache_line) std::atomic<std::uint32_t> wake_word_{0};
    std::atomic<int> parked_{0};
    alignas(cache_line) std::atomic<int> running_{0};  // threads inside process()
    std::atomic<std::size_t> subscription_count_{0};
    std::vector<std::thread> workers_;

    // Log rate limiting: at most log_burst lines per second.
    std::atomic<std::int64_t> log_window_{0};
    std::atomic<std::uint32_t> log_count_{0};
    std::atomic<std::uint64_t> log_suppressed_{0};
};

SubscriptionMetrics metrics_of_state(const SubscriberState& state);

}  // namespace cebus::detail

#pragma GCC visibility pop
