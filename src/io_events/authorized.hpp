// Internal: the request plumbing the publisher and the journal consumer share.
// Both send requests with a bearer token and the api key, and both handle a
// 401 the same way: drop the token and send once more with a fresh one.
#pragma once

#include <functional>
#include <string>

#include <cebus/io_events/config.hpp>
#include <cebus/io_events/http_client.hpp>
#include <cebus/io_events/token.hpp>

namespace cebus::io_events::detail {

// The outcome of send_authorized().
struct AuthorizedResponse {
    // The last response; status 0 with an empty error when nothing was sent.
    HttpResponse response;
    // Why no token could be had (TokenError::what(), never a secret); empty
    // when every attempt got one. No request is sent without a token.
    std::string token_error;
    int requests = 0;      // requests sent: 0, 1 or 2
    int unauthorized = 0;  // 401 responses among them
    // True when `before_send` returned false; nothing more was sent.
    bool cancelled = false;
};

// Adds `x-api-key` (the client id) and, when set, `x-ims-org-id` to
// `headers`.
void add_api_headers(http::Headers& headers, const Config& config);

// Sends `request` with `Authorization: Bearer <token>` appended to its
// headers. After a 401 the token is invalidated and the request sent once
// more with a fresh token; a second 401 is returned as it is. `before_send`
// (may be empty) runs before each send, e.g. to wait for a rate limiter, and
// returning false cancels. Blocks for the requests; thread-safe as the client
// and token source are. HTTP failures and TokenError end up in the result;
// only what HttpClient::send throws (no curl handle) propagates.
AuthorizedResponse send_authorized(const HttpClient& client, TokenSource& tokens, HttpRequest request,
                                   const std::function<bool()>& before_send = {});

}  // namespace cebus::io_events::detail
