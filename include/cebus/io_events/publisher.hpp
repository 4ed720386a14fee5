// The outbound half of the bridge: forwards journaled events to the I/O
// Events publishing endpoint.
//
// The publisher is a set of durable subscriptions of the journal (an outbox).
// Each event that the filter and the event code mapping select is POSTed as
// `application/cloudevents+json` with `source` `urn:uuid:<provider id>`,
// `type` the event code, `Authorization: Bearer <token>` and `x-api-key`.
// The local `source` and `type` travel in the extensions `cebussource` and
// `cebustype`; the `id` is kept, so a retry is recognisably the same event.
//
// Outcomes per event:
//   200            published (counted in `published`)
//   204            accepted, no registration takes the event code
//                  (`no_registration`); acknowledged
//   429, 5xx,      retried after Retry-After (or an exponential backoff with
//   network error  jitter when absent); a 429 also pauses every sender
//   401            the token is invalidated and the request sent once more
//                  with a fresh one; a second 401 is retried on the backoff
//   other 4xx      dead-lettered with the status and the start of the body
//
// Several requests are in flight: the events are split over `in_flight`
// durable subscriptions by journal sequence (partition k takes k, k+n, ...,
// and skips the others without decoding them), each with its own thread and
// keep-alive connection. Order between events is therefore not kept, which
// I/O Events does not promise either; a retried event holds back only its
// own partition. A shared rate limiter keeps
// the request rate under `rate_limit_requests` per `rate_limit_window`
// (Adobe documents 3,000 requests per 5 s per api key).
//
// Delivery is at least once: an event is acknowledged in the journal only
// after a 200 or 204, so a crash between the POST and the acknowledgement
// sends it again with the same `id`.
//
// NOTE: every event leaves with the provider's `source`, so two local events
// with the same `id` from different local sources look like one event
// delivered twice to anyone who de-duplicates on (`source`, `id`), the
// journal consumer included. Keep ids unique across the sources you forward
// (UUIDs are).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <cebus/event.hpp>
#include <cebus/io_events/config.hpp>
#include <cebus/io_events/http_client.hpp>
#include <cebus/io_events/token.hpp>
#include <cebus/journal.hpp>

namespace cebus::io_events {

// Settings of a Publisher, fixed at construction.
struct PublisherOptions {
    // Durable subscription names are "<name>/<k>" for k in [0, in_flight).
    std::string name = "io-events-publisher";
    // Requests in flight (partitions of the outbox), 1 to 256. Changing it
    // between runs is safe: new partitions start at the oldest cursor of the
    // old ones, so events may be sent twice (same id) but none is skipped.
    std::size_t in_flight = 4;
    // Selects the events to forward; empty forwards every event that has an
    // event code (Config::event_code_for).
    std::function<bool(const Event&)> filter;
    // Where the subscriptions start the first time.
    journal::StartPosition start = journal::StartPosition::beginning();

    // At most this many requests start in any `rate_limit_window`, over all
    // partitions, and 0 turns the limit off. The default stays below Adobe's
    // 3,000 per 5 s.
    std::size_t rate_limit_requests = 2900;
    std::chrono::milliseconds rate_limit_window{5000};

    // Retry backoff: initial * 2^(attempt-1), capped, minus up to 50 % jitter.
    std::chrono::milliseconds initial_backoff{500};
    std::chrono::milliseconds max_backoff{60'000};
    // Deliveries of one event (transient failures included) before it is
    // dead-lettered.
    std::uint32_t max_deliveries = 1000;
    // Longest Retry-After honoured; longer values are capped to this.
    std::chrono::milliseconds max_retry_after{300'000};

    // Receives start, retry and dead-letter lines. May be empty.
    LogCallback log;
};

// Counters of a Publisher since construction, one per outcome.
struct PublisherCounters {
    std::uint64_t published = 0;        // 200
    std::uint64_t no_registration = 0;  // 204
    std::uint64_t throttled = 0;        // 429
    std::uint64_t server_errors = 0;    // 5xx
    // Requests that got no complete response.
    std::uint64_t network_errors = 0;
    std::uint64_t unauthorized = 0;     // 401
    std::uint64_t retries = 0;          // deliveries answered with a retry
    // Events the publisher dead-lettered itself: not publishable, or
    // rejected with another 4xx. Events that use up max_deliveries are
    // counted by the journal (journal::Metrics::dead_lettered) instead.
    std::uint64_t dead_lettered = 0;
    // Deliveries retried because no access token could be had.
    std::uint64_t token_failures = 0;
};

// The running outbound bridge (see the file comment). Not copyable.
class Publisher {
public:
    // Validates the configuration (ConfigError) and starts the durable
    // subscriptions. The journal, token source and client must outlive the
    // publisher. Throws journal::JournalError when a subscription name is
    // already attached.
    Publisher(journal::Journal& journal, Config config, std::shared_ptr<TokenSource> tokens,
              std::shared_ptr<HttpClient> client, PublisherOptions options = {});
    // Stops as stop() does.
    ~Publisher();
    Publisher(const Publisher&) = delete;
    Publisher& operator=(const Publisher&) = delete;

    // Stops every subscription; blocks until in-flight requests finish (at
    // most the request timeout). Idempotent. Not callable from a handler.
    void stop();

    // A snapshot of the counters, read lock-free.
    PublisherCounters counters() const noexcept;

    // The ingress body for `event`: structured JSON with the provider source
    // and `event_code` as type. Throws ValidationError when the event's data
    // is not JSON (the ingress accepts only application/json data) or
    // `event_code` is empty.
    static std::string ingress_body(const Event& event, const Config& config,
                                    const std::string& event_code);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cebus::io_events
