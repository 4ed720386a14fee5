// The inbound pull half of the bridge: follows a registration's I/O Events
// journal and stores what it reads in the local journal.
//
// The consumer GETs the journal URL, then follows each answer's
// `Link: <...>; rel="next"` (resolved against the journal URL's host). Each
// page's events and the next URL are written to the local journal in one
// transaction (Journal::append_batch_with_state), so a crash neither loses
// nor repeats a page: after a restart it continues from the stored URL.
// Duplicates are dropped: twice the same Adobe event id within a page, and
// by the journal's (`source`, `id`) de-duplication across pages.
//
//   200  events stored, next page fetched at once
//   204  no newer events: waits `retry-after` seconds (default
//        idle_wait), then GETs the next link
//   410, or 400 on a position (expired): resets to the oldest available
//        events or to the latest (JournalConsumerOptions::on_expired),
//        reports a gap through on_gap, the log and the `gaps` counter
//   401  the token is invalidated and the request sent once more
//   429, 5xx, network errors: backoff with jitter, honouring Retry-After
//   other statuses: logged, counted, backoff
//
// Events that are not CloudEvents (older Adobe formats) are wrapped in a
// CloudEvent of type "com.adobe.io.events.entry" with the JSON as data.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <cebus/io_events/config.hpp>
#include <cebus/io_events/http_client.hpp>
#include <cebus/io_events/token.hpp>
#include <cebus/journal.hpp>

namespace cebus::io_events {

// A reset after the stored position expired: events between `position` and
// the reset point may be lost.
struct JournalGap {
    std::string expired_url;  // the request that returned 410 (or 400)
    // The status of that response: 410 or 400.
    int status = 0;
    std::string reset_url;    // where reading continues
};

// Settings of a JournalConsumer, fixed at construction.
struct JournalConsumerOptions {
    // Read from the oldest events the journal still holds, or only from
    // events that arrive later.
    enum class Reset { oldest, latest };
    // Where to go when the stored position has expired.
    Reset on_expired = Reset::oldest;
    // Where to start when nothing is stored yet.
    Reset first_start = Reset::oldest;
    // `limit` query parameter on the first request (kept by the next links);
    // 0 leaves the server's default.
    std::size_t limit = 100;
    // Key of the position in the journal's key/value store; empty uses
    // "io-events/journal/" + the journal URL.
    std::string state_key;
    // Wait after a 204 without a usable retry-after.
    std::chrono::milliseconds idle_wait{10'000};
    // Maximum wait taken from retry-after.
    std::chrono::milliseconds max_wait{60'000};
    // Wait after a failure: initial_backoff doubled per consecutive failure,
    // capped at max_backoff, minus up to 50 % jitter.
    std::chrono::milliseconds initial_backoff{1000};
    std::chrono::milliseconds max_backoff{60'000};
    // Maximum time to wait for the local journal to acknowledge a page.
    std::chrono::milliseconds journal_timeout{30'000};

    // Called on the polling thread after each reset that may have lost
    // events. May be empty.
    std::function<void(const JournalGap&)> on_gap;
    // Receives request failures, gaps and skipped entries. May be empty.
    LogCallback log;
};

// Counters of a JournalConsumer since construction.
struct JournalConsumerCounters {
    // HTTP requests sent, retries and 401 repeats included.
    std::uint64_t requests = 0;
    std::uint64_t pages = 0;           // 200 responses stored
    std::uint64_t events_stored = 0;   // new events in the local journal
    std::uint64_t duplicates = 0;      // dropped as already stored or repeated
    std::uint64_t empty_polls = 0;     // 204 responses
    std::uint64_t gaps = 0;            // resets after an expired position
    std::uint64_t errors = 0;          // other failures (retried)
};

// The outcome of one poll, for tests and hosts that drive the consumer themselves.
struct PollResult {
    int status = 0;  // HTTP status, 0 for a network error
    // Events of a 200 page handed to the local journal, after dropping
    // repeats within the page.
    std::size_t events = 0;
    std::chrono::milliseconds wait{0};  // how long to wait before the next poll
};

// The running inbound pull bridge (see the file comment). Not copyable.
class JournalConsumer {
public:
    // Validates the configuration (client id, journal URL). Does not start
    // a thread; call start() or poll() yourself. The journal, token source
    // and client must outlive the consumer.
    JournalConsumer(journal::Journal& journal, Config config, std::shared_ptr<TokenSource> tokens,
                    std::shared_ptr<HttpClient> client, JournalConsumerOptions options = {});
    // Stops as stop() does.
    ~JournalConsumer();
    JournalConsumer(const JournalConsumer&) = delete;
    JournalConsumer& operator=(const JournalConsumer&) = delete;

    // Starts a thread that polls until stop(). Not thread-safe with poll().
    void start();
    // Stops the thread; blocks until the current request finishes.
    void stop();

    // One request and its handling. Blocks. Throws only journal::JournalError
    // when the local journal fails to store a page (nothing is then stored
    // and the position does not move).
    PollResult poll();

    // The URL the next poll requests.
    std::string next_url() const;
    // A snapshot of the counters, read lock-free.
    JournalConsumerCounters counters() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cebus::io_events
