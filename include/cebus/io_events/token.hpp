// Access tokens for the I/O Events APIs.
//
// TokenSource is the interface the publisher and the journal consumer ask
// for a bearer token; a host may plug in its own (for example one that shares
// tokens between processes). ImsTokenSource implements OAuth server-to-server:
// it POSTs grant_type=client_credentials with the client id, client secret
// and scopes to the IMS token endpoint, caches the token until shortly before
// `expires_in` (seconds) runs out, and lets only one request be in flight:
// callers that arrive during a refresh wait for its result. After the API
// answers 401, callers pass the rejected token to invalidate(), and the next
// token() fetches a fresh one (once, however many callers saw the 401).
//
// No token or secret is ever written to a log, an error message or a counter.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <cebus/io_events/config.hpp>
#include <cebus/io_events/http_client.hpp>

namespace cebus::io_events {

// A token could not be obtained. status() is the IMS HTTP status (0 for a
// network error); what() names the endpoint, the status and the IMS error
// code, never the secret or a token.
class TokenError : public Error {
public:
    // Takes the message as what() returns it, which must not contain a secret.
    TokenError(int status, const std::string& message) : Error(message), status_(status) {}
    // The IMS HTTP status, or 0 for a network error.
    int status() const noexcept { return status_; }

private:
    int status_;
};

// The source of bearer tokens for the bridge (see the file comment).
class TokenSource {
public:
    virtual ~TokenSource() = default;
    // Returns a valid access token. Thread-safe; may block on a network
    // request. Throws TokenError.
    virtual Secret token() = 0;
    // Reports that the API rejected `token` (HTTP 401). Thread-safe, never
    // blocks on the network.
    virtual void invalidate(const Secret& token) = 0;
};

// A fixed token, for hosts that manage tokens themselves.
class StaticTokenSource : public TokenSource {
public:
    // token() always returns `token`, and invalidate() does nothing.
    explicit StaticTokenSource(Secret token) : token_(std::move(token)) {}
    Secret token() override { return token_; }
    void invalidate(const Secret&) override {}

private:
    Secret token_;
};

// Counters of an ImsTokenSource since construction.
struct ImsTokenCounters {
    std::uint64_t requests = 0;   // token requests sent to IMS
    std::uint64_t failures = 0;   // of which failed
    // invalidate() calls that dropped the cached token.
    std::uint64_t invalidations = 0;
};

// A TokenSource that fetches OAuth server-to-server tokens from IMS and
// caches them (see the file comment).
class ImsTokenSource : public TokenSource {
public:
    // The clock that times token expiry, immune to wall-clock changes.
    using Clock = std::chrono::steady_clock;

    // `config` supplies client id, secret, scopes and endpoints.ims_token_url.
    // Throws ConfigError when client id or secret is missing.
    ImsTokenSource(const Config& config, std::shared_ptr<HttpClient> client, LogCallback log = {});

    // The cached token, or a fresh one when it is missing, invalidated or
    // within the refresh margin of expiring. Blocks while another thread
    // refreshes. Throws TokenError.
    Secret token() override;
    // Drops the cached token when it is `token`, so the next token() fetches
    // a fresh one. A newer token fetched meanwhile stays. Thread-safe, and never
    // blocks on the network.
    void invalidate(const Secret& token) override;

    // A token is refreshed this long before it expires: a tenth of
    // expires_in, at most 5 minutes.
    static std::chrono::seconds refresh_margin(std::chrono::seconds expires_in) noexcept;

    // A copy of the counters. Thread-safe.
    ImsTokenCounters counters() const;

private:
    Config config_;
    std::shared_ptr<HttpClient> client_;
    LogCallback log_;

    std::mutex fetch_mutex_;  // held while a request to IMS is in flight
    mutable std::mutex cache_mutex_;
    Secret cached_;
    Clock::time_point refresh_at_{};
    ImsTokenCounters counters_;
};

}  // namespace cebus::io_events
