// The I/O Events emulator: ingress, IMS token, journal and key endpoints on
// one loopback port, plus signed webhook delivery.
#include <cebus/io_events/emulator.hpp>

#include <httplib.h>

#include <algorithm>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "crypto.hpp"
#include "listen_socket.hpp"
#include "url.hpp"

namespace cebus::io_events {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view position_prefix = "emu:";

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::string bearer_token(const httplib::Request& req) {
    const std::string value = req.get_header_value("Authorization");
    if (value.size() > 7 && (value.starts_with("Bearer ") || value.starts_with("bearer "))) {
        return value.substr(7);
    }
    return {};
}

void json_error(httplib::Response& res, int status, const std::string& code,
                const std::string& message) {
    res.status = status;
    nlohmann::json body = {{"error_code", code}, {"message", message}};
    res.set_content(body.dump(), "application/json");
}

// Parses "emu:<n>"; nullopt when the text is not a position this emulator
// could have issued.
std::optional<std::size_t> parse_position(const std::string& text) {
    if (!text.starts_with(position_prefix)) return std::nullopt;
    const std::string digits = text.substr(position_prefix.size());
    if (digits.empty() || digits.size() > 18) return std::nullopt;
    std::size_t value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::size_t>(c - '0');
    }
    return value;
}

std::string make_position(std::size_t seq) { return std::string(position_prefix) + std::to_string(seq); }

}  // namespace

struct Emulator::Impl {
    EmulatorOptions options;
    httplib::Server server;
    std::thread thread;
    int port = 0;
    bool stopped = false;

    mutable std::mutex mutex;

    // Keys: index 0 and 1 are published; `unpublished` signs wrong_key deliveries.
    detail::PkeyPtr keys[2];
    std::string key_paths[2];
    std::string key_pems[2];
    detail::PkeyPtr unpublished;

    std::unordered_map<std::string, Clock::time_point> tokens;  // token -> expiry
    std::vector<std::string> issued;
    std::vector<std::string> token_bodies;

    std::map<EmulatorRoute, std::deque<EmulatorFault>> queued_faults;
    std::map<EmulatorRoute, EmulatorFaultRates> fault_rates;
    std::mt19937_64 rng;

    std::vector<IngressRecord> records;
    std::map<std::string, std::vector<std::string>> accepted;
    std::unordered_map<std::string, std::deque<Clock::time_point>> rate_windows;

    // Journal entries: entry i has position emu:<i+1>. Positions up to
    // `expired_through` are gone.
    std::vector<nlohmann::json> journal;
    std::size_t expired_through = 0;

    EmulatorStats stats;

    explicit Impl(EmulatorOptions opts) : options(std::move(opts)), rng(options.random_seed) {}

    void log(LogLevel level, const std::string& message) const {
        if (options.log) options.log(level, message);
    }

    void make_keys() {
        for (int i = 0; i < 2; ++i) {
            keys[i] = detail::generate_rsa_key(2048);
            key_pems[i] = detail::public_key_pem(keys[i].get());
            key_paths[i] = "/prod/keys/pub-key-" + detail::random_uuid() + ".pem";
        }
    }

    // Takes the next fault for a route (queued first, then random). Caller
    // holds no lock.
    std::optional<EmulatorFault> next_fault(EmulatorRoute route) {
        std::lock_guard lock(mutex);
        auto& queue = queued_faults[route];
        if (!queue.empty()) {
            EmulatorFault fault = queue.front();
            queue.pop_front();
            ++stats.faults_injected;
            return fault;
        }
        auto it = fault_rates.find(route);
        if (it == fault_rates.end()) return std::nullopt;
        const EmulatorFaultRates& r = it->second;
        std::uniform_real_distribution<double> draw(0.0, 1.0);
        const double x = draw(rng);
        double edge = r.throttle;
        std::optional<EmulatorFault> fault;
        if (x < edge) {
            fault = EmulatorFault::throttle(r.retry_after);
        } else if (x < (edge += r.server_error)) {
            static constexpr int statuses[] = {500, 502, 503};
            fault = EmulatorFault::server_error(statuses[rng() % 3]);
        } else if (x < (edge += r.drop)) {
            fault = EmulatorFault::drop(rng() % 2 == 0);
        } else if (x < (edge += r.slow)) {
            fault = EmulatorFault::slow(r.slow_delay);
        }
        if (fault) ++stats.faults_injected;
        return fault;
    }

    // Sends a status fault or cuts the connection. Returns true when
    // the request is finished; a delay returns false after sleeping.
    static bool apply_fault(const EmulatorFault& fault, httplib::Response& res) {
        switch (fault.kind) {
            case EmulatorFault::Kind::delay:
                std::this_thread::sleep_for(fault.delay);
                return false;
            case EmulatorFault::Kind::status:
                res.status = fault.status;
                if (!fault.retry_after.empty()) res.set_header("Retry-After", fault.retry_after);
                res.set_content("{\"error_code\":\"injected\",\"message\":\"injected fault\"}",
                                "application/json");
                return true;
            case EmulatorFault::Kind::drop:
                cut_connection(res);
                return true;
        }
        return true;
    }

    // Promises a body, then fails to write it: the client gets the headers
    // and then end of stream, which it must treat as a network error.
    static void cut_connection(httplib::Response& res) {
        res.status = 200;
        res.set_content_provider(
            64, "application/json",
            [](std::size_t, std::size_t, httplib::DataSink&) { return false; });
    }

    // Checks the bearer token and api key. Returns false after sending the error response.
    bool authorize(const httplib::Request& req, httplib::Response& res) {
        const std::string token = bearer_token(req);
        {
            std::lock_guard lock(mutex);
            auto it = tokens.find(token);
            if (token.empty() || it == tokens.end() || it->second < Clock::now()) {
                res.set_header("WWW-Authenticate", "Bearer");
                json_error(res, 401, "401013", "Oauth token is not valid");
                return false;
            }
        }
        const std::string api_key = req.get_header_value("x-api-key");
        if (api_key.empty() || (!options.client_id.empty() && api_key != options.client_id)) {
            json_error(res, 403, "403003", "Api Key is invalid");
            return false;
        }
        return true;
    }

    bool over_rate_limit(const std::string& api_key) {
        if (options.rate_limit_requests == 0) return false;
        std::lock_guard lock(mutex);
        auto& window = rate_windows[api_key];
        const auto now = Clock::now();
        while (!window.empty() && now - window.front() >= options.rate_limit_window) {
            window.pop_front();
        }
        if (window.size() >= options.rate_limit_requests) return true;
        window.push_back(now);
        return false;
    }

    void handle_token(const httplib::Request& req, httplib::Response& res) {
        {
            std::lock_guard lock(mutex);
            ++stats.token_requests;
            token_bodies.push_back(req.body);
        }
        if (auto fault = next_fault(EmulatorRoute::token); fault && apply_fault(*fault, res)) return;

        // Parameters may come in the body or the query; the body wins.
        auto params = detail::parse_form(req.body);
        for (const auto& [name, value] : req.params) params.emplace(name, value);
        auto get = [&](const char* name) -> std::string {
            auto it = params.find(name);
            return it == params.end() ? std::string() : it->second;
        };

        const std::string grant = get("grant_type");
        if (grant.empty() || get("client_id").empty() || get("client_secret").empty()) {
            res.status = 400;
            res.set_content(R"({"error":"invalid_request","error_description":"missing parameter"})",
                            "application/json");
            return;
        }
        if (grant != "client_credentials") {
            res.status = 400;
            res.set_content(R"({"error":"unsupported_grant_type"})", "application/json");
            return;
        }
        if ((!options.client_id.empty() && get("client_id") != options.client_id) ||
            (!options.client_secret.empty() && get("client_secret") != options.client_secret)) {
            res.status = 401;
            res.set_content(R"({"error":"invalid_client","error_description":"invalid client_id or client_secret"})",
                            "application/json");
            return;
        }

        const std::string token = "emu-" + detail::random_hex(24);
        {
            std::lock_guard lock(mutex);
            tokens[token] = Clock::now() + std::chrono::seconds(options.token_expires_in);
            issued.push_back(token);
            ++stats.tokens_issued;
        }
        nlohmann::json body = {{"access_token", token},
                               {"token_type", "bearer"},
                               {"expires_in", options.token_expires_in}};
        res.status = 200;
        res.set_content(body.dump(), "application/json;charset=UTF-8");
    }

    void record_ingress(IngressRecord record) {
        std::lock_guard lock(mutex);
        if (record.accepted) {
            ++stats.ingress_accepted;
            auto& bodies = accepted[record.event_id];
            if (bodies.empty()) {
                ++stats.ingress_distinct_ids;
            } else {
                ++stats.ingress_duplicates;
            }
            bodies.push_back(record.body);
        }
        records.push_back(std::move(record));
    }

    void handle_ingress(const httplib::Request& req, httplib::Response& res) {
        {
            std::lock_guard lock(mutex);
            ++stats.ingress_requests;
        }
        IngressRecord record;
        record.body = req.body;
        for (const auto& [name, value] : req.headers) {
            std::string lower = name;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            record.headers[lower] = value;
        }

        // A delay sleeps and then handles the request; a drop with
        // accept_first is applied after the event is stored.
        bool drop_after_accept = false;
        if (const std::optional<EmulatorFault> fault = next_fault(EmulatorRoute::ingress)) {
            const EmulatorFault::Kind kind = fault->kind;
            if (kind == EmulatorFault::Kind::delay) {
                apply_fault(*fault, res);
            } else if (kind == EmulatorFault::Kind::drop && fault->accept_first) {
                drop_after_accept = true;
            } else {
                apply_fault(*fault, res);
                record.status = kind == EmulatorFault::Kind::drop ? 0 : res.status;
                record_ingress(std::move(record));
                return;
            }
        }

        if (!authorize(req, res)) {
            record.status = res.status;
            record_ingress(std::move(record));
            return;
        }
        if (over_rate_limit(req.get_header_value("x-api-key"))) {
            res.set_header("Retry-After", options.rate_limit_retry_after);
            json_error(res, 429, "429050", "Too many requests");
            record.status = 429;
            record_ingress(std::move(record));
            return;
        }

        auto reject = [&](const std::string& message) {
            json_error(res, 400, "400", message);
            record.status = 400;
            record_ingress(std::move(record));
        };
        const std::string content_type = req.get_header_value("Content-Type");
        if (!content_type.starts_with("application/cloudevents+json")) {
            return reject("Content-Type must be application/cloudevents+json");
        }
        nlohmann::json event = nlohmann::json::parse(req.body, nullptr, false);
        if (event.is_discarded() || !event.is_object()) return reject("body is not a JSON object");
        for (const char* name : {"specversion", "id", "source", "type"}) {
            auto it = event.find(name);
            if (it == event.end() || !it->is_string() || it->get<std::string>().empty()) {
                return reject(std::string("missing or invalid CloudEvents attribute ") + name);
            }
        }
        if (event["specversion"] != "1.0") return reject("specversion must be 1.0");
        record.event_id = event["id"].get<std::string>();
        record.source = event["source"].get<std::string>();
        record.type = event["type"].get<std::string>();
        if (!options.provider_id.empty() && record.source != "urn:uuid:" + options.provider_id) {
            return reject("source must be urn:uuid:<provider id>");
        }

        const bool registered = options.all_codes_registered ||
                                options.registered_event_codes.count(record.type) > 0;
        record.accepted = true;
        if (registered) {
            nlohmann::json delivered = delivery_event(event, req.get_header_value("x-api-key"));
            std::lock_guard lock(mutex);
            journal.push_back(std::move(delivered));
        }
        if (drop_after_accept) {
            // A drop after accepting: the event is stored, the response is lost.
            record.status = 0;
            record_ingress(std::move(record));
            cut_connection(res);
            return;
        }
        record.status = registered ? 200 : 204;
        record_ingress(std::move(record));
        res.status = registered ? 200 : 204;
    }

    std::string journal_link(std::size_t since, const std::string& limit) const {
        std::string link = journal_path() + "?since=" + make_position(since);
        if (!limit.empty()) link += "&limit=" + limit;
        return link;
    }

    std::string journal_path() const {
        return "/events/organizations/" + options.consumer_org_id + "/integrations/" +
               options.credential_id + "/" + options.registration_id;
    }

    void handle_journal(const httplib::Request& req, httplib::Response& res) {
        {
            std::lock_guard lock(mutex);
            ++stats.journal_requests;
        }
        if (auto fault = next_fault(EmulatorRoute::journal); fault && apply_fault(*fault, res)) return;
        if (!authorize(req, res)) return;

        std::string limit_text = req.has_param("limit") ? req.get_param_value("limit") : "";
        std::size_t limit = options.journal_default_limit;
        if (!limit_text.empty()) {
            char* end = nullptr;
            const long value = std::strtol(limit_text.c_str(), &end, 10);
            if (*end != '\0' || value <= 0) {
                json_error(res, 400, "400", "limit must be a positive integer");
                return;
            }
            limit = static_cast<std::size_t>(value);
        }
        if (req.has_param("seek")) {
            json_error(res, 400, "400", "seek is not supported by the emulator");
            return;
        }

        std::lock_guard lock(mutex);
        std::size_t start = expired_through;  // no parameter: oldest available
        if (req.has_param("latest") && req.get_param_value("latest") == "true") {
            start = journal.size();
        } else if (req.has_param("since")) {
            const std::string since = req.get_param_value("since");
            auto seq = parse_position(since);
            if (!seq || *seq > journal.size()) {
                json_error(res, 400, "400", "invalid position " + since);
                return;
            }
            if (*seq < expired_through) {
                res.status = 410;
                res.set_content("Events at position " + since + " have expired.", "text/plain");
                return;
            }
            start = *seq;
        }

        if (start >= journal.size()) {
            res.status = 204;
            res.set_header("retry-after", std::to_string(options.journal_retry_after));
            res.set_header("Link", "<" + journal_link(start, limit_text) + ">; rel=\"next\"");
            res.set_header("Link", "<" + journal_path() + "/validate?since=" + make_position(start) +
                                       ">; rel=\"validate\"");
            return;
        }

        const std::size_t end = std::min(journal.size(), start + limit);
        nlohmann::json events = nlohmann::json::array();
        for (std::size_t i = start; i < end; ++i) {
            events.push_back({{"position", make_position(i + 1)}, {"event", journal[i]}});
        }
        nlohmann::json body = {{"events", std::move(events)},
                               {"_page", {{"last", make_position(end)}, {"count", end - start}}}};
        res.status = 200;
        res.set_header("Link", "<" + journal_link(end, limit_text) + ">; rel=\"next\"");
        res.set_content(body.dump(), "application/vnd.adobecloud.events+json");
    }

    void handle_validate(const httplib::Request& req, httplib::Response& res) {
        if (!authorize(req, res)) return;
        const std::string since = req.has_param("since") ? req.get_param_value("since") : "";
        std::lock_guard lock(mutex);
        auto seq = parse_position(since);
        if (!seq || *seq > journal.size() || *seq < expired_through) {
            json_error(res, 400, "400", "position " + since + " is not valid");
            return;
        }
        res.status = 200;
        res.set_content("{}", "application/json");
    }

    void handle_key(const httplib::Request& req, httplib::Response& res) {
        {
            std::lock_guard lock(mutex);
            ++stats.key_requests;
        }
        if (auto fault = next_fault(EmulatorRoute::public_key); fault && apply_fault(*fault, res)) {
            return;
        }
        std::lock_guard lock(mutex);
        for (int i = 0; i < 2; ++i) {
            if (req.path == key_paths[i]) {
                res.status = 200;
                res.set_content(key_pems[i], "application/x-pem-file");
                return;
            }
        }
        res.status = 404;
        res.set_content("Not Found", "text/plain");
    }
};

Emulator::Emulator(EmulatorOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
    Impl& d = *impl_;
    if (!is_loopback(d.options.host)) {
        throw Error("emulator host \"" + d.options.host +
                    "\" is not a loopback address: use 127.0.0.1 or ::1");
    }
    d.make_keys();
    d.unpublished = detail::generate_rsa_key(2048);

    const std::size_t threads = d.options.worker_threads;
    d.server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    d.server.set_keep_alive_max_count(1'000'000);
    d.server.set_keep_alive_timeout(30);
    d.server.set_payload_max_length(d.options.max_body_bytes);
    d.server.set_tcp_nodelay(true);
    d.server.set_logger([&d](const httplib::Request& req, const httplib::Response& res) {
        d.log(LogLevel::debug, req.method + " " + req.path + " -> " + std::to_string(res.status));
    });

    d.server.Post("/", [&d](const httplib::Request& req, httplib::Response& res) {
        d.handle_ingress(req, res);
    });
    d.server.Post("/ims/token/v3", [&d](const httplib::Request& req, httplib::Response& res) {
        d.handle_token(req, res);
    });
    d.server.Get(d.journal_path(), [&d](const httplib::Request& req, httplib::Response& res) {
        d.handle_journal(req, res);
    });
    d.server.Get(d.journal_path() + "/validate",
                 [&d](const httplib::Request& req, httplib::Response& res) {
                     d.handle_validate(req, res);
                 });
    d.server.Get(R"(/prod/keys/[^/]+\.pem)", [&d](const httplib::Request& req, httplib::Response& res) {
        d.handle_key(req, res);
    });

    detail::use_exclusive_port(d.server);
    d.port = d.options.port == 0 ? d.server.bind_to_any_port(d.options.host)
                                 : (d.server.bind_to_port(d.options.host, d.options.port)
                                        ? d.options.port
                                        : -1);
    if (d.port <= 0) {
        throw Error("emulator cannot bind " + d.options.host + ":" + std::to_string(d.options.port));
    }
    d.thread = std::thread([&d] { d.server.listen_after_bind(); });
    // stop() before the listen loop runs would be lost, so wait for it.
    for (int i = 0; i < 5000 && !d.server.is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    d.log(LogLevel::info, "I/O Events emulator listening on " + base_url());
}

Emulator::~Emulator() { stop(); }

void Emulator::stop() {
    Impl& d = *impl_;
    {
        std::lock_guard lock(d.mutex);
        if (d.stopped) return;
        d.stopped = true;
    }
    d.server.stop();
    if (d.thread.joinable()) d.thread.join();
}

int Emulator::port() const noexcept { return impl_->port; }

std::string Emulator::base_url() const {
    const std::string& host = impl_->options.host;
    const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return "http://" + shown + ":" + std::to_string(impl_->port);
}

std::string Emulator::ingress_url() const { return base_url() + "/"; }
std::string Emulator::ims_token_url() const { return base_url() + "/ims/token/v3"; }
std::string Emulator::journal_path() const { return impl_->journal_path(); }
std::string Emulator::journal_url() const { return base_url() + journal_path(); }

Config Emulator::client_config() const { return client_config_at(base_url(), impl_->options); }

Config Emulator::client_config_at(const std::string& base_url, const EmulatorOptions& options) {
    Config c;
    c.client_id = options.client_id.empty() ? "emulator-client" : options.client_id;
    c.client_secret = Secret(options.client_secret.empty() ? "emulator-secret" : options.client_secret);
    c.scopes = {"adobeio_api"};
    c.ims_org_id = "EMULATOR@AdobeOrg";
    c.consumer_org_id = options.consumer_org_id;
    c.credential_id = options.credential_id;
    c.provider_id = options.provider_id.empty() ? "00000000-0000-4000-8000-000000000001" : options.provider_id;
    c.endpoints.ims_token_url = base_url + "/ims/token/v3";
    c.endpoints.ingress_url = base_url + "/";
    c.endpoints.public_key_base_url = base_url;
    c.endpoints.journal_url = base_url + "/events/organizations/" + options.consumer_org_id + "/integrations/" +
                              options.credential_id + "/" + options.registration_id;
    c.connect_timeout = std::chrono::milliseconds(2000);
    c.request_timeout = std::chrono::milliseconds(5000);
    return c;
}

void Emulator::inject(EmulatorRoute route, EmulatorFault fault, std::size_t count) {
    std::lock_guard lock(impl_->mutex);
    auto& queue = impl_->queued_faults[route];
    for (std::size_t i = 0; i < count; ++i) queue.push_back(fault);
}

void Emulator::set_fault_rates(EmulatorRoute route, EmulatorFaultRates rates) {
    std::lock_guard lock(impl_->mutex);
    impl_->fault_rates[route] = std::move(rates);
}

void Emulator::clear_faults() {
    std::lock_guard lock(impl_->mutex);
    impl_->queued_faults.clear();
    impl_->fault_rates.clear();
}

void Emulator::revoke_tokens() {
    std::lock_guard lock(impl_->mutex);
    impl_->tokens.clear();
}

void Emulator::expire_journal() {
    std::lock_guard lock(impl_->mutex);
    impl_->expired_through = impl_->journal.size();
}

std::string Emulator::append_journal_event(nlohmann::json event) {
    std::lock_guard lock(impl_->mutex);
    impl_->journal.push_back(std::move(event));
    return make_position(impl_->journal.size());
}

std::size_t Emulator::journal_size() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->journal.size();
}

std::string Emulator::public_key_path(int which) const {
    std::lock_guard lock(impl_->mutex);
    return impl_->key_paths[which == 2 ? 1 : 0];
}

std::string Emulator::public_key_pem(int which) const {
    std::lock_guard lock(impl_->mutex);
    return impl_->key_pems[which == 2 ? 1 : 0];
}

std::string Emulator::sign(std::string_view body, int which) const {
    std::lock_guard lock(impl_->mutex);
    return detail::sign_rsa_sha256_base64(impl_->keys[which == 2 ? 1 : 0].get(), body);
}

void Emulator::rotate_keys() {
    std::lock_guard lock(impl_->mutex);
    impl_->make_keys();
}

nlohmann::json Emulator::delivery_event(nlohmann::json event, const std::string& recipient) {
    std::string event_id = detail::random_uuid();
    event["eventid"] = event_id;
    event["event_id"] = event_id;
    event["recipientclientid"] = recipient;
    event["recipient_client_id"] = recipient;
    return event;
}

DeliveryResult Emulator::deliver(const std::string& url, const std::string& body,
                                 const DeliveryOptions& options) const {
    DeliveryResult result;
    auto parts = detail::split_url(url);
    if (!parts) {
        result.error = "invalid webhook URL " + url;
        return result;
    }

    httplib::Headers headers = {
        {"user-agent", "Adobe/1.0"},
        {"x-adobe-delivery-id", detail::random_uuid()},
        {"x-request-id", detail::random_hex(16)},
    };
    // Single deliveries carry the event's id and code as headers.
    nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_object()) {
        if (parsed.contains("eventid") && parsed["eventid"].is_string()) {
            headers.emplace("x-adobe-event-id", parsed["eventid"].get<std::string>());
        }
        if (parsed.contains("type") && parsed["type"].is_string()) {
            headers.emplace("x-adobe-event-code", parsed["type"].get<std::string>());
        }
    }
    if (options.retry_count > 0) {
        headers.emplace("x-adobe-retry-count", std::to_string(options.retry_count));
    }

    if (options.signature != SignatureMode::missing) {
        std::string sig1;
        std::string sig2;
        {
            std::lock_guard lock(impl_->mutex);
            switch (options.signature) {
                case SignatureMode::valid:
                    sig1 = detail::sign_rsa_sha256_base64(impl_->keys[0].get(), body);
                    sig2 = detail::sign_rsa_sha256_base64(impl_->keys[1].get(), body);
                    break;
                case SignatureMode::second_only:
                    sig1 = detail::base64_encode(detail::random_hex(128));
                    sig2 = detail::sign_rsa_sha256_base64(impl_->keys[1].get(), body);
                    break;
                case SignatureMode::wrong_key:
                    sig1 = detail::sign_rsa_sha256_base64(impl_->unpublished.get(), body);
                    sig2 = sig1;
                    break;
                case SignatureMode::corrupt:
                    sig1 = detail::sign_rsa_sha256_base64(impl_->keys[0].get(), body + " ");
                    sig2 = detail::sign_rsa_sha256_base64(impl_->keys[1].get(), body + " ");
                    break;
                case SignatureMode::missing:
                    break;
            }
            headers.emplace("x-adobe-public-key1-path", options.key1_path.value_or(impl_->key_paths[0]));
            headers.emplace("x-adobe-public-key2-path", options.key2_path.value_or(impl_->key_paths[1]));
        }
        headers.emplace("x-adobe-digital-signature-1", sig1);
        headers.emplace("x-adobe-digital-signature-2", sig2);
    }

    httplib::Client client(parts->scheme + "://" + parts->authority);
    client.set_connection_timeout(options.timeout);
    client.set_read_timeout(options.timeout);
    client.set_write_timeout(options.timeout);
    auto response = client.Post(parts->path_and_query.c_str(), headers, body,
                                "application/json; charset=utf-8");
    if (!response) {
        result.error = httplib::to_string(response.error());
        return result;
    }
    result.status = response->status;
    result.body = response->body;
    return result;
}

bool Emulator::challenge(const std::string& url, std::string* received_body) const {
    auto parts = detail::split_url(url);
    if (!parts) return false;
    const std::string challenge = detail::random_uuid();
    const char separator = parts->path_and_query.find('?') == std::string::npos ? '?' : '&';

    httplib::Client client(parts->scheme + "://" + parts->authority);
    client.set_connection_timeout(std::chrono::seconds(10));
    client.set_read_timeout(std::chrono::seconds(10));
    auto response = client.Get((parts->path_and_query + separator + "challenge=" + challenge).c_str(),
                               httplib::Headers{{"user-agent", "Adobe/1.0"}});
    if (!response || response->status != 200) return false;
    if (received_body != nullptr) *received_body = response->body;
    if (response->body == challenge) return true;
    nlohmann::json parsed = nlohmann::json::parse(response->body, nullptr, false);
    return parsed.is_object() && parsed.contains("challenge") && parsed["challenge"] == challenge;
}

std::vector<IngressRecord> Emulator::ingress_records() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->records;
}

std::map<std::string, std::vector<std::string>> Emulator::accepted_events() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->accepted;
}

std::vector<std::string> Emulator::issued_tokens() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->issued;
}

std::vector<std::string> Emulator::token_request_bodies() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->token_bodies;
}

EmulatorStats Emulator::stats() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->stats;
}

void Emulator::clear_records() {
    std::lock_guard lock(impl_->mutex);
    impl_->records.clear();
    impl_->accepted.clear();
    impl_->token_bodies.clear();
    impl_->stats = {};
}

}  // namespace cebus::io_events
