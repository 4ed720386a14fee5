#include <cebus/io_events/journal_consumer.hpp>

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "authorized.hpp"
#include "inbound.hpp"
#include "retry.hpp"
#include "url.hpp"

namespace cebus::io_events {

namespace {

// The target of the first link with rel="next" among Link header values
// (each value may hold several comma-separated links).
std::optional<std::string> next_link(const std::vector<std::string_view>& values) {
    for (std::string_view value : values) {
        std::size_t pos = 0;
        while ((pos = value.find('<', pos)) != std::string_view::npos) {
            const std::size_t close = value.find('>', pos);
            if (close == std::string_view::npos) break;
            const std::string_view target = value.substr(pos + 1, close - pos - 1);
            const std::size_t end = value.find('<', close);
            const std::string_view params = value.substr(close + 1, end == std::string_view::npos ? end : end - close - 1);
            if (params.find("rel=\"next\"") != std::string_view::npos ||
                params.find("rel=next") != std::string_view::npos) {
                return std::string(target);
            }
            pos = close;
        }
    }
    return std::nullopt;
}

}  // namespace

struct JournalConsumer::Impl {
    journal::Journal& journal;
    Config config;
    std::shared_ptr<TokenSource> tokens;
    std::shared_ptr<HttpClient> client;
    JournalConsumerOptions options;
    std::string state_key;

    mutable std::mutex mutex;
    std::string next;  // guarded by mutex
    std::uint32_t failures = 0;

    std::thread thread;
    std::mutex stop_mutex;
    std::condition_variable stop_cv;
    bool stopping = false;

    std::atomic<std::uint64_t> requests{0}, pages{0}, events_stored{0}, duplicates{0}, empty_polls{0},
        gaps{0}, errors{0};

    Impl(journal::Journal& j, Config c, std::shared_ptr<TokenSource> t, std::shared_ptr<HttpClient> h,
         JournalConsumerOptions o)
        : journal(j), config(std::move(c)), tokens(std::move(t)), client(std::move(h)), options(std::move(o)) {}

    void log(LogLevel level, const std::string& message) const {
        if (options.log) options.log(level, message);
    }

    std::string start_url(JournalConsumerOptions::Reset where) const {
        std::string url = config.endpoints.journal_url;
        const char separator = url.find('?') == std::string::npos ? '?' : '&';
        if (where == JournalConsumerOptions::Reset::latest) {
            url += separator;
            url += "latest=true";
            if (options.limit > 0) url += "&limit=" + std::to_string(options.limit);
        } else if (options.limit > 0) {
            url += separator;
            url += "limit=" + std::to_string(options.limit);
        }
        return url;
    }

    std::chrono::milliseconds backoff() {
        ++failures;
        return detail::backoff_delay(options.initial_backoff, options.max_backoff, failures);
    }

    // Stores events and the next URL in one transaction; moves `next` only
    // after the journal acknowledged it.
    void store(std::vector<EventPtr> events, const std::string& next_url) {
        const std::size_t offered = events.size();
        auto future = journal.append_batch_with_state(std::move(events), state_key, next_url);
        if (future.wait_for(options.journal_timeout) != std::future_status::ready) {
            throw journal::JournalError(journal::Errc::io, "the local journal did not acknowledge a page of " +
                                                                std::to_string(offered) + " I/O Events events in time");
        }
        const auto results = future.get();
        for (const auto& r : results) {
            if (r.duplicate) {
                ++duplicates;
            } else {
                ++events_stored;
            }
        }
        std::lock_guard lock(mutex);
        next = next_url;
    }

    PollResult poll() {
        PollResult result;
        std::string url;
        {
            std::lock_guard lock(mutex);
            url = next;
        }

        HttpRequest request;
        request.url = url;
        request.headers = {{"Accept", "application/vnd.adobecloud.events+json"}};
        detail::add_api_headers(request.headers, config);
        const auto sent = detail::send_authorized(*client, *tokens, std::move(request));
        requests += static_cast<std::uint64_t>(sent.requests);
        if (!sent.token_error.empty()) {
            ++errors;
            result.wait = backoff();
            log(LogLevel::error, "I/O Events journal: no access token: " + sent.token_error);
            return result;
        }
        const HttpResponse& response = sent.response;
        result.status = response.status;
        const auto retry_after = detail::parse_retry_after(response.header("retry-after"), options.max_wait);
        auto resolved_next = [&]() -> std::optional<std::string> {
            auto link = next_link(response.header_values("Link"));
            if (!link) return std::nullopt;
            return detail::resolve_reference(url, *link);
        };

        if (response.status == 200) {
            const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
            if (!body.is_object() || !body.contains("events") || !body["events"].is_array()) {
                ++errors;
                result.wait = backoff();
                log(LogLevel::error, "I/O Events journal page from " + url + " has no events array");
                return result;
            }
            std::vector<EventPtr> events;
            std::set<std::string> seen_ids;
            std::string last_position;
            for (const auto& entry : body["events"]) {
                if (!entry.is_object() || !entry.contains("event")) continue;
                if (entry.contains("position") && entry["position"].is_string()) {
                    last_position = entry["position"].get<std::string>();
                }
                const std::string adobe_id = detail::adobe_event_id(entry["event"]);
                if (!adobe_id.empty() && !seen_ids.insert(adobe_id).second) {
                    ++duplicates;
                    continue;
                }
                try {
                    events.push_back(detail::inbound_event(entry["event"], config.endpoints.journal_url,
                                                           last_position.empty() ? adobe_id : last_position));
                } catch (const std::exception& e) {
                    ++errors;
                    log(LogLevel::error, "I/O Events journal entry at " + last_position + " skipped: " + e.what());
                }
            }
            std::optional<std::string> following = resolved_next();
            if (!following) {
                // No Link: continue after the last position of this page.
                std::string base = config.endpoints.journal_url;
                if (last_position.empty() && body.contains("_page") && body["_page"].contains("last") &&
                    body["_page"]["last"].is_string()) {
                    last_position = body["_page"]["last"].get<std::string>();
                }
                following = last_position.empty() ? url
                                                   : base + (base.find('?') == std::string::npos ? "?" : "&") +
                                                         "since=" + detail::form_encode(last_position);
            }
            result.events = events.size();
            store(std::move(events), *following);
            ++pages;
            failures = 0;
            return result;
        }
        if (response.status == 204) {
            ++empty_polls;
            failures = 0;
            if (auto following = resolved_next()) {
                std::lock_guard lock(mutex);
                next = *following;
            }
            result.wait = retry_after.value_or(options.idle_wait);
            return result;
        }
        if (response.status == 410 || (response.status == 400 && url.find("since=") != std::string::npos)) {
            ++gaps;
            const std::string reset = start_url(options.on_expired);
            log(LogLevel::warning, "I/O Events journal position expired (HTTP " + std::to_string(response.status) +
                                       " for " + url + "): events may be lost, continuing from " + reset);
            store({}, reset);
            if (options.on_gap) options.on_gap(JournalGap{url, response.status, reset});
            return result;
        }
        ++errors;
        result.wait = retry_after ? detail::add_jitter(*retry_after) : backoff();
        log(response.status >= 500 || response.status == 429 || response.network_error() ? LogLevel::warning
                                                                                          : LogLevel::error,
            "I/O Events journal request to " + url + " failed: " +
                (response.network_error() ? response.error : "HTTP " + std::to_string(response.status)) +
                "; retrying in " + std::to_string(result.wait.count()) + " ms");
        return result;
    }
};

JournalConsumer::JournalConsumer(journal::Journal& journal, Config config, std::shared_ptr<TokenSource> tokens,
                                 std::shared_ptr<HttpClient> client, JournalConsumerOptions options)
    : impl_(std::make_unique<Impl>(journal, std::move(config), std::move(tokens), std::move(client),
                                   std::move(options))) {
    Impl& d = *impl_;
    if (d.config.client_id.empty()) throw ConfigError("client_id", "is missing");
    if (d.config.endpoints.journal_url.empty()) {
        throw ConfigError("endpoints.journal_url", "is missing: use the registration's journal URL");
    }
    validate_url("endpoints.journal_url", d.config.endpoints.journal_url);
    d.state_key = d.options.state_key.empty() ? "io-events/journal/" + d.config.endpoints.journal_url
                                              : d.options.state_key;
    if (auto stored = journal.read_state(d.state_key)) {
        d.next = *stored;
    } else {
        d.next = d.start_url(d.options.first_start);
    }
}

JournalConsumer::~JournalConsumer() { stop(); }

void JournalConsumer::start() {
    Impl& d = *impl_;
    if (d.thread.joinable()) return;
    {
        std::lock_guard lock(d.stop_mutex);
        d.stopping = false;
    }
    d.thread = std::thread([&d] {
        for (;;) {
            PollResult r;
            try {
                r = d.poll();
            } catch (const std::exception& e) {
                ++d.errors;
                r.wait = d.backoff();
                d.log(LogLevel::error, std::string("I/O Events journal page not stored: ") + e.what());
            }
            std::unique_lock lock(d.stop_mutex);
            if (d.stop_cv.wait_for(lock, r.wait, [&d] { return d.stopping; })) return;
        }
    });
}

void JournalConsumer::stop() {
    Impl& d = *impl_;
    {
        std::lock_guard lock(d.stop_mutex);
        d.stopping = true;
    }
    d.stop_cv.notify_all();
    if (d.thread.joinable()) d.thread.join();
}

PollResult JournalConsumer::poll() { return impl_->poll(); }

std::string JournalConsumer::next_url() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->next;
}

JournalConsumerCounters JournalConsumer::counters() const noexcept {
    const Impl& d = *impl_;
    return {d.requests.load(), d.pages.load(),  d.events_stored.load(), d.duplicates.load(),
            d.empty_polls.load(), d.gaps.load(), d.errors.load()};
}

}  // namespace cebus::io_events
