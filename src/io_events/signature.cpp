#include <cebus/io_events/signature.hpp>

#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "crypto.hpp"
#include "url.hpp"

namespace cebus::io_events {

namespace {

bool safe_key_path(std::string_view path) {
    if (path.empty() || path.front() != '/' || path.starts_with("//")) return false;
    if (path.size() > 512) return false;
    if (path.find("..") != std::string_view::npos || path.find("://") != std::string_view::npos) {
        return false;
    }
    for (char c : path) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '@' || c == '\\' || c == '?' || c == '#' || c == '%') {
            return false;
        }
    }
    return true;
}

VerifyResult recipient_of(const nlohmann::json& event, const std::string& client_id,
                          const std::string& where) {
    if (!event.is_object()) return {VerifyStatus::invalid_body, where + " is not a JSON object"};
    // The current name first, then the deprecated one.
    for (const char* name : {"recipientclientid", "recipient_client_id"}) {
        auto it = event.find(name);
        if (it == event.end()) continue;
        if (!it->is_string() || it->get<std::string>() != client_id) {
            return {VerifyStatus::wrong_recipient,
                    where + " is addressed to another client id (" + name + ")"};
        }
        return {};
    }
    return {VerifyStatus::wrong_recipient, where + " has no recipientclientid"};
}

}  // namespace

std::string_view to_string(VerifyStatus status) noexcept {
    switch (status) {
        case VerifyStatus::ok: return "ok";
        case VerifyStatus::missing_header: return "missing header";
        case VerifyStatus::invalid_key_path: return "invalid key path";
        case VerifyStatus::key_unavailable: return "key unavailable";
        case VerifyStatus::bad_signature: return "bad signature";
        case VerifyStatus::wrong_recipient: return "wrong recipient";
        case VerifyStatus::invalid_body: return "invalid body";
    }
    return "unknown";
}

SignatureVerifierOptions SignatureVerifierOptions::from_config(const Config& config) {
    SignatureVerifierOptions o;
    o.client_id = config.client_id;
    o.public_key_base_url = config.endpoints.public_key_base_url;
    return o;
}

struct SignatureVerifier::Impl {
    SignatureVerifierOptions options;
    std::shared_ptr<HttpClient> client;
    std::string base;  // key base URL without a trailing slash

    struct CachedKey {
        std::shared_ptr<EVP_PKEY> key;
        std::chrono::steady_clock::time_point fetched;
    };
    mutable std::mutex mutex;
    mutable std::map<std::string, CachedKey> cache;
    mutable std::map<std::string, std::shared_ptr<std::mutex>> fetch_locks;

    std::chrono::steady_clock::time_point now() const {
        return options.clock ? options.clock() : std::chrono::steady_clock::now();
    }

    // The key for `path`, from the cache while it is younger than the TTL,
    // otherwise fetched again. Null with `error` set on failure.
    std::shared_ptr<EVP_PKEY> key_for(const std::string& path, std::string& error) const {
        std::shared_ptr<std::mutex> path_lock;
        {
            std::lock_guard lock(mutex);
            auto it = cache.find(path);
            if (it != cache.end() && now() - it->second.fetched < options.key_cache_ttl) {
                return it->second.key;
            }
            auto& slot = fetch_locks[path];
            if (!slot) slot = std::make_shared<std::mutex>();
            path_lock = slot;
        }
        // One fetch per path at a time; others wait and use its result.
        std::lock_guard fetch(*path_lock);
        // Drops the per-path lock once nobody waits on it, so key paths
        // that senders make up cannot grow the map without bound.
        struct ReleaseFetchLock {
            const Impl& impl;
            const std::string& path;
            ~ReleaseFetchLock() {
                std::lock_guard lock(impl.mutex);
                auto it = impl.fetch_locks.find(path);
                // One reference is the map's and one is key_for's own.
                if (it != impl.fetch_locks.end() && it->second.use_count() <= 2) impl.fetch_locks.erase(it);
            }
        } release_fetch_lock{*this, path};
        {
            std::lock_guard lock(mutex);
            auto it = cache.find(path);
            if (it != cache.end() && now() - it->second.fetched < options.key_cache_ttl) {
                return it->second.key;
            }
            if (it != cache.end()) cache.erase(it);  // expired: never used again
        }

        HttpRequest request;
        request.url = base + path;
        request.headers = {{"Accept", "application/x-pem-file, */*"}};
        const HttpResponse response = client->send(request);
        if (response.status != 200) {
            error = "fetching public key " + request.url + " failed: " +
                    (response.network_error() ? response.error : "HTTP " + std::to_string(response.status));
            return nullptr;
        }
        detail::PkeyPtr parsed = detail::parse_public_key_pem(response.body);
        if (!parsed) {
            error = "public key " + request.url + " is not an RSA public key in PEM";
            return nullptr;
        }
        std::shared_ptr<EVP_PKEY> key(parsed.release(), detail::PkeyDeleter());
        std::lock_guard lock(mutex);
        // I/O Events signs with two keys at a time; the cap only stops a
        // stream of distinct valid key paths from growing the cache.
        constexpr std::size_t max_cached_keys = 16;
        if (cache.size() >= max_cached_keys && !cache.count(path)) {
            auto oldest = cache.begin();
            for (auto it = cache.begin(); it != cache.end(); ++it) {
                if (it->second.fetched < oldest->second.fetched) oldest = it;
            }
            cache.erase(oldest);
        }
        cache[path] = {key, now()};
        return key;
    }
};

SignatureVerifier::SignatureVerifier(SignatureVerifierOptions options, std::shared_ptr<HttpClient> client)
    : impl_(std::make_unique<Impl>()) {
    if (options.client_id.empty()) throw ConfigError("client_id", "is missing: the webhook recipient check needs it");
    validate_url("endpoints.public_key_base_url", options.public_key_base_url);
    impl_->base = options.public_key_base_url;
    while (!impl_->base.empty() && impl_->base.back() == '/') impl_->base.pop_back();
    impl_->options = std::move(options);
    impl_->client = std::move(client);
}

SignatureVerifier::~SignatureVerifier() = default;

void SignatureVerifier::add_key(const std::string& path, std::string_view pem) const {
    detail::PkeyPtr parsed = detail::parse_public_key_pem(pem);
    if (!parsed) throw Error("key for " + path + " is not an RSA public key in PEM");
    std::lock_guard lock(impl_->mutex);
    impl_->cache[path] = {std::shared_ptr<EVP_PKEY>(parsed.release(), detail::PkeyDeleter()), impl_->now()};
}

VerifyResult SignatureVerifier::check_recipient(std::string_view body) const {
    const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_discarded()) return {VerifyStatus::invalid_body, "body is not valid JSON"};
    if (parsed.is_array()) {
        if (parsed.empty()) return {VerifyStatus::invalid_body, "batch body is an empty array"};
        for (std::size_t i = 0; i < parsed.size(); ++i) {
            VerifyResult r = recipient_of(parsed[i], impl_->options.client_id,
                                          "event " + std::to_string(i) + " of the batch");
            if (!r.ok()) return r;
        }
        return {};
    }
    return recipient_of(parsed, impl_->options.client_id, "the event");
}

VerifyResult SignatureVerifier::verify(const http::Headers& headers, std::string_view body) const {
    VerifyResult recipient = check_recipient(body);
    if (!recipient.ok()) return recipient;

    const char* names[2][2] = {{"x-adobe-digital-signature-1", "x-adobe-public-key1-path"},
                               {"x-adobe-digital-signature-2", "x-adobe-public-key2-path"}};
    std::string_view signatures[2];
    std::string_view paths[2];
    for (int i = 0; i < 2; ++i) {
        auto signature = http::find_header(headers, names[i][0]);
        auto path = http::find_header(headers, names[i][1]);
        if (!signature || signature->empty()) {
            return {VerifyStatus::missing_header, std::string("missing header ") + names[i][0]};
        }
        if (!path || path->empty()) return {VerifyStatus::missing_header, std::string("missing header ") + names[i][1]};
        if (!safe_key_path(*path)) {
            return {VerifyStatus::invalid_key_path,
                    std::string(names[i][1]) + " \"" + std::string(path->substr(0, 200)) +
                        "\" is not a plain path on the configured key host"};
        }
        signatures[i] = *signature;
        paths[i] = *path;
    }

    std::string errors;
    bool any_key = false;
    for (int i = 0; i < 2; ++i) {
        std::string error;
        auto key = impl_->key_for(std::string(paths[i]), error);
        if (!key) {
            if (!errors.empty()) errors += "; ";
            errors += error;
            continue;
        }
        any_key = true;
        if (detail::verify_rsa_sha256_base64(key.get(), body, signatures[i])) return {};
    }
    if (!any_key) return {VerifyStatus::key_unavailable, errors};
    return {VerifyStatus::bad_signature, "neither signature verifies over the body"};
}

}  // namespace cebus::io_events
