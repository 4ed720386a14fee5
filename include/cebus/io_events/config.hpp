// Configuration of the bridge to Adobe I/O Events.
//
// A Config holds what the Adobe Developer Console project JSON carries (org
// ids, project, workspace, the OAuth server-to-server credential's client id,
// client secret and scopes) plus what the bridge needs on top: the custom
// events provider id, the mapping from local CloudEvents `type` values to
// I/O Events event codes, and every endpoint URL. The defaults name Adobe's
// production hosts; tests and local development override every URL to point
// at the emulator on loopback.
//
// Sources of values, later ones winning:
//   1. the Console project JSON (`{"project": {...}}`), as downloaded;
//   2. a `cebus_io_events` object in the same file (bridge settings, URLs);
//   3. environment variables (apply_environment), so the client secret need
//      not be stored in the file at all.
//
// The client secret is held in a Secret, which has no stream operator and
// no implicit conversion, so it cannot reach a log line by accident.
//
// A Config is a plain value: copy it freely; it is not synchronised.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <cebus/event.hpp>

namespace cebus::io_events {

// A configuration value is missing or breaks a rule. what() names the field
// (as a JSON path or environment variable) and the rule, never the value of a
// secret.
class ConfigError : public Error {
public:
    // Builds the message `invalid I/O Events configuration FIELD: RULE`.
    ConfigError(std::string field, std::string rule);
    // The setting, such as `cebus_io_events.endpoints.ingress_url`.
    const std::string& field() const noexcept { return field_; }
    // The rule it breaks, as a sentence fragment.
    const std::string& rule() const noexcept { return rule_; }

private:
    std::string field_;
    std::string rule_;
};

// A credential (client secret or access token). Reading it takes an explicit
// reveal(); there is no operator<< and no conversion to string.
class Secret {
public:
    // An empty secret.
    Secret() = default;
    // Takes ownership of the credential text.
    explicit Secret(std::string value) : value_(std::move(value)) {}
    // The credential text, for the one place that sends it.
    const std::string& reveal() const noexcept { return value_; }
    // True when no credential is set.
    bool empty() const noexcept { return value_.empty(); }
    // Compares the texts. It is not constant-time, so not for checking a secret
    // that an untrusted party supplies.
    friend bool operator==(const Secret&, const Secret&) = default;

private:
    std::string value_;
};

// Severity of a log record passed to the host's LogCallback.
enum class LogLevel { debug, info, warning, error };

// The level's name in lower case, such as "warning".
std::string_view to_string(LogLevel level) noexcept;

// The host's logging callback. Called from the bridge's threads, possibly
// concurrently, so it must be thread-safe. Messages never contain a client
// secret or an access token. An empty callback discards records.
using LogCallback = std::function<void(LogLevel level, std::string_view message)>;

// Endpoint URLs. Each is absolute (`http://` or `https://`).
struct Endpoints {
    // IMS OAuth token endpoint (client_credentials).
    std::string ims_token_url = "https://ims-na1.adobelogin.com/ims/token/v3";
    // Publishing (ingress) endpoint; events are POSTed to this URL as is.
    std::string ingress_url = "https://eventsingress.adobe.io";
    // Scheme and host that webhook public-key paths are resolved against.
    // Keys are fetched from nowhere else.
    std::string public_key_base_url = "https://static.adobeioevents.com";
    // A registration's journal URL (`_links["rel:events"]` of the
    // registration). Empty when the journal consumer is not used.
    std::string journal_url;
};

// Everything the bridge needs to reach I/O Events. The file comment lists
// where each value comes from.
struct Config {
    // From the Developer Console project JSON.
    std::string consumer_org_id;  // project.org.id
    std::string ims_org_id;       // project.org.ims_org_id, sent as x-ims-org-id
    std::string project_id;       // project.id
    std::string workspace_id;     // project.workspace.id
    std::string credential_id;    // the OAuth server-to-server credential's id
    std::string client_id;        // also the x-api-key and the webhook recipient
    // The credential's client secret and OAuth scopes. The environment
    // variables env_client_secret and env_scopes can supply them instead.
    Secret client_secret;
    std::vector<std::string> scopes;

    // Custom events provider: events go out with source `urn:uuid:<provider_id>`.
    std::string provider_id;
    // Local CloudEvents `type` -> I/O Events event code. An event whose type
    // has no entry is published with its own type as the event code when
    // pass_through_types is true, and skipped otherwise.
    std::map<std::string, std::string> event_codes;
    bool pass_through_types = true;

    // Service URLs. The defaults are Adobe's production hosts.
    Endpoints endpoints;

    // TLS peer and host verification. Only tests may turn this off, and the
    // HTTP client logs a warning each time it creates a connection pool with
    // it off.
    bool verify_tls = true;
    // Extra CA bundle (PEM file) for TLS verification; empty uses the system's.
    std::string ca_file;

    // Limit on opening a connection, TCP and TLS handshake included.
    std::chrono::milliseconds connect_timeout{10'000};
    // Limit on a whole request, connecting included, unless the request sets
    // its own.
    std::chrono::milliseconds request_timeout{30'000};

    // The CloudEvents source the bridge publishes with.
    std::string provider_source() const { return "urn:uuid:" + provider_id; }
    // The event code for a local type, or nullopt when the event is not
    // forwarded (see pass_through_types).
    std::optional<std::string> event_code_for(std::string_view local_type) const;
};

// Names of the environment variables apply_environment reads.
inline constexpr const char* env_client_id = "CEBUS_IO_EVENTS_CLIENT_ID";
inline constexpr const char* env_client_secret = "CEBUS_IO_EVENTS_CLIENT_SECRET";
inline constexpr const char* env_scopes = "CEBUS_IO_EVENTS_SCOPES";  // comma-separated
inline constexpr const char* env_ims_org_id = "CEBUS_IO_EVENTS_IMS_ORG_ID";
inline constexpr const char* env_provider_id = "CEBUS_IO_EVENTS_PROVIDER_ID";
inline constexpr const char* env_ims_token_url = "CEBUS_IO_EVENTS_IMS_TOKEN_URL";
inline constexpr const char* env_ingress_url = "CEBUS_IO_EVENTS_INGRESS_URL";
inline constexpr const char* env_public_key_base_url = "CEBUS_IO_EVENTS_PUBLIC_KEY_BASE_URL";
inline constexpr const char* env_journal_url = "CEBUS_IO_EVENTS_JOURNAL_URL";

// Reads the configuration from a parsed JSON document: the Console project
// JSON under "project" (optional) and bridge settings under
// "cebus_io_events" (optional). Unknown members are ignored, so a newer
// Console download still loads. Throws ConfigError on a member of the wrong
// type or an invalid URL. Thread-safe, allocates.
//
// The "cebus_io_events" object accepts: provider_id, event_codes (object of
// local type -> event code), pass_through_types, verify_tls, ca_file,
// connect_timeout_ms, request_timeout_ms, client_id, client_secret, scopes,
// ims_org_id, and "endpoints" with ims_token_url, ingress_url,
// public_key_base_url and journal_url.
Config parse_config(const nlohmann::json& document);

// Parses JSON text, then parse_config. Throws ParseError for malformed JSON.
Config parse_config_text(std::string_view text);

// Reads and parses a file. Throws ConfigError when it cannot be read.
Config load_config_file(const std::filesystem::path& path);

// Reads environment variables through `lookup` (std::getenv when empty) and
// overrides the matching fields; a variable that is unset or empty changes
// nothing. Throws ConfigError for an invalid URL. Thread-safe when `lookup` is.
using EnvironmentLookup = std::function<std::optional<std::string>(const char* name)>;
void apply_environment(Config& config, const EnvironmentLookup& lookup = {});

// Checks that the fields the publisher and token source need are present and
// every URL is absolute http(s). Throws ConfigError naming the first problem.
// `need_provider` also requires provider_id.
void validate_config(const Config& config, bool need_provider = true);

// Throws ConfigError unless `url` starts with http:// or https:// and has a
// host. `field` names the setting in the message.
void validate_url(std::string_view field, std::string_view url);

}  // namespace cebus::io_events
