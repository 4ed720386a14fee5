// The router: publishing, routing snapshots, mailboxes and workers.
#include <cebus/bus.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bus_internal.hpp"
#include "filter_internal.hpp"

namespace cebus {
#pragma GCC visibility push(hidden)
namespace detail {
namespace {

std::atomic<std::uint64_t> g_next_bus_id{1};

void cpu_relax() noexcept {
#if defined(__x86_64__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

}  // namespace

// A producer token for one subscriber's mailbox, owned by one thread. The
// token must die before the mailbox, so the slot also owns the subscriber.
struct TokenSlot {
    std::shared_ptr<SubscriberState> owner;
    std::unique_ptr<moodycamel::ProducerToken> token;
    // The subscriber's `released` count as this thread last read it. It only
    // grows, so reserved - seen_released overstates the depth and a publisher
    // reads the runner's cache line only when the mailbox looks full.
    std::int64_t seen_released = 0;
};

// True when two byte ranges of equal length `n` hold the same bytes. Inline
// and branch-light for the short strings CloudEvents types are: two or four
// overlapping 8-byte loads per side up to 32 bytes, memcmp beyond.
[[gnu::always_inline]] inline std::uint64_t load8(const char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
[[gnu::always_inline]] inline bool same_bytes(const char* a, const char* b, std::size_t n) noexcept {
    if (n >= 8) [[likely]] {
        if (n <= 16) return ((load8(a) ^ load8(b)) | (load8(a + n - 8) ^ load8(b + n - 8))) == 0;
        if (n <= 32) {
            return ((load8(a) ^ load8(b)) | (load8(a + 8) ^ load8(b + 8)) | (load8(a + n - 16) ^ load8(b + n - 16)) |
                    (load8(a + n - 8) ^ load8(b + n - 8))) == 0;
        }
        return std::memcmp(a, b, n) == 0;
    }
    unsigned diff = 0;
    for (std::size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
    return diff == 0;
}

// The cache one thread keeps for one bus: the routing snapshot it last read,
// its producer tokens and its counter block. The snapshot stays valid while
// `pins` is non-zero. This and ThreadState are written on every publish by
// their own thread only, so each starts its own cache line.
struct alignas(cache_line) BusLocal {
    std::uint64_t bus_id = 0;
    std::uint64_t version = 0;
    std::uint64_t last_use = 0;
    int pins = 0;
    std::shared_ptr<const std::atomic<bool>> bus_alive;
    std::shared_ptr<const Snapshot> snapshot;
    std::shared_ptr<CounterBlock> counters;
    std::vector<TokenSlot> tokens;
    // The type looked up last and its index entry in `snapshot`, because
    // producers tend to publish runs of one type.
    // last_length is SIZE_MAX while nothing is cached, so no type matches.
    std::string last_type;
    std::size_t last_length = SIZE_MAX;
    const std::vector<RouteEntry>* last_entries = nullptr;

    BusLocal() = default;
    BusLocal(const BusLocal&) = delete;
    BusLocal& operator=(const BusLocal&) = delete;
    // A thread that exits hands its counter block back like an eviction
    // does; otherwise every thread that ever published would keep one.
    ~BusLocal() { clear(); }

    void clear() {
        // Tokens go before their owners (TokenSlot member order).
        tokens.clear();
        snapshot.reset();
        bus_alive.reset();
        if (counters) {
            // Everything this thread counted happens before the next owner's
            // first add.
            counters->in_use.store(false, std::memory_order_release);
            counters.reset();
        }
        last_entries = nullptr;
        last_length = SIZE_MAX;
        last_type.clear();
        bus_id = 0;
    }
};

struct alignas(cache_line) ThreadState {
    ThreadState()
        : record(&this_thread_record()),
          token(this_thread_token()),
          shard(static_cast<unsigned>(token % shard_count)) {}

    DispatchFrame* frame = nullptr;
    BusCore* pumping = nullptr;
    InvokeRecord* record;
    BusLocal* last_local = nullptr;
    std::uint64_t token;  // this_thread_token(), for OwnedCounter
    unsigned shard;
    std::uint32_t sample_counter = 0;
    std::uint64_t use_clock = 0;
    // Four buses per thread stay cached; more are evicted least recently
    // used first, and pinned entries are never evicted.
    std::vector<std::unique_ptr<BusLocal>> locals;

    InvokeRecord& invoke_record() { return *record; }
};

namespace {

// The thread's state behind one initial-exec TLS pointer: a shared library's
// default TLS model calls __tls_get_addr on each access, and a function-local
// thread_local object adds an initialisation check. Eight bytes of static
// TLS are within what the loader reserves for libraries opened later.
[[gnu::tls_model("initial-exec")]] thread_local ThreadState* t_state = nullptr;

struct ThreadStateOwner {
    std::unique_ptr<ThreadState> state;
    ~ThreadStateOwner() {
        t_state = nullptr;
        state.reset();
    }
};

[[gnu::noinline]] ThreadState& make_thread_state() {
    thread_local ThreadStateOwner owner;
    if (!owner.state) owner.state = std::make_unique<ThreadState>();
    t_state = owner.state.get();
    return *owner.state;
}

inline ThreadState& thread_state() {
    if (ThreadState* state = t_state) [[likely]] return *state;
    return make_thread_state();
}

class PinGuard {
public:
    explicit PinGuard(BusLocal& local) noexcept : local_(local) { ++local_.pins; }
    ~PinGuard() { --local_.pins; }
    PinGuard(const PinGuard&) = delete;
    PinGuard& operator=(const PinGuard&) = delete;

private:
    BusLocal& local_;
};

class PumpScope {
public:
    PumpScope(ThreadState& ts, BusCore* core) noexcept : ts_(ts), previous_(ts.pumping) { ts_.pumping = core; }
    ~PumpScope() { ts_.pumping = previous_; }
    PumpScope(const PumpScope&) = delete;
    PumpScope& operator=(const PumpScope&) = delete;

private:
    ThreadState& ts_;
    BusCore* previous_;
};

std::size_t latency_bucket(std::uint64_t ns) noexcept {
    if (ns == 0) return 0;
    const std::size_t b = static_cast<std::size_t>(63 - std::countl_zero(ns));
    return std::min(b, LatencyHistogram::bucket_count - 1);
}

std::string describe(const Event& event) {
    return "event id=\"" + event.id() + "\" type=\"" + event.type() + "\" source=\"" + event.source() + "\"";
}

std::string describe(const SubscriberState& state) {
    return "subscription \"" + state.name + "\" (id " + std::to_string(state.id) + ")";
}

std::string_view policy_name(OverflowPolicy policy) {
    switch (policy) {
        case OverflowPolicy::block:
            return "block";
        case OverflowPolicy::drop_newest:
            return "drop_newest";
        case OverflowPolicy::drop_oldest:
            return "drop_oldest";
        case OverflowPolicy::fail:
            return "fail";
    }
    return "?";
}

}  // namespace

// Publishes made on this thread while it delivers for `core` are queued here
// and routed after the current event, so no handler is re-entered.
struct DispatchFrame {
    DispatchFrame(ThreadState& ts, BusCore* c) noexcept : state(ts), core(c), previous(ts.frame) { ts.frame = this; }
    ~DispatchFrame() { state.frame = previous; }
    DispatchFrame(const DispatchFrame&) = delete;
    DispatchFrame& operator=(const DispatchFrame&) = delete;

    ThreadState& state;
    BusCore* core;
    DispatchFrame* previous;
    // Created on the first deferred publish: most frames never need it.
    std::optional<std::vector<EventPtr>> pending;
    std::size_t head = 0;
};

// A publish that failed for one subscriber; rare, so allocated on demand.
struct RouteError {
    DropReason reason;
    std::string message;
};

struct BusCore::RouteOutcome {
    bool deferred_route = false;  // routing an event a handler published
    std::unique_ptr<RouteError> error;
};

// ---- Construction and shutdown ------------------------------------------------------

BusCore::BusCore(BusOptions options)
    : bus_id(g_next_bus_id.fetch_add(1, std::memory_order_relaxed)), options_(std::move(options)) {
    // Calibrates the tick clock once per process now, not on a worker in
    // the middle of a delivery, and settles the fence mode before any
    // handler can run.
    (void)ticks_to_ns(0);
    init_fences();
}

BusCore::~BusCore() { shutdown(); }

void BusCore::start() {
    workers_.reserve(options_.worker_count);
    try {
        for (unsigned i = 0; i < options_.worker_count; ++i) {
            workers_.emplace_back([this, i] { worker_main(i); });
        }
    } catch (...) {
        shutdown();
        throw;
    }
    if (log_enabled(LogLevel::debug)) {
        log(LogLevel::debug, "bus started with " + std::to_string(options_.worker_count) + " workers");
    }
}

void BusCore::shutdown() noexcept {
    (void)stop_now(std::chrono::nanoseconds(0));
    alive_flag_->store(false, std::memory_order_release);
    for (auto& worker : workers_) {
        if (!worker.joinable()) continue;
        // A bus destroyed from inside one of its own handlers cannot join the
        // worker it runs on; that worker exits once the handler returns.
        if (worker.get_id() == std::this_thread::get_id()) {
            worker.detach();
        } else {
            worker.join();
        }
    }
    workers_.clear();

    // Workers are gone, so no handler of this bus runs on them any more.
    std::vector<std::shared_ptr<SubscriberState>> states;
    {
        std::lock_guard lock(registry_mutex_);
        for (auto& [sequence, state] : registry_) states.push_back(state);
        registry_.clear();
        current_.reset();
        version_.fetch_add(1, std::memory_order_release);
        subscription_count_.store(0, std::memory_order_relaxed);
    }
    for (auto& state : states) teardown(*state, DropReason::stopped);
    std::shared_ptr<SubscriberState> leftover;
    while (ready_.try_dequeue(leftover)) leftover.reset();
}

void BusCore::teardown(SubscriberState& state, DropReason reason) noexcept {
    if (state.closed.exchange(true, std::memory_order_acq_rel)) return;
    state.active.store(false, std::memory_order_seq_cst);
    discard_mailbox(state, reason);
    if (!invoking_on_this_thread(&state)) {
        RawHandler().swap(state.handler);
        state.tracked.reset();
    }
}

// ---- Subscriptions -----------------------------------------------------------------

std::shared_ptr<SubscriberState> BusCore::subscribe(Filter filter, RawHandler handler, SubscribeOptions options) {
    if (!handler) throw std::invalid_argument("subscribe: the handler is empty");
    if (options.concurrency == 0) throw std::invalid_argument("subscribe: concurrency must be at least 1");
    const std::size_t capacity = options.queue_capacity ? options.queue_capacity : options_.default_queue_capacity;
    if (capacity == 0 || capacity > (std::size_t{1} << 40)) {
        throw std::invalid_argument("subscribe: queue capacity " + std::to_string(capacity) +
                                    " is out of range: use 1 to 2^40");
    }

    auto state = std::make_shared<SubscriberState>();
    state->type_key = filter.exact_type();
    state->type_only = is_type_only(filter);
    state->filter = std::move(filter);
    state->handler = std::move(handler);
    state->delivery = options.delivery;
    state->priority = options.priority;
    state->capacity = capacity;
    state->overflow = options.overflow.value_or(options_.default_overflow);
    state->block_timeout = options.block_timeout.value_or(options_.default_block_timeout);
    state->concurrency = options.concurrency;
    // A weak_ptr that never had an owner is equivalent to an empty one; an
    // expired one is not, and its subscriber is never called.
    const std::weak_ptr<const void> no_owner;
    state->tracking = options.tracked.owner_before(no_owner) || no_owner.owner_before(options.tracked);
    state->tracked = std::move(options.tracked);
    state->name = std::move(options.name);

    std::lock_guard lock(registry_mutex_);
    state->id = state->sequence = next_sequence_++;
    if (state->name.empty()) state->name = "subscription-" + std::to_string(state->id);
    if (!free_slots_.empty()) {
        state->slot_index = free_slots_.back();
        free_slots_.pop_back();
    } else {
        state->slot_index = next_slot_++;
    }
    registry_.emplace(state->sequence, state);
    subscription_count_.fetch_add(1, std::memory_order_relaxed);
    version_.fetch_add(1, std::memory_order_release);
    return state;
}

void BusCore::unsubscribe(const std::shared_ptr<SubscriberState>& state) noexcept {
    if (state->closed.exchange(true, std::memory_order_acq_rel)) return;

    bool published_in_snapshot = false;
    {
        std::lock_guard lock(registry_mutex_);
        if (registry_.erase(state->sequence) != 0) {
            free_slots_.push_back(state->slot_index);
            subscription_count_.fetch_sub(1, std::memory_order_relaxed);
        }
        published_in_snapshot = state->in_snapshot;
        version_.fetch_add(1, std::memory_order_release);
    }

    state->active.store(false, std::memory_order_seq_cst);
    const bool from_own_handler = invoking_on_this_thread(state.get());
    // A subscriber that never reached a snapshot was never seen by any
    // publisher, so nothing can be running it.
    if (published_in_snapshot) {
        heavy_fence();
        if (!from_own_handler) wait_until_idle(state.get());
    }
    discard_mailbox(*state, DropReason::unsubscribed);
    if (!from_own_handler) {
        RawHandler().swap(state->handler);
        state->tracked.reset();
    }
}

// ---- Snapshots ---------------------------------------------------------------------

void BusCore::rebuild_snapshot_locked() {
    auto snapshot = std::make_shared<Snapshot>();
    snapshot->version = version_.load(std::memory_order_relaxed);
    snapshot->owners.reserve(registry_.size());
    for (auto& [sequence, state] : registry_) {
        state->in_snapshot = true;
        snapshot->owners.push_back(state);
        const RouteEntry entry{state.get(), state->priority, sequence, !state->type_only,
                               state->delivery == Delivery::sync};
        if (state->type_key) {
            snapshot->by_type[*state->type_key].push_back(entry);
        } else {
            snapshot->general.push_back(entry);
        }
    }
    // The registry is in registration order, so a stable sort by priority
    // gives priority first, then registration.
    auto by_priority = [](const RouteEntry& a, const RouteEntry& b) { return a.priority > b.priority; };
    std::stable_sort(snapshot->general.begin(), snapshot->general.end(), by_priority);
    for (auto& [type, entries] : snapshot->by_type) std::stable_sort(entries.begin(), entries.end(), by_priority);
    current_ = std::move(snapshot);
}

// ---- Per-thread state for a bus ------------------------------------------------------

inline BusLocal& BusCore::local_for(ThreadState& ts) {
    if (ts.last_local && ts.last_local->bus_id == bus_id) [[likely]] return *ts.last_local;
    return local_for_slow(ts);
}

std::shared_ptr<CounterBlock> BusCore::acquire_counter_block() {
    std::lock_guard lock(counter_mutex_);
    for (auto& block : counter_blocks_) {
        bool expected = false;
        if (!block->in_use.load(std::memory_order_relaxed) &&
            block->in_use.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
            return block;
        }
    }
    auto block = std::make_shared<CounterBlock>();
    block->next = counter_head_.load(std::memory_order_relaxed);
    counter_blocks_.push_back(block);
    counter_head_.store(block.get(), std::memory_order_release);
    return block;
}

BusLocal& BusCore::local_for_slow(ThreadState& ts) {
    ++ts.use_clock;
    for (auto& local : ts.locals) {
        if (local->bus_id == bus_id) {
            local->last_use = ts.use_clock;
            ts.last_local = local.get();
            return *local;
        }
    }

    // A miss: release what this thread cached for buses that are gone, so
    // their mailboxes' memory does not outlive them by much, then take the
    // least recently used unpinned entry.
    auto counters = acquire_counter_block();
    BusLocal* victim = nullptr;
    for (auto& local : ts.locals) {
        if (local->pins == 0 && local->bus_alive && !local->bus_alive->load(std::memory_order_acquire)) local->clear();
        if (local->pins == 0 && (!victim || local->last_use < victim->last_use)) victim = local.get();
    }
    if (!victim || (victim->bus_id != 0 && ts.locals.size() < 4)) {
        try {
            ts.locals.push_back(std::make_unique<BusLocal>());
        } catch (...) {
            counters->in_use.store(false, std::memory_order_release);
            throw;
        }
        victim = ts.locals.back().get();
    } else {
        victim->clear();
    }
    victim->bus_id = bus_id;
    victim->bus_alive = alive_;
    victim->counters = std::move(counters);
    victim->version = 0;
    victim->last_use = ts.use_clock;
    ts.last_local = victim;
    return *victim;
}

// ---- Publishing ----------------------------------------------------------------------

CounterShard& BusCore::shard() noexcept { return shards_[thread_state().shard]; }

inline PublishResult BusCore::publish(const EventPtr& event) {
    if (!event) throw std::invalid_argument("publish: the event pointer is null");
    ThreadState& ts = thread_state();

    PublishResult result;
    for (DispatchFrame* frame = ts.frame; frame; frame = frame->previous) {
        if (frame->core == this) {
            if (!frame->pending) frame->pending.emplace();
            frame->pending->push_back(event);
            result.deferred = true;
            return result;
        }
    }
    if (stopping()) [[unlikely]] {
        count_drop(nullptr, *event, DropReason::stopped);
        return result;
    }

    DispatchFrame frame(ts, this);
    RouteOutcome outcome;
    route(ts, event, result, outcome);
    if (frame.pending) [[unlikely]] flush_deferred(frame);
    if (outcome.error) [[unlikely]] throw PublishError(outcome.error->reason, std::move(outcome.error->message));
    return result;
}

void BusCore::flush_deferred(DispatchFrame& frame) {
    // The vector stays in place while routing: handlers of the events
    // routed here append to it.
    while (frame.head < frame.pending->size()) {
        EventPtr next = std::move((*frame.pending)[frame.head]);
        ++frame.head;
        if (stopping()) {
            count_drop(nullptr, *next, DropReason::stopped);
            continue;
        }
        PublishResult ignored;
        RouteOutcome outcome;
        outcome.deferred_route = true;
        route(frame.state, next, ignored, outcome);
    }
    frame.pending->clear();
    frame.head = 0;
}

namespace {
const std::vector<RouteEntry> no_entries;
}  // namespace

void BusCore::refresh_snapshot(BusLocal& local) {
    std::lock_guard lock(registry_mutex_);
    if (!current_ || current_->version != version_.load(std::memory_order_relaxed)) rebuild_snapshot_locked();
    local.snapshot = current_;
    local.version = current_->version;
    local.last_entries = nullptr;
    local.last_length = SIZE_MAX;
    local.last_type.clear();
}

inline void BusCore::route(ThreadState& ts, const EventPtr& event, PublishResult& result, RouteOutcome& outcome) {
    BusLocal& local = local_for(ts);
    // A nested route (pins above 0) keeps the outer one's snapshot, which
    // its loop still walks.
    if (local.pins == 0 && local.version != version_.load(std::memory_order_acquire)) [[unlikely]] {
        refresh_snapshot(local);
    }
    PinGuard pin(local);
    const Snapshot& snapshot = *local.snapshot;
    CounterBlock& counters = *local.counters;
    bump(counters.published);

    const std::vector<RouteEntry>* typed = &no_entries;
    if (!snapshot.by_type.empty()) {
        const std::string& type = event->type();
        if (local.last_length == type.size() && same_bytes(local.last_type.data(), type.data(), type.size()))
            [[likely]] {
            typed = local.last_entries;
        } else {
            auto it = snapshot.by_type.find(std::string_view(type));
            if (it != snapshot.by_type.end()) typed = &it->second;
            if (local.pins == 1) {
                // Only the outermost route on this thread refreshes the cache.
                local.last_type = type;
                local.last_length = type.size();
                local.last_entries = typed;
            }
        }
    }
    const std::vector<RouteEntry>& general = snapshot.general;

    std::uint64_t succeeded = 0;
    // Inlined into each loop below: a call per subscriber would cost more
    // than the rest of the delivery.
    auto dispatch = [&](const RouteEntry& entry) __attribute__((always_inline)) {
        SubscriberState& state = *entry.state;
        if (entry.check_filter && !state.filter.match(*event)) return;
        ++result.matched;
        if (entry.sync) {
            if (deliver_sync(ts, state, event, result)) ++succeeded;
        } else {
            enqueue(ts, local, state, event, result, outcome);
        }
    };
    if (general.empty()) {
        for (const RouteEntry& entry : *typed) dispatch(entry);
    } else if (typed->empty()) {
        for (const RouteEntry& entry : general) dispatch(entry);
    } else {
        // Merge the type-indexed and the general lists in (priority,
        // registration) order; both are sorted that way.
        std::size_t i = 0;
        std::size_t j = 0;
        const std::size_t nt = typed->size();
        const std::size_t ng = general.size();
        while (i < nt || j < ng) {
            if (j >= ng) {
                dispatch((*typed)[i++]);
            } else if (i >= nt) {
                dispatch(general[j++]);
            } else {
                const RouteEntry& a = (*typed)[i];
                const RouteEntry& b = general[j];
                const bool a_first = a.priority > b.priority || (a.priority == b.priority && a.sequence < b.sequence);
                dispatch(a_first ? (*typed)[i++] : general[j++]);
            }
        }
    }
    if (result.matched == 0) bump(counters.unmatched);
    if (succeeded != 0) bump(counters.delivered, succeeded);
}

// Calls a sync handler and counts the outcome. The caller has entered an
// InvokeScope and found the subscriber `active`.
inline bool BusCore::invoke_sync(ThreadState& ts, SubscriberState& state, const EventPtr& event, PublishResult& result) {
    ++result.delivered;
    try {
        state.handler(event);
    } catch (const std::exception& e) {
        report_failure(state, *event, e.what());
        return false;
    } catch (...) {
        report_failure(state, *event, "a non-standard exception was thrown");
        return false;
    }
    state.delivered.add(ts.token);
    if (observe_delivered.load(std::memory_order_relaxed)) [[unlikely]] {
        try {
            delivered_signal(*event, state.id);
        } catch (...) {
        }
    }
    return true;
}

inline bool BusCore::deliver_sync(ThreadState& ts, SubscriberState& state, const EventPtr& event, PublishResult& result) {
    InvokeScope scope(*ts.record, &state);
    if (!state.active.load(std::memory_order_acquire)) [[unlikely]] return false;
    if (state.tracking) [[unlikely]] return deliver_tracked(ts, state, event, result);
    return invoke_sync(ts, state, event, result);
}

// deliver_sync for a subscriber that tracks an object: the object is kept
// alive for the call, and an expired one drops the event.
bool BusCore::deliver_tracked(ThreadState& ts, SubscriberState& state, const EventPtr& event, PublishResult& result) {
    const std::shared_ptr<const void> keep_alive = state.tracked.lock();
    if (!keep_alive) {
        count_drop(&state, *event, DropReason::expired);
        ++result.dropped;
        return false;
    }
    return invoke_sync(ts, state, event, result);
}

inline bool BusCore::reserve_slot(SubscriberState& state, TokenSlot& slot, const EventPtr& event,
                                  RouteOutcome& outcome, std::int64_t& previous_depth) {
    const std::int64_t ticket = state.reserved.fetch_add(1, std::memory_order_seq_cst);
    previous_depth = ticket - slot.seen_released;
    if (previous_depth < static_cast<std::int64_t>(state.capacity)) [[likely]] return true;
    return reserve_slot_slow(state, slot, event, outcome, previous_depth, ticket);
}

bool BusCore::reserve_slot_slow(SubscriberState& state, TokenSlot& slot, const EventPtr& event, RouteOutcome& outcome,
                                std::int64_t& previous_depth, std::int64_t ticket) {
    const auto capacity = static_cast<std::int64_t>(state.capacity);
    slot.seen_released = state.released.load(std::memory_order_seq_cst);
    previous_depth = ticket - slot.seen_released;
    if (previous_depth < capacity) return true;
    state.reserved.fetch_sub(1, std::memory_order_seq_cst);

    auto fail_publish = [&](DropReason reason, const std::string& what) {
        count_drop(&state, *event, reason);
        if (outcome.deferred_route) {
            if (log_enabled(LogLevel::warning)) {
                log(LogLevel::warning, "publish from a handler lost " + describe(*event) + " for " +
                                           describe(state) + ": " + what);
            }
            return false;
        }
        if (!outcome.error) {
            outcome.error = std::make_unique<RouteError>(
                RouteError{reason, describe(state) + " " + what + "; " + describe(*event) + " was not queued for it"});
        }
        return false;
    };
    const std::string full = "has a full mailbox (capacity " + std::to_string(state.capacity) + ", policy " +
                             std::string(policy_name(state.overflow)) + ")";

    switch (state.overflow) {
        case OverflowPolicy::drop_newest:
            count_drop(&state, *event, DropReason::queue_full);
            return false;

        case OverflowPolicy::fail:
            return fail_publish(DropReason::rejected, full);

        case OverflowPolicy::drop_oldest: {
            MailboxItem oldest;
            if (state.mailbox.try_dequeue(oldest)) {
                // The evicted event's reservation now belongs to the new
                // one, so the depth stays as it is.
                count_drop(&state, *oldest.event, DropReason::evicted);
                previous_depth = capacity - 1;
                return true;
            }
            // Everything counted is reserved by producers that have not
            // enqueued yet; nothing can be evicted.
            count_drop(&state, *event, DropReason::queue_full);
            return false;
        }

        case OverflowPolicy::block: {
            // A thread that pumps this bus would wait for itself.
            if (thread_state().pumping == this) {
                return fail_publish(DropReason::timed_out, full + " and this thread pumps the bus, so it cannot wait");
            }
            const auto deadline = std::chrono::steady_clock::now() + state.block_timeout;
            std::unique_lock lock(state.block_mutex);
            state.block_waiters.fetch_add(1, std::memory_order_seq_cst);
            bool reserved = false;
            for (;;) {
                if (state.depth() < capacity) {
                    const std::int64_t t = state.reserved.fetch_add(1, std::memory_order_seq_cst);
                    slot.seen_released = state.released.load(std::memory_order_seq_cst);
                    previous_depth = t - slot.seen_released;
                    if (previous_depth < capacity) {
                        reserved = true;
                        break;
                    }
                    state.reserved.fetch_sub(1, std::memory_order_seq_cst);
                }
                if (!state.active.load(std::memory_order_acquire) || stopping()) break;
                if (std::chrono::steady_clock::now() >= deadline) break;
                // Bounded waits: a wake-up can only be missed between the
                // check above and the wait, and the consumer notifies under
                // the same mutex.
                state.block_cv.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                                        std::chrono::milliseconds(10)));
            }
            state.block_waiters.fetch_sub(1, std::memory_order_seq_cst);
            if (reserved) return true;
            lock.unlock();
            if (!state.active.load(std::memory_order_acquire)) {
                count_drop(&state, *event, DropReason::unsubscribed);
                return false;
            }
            if (stopping()) {
                count_drop(&state, *event, DropReason::stopped);
                return false;
            }
            return fail_publish(DropReason::timed_out,
                                full + " and the publisher waited " + std::to_string(state.block_timeout.count()) +
                                    " ms without room");
        }
    }
    return false;
}

void BusCore::enqueue(ThreadState& ts, BusLocal& local, SubscriberState& state, const EventPtr& event,
                      PublishResult& result, RouteOutcome& outcome) {
    if (!state.active.load(std::memory_order_acquire)) [[unlikely]] return;

    if (local.tokens.size() <= state.slot_index) [[unlikely]] local.tokens.resize(state.slot_index + 1);
    TokenSlot& slot = local.tokens[state.slot_index];
    if (slot.owner.get() != &state) [[unlikely]] {
        slot.token.reset();
        slot.owner = state.shared_from_this();
        slot.token = std::make_unique<moodycamel::ProducerToken>(state.mailbox);
        slot.seen_released = 0;
    }

    std::int64_t previous_depth = 0;
    if (!reserve_slot(state, slot, event, outcome, previous_depth)) {
        ++result.dropped;
        return;
    }

    // Time an event when this publisher last saw its mailbox empty (the
    // latency a quiet system has) and one in 16 otherwise, so a busy queue
    // reads no clock per event.
    std::uint64_t stamp = 0;
    if (previous_depth == 0 || (++ts.sample_counter & 15u) == 0) stamp = now_ticks() | 1u;

    if (!state.mailbox.enqueue(*slot.token, MailboxItem{event, stamp})) [[unlikely]] {
        state.reserved.fetch_sub(1, std::memory_order_seq_cst);
        throw std::bad_alloc();
    }
    ++result.queued;
    schedule(state);
}

inline void BusCore::schedule(SubscriberState& state) {
    // The common case while a runner keeps up: one is already on it.
    const unsigned runners = state.runners.load(std::memory_order_seq_cst);
    if (runners >= state.concurrency) [[likely]] return;
    schedule_slow(state, runners);
}

void BusCore::schedule_slow(SubscriberState& state, unsigned runners) {
    while (runners < state.concurrency) {
        if (state.runners.compare_exchange_weak(runners, runners + 1, std::memory_order_seq_cst)) {
            ready_.enqueue(state.shared_from_this());
            full_fence();
            if (parked_.load(std::memory_order_relaxed) > 0) {
                wake_word_.fetch_add(1, std::memory_order_release);
                futex_wake_one(wake_word_);
            }
            return;
        }
    }
}

// ---- Delivery on workers and pumping threads ---------------------------------------

void BusCore::worker_main(unsigned index) {
    (void)index;
    ThreadState& ts = thread_state();
    PumpScope pump(ts, this);
    std::size_t handled = 0;
    while (!stopping()) {
        if (run_one(256, handled)) continue;

        const auto spin_until = std::chrono::steady_clock::now() + options_.spin_before_park;
        bool found = false;
        while (!stopping()) {
            for (int k = 0; k < 32 && !found; ++k) {
                found = run_one(256, handled);
                if (!found) cpu_relax();
            }
            if (found || std::chrono::steady_clock::now() >= spin_until) break;
        }
        if (found) continue;

        const std::uint32_t word = wake_word_.load(std::memory_order_acquire);
        parked_.fetch_add(1, std::memory_order_seq_cst);
        full_fence();
        if (ready_.size_approx() == 0 && !stopping()) futex_wait(wake_word_, word, std::chrono::nanoseconds(-1));
        parked_.fetch_sub(1, std::memory_order_relaxed);
    }
}

bool BusCore::run_one(std::size_t budget, std::size_t& handled) {
    std::shared_ptr<SubscriberState> state;
    if (!ready_.try_dequeue(state)) return false;
    handled += process(state, budget);
    return true;
}

std::size_t BusCore::process(const std::shared_ptr<SubscriberState>& state_ptr, std::size_t budget) {
    SubscriberState& state = *state_ptr;
    ThreadState& ts = thread_state();
    running_.fetch_add(1, std::memory_order_seq_cst);
    std::size_t done = 0;
    {
        InvokeScope scope(*ts.record, &state);
        // A subscriber with concurrency above 1 takes one event at a time so
        // that its other runners find work.
        constexpr std::size_t max_batch = 64;
        const bool single = state.concurrency == 1;
        const std::size_t batch = single ? max_batch : 1;
        MailboxItem items[max_batch];
        int idle_spins = 0;
        while (done < budget) {
            const std::size_t n = state.mailbox.try_dequeue_bulk(items, std::min(batch, budget - done));
            if (n == 0) {
                // Stay on this mailbox for a moment while no other subscriber
                // waits: a producer in a burst refills it within a few hundred
                // nanoseconds, and a round trip through the ready queue costs
                // more than that.
                if (idle_spins < 64 && !stopping() && ready_.size_approx() == 0) {
                    ++idle_spins;
                    cpu_relax();
                    continue;
                }
                break;
            }
            idle_spins = 0;
            // Only this runner writes in_hand when concurrency is 1, so a
            // plain store does; otherwise runners share it.
            if (single) {
                state.in_hand.store(static_cast<std::int64_t>(n), std::memory_order_relaxed);
            } else {
                state.in_hand.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
            }
            state.released.fetch_add(static_cast<std::int64_t>(n), std::memory_order_seq_cst);
            if (state.block_waiters.load(std::memory_order_seq_cst) > 0) {
                std::lock_guard lock(state.block_mutex);
                state.block_cv.notify_all();
            }
            for (std::size_t k = 0; k < n; ++k) {
                MailboxItem& item = items[k];
                if (single) {
                    state.in_hand.store(static_cast<std::int64_t>(n - k - 1), std::memory_order_relaxed);
                } else {
                    state.in_hand.fetch_sub(1, std::memory_order_relaxed);
                }
                if (stopping()) [[unlikely]] {
                    count_drop(&state, *item.event, DropReason::stopped);
                } else if (!state.active.load(std::memory_order_acquire)) [[unlikely]] {
                    count_drop(&state, *item.event, DropReason::unsubscribed);
                } else {
                    if (item.stamp != 0) {
                        const std::uint64_t now = now_ticks();
                        const std::uint64_t ns = now > item.stamp ? ticks_to_ns(now - item.stamp) : 0;
                        state.latency[latency_bucket(ns)].fetch_add(1, std::memory_order_relaxed);
                        state.lag_ns.store(ns, std::memory_order_relaxed);
                    }
                    call_handler(ts, state, item.event);
                }
                item.event.reset();
            }
            done += n;
        }
    }
    running_.fetch_sub(1, std::memory_order_seq_cst);

    state.runners.fetch_sub(1, std::memory_order_seq_cst);
    if (state.depth() > 0) schedule(state);
    return done;
}

void BusCore::call_handler(ThreadState& ts, SubscriberState& state, const EventPtr& event) {
    DispatchFrame frame(ts, this);
    std::shared_ptr<const void> keep_alive;
    if (state.tracking) [[unlikely]] {
        keep_alive = state.tracked.lock();
        if (!keep_alive) {
            count_drop(&state, *event, DropReason::expired);
            return;
        }
    }
    bool ok = true;
    try {
        state.handler(event);
    } catch (const std::exception& e) {
        ok = false;
        report_failure(state, *event, e.what());
    } catch (...) {
        ok = false;
        report_failure(state, *event, "a non-standard exception was thrown");
    }
    if (ok) {
        state.delivered.add(ts.token);
        // Looked up after the call: the handler may have published to other
        // buses and moved this thread's cache.
        bump(local_for(ts).counters->delivered);
        if (observe_delivered.load(std::memory_order_relaxed)) [[unlikely]] {
            try {
                delivered_signal(*event, state.id);
            } catch (...) {
            }
        }
    }
    keep_alive.reset();
    if (frame.pending) flush_deferred(frame);
}

std::size_t BusCore::pump(std::size_t max_events, std::chrono::steady_clock::time_point until, bool wait) {
    ThreadState& ts = thread_state();
    PumpScope scope(ts, this);
    std::size_t handled = 0;
    for (;;) {
        while (handled < max_events && !stopping()) {
            if (!run_one(std::min<std::size_t>(256, max_events - handled), handled)) break;
        }
        if (handled >= max_events || !wait || stopping()) break;
        const auto now = std::chrono::steady_clock::now();
        if (now >= until) break;

        const std::uint32_t word = wake_word_.load(std::memory_order_acquire);
        parked_.fetch_add(1, std::memory_order_seq_cst);
        full_fence();
        if (ready_.size_approx() == 0 && !stopping()) futex_wait(wake_word_, word, until - now);
        parked_.fetch_sub(1, std::memory_order_relaxed);
    }
    return handled;
}

// ---- Drain and stop ----------------------------------------------------------------

std::size_t BusCore::total_depth() const {
    std::lock_guard lock(registry_mutex_);
    std::int64_t total = 0;
    for (const auto& [sequence, state] : registry_) {
        total += std::max<std::int64_t>(0, state->depth()) + std::max<std::int64_t>(0, state->in_hand.load());
    }
    return static_cast<std::size_t>(total);
}

DrainResult BusCore::drain(std::chrono::steady_clock::time_point deadline) {
    int rounds = 0;
    for (;;) {
        if (workers_.empty() && !stopping()) {
            // Nobody else delivers: pump on this thread.
            pump(SIZE_MAX, deadline, false);
        }
        const std::size_t left = total_depth();
        const auto running = static_cast<std::size_t>(std::max(0, running_.load(std::memory_order_seq_cst)));
        if ((left == 0 && running == 0) || std::chrono::steady_clock::now() >= deadline || stopping()) {
            return DrainResult{left, running};
        }
        ++rounds;
        if (rounds < 16) {
            std::this_thread::yield();
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    }
}

std::size_t BusCore::discard_mailbox(SubscriberState& state, DropReason reason) noexcept {
    std::size_t total = 0;
    MailboxItem items[32];
    for (;;) {
        const std::size_t n = state.mailbox.try_dequeue_bulk(items, 32);
        if (n == 0) break;
        state.released.fetch_add(static_cast<std::int64_t>(n), std::memory_order_seq_cst);
        for (std::size_t k = 0; k < n; ++k) {
            count_drop(&state, *items[k].event, reason);
            items[k].event.reset();
        }
        total += n;
    }
    if (state.block_waiters.load(std::memory_order_seq_cst) > 0) {
        std::lock_guard lock(state.block_mutex);
        state.block_cv.notify_all();
    }
    return total;
}

DrainResult BusCore::stop_now(std::chrono::nanoseconds grace) {
    const bool first = !stopping_.exchange(true, std::memory_order_seq_cst);
    wake_word_.fetch_add(1, std::memory_order_release);
    futex_wake_all(wake_word_);

    std::vector<std::shared_ptr<SubscriberState>> states;
    {
        std::lock_guard lock(registry_mutex_);
        for (auto& [sequence, state] : registry_) states.push_back(state);
    }
    DrainResult result;
    for (auto& state : states) {
        // Events a runner holds are dropped by that runner once its current
        // handler returns; they count as left too.
        result.left += discard_mailbox(*state, DropReason::stopped) +
                       static_cast<std::size_t>(std::max<std::int64_t>(0, state->in_hand.load()));
        if (state->block_waiters.load() > 0) {
            std::lock_guard lock(state->block_mutex);
            state->block_cv.notify_all();
        }
    }

    // A thread that stops the bus from inside a handler is itself running.
    const int self = thread_state().pumping == this && running_.load() > 0 ? 1 : 0;
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (running_.load(std::memory_order_seq_cst) > self && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    result.running = static_cast<std::size_t>(std::max(0, running_.load() - self));
    if (first && log_enabled(LogLevel::info)) {
        log(LogLevel::info, "bus stopped: " + std::to_string(result.left) + " queued events dropped, " +
                                std::to_string(result.running) + " handlers still running");
    }
    return result;
}

// ---- Reporting -----------------------------------------------------------------------

void BusCore::count_drop(SubscriberState* state, const Event& event, DropReason reason, std::uint64_t n) noexcept {
    shard().dropped[static_cast<std::size_t>(reason)].fetch_add(n, std::memory_order_relaxed);
    if (state) state->dropped.fetch_add(n, std::memory_order_relaxed);
    if (reason != DropReason::stopped && reason != DropReason::unsubscribed && log_enabled(LogLevel::warning)) {
        try {
            log(LogLevel::warning, "dropped " + describe(event) + (state ? " for " + describe(*state) : std::string()) +
                                       ": " + std::string(to_string(reason)));
        } catch (...) {
        }
    }
    if (observe_dropped.load(std::memory_order_relaxed)) {
        try {
            dropped_signal(event, state ? state->id : 0, reason);
        } catch (...) {
        }
    }
}

void BusCore::report_failure(SubscriberState& state, const Event& event, std::string_view reason) noexcept {
    state.failed.fetch_add(1, std::memory_order_relaxed);
    shard().failed.fetch_add(1, std::memory_order_relaxed);
    if (log_enabled(LogLevel::warning)) {
        try {
            log(LogLevel::warning,
                "handler of " + describe(state) + " failed on " + describe(event) + ": " + std::string(reason));
        } catch (...) {
        }
    }
    if (observe_failed.load(std::memory_order_relaxed)) {
        try {
            failed_signal(event, state.id, reason);
        } catch (...) {
        }
    }
}

void BusCore::log(LogLevel level, const std::string& message) noexcept {
    if (!log_enabled(level)) return;
    // At most 50 lines a second reach the host; the rest are counted and
    // reported in the next second's first line.
    constexpr std::uint32_t burst = 50;
    const std::int64_t second = std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::steady_clock::now().time_since_epoch())
                                    .count();
    std::int64_t window = log_window_.load(std::memory_order_relaxed);
    if (window != second && log_window_.compare_exchange_strong(window, second)) {
        log_count_.store(0, std::memory_order_relaxed);
        const std::uint64_t suppressed = log_suppressed_.exchange(0);
        if (suppressed != 0) {
            try {
                options_.log(LogLevel::warning, std::to_string(suppressed) + " log lines suppressed in the last second");
            } catch (...) {
            }
        }
    }
    if (log_count_.fetch_add(1, std::memory_order_relaxed) >= burst) {
        log_suppressed_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    try {
        options_.log(level, message);
    } catch (...) {
    }
}

BusMetrics BusCore::metrics() const {
    BusMetrics m;
    for (const CounterBlock* b = counter_head_.load(std::memory_order_acquire); b; b = b->next) {
        m.published += b->published.load(std::memory_order_relaxed);
        m.unmatched += b->unmatched.load(std::memory_order_relaxed);
        m.delivered += b->delivered.load(std::memory_order_relaxed);
    }
    for (const auto& s : shards_) {
        m.failed += s.failed.load(std::memory_order_relaxed);
        for (std::size_t r = 0; r < drop_reason_count; ++r) m.dropped[r] += s.dropped[r].load(std::memory_order_relaxed);
    }
    m.subscriptions = subscription_count_.load(std::memory_order_relaxed);
    return m;
}

SubscriptionMetrics metrics_of_state(const SubscriberState& state) {
    SubscriptionMetrics m;
    m.id = state.id;
    m.name = state.name;
    m.delivery = state.delivery;
    m.delivered = state.delivered.load();
    m.failed = state.failed.load(std::memory_order_relaxed);
    m.dropped = state.dropped.load(std::memory_order_relaxed);
    m.queue_depth = static_cast<std::size_t>(std::max<std::int64_t>(0, state.depth()) +
                                             std::max<std::int64_t>(0, state.in_hand.load(std::memory_order_relaxed)));
    m.lag = std::chrono::nanoseconds(state.lag_ns.load(std::memory_order_relaxed));
    for (std::size_t b = 0; b < LatencyHistogram::bucket_count; ++b) {
        m.latency.buckets[b] = state.latency[b].load(std::memory_order_relaxed);
    }
    return m;
}

std::vector<SubscriptionMetrics> BusCore::subscription_metrics() const {
    std::vector<std::shared_ptr<SubscriberState>> states;
    {
        std::lock_guard lock(registry_mutex_);
        for (const auto& [sequence, state] : registry_) states.push_back(state);
    }
    std::vector<SubscriptionMetrics> out;
    out.reserve(states.size());
    for (const auto& state : states) out.push_back(metrics_of_state(*state));
    return out;
}

#pragma GCC visibility pop

// Declared in bus.hpp and called from inline code in programs, so it keeps
// the default visibility.
[[noreturn]] void throw_decode_error(const Event& event, std::string_view type_name, const std::exception& cause) {
    // The event is named by whoever reports the failure; the reason says
    // what did not fit.
    (void)event;
    throw DecodeError("cannot decode the data as " + std::string(type_name) + ": " + cause.what());
}

}  // namespace detail

// ---- Public API ------------------------------------------------------------------------

std::string_view to_string(DropReason reason) noexcept {
    switch (reason) {
        case DropReason::queue_full:
            return "queue_full";
        case DropReason::evicted:
            return "evicted";
        case DropReason::rejected:
            return "rejected";
        case DropReason::timed_out:
            return "timed_out";
        case DropReason::stopped:
            return "stopped";
        case DropReason::unsubscribed:
            return "unsubscribed";
        case DropReason::expired:
            return "expired";
    }
    return "unknown";
}

std::uint64_t LatencyHistogram::samples() const noexcept {
    std::uint64_t total = 0;
    for (auto b : buckets) total += b;
    return total;
}

std::uint64_t LatencyHistogram::quantile_upper_bound_ns(double q) const noexcept {
    const std::uint64_t total = samples();
    if (total == 0) return 0;
    const double target = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < bucket_count; ++b) {
        seen += buckets[b];
        if (static_cast<double>(seen) >= target && seen > 0) return std::uint64_t{2} << b;
    }
    return std::uint64_t{2} << (bucket_count - 1);
}

std::uint64_t BusMetrics::dropped_total() const noexcept {
    std::uint64_t total = 0;
    for (auto d : dropped) total += d;
    return total;
}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
    if (this != &other) {
        reset();
        core_ = std::move(other.core_);
        state_ = std::move(other.state_);
    }
    return *this;
}

void Subscription::reset() noexcept {
    if (!state_) return;
    if (auto core = core_.lock()) {
        core->unsubscribe(state_);
    } else {
        state_->active.store(false, std::memory_order_seq_cst);
    }
    state_.reset();
    core_.reset();
}

bool Subscription::active() const noexcept {
    return state_ && state_->active.load(std::memory_order_acquire) && !state_->closed.load(std::memory_order_acquire);
}

std::uint64_t Subscription::id() const noexcept { return state_ ? state_->id : 0; }

Bus::Bus(BusOptions options) : core_(std::make_shared<detail::BusCore>(std::move(options))) { core_->start(); }

Bus::~Bus() { core_->shutdown(); }

PublishResult Bus::publish(const EventPtr& event) { return core_->publish(event); }

Subscription Bus::subscribe_raw(Filter filter, detail::RawHandler handler, SubscribeOptions options) {
    auto state = core_->subscribe(std::move(filter), std::move(handler), std::move(options));
    return Subscription(core_, std::move(state));
}

std::size_t Bus::poll(std::size_t max_events) {
    return core_->pump(max_events, std::chrono::steady_clock::time_point::min(), false);
}

std::size_t Bus::run_for(std::chrono::nanoseconds duration) {
    return core_->pump(SIZE_MAX, std::chrono::steady_clock::now() + duration, true);
}

DrainResult Bus::drain(std::chrono::steady_clock::time_point deadline) { return core_->drain(deadline); }

DrainResult Bus::stop_now(std::chrono::nanoseconds grace) { return core_->stop_now(grace); }

bool Bus::stopped() const noexcept { return core_->stopping(); }

BusMetrics Bus::metrics() const { return core_->metrics(); }

std::vector<SubscriptionMetrics> Bus::subscription_metrics() const { return core_->subscription_metrics(); }

SubscriptionMetrics Bus::metrics_of(const Subscription& subscription) {
    if (!subscription.state_) return {};
    return detail::metrics_of_state(*subscription.state_);
}

boost::signals2::connection Bus::on_delivered(std::function<DeliveredSlot> slot) {
    auto connection = core_->delivered_signal.connect(std::move(slot));
    core_->observe_delivered.store(true, std::memory_order_relaxed);
    return connection;
}

boost::signals2::connection Bus::on_failed(std::function<FailedSlot> slot) {
    auto connection = core_->failed_signal.connect(std::move(slot));
    core_->observe_failed.store(true, std::memory_order_relaxed);
    return connection;
}

boost::signals2::connection Bus::on_dropped(std::function<DroppedSlot> slot) {
    auto connection = core_->dropped_signal.connect(std::move(slot));
    core_->observe_dropped.store(true, std::memory_order_relaxed);
    return connection;
}

}  // namespace cebus
