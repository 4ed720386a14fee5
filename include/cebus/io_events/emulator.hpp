// An emulator of the Adobe I/O Events endpoints, for tests and local
// development. It serves, on one loopback port and under the real paths:
//
//   POST /                     publishing (ingress): one structured CloudEvent,
//                              200 when a registration takes its event code,
//                              204 when none does, 400 for a body that is not
//                              a CloudEvent, 401 for a missing or unknown
//                              token, 403 for a missing or wrong x-api-key,
//                              429 with Retry-After above the rate limit.
//   POST /ims/token/v3         OAuth client_credentials: 200 with
//                              access_token, token_type and expires_in; 400
//                              for a missing parameter or another grant type;
//                              401 for a wrong client id or secret.
//   GET  <journal path>        the registration's journal: since, limit,
//                              latest; 200 with events, _page and
//                              Link rel="next"; 204 with retry-after and
//                              Link rel="next" and rel="validate" at the end;
//                              410 for an expired position; 400 for a
//                              position it never issued.
//   GET  <journal path>/validate  200 for a live position, 400 for a purged one.
//   GET  /prod/keys/pub-key-<uuid>.pem   the two public keys (PEM).
//
// It also delivers events to a webhook URL the way Adobe does: POST with the
// x-adobe-* headers and real RSA-SHA256 signatures from two RSA-2048 key
// pairs it generates at construction, and sends the challenge GET.
//
// Fault injection covers each route: 429 with Retry-After, 5xx, slow answers,
// dropped connections (the response is cut off after its headers), expired
// journal positions and bad signatures. Everything the emulator receives is
// recorded for tests to inspect.
//
// The emulator binds only to a loopback address. Every public member function
// is thread-safe; the HTTP handlers run on the emulator's own thread pool.
// The emulator is not a model of Adobe's internal behaviour beyond the
// documented status codes and headers: where the documentation is silent
// (status of a wrong api key, the 400 for an unknown position) it picks the
// answer named above.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <cebus/io_events/config.hpp>

namespace cebus::io_events {

// The routes faults can be injected into.
enum class EmulatorRoute { ingress, token, journal, public_key };

// One injected fault. A status fault answers with that status (and
// Retry-After when set) instead of handling the request. A drop cuts the
// connection after the response headers; on the ingress, `accept_first`
// records the event before dropping, so the client cannot tell whether it
// arrived. A delay sleeps, then handles the request normally.
struct EmulatorFault {
    // The three kinds of fault described above.
    enum class Kind { status, drop, delay };
    // Which kind this fault is.
    Kind kind = Kind::status;
    // HTTP status that a `status` fault responds with.
    int status = 500;
    std::string retry_after;  // header value, empty for none
    // Sleep of a `delay` fault before the request is handled.
    std::chrono::milliseconds delay{0};
    // For a `drop` on the ingress: record the event as accepted first.
    bool accept_first = false;

    // A 429 answer with the given Retry-After value, in seconds.
    static EmulatorFault throttle(std::string retry_after = "1") {
        return {Kind::status, 429, std::move(retry_after), {}, false};
    }
    // An answer with `status` and no Retry-After.
    static EmulatorFault server_error(int status = 500) { return {Kind::status, status, {}, {}, false}; }
    // A connection cut after the response headers.
    static EmulatorFault drop(bool accept_first = false) {
        return {Kind::drop, 0, {}, {}, accept_first};
    }
    // A sleep of `delay`, then normal handling.
    static EmulatorFault slow(std::chrono::milliseconds delay) {
        return {Kind::delay, 0, {}, delay, false};
    }
};

// Random faults on a route: each request draws once, in this order.
struct EmulatorFaultRates {
    double throttle = 0;      // probability of 429
    double server_error = 0;  // probability of 500/502/503 (chosen at random)
    double drop = 0;          // probability of a dropped connection (half after accepting)
    double slow = 0;          // probability of a delay
    // Retry-After value of a random 429, in seconds.
    std::string retry_after = "0";
    // Sleep of a random slow answer.
    std::chrono::milliseconds slow_delay{200};
};

// Settings of an Emulator, fixed at construction.
struct EmulatorOptions {
    // Loopback address to bind; 0 lets the OS choose the port.
    std::string host = "127.0.0.1";
    int port = 0;

    // Credentials the token endpoint accepts; empty accepts any.
    std::string client_id;
    std::string client_secret;
    int token_expires_in = 86399;  // seconds, as IMS answers

    // When set, ingress rejects events whose source is not urn:uuid:<id>.
    std::string provider_id;
    // Event codes that have a registration (200 and journaled); others get
    // 204. When `all_codes_registered` is true every code has one.
    std::set<std::string> registered_event_codes;
    bool all_codes_registered = true;

    // The journal path's ids.
    std::string consumer_org_id = "emulator-org";
    std::string credential_id = "emulator-credential";
    std::string registration_id = "emulator-registration";
    // Value of retry-after on 204 journal answers, in seconds.
    int journal_retry_after = 10;
    // Events per journal page when the request has no limit.
    std::size_t journal_default_limit = 100;

    // Ingress rate limit per api key, as Adobe documents it: 3,000 requests
    // per 5 s. 0 turns the limit off.
    std::size_t rate_limit_requests = 3000;
    std::chrono::milliseconds rate_limit_window{5000};
    // Retry-After value sent with a rate-limit 429, in seconds.
    std::string rate_limit_retry_after = "1";

    // Largest request body accepted. A larger one gets 413.
    std::size_t max_body_bytes = 4 * 1024 * 1024;
    // Threads that serve requests. Each open keep-alive connection occupies
    // one, so this bounds the concurrent connections.
    std::size_t worker_threads = 64;
    // Seed of the generator behind random faults and their choices, so a run
    // with the same requests draws the same faults.
    std::uint64_t random_seed = 1;

    // Optional log of requests and faults (never secrets).
    LogCallback log;
};

// One request the ingress received, whatever it answered.
struct IngressRecord {
    std::string event_id;  // `id` of the CloudEvent, empty if unparsable
    // `source` and `type` of the CloudEvent, empty if unparsable.
    std::string source;
    std::string type;
    // The request body as received.
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
    int status = 0;                              // 0 for a dropped connection
    bool accepted = false;                       // stored (200 or 204)
};

// Counters per route.
struct EmulatorStats {
    // Requests to the ingress, whatever the answer.
    std::size_t ingress_requests = 0;
    std::size_t ingress_accepted = 0;    // 200 or 204, duplicates included
    // Distinct CloudEvents ids accepted.
    std::size_t ingress_distinct_ids = 0;
    std::size_t ingress_duplicates = 0;  // accepted again with an id already seen
    // Requests to the token endpoint, whatever the answer.
    std::size_t token_requests = 0;
    // Access tokens handed out (200 answers).
    std::size_t tokens_issued = 0;
    // Requests to the journal path, `/validate` excluded.
    std::size_t journal_requests = 0;
    // Requests for a public key.
    std::size_t key_requests = 0;
    // Faults applied, queued and random, over all routes.
    std::size_t faults_injected = 0;
};

// How a webhook delivery is signed.
enum class SignatureMode {
    valid,        // both signatures from the published keys
    second_only,  // signature 1 is garbage, signature 2 is valid
    wrong_key,    // both signed with a key that is not published
    corrupt,      // valid signatures over other bytes
    missing,      // no signature headers at all
};

// Settings of one Emulator::deliver() call.
struct DeliveryOptions {
    // Which signatures the delivery carries.
    SignatureMode signature = SignatureMode::valid;
    // Overrides the key path headers (for a path on another host).
    std::optional<std::string> key1_path;
    std::optional<std::string> key2_path;
    int retry_count = 0;  // x-adobe-retry-count, omitted when 0
    std::chrono::milliseconds timeout{10'000};  // Adobe's delivery timeout
};

// The webhook's response to Emulator::deliver().
struct DeliveryResult {
    int status = 0;  // 0 when no HTTP answer came
    // The answer's body.
    std::string body;
    // The reason no response came (a bad URL, a connection or timeout
    // error), empty when one did.
    std::string error;
};

// The running emulator: an HTTP server on a loopback port, see the file
// comment. Not copyable or movable.
class Emulator {
public:
    // Generates the keys and binds the port; the server runs until stop() or
    // destruction. Throws cebus::Error when the address cannot be bound or is
    // not loopback.
    explicit Emulator(EmulatorOptions options = {});
    // Stops the server as stop() does.
    ~Emulator();
    Emulator(const Emulator&) = delete;
    Emulator& operator=(const Emulator&) = delete;

    // Stops serving and joins the server thread. Idempotent.
    void stop();

    // The bound port, chosen by the OS when EmulatorOptions::port is 0.
    int port() const noexcept;
    // "http://127.0.0.1:<port>"
    std::string base_url() const;
    std::string ingress_url() const;      // base_url() + "/"
    std::string ims_token_url() const;    // base_url() + "/ims/token/v3"
    std::string journal_url() const;      // base_url() + the journal path
    // `/events/organizations/<org>/integrations/<credential>/<registration>`
    // from the ids in EmulatorOptions.
    std::string journal_path() const;
    // The base that key paths resolve against: base_url().
    std::string public_key_base_url() const { return base_url(); }
    // A Config whose every URL points at this emulator and whose credentials
    // the emulator accepts.
    Config client_config() const;
    // The same for an emulator that runs elsewhere (another process, such as
    // `cebus io-events emulator`) at `base_url` ("http://127.0.0.1:8089")
    // with `options`. Allocates; does not contact it.
    static Config client_config_at(const std::string& base_url, const EmulatorOptions& options = {});

    // Faults. Queued faults are consumed first, one per request, in order.
    void inject(EmulatorRoute route, EmulatorFault fault, std::size_t count = 1);
    void set_fault_rates(EmulatorRoute route, EmulatorFaultRates rates);
    void clear_faults();

    // Tokens: revoke every token issued so far (their next use gets 401).
    void revoke_tokens();
    // Journal: positions at or before the current end expire (410 from then on).
    void expire_journal();
    // Appends an event (the JSON the journal returns under "event") directly.
    // Returns its position.
    std::string append_journal_event(nlohmann::json event);
    // Events ever appended to the journal, expired ones included.
    std::size_t journal_size() const;

    // Keys: the paths served and a signature with key 1 or 2 (Base64).
    std::string public_key_path(int which) const;
    std::string public_key_pem(int which) const;
    std::string sign(std::string_view body, int which) const;
    // Replaces both key pairs; old paths then answer 404.
    void rotate_keys();

    // Webhook delivery: POSTs `body` to `url` with Adobe's headers. Blocks.
    DeliveryResult deliver(const std::string& url, const std::string& body,
                           const DeliveryOptions& options = {}) const;
    // Sends GET url?challenge=<uuid> and returns true when the answer is 200
    // and carries the challenge as text or as {"challenge": ...}.
    bool challenge(const std::string& url, std::string* received_body = nullptr) const;
    // The body Adobe would deliver for `event`: the CloudEvent plus eventid,
    // event_id, recipientclientid and recipient_client_id.
    static nlohmann::json delivery_event(nlohmann::json event, const std::string& recipient_client_id);

    // Inspection.
    std::vector<IngressRecord> ingress_records() const;
    // Accepted events by CloudEvents id: how often each was accepted and the
    // bodies (all bodies of one id, to check duplicates are identical).
    std::map<std::string, std::vector<std::string>> accepted_events() const;
    // Every access token issued, in order, revoked ones included.
    std::vector<std::string> issued_tokens() const;
    // Bodies of the token requests, in order. They contain client secrets:
    // for tests only.
    std::vector<std::string> token_request_bodies() const;
    // A copy of the counters.
    EmulatorStats stats() const;
    // Forgets ingress records, accepted events and token request bodies, and
    // zeroes the counters. Issued tokens and the journal stay.
    void clear_records();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cebus::io_events
