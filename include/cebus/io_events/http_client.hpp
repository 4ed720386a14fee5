// A small HTTP client on libcurl for the I/O Events bridge.
//
// The client keeps a pool of libcurl easy handles. A request takes an idle
// handle (or makes one), runs on the calling thread and puts the handle back,
// so its open connection is reused by the next request to the same host
// (HTTP keep-alive). Several threads may send at once: each has its own
// handle and connection, which is how the publisher keeps several requests
// in flight.
//
// TLS peer and host verification is on unless the options turn it off, which
// only tests against a plain-HTTP or self-signed emulator should do; the
// client logs a warning when it is off. Only http and https URLs are
// followed, and redirects are not.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <cebus/http.hpp>
#include <cebus/io_events/config.hpp>

namespace cebus::io_events {

// One request for HttpClient::send().
struct HttpRequest {
    // HTTP method. Every method but GET sends `body`.
    std::string method = "GET";
    // Absolute http:// or https:// URL, query included.
    std::string url;
    // Header fields to send, in this order.
    http::Headers headers;
    // Request body, ignored for GET.
    std::string body;
    // Overrides HttpClientOptions::request_timeout for this request.
    std::optional<std::chrono::milliseconds> timeout;
};

// The response to one request, or the reason none arrived.
struct HttpResponse {
    // The HTTP status, or 0 when no complete answer arrived (connection
    // refused or dropped, timeout, TLS failure); `error` then says why.
    int status = 0;
    http::Headers headers;  // names as received; repeated headers kept in order
    // Response body, at most HttpClientOptions::max_response_bytes.
    std::string body;
    // libcurl's error text or a body-too-large note, empty on success.
    std::string error;

    // True when no complete response arrived (status 0).
    bool network_error() const noexcept { return status == 0; }
    // The first header called `name` (case-insensitive).
    std::optional<std::string_view> header(std::string_view name) const noexcept;
    // Every header called `name`, in order (for repeated Link headers).
    std::vector<std::string_view> header_values(std::string_view name) const;
};

// Settings of an HttpClient, fixed at construction.
struct HttpClientOptions {
    // TLS peer and host name verification. Turn it off only in tests.
    bool verify_tls = true;
    std::string ca_file;  // extra CA bundle; empty uses the system's
    // Limit on opening a connection, TCP and TLS handshake included.
    std::chrono::milliseconds connect_timeout{10'000};
    // Limit on a whole request unless HttpRequest::timeout is set.
    std::chrono::milliseconds request_timeout{30'000};
    // Largest response body accepted. A larger one ends the transfer with
    // status 0 and an error.
    std::size_t max_response_bytes = 8 * 1024 * 1024;
    // Idle handles (and their open connections) kept for reuse. Handles
    // beyond this are closed when a request ends.
    std::size_t max_idle_handles = 64;
    // Value of the User-Agent header.
    std::string user_agent = "cebus-io-events";
    // Receives the warning that TLS verification is off. May be empty.
    LogCallback log;

    // The options a Config asks for.
    static HttpClientOptions from_config(const Config& config, LogCallback log = {});
};

// Counters of an HttpClient since construction.
struct HttpClientCounters {
    // Requests sent, failed ones included.
    std::uint64_t requests = 0;
    // Requests that got no complete answer (status 0).
    std::uint64_t network_errors = 0;
    std::uint64_t new_connections = 0;  // TCP connections opened (not reused)
};

// A pooled, thread-safe HTTP client (see the file comment). Not copyable.
class HttpClient {
public:
    // Initialises libcurl once per process and logs a warning when TLS
    // verification is off. Opens no connection yet.
    explicit HttpClient(HttpClientOptions options = {});
    // Closes the idle handles and their connections. No send() may be
    // running.
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Sends a request and waits for the whole answer. Thread-safe; blocks up
    // to the request timeout; allocates. Never throws for network or HTTP
    // failures: they are in the response. Throws cebus::Error only when
    // libcurl cannot create a handle.
    HttpResponse send(const HttpRequest& request) const;

    // A snapshot of the counters, read lock-free.
    HttpClientCounters counters() const noexcept;
    // The options the client was built with.
    const HttpClientOptions& options() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cebus::io_events
