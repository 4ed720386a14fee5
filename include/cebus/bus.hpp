// The router: an in-process CloudEvents bus with callback subscribers.
//
// Producers call Bus::publish from any thread. Each subscription has a Filter
// and a handler. A sync subscriber runs on the publishing thread before
// publish() returns. An async subscriber has its own bounded mailbox (a
// moodycamel ConcurrentQueue) drained in batches by the bus's worker threads,
// or by a host thread that calls poll()/run_for() when the bus has no workers.
//
// What holds on one thread:
// - A publish made inside a handler (sync or async) is queued and delivered
//   after the current event, in FIFO order: no handler is ever re-entered.
//   If A's handler publishes B and C, and B's handler publishes D, every
//   subscriber of all four sees A, B, C, D.
// - Subscribing inside a handler is legal; the new subscriber does not see the
//   event in flight. Resetting a Subscription inside its own handler returns
//   at once; the handler finishes its current call and is not called again.
//
// What holds across threads:
// - publish() holds no lock while user code runs. The routing table is an
//   immutable snapshot that publishers read without a lock.
// - Each subscriber sees the events of one producer thread in publish order
//   (async subscribers with concurrency 1; sync subscribers trivially). No
//   order is promised across producer threads.
// - An async subscriber never runs concurrently with itself unless its
//   concurrency is above 1. A sync subscriber runs on every publishing thread
//   and so may run concurrently when several threads publish.
// - When Subscription::reset() (or its destructor) returns on a thread that
//   is not running that subscriber's handler, the handler is not running and
//   will not start again, and the handler object has been destroyed.
// - A handler that throws is counted as failed and reported through the
//   failed signal and the log callback; delivery to others continues.
// - Mailboxes are bounded; a full one applies the subscriber's overflow
//   policy and every dropped event is counted by reason.
//
// The library never prints. It reports through BusOptions::log, counters
// (metrics()) and the Boost.Signals2 observer signals.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/core/demangle.hpp>
#include <boost/signals2/connection.hpp>

#include <cebus/event.hpp>
#include <cebus/filter.hpp>

namespace cebus {

// Severity of a log line passed to BusOptions::log, lowest first.
enum class LogLevel : std::uint8_t { debug, info, warning, error };

// Receives the bus's log lines. Called from any thread, possibly
// concurrently; it must not throw and must not call back into the bus.
using LogCallback = std::function<void(LogLevel level, std::string_view message)>;

// What a full mailbox does with a new event.
enum class OverflowPolicy : std::uint8_t {
    block,        // the publisher waits up to SubscribeOptions::block_timeout, then fails
    drop_newest,  // the new event is dropped
    drop_oldest,  // an older queued event is dropped to make room
    fail,         // the publish fails with PublishError
};

// Why an event did not reach a subscriber. Each reason has its own counter.
enum class DropReason : std::uint8_t {
    queue_full,    // drop_newest: the new event found the mailbox full
    evicted,       // drop_oldest: a queued event made room for a newer one
    rejected,      // fail: the publish failed because the mailbox was full
    timed_out,     // block: the publisher waited past its deadline
    stopped,       // stop_now() or bus destruction discarded it
    unsubscribed,  // the subscription was reset while the event was queued
    expired,       // the tracked object was gone when the event arrived
};
// Number of DropReason values: the size of BusMetrics::dropped.
inline constexpr std::size_t drop_reason_count = 7;
// The enumerator's name, such as "queue_full", for logs and metric labels.
std::string_view to_string(DropReason reason) noexcept;

// The thread a subscriber's handler runs on.
enum class Delivery : std::uint8_t {
    sync,   // on the publishing thread, before publish() returns
    async,  // on a worker or a pumping host thread, through a mailbox
};

// A publish that could not deliver to every matching subscriber because a
// mailbox with policy `fail` was full or a `block` wait passed its deadline.
// The other matching subscribers did receive the event.
class PublishError : public Error {
public:
    // Takes the message as what() returns it.
    PublishError(DropReason reason, std::string message)
        : Error(std::move(message)), reason_(reason) {}
    // `rejected` for a full `fail` mailbox, `timed_out` for a `block` wait.
    DropReason reason() const noexcept { return reason_; }

private:
    DropReason reason_;
};

// Typed data that does not decode into the handler's parameter type. A
// handler failure: counted and reported, never thrown to the publisher.
class DecodeError : public Error {
public:
    using Error::Error;
};

// Settings of a Bus, fixed when it is constructed.
struct BusOptions {
    // Threads that run async handlers. 0 means the host pumps the bus with
    // poll()/run_for() on its own thread.
    unsigned worker_count = 1;
    // How long an idle worker polls for work before it parks. Waking a parked
    // thread costs tens of microseconds on a virtual machine; spinning costs
    // a core while it lasts.
    std::chrono::microseconds spin_before_park{50};
    // Defaults for subscriptions that do not set their own.
    OverflowPolicy default_overflow = OverflowPolicy::block;
    std::size_t default_queue_capacity = 65536;
    std::chrono::milliseconds default_block_timeout{1000};
    // Receives log lines, or turns logging off when empty. At most 50 lines
    // a second reach it, and the count of suppressed ones follows. Log lines
    // below min_log_level are not formatted at all.
    LogCallback log;
    LogLevel min_log_level = LogLevel::info;
};

// Settings of one subscription. The with_*() setters return *this so that
// options can be written in one expression.
struct SubscribeOptions {
    // Delivery on the publishing thread (sync) or through a mailbox (async).
    Delivery delivery = Delivery::async;
    // Higher runs first among the subscribers of one event; ties run in
    // registration order.
    int priority = 0;
    // Mailbox bound for async delivery; 0 takes BusOptions::default_queue_capacity.
    std::size_t queue_capacity = 0;
    // Empty takes BusOptions::default_overflow / default_block_timeout.
    std::optional<OverflowPolicy> overflow;
    std::optional<std::chrono::milliseconds> block_timeout;
    // Async handlers of this subscription that may run at once. Above 1,
    // per-producer order is no longer promised.
    unsigned concurrency = 1;
    // When set, the handler is not called once the object is gone, and the
    // object is kept alive for the duration of each call.
    std::weak_ptr<const void> tracked;
    // A label for logs and metrics; defaults to "subscription-<n>".
    std::string name;

    // Sets `delivery` to sync or async.
    SubscribeOptions& sync() { delivery = Delivery::sync; return *this; }
    SubscribeOptions& async() { delivery = Delivery::async; return *this; }
    // Set the field of the same name, described above.
    SubscribeOptions& with_priority(int p) { priority = p; return *this; }
    SubscribeOptions& with_capacity(std::size_t n) { queue_capacity = n; return *this; }
    SubscribeOptions& with_overflow(OverflowPolicy p) { overflow = p; return *this; }
    SubscribeOptions& with_block_timeout(std::chrono::milliseconds t) { block_timeout = t; return *this; }
    SubscribeOptions& with_concurrency(unsigned n) { concurrency = n; return *this; }
    // Ties the subscription to `object`, which the options keep only as a
    // weak reference (see `tracked`).
    template <class T>
    SubscribeOptions& track(const std::shared_ptr<T>& object) {
        tracked = std::weak_ptr<const void>(std::shared_ptr<const void>(object));
        return *this;
    }
    // Sets the label used in logs and metrics.
    SubscribeOptions& with_name(std::string n) { name = std::move(n); return *this; }
};

// What one publish did. `deferred` means the publish was made inside a
// handler and will be routed after the current event; the counts are then 0.
struct PublishResult {
    std::size_t matched = 0;    // subscribers whose filter matched
    std::size_t delivered = 0;  // sync handlers called (including failures)
    std::size_t queued = 0;     // async mailboxes that took the event
    std::size_t dropped = 0;    // matching subscribers that lost the event
    // True when the publish ran inside a handler and was queued for later.
    bool deferred = false;
};

// Delivery latency: enqueue to handler start, in power-of-two buckets.
// Bucket i counts latencies in [2^i, 2^(i+1)) nanoseconds (bucket 0 also
// takes 0). Sampled: an event is timed when its publisher saw the mailbox
// empty, and one in 16 otherwise, so a busy queue costs no clock reads per
// event. A publisher refreshes its view of the mailbox only when the mailbox
// looks full, so a steady stream is mostly timed one in 16.
struct LatencyHistogram {
    // Number of buckets. The last one also takes every latency of 2^39 ns
    // (about 550 s) or more.
    static constexpr std::size_t bucket_count = 40;
    // Sample counts per bucket, indexed as described above.
    std::array<std::uint64_t, bucket_count> buckets{};
    // Total number of sampled events: the sum of the buckets.
    std::uint64_t samples() const noexcept;
    // Upper bound, in nanoseconds, of the bucket holding quantile q (0..1);
    // 0 when there are no samples.
    std::uint64_t quantile_upper_bound_ns(double q) const noexcept;
};

// A snapshot of one subscription's counters, taken with relaxed atomic loads.
struct SubscriptionMetrics {
    // The subscription's id, as Subscription::id() and the signals give it.
    std::uint64_t id = 0;
    // SubscribeOptions::name, or "subscription-<id>" when that was empty.
    std::string name;
    // How the subscription delivers.
    Delivery delivery = Delivery::async;
    std::uint64_t delivered = 0;  // handler calls that returned
    std::uint64_t failed = 0;     // handler calls that threw
    std::uint64_t dropped = 0;    // events lost for any DropReason
    // Events waiting: in the mailbox (at most the capacity) plus those a
    // runner has taken in its current batch (at most 64 per runner).
    std::size_t queue_depth = 0;
    // Age of the most recently timed event when its handler started.
    std::chrono::nanoseconds lag{0};
    // Latency of the sampled events since the subscription started.
    LatencyHistogram latency;
};

// A snapshot of the bus-wide counters since construction. Each counter is
// read with relaxed atomic loads, so the figures of one snapshot may be a few
// events apart.
struct BusMetrics {
    std::uint64_t published = 0;   // publish() calls routed (deferred ones once routed)
    std::uint64_t unmatched = 0;   // published events no subscriber matched
    // Handler calls that returned, over all subscriptions.
    std::uint64_t delivered = 0;
    // Handler calls that threw, over all subscriptions.
    std::uint64_t failed = 0;
    std::array<std::uint64_t, drop_reason_count> dropped{};  // indexed by DropReason
    // Sum of `dropped` over every reason.
    std::uint64_t dropped_total() const noexcept;
    // Subscriptions currently registered.
    std::size_t subscriptions = 0;
};

// Left over by drain() or stop_now().
struct DrainResult {
    std::size_t left = 0;     // queued events not delivered
    std::size_t running = 0;  // handlers still running at return
    // True when nothing was left and no handler was running.
    bool complete() const noexcept { return left == 0 && running == 0; }
};

namespace detail {
class SubscriberState;
class BusCore;
using RawHandler = std::function<void(const EventPtr&)>;

template <class F>
struct callable_traits : callable_traits<decltype(&std::decay_t<F>::operator())> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const> {
    using args = std::tuple<A...>;
    static constexpr std::size_t arity = sizeof...(A);
};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...)> {
    using args = std::tuple<A...>;
    static constexpr std::size_t arity = sizeof...(A);
};
template <class R, class... A>
struct callable_traits<R (*)(A...)> {
    using args = std::tuple<A...>;
    static constexpr std::size_t arity = sizeof...(A);
};
template <class R, class... A>
struct callable_traits<R (&)(A...)> : callable_traits<R (*)(A...)> {};
template <class R, class... A>
struct callable_traits<R(A...)> : callable_traits<R (*)(A...)> {};

template <class F, std::size_t I>
using arg_t = std::remove_cvref_t<std::tuple_element_t<I, typename callable_traits<F>::args>>;

[[noreturn]] void throw_decode_error(const Event& event, std::string_view type_name, const std::exception& cause);

template <class T>
concept json_decodable = requires(const nlohmann::json& json) { json.template get<T>(); };

// Decodes the event's data as T: the native value when the producer attached
// a T, otherwise the JSON data through from_json. Throws DecodeError.
template <class T>
T decode_data(const Event& event) {
    static_assert(json_decodable<T>,
                  "a typed handler's T needs a from_json(const nlohmann::json&, T&) found by "
                  "argument-dependent lookup (or an nlohmann::adl_serializer<T> specialisation), "
                  "because events that arrive as JSON are decoded with it");
    if (const T* native = event.native_data<T>()) return *native;
    try {
        return event.data_json().template get<T>();
    } catch (const std::exception& e) {
        throw_decode_error(event, boost::core::demangle(typeid(T).name()), e);
    }
}

// Adapts the handler forms to one signature taking the shared event.
template <class F>
RawHandler adapt_handler(F&& f) {
    using Fn = std::decay_t<F>;
    constexpr std::size_t arity = callable_traits<Fn>::arity;
    if constexpr (arity == 1) {
        using A0 = arg_t<Fn, 0>;
        if constexpr (std::is_same_v<A0, EventPtr>) {
            return RawHandler(std::forward<F>(f));
        } else if constexpr (std::is_same_v<A0, Event>) {
            return [fn = Fn(std::forward<F>(f))](const EventPtr& e) mutable { fn(*e); };
        } else {
            return [fn = Fn(std::forward<F>(f))](const EventPtr& e) mutable {
                if (const A0* native = e->native_data<A0>()) {
                    fn(*native);
                } else {
                    const A0 value = decode_data<A0>(*e);
                    fn(value);
                }
            };
        }
    } else {
        static_assert(arity == 2, "a handler takes (const Event&), (const EventPtr&), (const T&) or (const T&, const Event&)");
        using A0 = arg_t<Fn, 0>;
        static_assert(std::is_same_v<arg_t<Fn, 1>, Event>, "the second handler parameter must be const Event&");
        return [fn = Fn(std::forward<F>(f))](const EventPtr& e) mutable {
            if (const A0* native = e->native_data<A0>()) {
                fn(*native, *e);
            } else {
                const A0 value = decode_data<A0>(*e);
                fn(value, *e);
            }
        };
    }
}
}  // namespace detail

// Owns one subscription. Movable, not copyable. Destroying or resetting it
// unsubscribes: see the file comment for what holds when it returns. Safe to
// destroy after the Bus; then it only releases memory.
class Subscription {
public:
    // An empty handle that owns no subscription.
    Subscription() noexcept = default;
    // Takes over the subscription of `other`, which becomes empty.
    Subscription(Subscription&& other) noexcept = default;
    // Resets the subscription this handle owns, then takes over `other`'s.
    Subscription& operator=(Subscription&& other) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { reset(); }

    // Unsubscribes. From a thread other than the handler's, blocks until a
    // running call of the handler returns; from inside the handler, returns
    // at once. Queued events are dropped and counted as `unsubscribed`.
    // Thread-safe; idempotent.
    void reset() noexcept;
    // True while the handle owns a subscription that is still registered:
    // false after reset() and once the Bus is destroyed.
    bool active() const noexcept;
    explicit operator bool() const noexcept { return active(); }
    // Identifier of the subscription in metrics; 0 for an empty handle.
    std::uint64_t id() const noexcept;

private:
    friend class Bus;
    Subscription(std::weak_ptr<detail::BusCore> core, std::shared_ptr<detail::SubscriberState> state) noexcept
        : core_(std::move(core)), state_(std::move(state)) {}
    std::weak_ptr<detail::BusCore> core_;
    std::shared_ptr<detail::SubscriberState> state_;
};

// The in-process event bus; the file comment gives its delivery rules. Not
// copyable or movable.
class Bus {
public:
    // Starts options.worker_count workers. Throws std::system_error when a
    // thread cannot start.
    explicit Bus(BusOptions options = {});
    // Stops workers after their current handler (waiting for it to return),
    // drops what is queued (counted as `stopped`), and detaches live
    // Subscription handles, which stay safe to reset or destroy.
    ~Bus();
    Bus(const Bus&) = delete;
    Bus& operator=(const Bus&) = delete;

    // Routes an event to every subscriber whose filter matches. Thread-safe,
    // callable from handlers (then deferred, see the file comment). Sync
    // handlers run before it returns; it holds no lock while they run.
    // Allocates only when a mailbox grows, a producer token is created, or
    // the thread publishes to this bus for the first time (its per-thread
    // cache and counters).
    // Throws PublishError when a `fail` mailbox is full or a `block` wait
    // times out, after delivering to every other matching subscriber. After
    // stop_now() every publish is dropped and counted as `stopped`.
    PublishResult publish(const EventPtr& event);
    // Builds (validating: throws ValidationError) and publishes.
    PublishResult publish(const EventBuilder& builder) { return publish(builder.build()); }
    // Attaches a native value as data and publishes. The value is serialised
    // only when something needs bytes; typed subscribers of T receive it
    // without any decoding.
    template <class T>
    PublishResult publish(EventBuilder builder, T value) {
        builder.data_value(std::move(value));
        return publish(builder.build());
    }

    // Registers a handler for the events `filter` matches. The handler takes
    // (const Event&), (const EventPtr&), (const T&) or (const T&, const Event&);
    // a typed handler receives the native T the producer attached, or the
    // JSON data decoded with from_json, and a decode failure counts as a
    // failed call. Thread-safe, callable from handlers; the new subscriber
    // sees publishes that start after subscribe() returns. Allocates. Throws
    // std::invalid_argument for a zero concurrency or capacity above 2^40.
    template <class F>
    [[nodiscard]] Subscription subscribe(Filter filter, F&& handler, SubscribeOptions options = {}) {
        return subscribe_raw(std::move(filter), detail::adapt_handler(std::forward<F>(handler)), std::move(options));
    }
    // As subscribe(), for a handler already in the form the bus stores: it
    // takes the shared event and does no data decoding.
    [[nodiscard]] Subscription subscribe_raw(Filter filter, detail::RawHandler handler, SubscribeOptions options);

    // Host-pumped delivery: runs queued async handlers on the calling thread.
    // poll() returns after at most `max_events` handler calls or when no
    // mailbox has work; run_for() keeps pumping and waits for work until the
    // duration has passed. Both return the number of handler calls. Usable
    // with or without workers. Must not be called from a handler.
    std::size_t poll(std::size_t max_events = SIZE_MAX);
    std::size_t run_for(std::chrono::nanoseconds duration);

    // Waits until every mailbox is empty and no async handler runs, or until
    // the deadline; without workers it pumps on the calling thread. Publishes
    // keep being accepted. Never hangs past the deadline.
    DrainResult drain(std::chrono::steady_clock::time_point deadline);
    DrainResult drain(std::chrono::nanoseconds timeout) { return drain(std::chrono::steady_clock::now() + timeout); }
    // Stops accepting publishes, drops every queued event (counted as
    // `stopped`) and tells workers to exit after their current handler.
    // Waits up to `grace` for running handlers; returns what it dropped and
    // how many handlers were still running. Idempotent.
    DrainResult stop_now(std::chrono::nanoseconds grace = std::chrono::milliseconds(100));
    // True once stop_now() has been called or destruction has begun.
    bool stopped() const noexcept;

    // Counters, O(1) in the number of events; per-subscription figures are
    // O(subscriptions). Thread-safe, lock-free for bus-wide counters.
    BusMetrics metrics() const;
    std::vector<SubscriptionMetrics> subscription_metrics() const;
    // Figures for one subscription; O(1). Empty handle gives zeros.
    static SubscriptionMetrics metrics_of(const Subscription& subscription);

    // Observer signals. The bus emits a signal only after something has
    // connected to it, so an unobserved bus pays nothing. Slots run on the
    // thread that delivered, failed or dropped the event; they must not
    // throw. The failure reason is the exception's what().
    using DeliveredSlot = void(const Event& event, std::uint64_t subscription_id);
    using FailedSlot = void(const Event& event, std::uint64_t subscription_id, std::string_view reason);
    using DroppedSlot = void(const Event& event, std::uint64_t subscription_id, DropReason reason);
    boost::signals2::connection on_delivered(std::function<DeliveredSlot> slot);
    boost::signals2::connection on_failed(std::function<FailedSlot> slot);
    boost::signals2::connection on_dropped(std::function<DroppedSlot> slot);

private:
    std::shared_ptr<detail::BusCore> core_;
};

}  // namespace cebus
