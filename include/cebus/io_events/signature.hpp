// Verification of I/O Events webhook deliveries.
//
// Adobe signs the raw request body with RSA-SHA256 (PKCS#1 v1.5) using two
// key pairs and sends the Base64 signatures in x-adobe-digital-signature-1
// and -2, with the public keys' paths in x-adobe-public-key1-path and
// x-adobe-public-key2-path. A delivery is authentic when either signature
// verifies. The verifier:
//   - checks the recipient first: every event (the object, or each element
//     of a batch array) must carry recipientclientid, or the older
//     recipient_client_id, equal to the configured client id;
//   - builds each key URL from the configured key base URL and the header's
//     path, and rejects a path that could name another host (a full URL,
//     "//host", "@", "..", a backslash, a query or control characters);
//   - caches each fetched key for at most key_cache_ttl (24 h by default) and
//     never uses a key older than that: it is fetched again, and if that
//     fails, verification fails;
//   - verifies the raw bytes, never a re-serialised parse.
//
// verify() is thread-safe; it blocks on a key fetch at most once per path
// and TTL.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <cebus/http.hpp>
#include <cebus/io_events/config.hpp>
#include <cebus/io_events/http_client.hpp>

namespace cebus::io_events {

// The outcome of a verification: `ok` or the first check that failed.
enum class VerifyStatus {
    ok,
    missing_header,   // a signature or key path header is absent
    invalid_key_path, // a key path that is not a plain path on the key host
    key_unavailable,  // the key could not be fetched or parsed (may be transient)
    bad_signature,    // neither signature verifies over the body
    wrong_recipient,  // recipientclientid missing or not our client id
    invalid_body,     // not a JSON object or array of objects
};

// A short lower-case phrase for logs, such as "bad signature".
std::string_view to_string(VerifyStatus status) noexcept;

// The outcome of SignatureVerifier::verify() with a reason to log.
struct VerifyResult {
    // `ok`, or the first check that failed.
    VerifyStatus status = VerifyStatus::ok;
    std::string detail;  // human-readable reason; never contains a secret
    // True when the delivery is authentic and addressed to this client.
    bool ok() const noexcept { return status == VerifyStatus::ok; }
};

// Settings of a SignatureVerifier, fixed at construction.
struct SignatureVerifierOptions {
    std::string client_id;            // the expected recipient
    std::string public_key_base_url;  // e.g. https://static.adobeioevents.com
    // Maximum time a fetched key is used before it is fetched again.
    std::chrono::seconds key_cache_ttl{24 * 3600};
    // Clock for the cache, replaceable in tests.
    std::function<std::chrono::steady_clock::time_point()> clock;

    // Takes the client id and the key base URL from `config`. The other
    // fields keep their defaults.
    static SignatureVerifierOptions from_config(const Config& config);
};

// Verifies webhook deliveries as the file comment describes, with a cache of
// public keys.
class SignatureVerifier {
public:
    // Throws ConfigError for an invalid key base URL or an empty client id.
    SignatureVerifier(SignatureVerifierOptions options, std::shared_ptr<HttpClient> client);
    // Drops the key cache. No verify() may be running.
    ~SignatureVerifier();

    // Verifies one delivery: headers as received (names case-insensitive)
    // and the raw body bytes. Thread-safe; may block on a key fetch.
    VerifyResult verify(const http::Headers& headers, std::string_view body) const;

    // Checks the recipient client id of a parsed body only.
    VerifyResult check_recipient(std::string_view body) const;

    // Adds a key to the cache as if fetched now from `path` (for keys a host
    // ships with, and tests of recorded deliveries). Throws cebus::Error when
    // `pem` is not an RSA public key.
    void add_key(const std::string& path, std::string_view pem) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cebus::io_events
