// Low-level pieces of the router: the tick clock, futex waits and the
// invocation guard that lets Subscription::reset() wait for running handlers.
#include <atomic>
#include <chrono>
#include <climits>
#include <thread>

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "bus_internal.hpp"

namespace cebus::detail {

// ---- Clock ------------------------------------------------------------------------

namespace {

std::uint64_t steady_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

#if defined(__x86_64__)
// Ticks per nanosecond, measured once against steady_clock over 2 ms.
double measure_tick_rate() noexcept {
    const std::uint64_t ns0 = steady_ns();
    const std::uint64_t t0 = __rdtsc();
    std::uint64_t ns1 = ns0;
    while (ns1 - ns0 < 2'000'000) ns1 = steady_ns();
    const std::uint64_t t1 = __rdtsc();
    const double rate = static_cast<double>(t1 - t0) / static_cast<double>(ns1 - ns0);
    return rate > 0.01 ? rate : 1.0;
}
#endif

}  // namespace

std::uint64_t now_ticks() noexcept {
#if defined(__x86_64__)
    return __rdtsc();
#else
    return steady_ns();
#endif
}

std::uint64_t ticks_to_ns(std::uint64_t ticks) noexcept {
#if defined(__x86_64__)
    static const double rate = measure_tick_rate();
    return static_cast<std::uint64_t>(static_cast<double>(ticks) / rate);
#else
    return ticks;
#endif
}

// ---- Futex -----------------------------------------------------------------------

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    timespec ts{};
    timespec* tsp = nullptr;
    if (timeout.count() >= 0) {
        ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
        tsp = &ts;
    }
    // Spurious returns (EINTR, EAGAIN, timeout) are fine: callers re-check.
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, tsp, nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// ---- Invocation guard ------------------------------------------------------------

std::atomic<bool> g_asymmetric_fences{false};

namespace {

// Records are never freed: a thread that exits marks its record unused and a
// later thread takes it over, so the list is as long as the peak thread count.
std::atomic<InvokeRecord*> g_records{nullptr};

bool register_membarrier() noexcept {
    const long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (supported < 0 || !(supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return false;
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

bool asymmetric_fences() noexcept {
    static const bool available = [] {
        const bool ok = register_membarrier();
        // Published only after registration, so no thread trusts the cheap
        // fence before membarrier can cover it.
        if (ok) g_asymmetric_fences.store(true, std::memory_order_release);
        return ok;
    }();
    return available;
}

std::atomic<std::uint64_t> g_next_thread_token{1};

InvokeRecord* acquire_record() {
    for (InvokeRecord* r = g_records.load(std::memory_order_acquire); r; r = r->next) {
        bool expected = false;
        if (!r->in_use.load(std::memory_order_relaxed) &&
            r->in_use.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
            return r;
        }
    }
    auto* r = new InvokeRecord;
    r->in_use.store(true, std::memory_order_relaxed);
    InvokeRecord* head = g_records.load(std::memory_order_relaxed);
    do {
        r->next = head;
    } while (!g_records.compare_exchange_weak(head, r, std::memory_order_acq_rel, std::memory_order_relaxed));
    return r;
}

struct RecordHolder {
    InvokeRecord* record = nullptr;
    ~RecordHolder() {
        if (record) record->in_use.store(false, std::memory_order_release);
    }
};

}  // namespace

InvokeRecord& this_thread_record() {
    thread_local RecordHolder holder;
    if (!holder.record) {
        // Registration must happen before the first handler call relies on
        // the cheap fence, so query the mode here.
        (void)asymmetric_fences();
        holder.record = acquire_record();
    }
    return *holder.record;
}

void init_fences() noexcept { (void)asymmetric_fences(); }

std::uint64_t this_thread_token() noexcept {
    thread_local const std::uint64_t token = g_next_thread_token.fetch_add(1, std::memory_order_relaxed);
    return token;
}

void heavy_fence() noexcept {
    if (asymmetric_fences()) {
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    } else {
        full_fence();
    }
}

void enter_overflow(SubscriberState* state) noexcept { state->overflow_calls.fetch_add(1, std::memory_order_seq_cst); }

void leave_overflow(SubscriberState* state) noexcept { state->overflow_calls.fetch_sub(1, std::memory_order_release); }

bool invoking_on_this_thread(const SubscriberState* state) noexcept {
    InvokeRecord& own = this_thread_record();
    for (int i = 0; i < own.depth; ++i) {
        if (own.slots[i].load(std::memory_order_relaxed) == state) return true;
    }
    return false;
}

void wait_until_idle(const SubscriberState* state) noexcept {
    const InvokeRecord* own = &this_thread_record();
    int rounds = 0;
    for (;;) {
        bool busy = state->overflow_calls.load(std::memory_order_acquire) > 0;
        for (InvokeRecord* r = g_records.load(std::memory_order_acquire); r && !busy; r = r->next) {
            if (r == own) continue;
            for (const auto& slot : r->slots) {
                if (slot.load(std::memory_order_acquire) == state) {
                    busy = true;
                    break;
                }
            }
        }
        if (!busy) return;

        // Handlers usually finish within microseconds; back off to sleeping
        // so a long handler does not cost a spinning core.
        ++rounds;
        if (rounds < 64) {
            std::this_thread::yield();
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(rounds < 1000 ? 20 : 500));
        }
    }
}

}  // namespace cebus::detail
