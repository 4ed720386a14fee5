// The inbound push half of the bridge: an embedded HTTP server (cpp-httplib)
// that receives I/O Events webhook deliveries.
//
//   GET  <path>?challenge=X     200 with {"challenge":"X"} (application/json),
//                               or X as text/plain when challenge_as_json is false
//   POST {"challenge":"X"}      200 with the same JSON (the JSON form)
//   POST {"validationUrl":...}  200; the URL is logged and passed to
//                               on_validation_url (it is never fetched here)
//   POST a delivery             the signature and recipient are verified
//                               (SignatureVerifier), the single event or batch
//                               array is converted and appended to the journal
//                               in one transaction; 200 only after that commit
//                               is durable
//
// Status codes follow Adobe's retry rules: 2xx acknowledges, 5xx and 429 ask for
// redelivery, other 4xx drop the delivery. So a forged or misaddressed
// delivery gets 401, a malformed one 400, a body over max_body_bytes 413,
// and a key that cannot be fetched or a journal that does not acknowledge in
// time gets 503 (Adobe retries it).
//
// The server reads a request for at most read_timeout and handles it within
// Adobe's 10 s delivery timeout by bounding the key fetch (HTTP client
// timeout) and the journal wait (journal_timeout).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <cebus/io_events/config.hpp>
#include <cebus/io_events/http_client.hpp>
#include <cebus/io_events/signature.hpp>
#include <cebus/journal.hpp>

namespace cebus::io_events {

// Settings of a WebhookReceiver, fixed at construction.
struct WebhookReceiverOptions {
    std::string host = "127.0.0.1";  // address to bind; 0.0.0.0 for all
    int port = 0;                    // 0 lets the OS choose
    // URL path that takes challenges and deliveries.
    std::string path = "/webhook";
    // Adobe batches are at most 2 MB; a little headroom for headers.
    std::size_t max_body_bytes = 2'200'000;
    // Maximum time spent reading one request.
    std::chrono::milliseconds read_timeout{5000};
    // Maximum wait for the journal to acknowledge a delivery's events before
    // responding with 503. With the key fetch it must stay under Adobe's 10 s.
    std::chrono::milliseconds journal_timeout{7000};
    // Threads that handle requests, so at most this many run at once.
    std::size_t threads = 8;
    // Challenge response format: JSON (true) or the bare text.
    bool challenge_as_json = true;
    // Called on a request thread with the URL of an asynchronous validation
    // request. May be empty. The receiver never fetches the URL itself.
    std::function<void(const std::string& url)> on_validation_url;
    // Receives rejected deliveries and validation requests. May be empty.
    LogCallback log;
};

// Counters of a WebhookReceiver since construction.
struct WebhookCounters {
    std::uint64_t deliveries = 0;        // POSTs of events
    // New events appended to the journal.
    std::uint64_t events_stored = 0;
    // Events dropped as repeats within a batch or by the journal's
    // de-duplication.
    std::uint64_t duplicates = 0;
    // Challenge requests, GET and POST forms.
    std::uint64_t challenges = 0;
    std::uint64_t rejected = 0;          // 4xx responses (signature, recipient, body)
    std::uint64_t unavailable = 0;       // 503 responses (key fetch, journal)
};

// The running webhook server (see the file comment). Not copyable.
class WebhookReceiver {
public:
    // Binds and starts serving on its own threads. Throws ConfigError for a
    // missing client id or key URL, cebus::Error when the port cannot be bound.
    WebhookReceiver(journal::Journal& journal, Config config, std::shared_ptr<HttpClient> client,
                    WebhookReceiverOptions options = {});
    // Stops as stop() does.
    ~WebhookReceiver();
    WebhookReceiver(const WebhookReceiver&) = delete;
    WebhookReceiver& operator=(const WebhookReceiver&) = delete;

    // Stops serving; blocks until running requests finish. Idempotent.
    void stop();

    // The bound port, chosen by the OS when the options' port is 0.
    int port() const noexcept;
    // http://host:port/path
    std::string url() const;
    // A snapshot of the counters, read lock-free.
    WebhookCounters counters() const noexcept;
    // The verifier, e.g. to add keys a host ships with.
    const SignatureVerifier& verifier() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cebus::io_events
