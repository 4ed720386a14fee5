// Internal URL and form helpers of the I/O Events bridge.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace cebus::io_events::detail {

struct UrlParts {
    std::string scheme;          // "http" or "https", lower case
    std::string authority;       // host[:port], as written
    std::string host;            // without port and brackets, lower case
    std::string path_and_query;  // starts with '/', "/" when the URL has none
};

// Splits an absolute http(s) URL. nullopt for anything else.
std::optional<UrlParts> split_url(std::string_view url);

// Resolves a Link target against the URL it came from: an absolute URL is
// returned as is, "/path" keeps the base's scheme and authority.
std::optional<std::string> resolve_reference(std::string_view base, std::string_view reference);

// application/x-www-form-urlencoded encoding of one value.
std::string form_encode(std::string_view value);
// Decodes a form body (`a=1&b=2`, `+` is space). Malformed escapes are kept
// as text.
std::multimap<std::string, std::string> parse_form(std::string_view body);

}  // namespace cebus::io_events::detail
