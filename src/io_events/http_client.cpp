#include <cebus/io_events/http_client.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

namespace cebus::io_events {

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
    HttpResponse* response;
    std::size_t limit;
    bool too_large = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::size_t n = size * count;
    if (t->response->body.size() + n > t->limit) {
        t->too_large = true;
        return 0;  // makes libcurl fail the transfer with CURLE_WRITE_ERROR
    }
    t->response->body.append(data, n);
    return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::size_t n = size * count;
    std::string_view line(data, n);
    if (line.starts_with("HTTP/")) {
        // A new status line (after 100 Continue or similar): start over.
        t->response->headers.clear();
        return n;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return n;
    t->response->headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                      std::string(trim(line.substr(colon + 1))));
    return n;
}

}  // namespace

std::optional<std::string_view> HttpResponse::header(std::string_view name) const noexcept {
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) return std::string_view(value);
    }
    return std::nullopt;
}

std::vector<std::string_view> HttpResponse::header_values(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) out.emplace_back(value);
    }
    return out;
}

HttpClientOptions HttpClientOptions::from_config(const Config& config, LogCallback log) {
    HttpClientOptions o;
    o.verify_tls = config.verify_tls;
    o.ca_file = config.ca_file;
    o.connect_timeout = config.connect_timeout;
    o.request_timeout = config.request_timeout;
    o.log = std::move(log);
    return o;
}

struct HttpClient::Impl {
    HttpClientOptions options;
    mutable std::mutex mutex;
    mutable std::vector<CURL*> idle;
    mutable std::atomic<std::uint64_t> requests{0};
    mutable std::atomic<std::uint64_t> network_errors{0};
    mutable std::atomic<std::uint64_t> new_connections{0};

    // A handle from the pool, or a new one with the options that every
    // request shares already set. send() sets only the rest, because
    // curl_easy_reset and setting everything again cost about 5,000
    // instructions per request (callgrind, libcurl 7.88).
    CURL* take() const {
        {
            std::lock_guard lock(mutex);
            if (!idle.empty()) {
                CURL* handle = idle.back();
                idle.pop_back();
                return handle;
            }
        }
        CURL* handle = curl_easy_init();
        if (handle == nullptr) throw Error("libcurl could not create an easy handle");
        const HttpClientOptions& o = options;
        curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
        curl_easy_setopt(handle, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(handle, CURLOPT_USERAGENT, o.user_agent.c_str());
        curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L);
        curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? 2L : 0L);
        if (!o.ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, o.ca_file.c_str());
        curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, on_header);
        return handle;
    }

    void give_back(CURL* handle) const {
        std::lock_guard lock(mutex);
        if (idle.size() < options.max_idle_handles) {
            idle.push_back(handle);
            return;
        }
        curl_easy_cleanup(handle);
    }
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>()) {
    global_init();
    impl_->options = std::move(options);
    if (!impl_->options.verify_tls && impl_->options.log) {
        impl_->options.log(LogLevel::warning,
                           "TLS certificate verification is off: use this only against a test server");
    }
}

HttpClient::~HttpClient() {
    for (CURL* handle : impl_->idle) curl_easy_cleanup(handle);
}

HttpResponse HttpClient::send(const HttpRequest& request) const {
    const HttpClientOptions& o = impl_->options;
    HttpResponse response;
    CURL* handle = impl_->take();

    Transfer transfer{&response, o.max_response_bytes};
    char error_buffer[CURL_ERROR_SIZE] = {0};
    const auto timeout = request.timeout.value_or(o.request_timeout);

    // Every option a request may change is set here each time, so nothing
    // carries over from the handle's previous request.
    curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, &transfer);

    if (request.method == "GET") {
        curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, nullptr);
        curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method == "POST" ? nullptr : request.method.c_str());
        curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
        curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data());
    }

    curl_slist* headers = nullptr;
    std::string line;
    for (const auto& [name, value] : request.headers) {
        line.assign(name).append(": ").append(value);
        headers = curl_slist_append(headers, line.c_str());
    }
    // No "Expect: 100-continue" round trip for larger bodies.
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);

    const CURLcode code = curl_easy_perform(handle);
    // Nothing may point into this call's stack frame once it returns.
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, nullptr);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, nullptr);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, nullptr);
    curl_slist_free_all(headers);
    ++impl_->requests;

    long connects = 0;
    curl_easy_getinfo(handle, CURLINFO_NUM_CONNECTS, &connects);
    impl_->new_connections += static_cast<std::uint64_t>(connects);

    if (code != CURLE_OK) {
        response.status = 0;
        if (transfer.too_large) {
            response.error = "response body larger than " + std::to_string(o.max_response_bytes) + " bytes";
        } else {
            response.error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
        }
        ++impl_->network_errors;
        // A failed transfer may leave the connection in an unknown state.
        curl_easy_cleanup(handle);
        return response;
    }
    long status = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    impl_->give_back(handle);
    return response;
}

HttpClientCounters HttpClient::counters() const noexcept {
    return {impl_->requests.load(), impl_->network_errors.load(), impl_->new_connections.load()};
}

const HttpClientOptions& HttpClient::options() const noexcept { return impl_->options; }

}  // namespace cebus::io_events
