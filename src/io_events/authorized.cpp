#include "authorized.hpp"

#include <exception>
#include <utility>

namespace cebus::io_events::detail {

void add_api_headers(http::Headers& headers, const Config& config) {
    headers.emplace_back("x-api-key", config.client_id);
    if (!config.ims_org_id.empty()) headers.emplace_back("x-ims-org-id", config.ims_org_id);
}

AuthorizedResponse send_authorized(const HttpClient& client, TokenSource& tokens, HttpRequest request,
                                   const std::function<bool()>& before_send) {
    AuthorizedResponse out;
    // The Authorization header goes last, so each attempt overwrites it.
    request.headers.emplace_back("Authorization", std::string());
    for (;;) {
        if (before_send && !before_send()) {
            out.cancelled = true;
            return out;
        }
        Secret token;
        try {
            token = tokens.token();
        } catch (const std::exception& e) {
            out.token_error = e.what();
            return out;
        }
        request.headers.back().second = "Bearer " + token.reveal();
        ++out.requests;
        out.response = client.send(request);
        if (out.response.status != 401) return out;
        ++out.unauthorized;
        tokens.invalidate(token);
        if (out.unauthorized > 1) return out;
    }
}

}  // namespace cebus::io_events::detail
