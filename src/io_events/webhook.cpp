#include <cebus/io_events/webhook.hpp>

#include <httplib.h>

#include <atomic>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "inbound.hpp"
#include "listen_socket.hpp"

namespace cebus::io_events {

struct WebhookReceiver::Impl {
    journal::Journal& journal;
    Config config;
    WebhookReceiverOptions options;
    SignatureVerifier verifier;
    httplib::Server server;
    std::thread thread;
    int port = 0;
    std::atomic<bool> stopped{false};

    std::atomic<std::uint64_t> deliveries{0}, events_stored{0}, duplicates{0}, challenges{0}, rejected{0},
        unavailable{0};

    Impl(journal::Journal& j, Config c, std::shared_ptr<HttpClient> client, WebhookReceiverOptions o)
        : journal(j),
          config(std::move(c)),
          options(std::move(o)),
          verifier(SignatureVerifierOptions::from_config(config), std::move(client)) {}

    void log(LogLevel level, const std::string& message) const {
        if (options.log) options.log(level, message);
    }

    void answer_challenge(const std::string& challenge, httplib::Response& res) {
        ++challenges;
        res.status = 200;
        if (options.challenge_as_json) {
            res.set_content(nlohmann::json{{"challenge", challenge}}.dump(), "application/json");
        } else {
            res.set_content(challenge, "text/plain");
        }
    }

    void reject(httplib::Response& res, int status, const std::string& why, const std::string& request_id) {
        (status == 503 ? unavailable : rejected)++;
        log(status == 503 ? LogLevel::warning : LogLevel::error,
            "I/O Events webhook delivery " + request_id + " answered " + std::to_string(status) + ": " + why);
        res.status = status;
        res.set_content(nlohmann::json{{"error", why}}.dump(), "application/json");
    }

    void handle_post(const httplib::Request& req, httplib::Response& res) {
        const std::string request_id =
            req.has_header("x-request-id") ? req.get_header_value("x-request-id") : std::string("(no x-request-id)");
        const nlohmann::json parsed = nlohmann::json::parse(req.body, nullptr, false);
        if (parsed.is_discarded()) return reject(res, 400, "body is not valid JSON", request_id);

        // The JSON form of the challenge, and the asynchronous validation.
        if (parsed.is_object() && parsed.size() == 1 && parsed.contains("challenge") && parsed["challenge"].is_string()) {
            return answer_challenge(parsed["challenge"].get<std::string>(), res);
        }
        if (parsed.is_object() && parsed.contains("validationUrl") && parsed["validationUrl"].is_string()) {
            const std::string url = parsed["validationUrl"].get<std::string>();
            log(LogLevel::warning, "I/O Events asks for asynchronous validation: GET " + url + " within 5 minutes");
            if (options.on_validation_url) options.on_validation_url(url);
            res.status = 200;
            return;
        }

        ++deliveries;
        http::Headers headers;
        for (const auto& [name, value] : req.headers) headers.emplace_back(name, value);
        const VerifyResult verified = verifier.verify(headers, req.body);
        if (!verified.ok()) {
            const int status = verified.status == VerifyStatus::key_unavailable ? 503
                               : verified.status == VerifyStatus::invalid_body  ? 400
                                                                                : 401;
            return reject(res, status, std::string(to_string(verified.status)) + ": " + verified.detail, request_id);
        }

        std::vector<EventPtr> events;
        std::set<std::string> seen;
        const std::string source = "urn:adobe:io-events:webhook:" + config.client_id;
        try {
            auto add = [&](const nlohmann::json& body) {
                const std::string adobe_id = detail::adobe_event_id(body);
                if (!adobe_id.empty() && !seen.insert(adobe_id).second) {
                    ++duplicates;
                    return;
                }
                events.push_back(detail::inbound_event(body, source, adobe_id.empty() ? request_id : adobe_id));
            };
            if (parsed.is_array()) {
                for (const auto& body : parsed) add(body);
            } else {
                add(parsed);
            }
        } catch (const std::exception& e) {
            return reject(res, 400, std::string("event cannot be converted: ") + e.what(), request_id);
        }

        try {
            auto future = journal.append_batch(std::move(events));
            if (future.wait_for(options.journal_timeout) != std::future_status::ready) {
                // The append may still commit; Adobe's redelivery then hits
                // the journal's (source, id) de-duplication.
                return reject(res, 503, "the journal did not acknowledge in time", request_id);
            }
            for (const auto& r : future.get()) {
                (r.duplicate ? duplicates : events_stored)++;
            }
        } catch (const std::exception& e) {
            return reject(res, 503, std::string("the journal failed: ") + e.what(), request_id);
        }
        res.status = 200;
    }
};

WebhookReceiver::WebhookReceiver(journal::Journal& journal, Config config, std::shared_ptr<HttpClient> client,
                                 WebhookReceiverOptions options)
    : impl_(std::make_unique<Impl>(journal, std::move(config), std::move(client), std::move(options))) {
    Impl& d = *impl_;
    const std::size_t threads = d.options.threads;
    d.server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    d.server.set_payload_max_length(d.options.max_body_bytes);
    d.server.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(d.options.read_timeout));
    d.server.set_write_timeout(std::chrono::seconds(10));

    d.server.Get(d.options.path, [&d](const httplib::Request& req, httplib::Response& res) {
        if (!req.has_param("challenge")) {
            res.status = 400;
            res.set_content(R"({"error":"missing challenge parameter"})", "application/json");
            return;
        }
        d.answer_challenge(req.get_param_value("challenge"), res);
    });
    d.server.Post(d.options.path, [&d](const httplib::Request& req, httplib::Response& res) { d.handle_post(req, res); });

    detail::use_exclusive_port(d.server);
    d.port = d.options.port == 0
                 ? d.server.bind_to_any_port(d.options.host)
                 : (d.server.bind_to_port(d.options.host, d.options.port) ? d.options.port : -1);
    if (d.port <= 0) {
        throw Error("webhook receiver cannot bind " + d.options.host + ":" + std::to_string(d.options.port));
    }
    d.thread = std::thread([&d] { d.server.listen_after_bind(); });
    // stop() before the listen loop runs would be lost, so wait for it.
    for (int i = 0; i < 5000 && !d.server.is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    d.log(LogLevel::info, "I/O Events webhook receiver listening on " + url());
}

WebhookReceiver::~WebhookReceiver() { stop(); }

void WebhookReceiver::stop() {
    if (impl_->stopped.exchange(true)) return;
    impl_->server.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

int WebhookReceiver::port() const noexcept { return impl_->port; }

std::string WebhookReceiver::url() const {
    const std::string& host = impl_->options.host;
    const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return "http://" + shown + ":" + std::to_string(impl_->port) + impl_->options.path;
}

WebhookCounters WebhookReceiver::counters() const noexcept {
    const Impl& d = *impl_;
    return {d.deliveries.load(), d.events_stored.load(), d.duplicates.load(),
            d.challenges.load(), d.rejected.load(),      d.unavailable.load()};
}

const SignatureVerifier& WebhookReceiver::verifier() const noexcept { return impl_->verifier; }

}  // namespace cebus::io_events
