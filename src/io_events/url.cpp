#include "url.hpp"

#include <algorithm>
#include <cctype>

namespace cebus::io_events::detail {

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string form_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::optional<UrlParts> split_url(std::string_view url) {
    UrlParts parts;
    const std::size_t colon = url.find("://");
    if (colon == std::string_view::npos) return std::nullopt;
    parts.scheme = lower(url.substr(0, colon));
    if (parts.scheme != "http" && parts.scheme != "https") return std::nullopt;

    std::string_view rest = url.substr(colon + 3);
    const std::size_t slash = rest.find_first_of("/?#");
    parts.authority = std::string(rest.substr(0, slash));
    if (parts.authority.empty() || parts.authority.find('@') != std::string::npos) return std::nullopt;
    std::string_view tail = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (const std::size_t hash = tail.find('#'); hash != std::string_view::npos) tail = tail.substr(0, hash);
    parts.path_and_query = tail.empty() ? "/" : std::string(tail);
    if (parts.path_and_query.front() == '?') parts.path_and_query.insert(0, "/");

    std::string_view host = parts.authority;
    if (host.front() == '[') {
        const std::size_t close = host.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = host.substr(1, close - 1);
    } else if (const std::size_t port = host.rfind(':'); port != std::string_view::npos) {
        host = host.substr(0, port);
    }
    if (host.empty()) return std::nullopt;
    parts.host = lower(host);
    return parts;
}

std::optional<std::string> resolve_reference(std::string_view base, std::string_view reference) {
    if (split_url(reference)) return std::string(reference);
    auto parts = split_url(base);
    if (!parts) return std::nullopt;
    if (reference.starts_with("//")) return parts->scheme + ":" + std::string(reference);
    if (reference.starts_with("/")) {
        return parts->scheme + "://" + parts->authority + std::string(reference);
    }
    if (reference.starts_with("?")) {
        std::string path = parts->path_and_query.substr(0, parts->path_and_query.find('?'));
        return parts->scheme + "://" + parts->authority + path + std::string(reference);
    }
    // A relative path: replace the last segment of the base path.
    std::string path = parts->path_and_query.substr(0, parts->path_and_query.find('?'));
    path = path.substr(0, path.rfind('/') + 1);
    return parts->scheme + "://" + parts->authority + path + std::string(reference);
}

std::string form_encode(std::string_view value) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size());
    for (unsigned char c : value) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    return out;
}

std::multimap<std::string, std::string> parse_form(std::string_view body) {
    std::multimap<std::string, std::string> out;
    while (!body.empty()) {
        const std::size_t amp = body.find('&');
        std::string_view pair = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
        if (pair.empty()) continue;
        const std::size_t eq = pair.find('=');
        if (eq == std::string_view::npos) {
            out.emplace(form_decode(pair), std::string());
        } else {
            out.emplace(form_decode(pair.substr(0, eq)), form_decode(pair.substr(eq + 1)));
        }
    }
    return out;
}

}  // namespace cebus::io_events::detail
