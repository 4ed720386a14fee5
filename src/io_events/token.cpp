#include <cebus/io_events/token.hpp>

#include <nlohmann/json.hpp>

#include "url.hpp"

namespace cebus::io_events {

ImsTokenSource::ImsTokenSource(const Config& config, std::shared_ptr<HttpClient> client,
                               LogCallback log)
    : config_(config), client_(std::move(client)), log_(std::move(log)) {
    if (config_.client_id.empty()) throw ConfigError("client_id", "is missing");
    if (config_.client_secret.empty()) throw ConfigError("client_secret", "is missing");
    validate_url("endpoints.ims_token_url", config_.endpoints.ims_token_url);
}

std::chrono::seconds ImsTokenSource::refresh_margin(std::chrono::seconds expires_in) noexcept {
    return std::min(expires_in / 10, std::chrono::seconds(300));
}

Secret ImsTokenSource::token() {
    {
        std::lock_guard lock(cache_mutex_);
        if (!cached_.empty() && Clock::now() < refresh_at_) return cached_;
    }

    // One request in flight: late arrivals wait here and then find the
    // token the first caller fetched.
    std::lock_guard fetch(fetch_mutex_);
    {
        std::lock_guard lock(cache_mutex_);
        if (!cached_.empty() && Clock::now() < refresh_at_) return cached_;
        ++counters_.requests;
    }

    std::string scope;
    for (const auto& s : config_.scopes) {
        if (!scope.empty()) scope += ',';
        scope += s;
    }
    HttpRequest request;
    request.method = "POST";
    request.url = config_.endpoints.ims_token_url;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Accept", "application/json"}};
    request.body = "grant_type=client_credentials&client_id=" + detail::form_encode(config_.client_id) +
                   "&client_secret=" + detail::form_encode(config_.client_secret.reveal()) +
                   "&scope=" + detail::form_encode(scope);

    const HttpResponse response = client_->send(request);
    auto fail = [&](const std::string& why) -> TokenError {
        {
            std::lock_guard lock(cache_mutex_);
            ++counters_.failures;
        }
        const std::string message = "IMS token request to " + config_.endpoints.ims_token_url +
                                    " failed: " + why;
        if (log_) log_(LogLevel::error, message);
        return TokenError(response.status, message);
    };

    if (response.network_error()) throw fail(response.error);
    nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
    if (response.status != 200) {
        // Only IMS's error code goes into the message: a body might echo a
        // parameter back.
        std::string code = "no error code";
        if (body.is_object() && body.contains("error") && body["error"].is_string()) {
            code = body["error"].get<std::string>();
        }
        throw fail("HTTP " + std::to_string(response.status) + " (" + code + ")");
    }
    if (!body.is_object() || !body.contains("access_token") || !body["access_token"].is_string() ||
        body["access_token"].get<std::string>().empty()) {
        throw fail("the answer has no access_token");
    }
    std::int64_t expires_in = 86399;
    if (body.contains("expires_in") && body["expires_in"].is_number()) {
        expires_in = body["expires_in"].get<std::int64_t>();
    }
    if (expires_in <= 0) throw fail("expires_in is not positive");

    Secret token(body["access_token"].get<std::string>());
    const std::chrono::seconds lifetime(expires_in);
    {
        std::lock_guard lock(cache_mutex_);
        cached_ = token;
        refresh_at_ = Clock::now() + lifetime - refresh_margin(lifetime);
    }
    if (log_) {
        log_(LogLevel::info, "IMS token obtained for client " + config_.client_id + ", expires in " +
                                 std::to_string(expires_in) + " s");
    }
    return token;
}

void ImsTokenSource::invalidate(const Secret& token) {
    std::lock_guard lock(cache_mutex_);
    // Only the token that was rejected: a newer one fetched meanwhile stays.
    if (cached_ == token) {
        cached_ = Secret();
        ++counters_.invalidations;
    }
}

ImsTokenCounters ImsTokenSource::counters() const {
    std::lock_guard lock(cache_mutex_);
    return counters_;
}

}  // namespace cebus::io_events
