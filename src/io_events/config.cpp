// Configuration loading: Developer Console JSON, bridge settings, environment.
#include <cebus/io_events/config.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace cebus::io_events {

namespace {

std::string make_message(const std::string& field, const std::string& rule) {
    return "invalid I/O Events configuration " + field + ": " + rule;
}

const nlohmann::json* member(const nlohmann::json& object, std::string_view name) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(name);
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
}

void read_string(const nlohmann::json& object, std::string_view name, const std::string& path,
                 std::string& out) {
    const nlohmann::json* value = member(object, name);
    if (value == nullptr) return;
    if (!value->is_string()) throw ConfigError(path, "must be a string");
    out = value->get<std::string>();
}

void read_bool(const nlohmann::json& object, std::string_view name, const std::string& path,
               bool& out) {
    const nlohmann::json* value = member(object, name);
    if (value == nullptr) return;
    if (!value->is_boolean()) throw ConfigError(path, "must be true or false");
    out = value->get<bool>();
}

void read_millis(const nlohmann::json& object, std::string_view name, const std::string& path,
                 std::chrono::milliseconds& out) {
    const nlohmann::json* value = member(object, name);
    if (value == nullptr) return;
    if (!value->is_number_integer() || value->get<std::int64_t>() <= 0) {
        throw ConfigError(path, "must be a positive integer (milliseconds)");
    }
    out = std::chrono::milliseconds(value->get<std::int64_t>());
}

std::vector<std::string> read_string_list(const nlohmann::json& value, const std::string& path) {
    std::vector<std::string> out;
    if (value.is_string()) {
        // Comma-separated, the form the IMS `scope` parameter takes.
        std::string item;
        std::istringstream in(value.get<std::string>());
        while (std::getline(in, item, ',')) {
            if (!item.empty()) out.push_back(item);
        }
        return out;
    }
    if (!value.is_array()) throw ConfigError(path, "must be an array of strings");
    for (const auto& item : value) {
        if (!item.is_string()) throw ConfigError(path, "must be an array of strings");
        out.push_back(item.get<std::string>());
    }
    return out;
}

// The Console lists credentials of several kinds; the bridge uses the first
// OAuth server-to-server one.
void read_console_project(const nlohmann::json& project, Config& config) {
    if (!project.is_object()) throw ConfigError("project", "must be an object");
    read_string(project, "id", "project.id", config.project_id);

    if (const nlohmann::json* org = member(project, "org")) {
        read_string(*org, "id", "project.org.id", config.consumer_org_id);
        read_string(*org, "ims_org_id", "project.org.ims_org_id", config.ims_org_id);
    }

    const nlohmann::json* workspace = member(project, "workspace");
    if (workspace == nullptr) return;
    read_string(*workspace, "id", "project.workspace.id", config.workspace_id);

    const nlohmann::json* details = member(*workspace, "details");
    const nlohmann::json* credentials = details ? member(*details, "credentials") : nullptr;
    if (credentials == nullptr) return;
    if (!credentials->is_array()) {
        throw ConfigError("project.workspace.details.credentials", "must be an array");
    }
    for (std::size_t i = 0; i < credentials->size(); ++i) {
        const nlohmann::json& credential = (*credentials)[i];
        const nlohmann::json* oauth = member(credential, "oauth_server_to_server");
        if (oauth == nullptr) continue;

        const std::string path =
            "project.workspace.details.credentials[" + std::to_string(i) + "]";
        read_string(credential, "id", path + ".id", config.credential_id);
        read_string(*oauth, "client_id", path + ".oauth_server_to_server.client_id",
                    config.client_id);

        // Downloads carry "client_secrets" (a list); older ones "client_secret".
        std::string secret;
        read_string(*oauth, "client_secret", path + ".oauth_server_to_server.client_secret",
                    secret);
        if (const nlohmann::json* secrets = member(*oauth, "client_secrets")) {
            auto list = read_string_list(*secrets, path + ".oauth_server_to_server.client_secrets");
            if (!list.empty()) secret = list.front();
        }
        if (!secret.empty()) config.client_secret = Secret(std::move(secret));

        if (const nlohmann::json* scopes = member(*oauth, "scopes")) {
            config.scopes = read_string_list(*scopes, path + ".oauth_server_to_server.scopes");
        }
        return;
    }
}

void read_bridge_settings(const nlohmann::json& bridge, Config& config) {
    const std::string prefix = "cebus_io_events.";
    if (!bridge.is_object()) throw ConfigError("cebus_io_events", "must be an object");

    read_string(bridge, "provider_id", prefix + "provider_id", config.provider_id);
    read_string(bridge, "client_id", prefix + "client_id", config.client_id);
    read_string(bridge, "ims_org_id", prefix + "ims_org_id", config.ims_org_id);
    read_string(bridge, "consumer_org_id", prefix + "consumer_org_id", config.consumer_org_id);
    read_string(bridge, "credential_id", prefix + "credential_id", config.credential_id);
    std::string secret;
    read_string(bridge, "client_secret", prefix + "client_secret", secret);
    if (!secret.empty()) config.client_secret = Secret(std::move(secret));
    if (const nlohmann::json* scopes = member(bridge, "scopes")) {
        config.scopes = read_string_list(*scopes, prefix + "scopes");
    }

    if (const nlohmann::json* codes = member(bridge, "event_codes")) {
        if (!codes->is_object()) {
            throw ConfigError(prefix + "event_codes", "must be an object of type -> event code");
        }
        for (const auto& [type, code] : codes->items()) {
            if (!code.is_string() || code.get<std::string>().empty()) {
                throw ConfigError(prefix + "event_codes." + type, "must be a non-empty string");
            }
            config.event_codes[type] = code.get<std::string>();
        }
    }
    read_bool(bridge, "pass_through_types", prefix + "pass_through_types",
              config.pass_through_types);
    read_bool(bridge, "verify_tls", prefix + "verify_tls", config.verify_tls);
    read_string(bridge, "ca_file", prefix + "ca_file", config.ca_file);
    read_millis(bridge, "connect_timeout_ms", prefix + "connect_timeout_ms",
                config.connect_timeout);
    read_millis(bridge, "request_timeout_ms", prefix + "request_timeout_ms",
                config.request_timeout);

    if (const nlohmann::json* endpoints = member(bridge, "endpoints")) {
        const std::string e = prefix + "endpoints.";
        if (!endpoints->is_object()) throw ConfigError(prefix + "endpoints", "must be an object");
        read_string(*endpoints, "ims_token_url", e + "ims_token_url",
                    config.endpoints.ims_token_url);
        read_string(*endpoints, "ingress_url", e + "ingress_url", config.endpoints.ingress_url);
        read_string(*endpoints, "public_key_base_url", e + "public_key_base_url",
                    config.endpoints.public_key_base_url);
        read_string(*endpoints, "journal_url", e + "journal_url", config.endpoints.journal_url);
    }
}

void validate_endpoints(const Config& config) {
    validate_url("endpoints.ims_token_url", config.endpoints.ims_token_url);
    validate_url("endpoints.ingress_url", config.endpoints.ingress_url);
    validate_url("endpoints.public_key_base_url", config.endpoints.public_key_base_url);
    if (!config.endpoints.journal_url.empty()) {
        validate_url("endpoints.journal_url", config.endpoints.journal_url);
    }
}

}  // namespace

ConfigError::ConfigError(std::string field, std::string rule)
    : Error(make_message(field, rule)), field_(std::move(field)), rule_(std::move(rule)) {}

std::string_view to_string(LogLevel level) noexcept {
    switch (level) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warning: return "warning";
        case LogLevel::error: return "error";
    }
    return "unknown";
}

std::optional<std::string> Config::event_code_for(std::string_view local_type) const {
    auto it = event_codes.find(std::string(local_type));
    if (it != event_codes.end()) return it->second;
    if (pass_through_types) return std::string(local_type);
    return std::nullopt;
}

void validate_url(std::string_view field, std::string_view url) {
    std::string_view rest;
    if (url.starts_with("https://")) {
        rest = url.substr(8);
    } else if (url.starts_with("http://")) {
        rest = url.substr(7);
    } else {
        throw ConfigError(std::string(field),
                          "\"" + std::string(url) + "\" is not an absolute http:// or https:// URL");
    }
    if (rest.empty() || rest.front() == '/' || rest.front() == ':') {
        throw ConfigError(std::string(field), "\"" + std::string(url) + "\" has no host");
    }
    for (char c : url) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            throw ConfigError(std::string(field),
                              "\"" + std::string(url) + "\" contains a space or control character");
        }
    }
}

Config parse_config(const nlohmann::json& document) {
    if (!document.is_object()) throw ConfigError("(document)", "must be a JSON object");
    Config config;
    if (const nlohmann::json* project = member(document, "project")) {
        read_console_project(*project, config);
    }
    if (const nlohmann::json* bridge = member(document, "cebus_io_events")) {
        read_bridge_settings(*bridge, config);
    }
    validate_endpoints(config);
    return config;
}

Config parse_config_text(std::string_view text) {
    nlohmann::json document;
    try {
        document = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw ParseError(e.byte, "invalid JSON in I/O Events configuration");
    }
    return parse_config(document);
}

Config load_config_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path.string(), "cannot be opened for reading");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError(path.string(), "read failed");
    return parse_config_text(text.str());
}

void apply_environment(Config& config, const EnvironmentLookup& lookup) {
    auto get = [&](const char* name) -> std::optional<std::string> {
        std::optional<std::string> value;
        if (lookup) {
            value = lookup(name);
        } else if (const char* raw = std::getenv(name)) {
            value = std::string(raw);
        }
        if (value && value->empty()) value.reset();
        return value;
    };

    if (auto v = get(env_client_id)) config.client_id = *v;
    if (auto v = get(env_client_secret)) config.client_secret = Secret(std::move(*v));
    if (auto v = get(env_scopes)) config.scopes = read_string_list(nlohmann::json(*v), env_scopes);
    if (auto v = get(env_ims_org_id)) config.ims_org_id = *v;
    if (auto v = get(env_provider_id)) config.provider_id = *v;
    if (auto v = get(env_ims_token_url)) {
        validate_url(env_ims_token_url, *v);
        config.endpoints.ims_token_url = *v;
    }
    if (auto v = get(env_ingress_url)) {
        validate_url(env_ingress_url, *v);
        config.endpoints.ingress_url = *v;
    }
    if (auto v = get(env_public_key_base_url)) {
        validate_url(env_public_key_base_url, *v);
        config.endpoints.public_key_base_url = *v;
    }
    if (auto v = get(env_journal_url)) {
        validate_url(env_journal_url, *v);
        config.endpoints.journal_url = *v;
    }
}

void validate_config(const Config& config, bool need_provider) {
    if (config.client_id.empty()) {
        throw ConfigError("client_id", std::string("is missing: set it in the Console JSON or ") +
                                           env_client_id);
    }
    if (config.client_secret.empty()) {
        throw ConfigError("client_secret",
                          std::string("is missing: set it in the Console JSON or ") +
                              env_client_secret);
    }
    if (need_provider && config.provider_id.empty()) {
        throw ConfigError("provider_id", std::string("is missing: set cebus_io_events.provider_id or ") +
                                             env_provider_id);
    }
    validate_endpoints(config);
}

}  // namespace cebus::io_events
