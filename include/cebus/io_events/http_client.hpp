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

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    http::Headers headers;
    std::string body;
    // Overrides HttpClientOptions::request_timeout for this request.
    std::optional<std::chrono::milliseconds> timeout;
};

struct HttpResponse {
    // The HTTP status, or 0 when no complete answer arrived (connection
    // refused or dropped, timeout, TLS failure); `error` then says why.
    int status = 0;
    http::Headers headers;  // names as received; repeated headers kept in order
    std::string body;
    std::string error;

    bool network_error() const noexcept { return status == 0; }
    // The first header called `name` (case-insensitive).
    std::optional<std::string_view> header(std::string_view name) const noexcept;
    // Every header called `name`, in order (for repeated Link headers).
    std::vector<std::string_view> header_values(std::string_view name) const;
};

struct HttpClientOptions {
    bool verify_tls = true;
    std::string ca_file;  // extra CA bundle; empty uses the system's
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds request_timeout{30'000};
    std::size_t max_response_bytes = 8 * 1024 * 1024;
    std::size_t max_idle_handles = 64;
    std::string user_agent = "cebus-io-events";
    LogCallback log;

    // The options a Config asks for.
    static HttpClientOptions from_config(const Config& config, LogCallback log = {});
};

struct HttpClientCounters {
    std::uint64_t requests = 0;
    std::uint64_t network_errors = 0;
    std::uint64_t new_connections = 0;  // TCP connections opened (not reused)
};

class HttpClient {
public:
    explicit HttpClient(HttpClientOptions options = {});
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Sends a request and waits for the whole answer. Thread-safe; blocks up
    // to the request timeout; allocates. Never throws for network or HTTP
    // failures: they are in the response. Throws cebus::Error only when
    // libcurl cannot create a handle.
    HttpResponse send(const HttpRequest& request) const;

    HttpClientCounters counters() const noexcept;
    const HttpClientOptions& options() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cebus::io_events
