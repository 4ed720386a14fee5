#include "retry.hpp"

#include <ctime>
#include <random>
#include <string>

namespace cebus::io_events::detail {

namespace {

double random_fraction() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

std::chrono::milliseconds backoff_delay(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                                        std::uint32_t attempt) {
    double delay = static_cast<double>(initial.count());
    for (std::uint32_t i = 1; i < attempt && delay < static_cast<double>(max.count()); ++i) delay *= 2;
    delay = std::min(delay, static_cast<double>(max.count()));
    delay *= 1.0 - 0.5 * random_fraction();
    return std::chrono::milliseconds(static_cast<std::int64_t>(delay));
}

std::chrono::milliseconds add_jitter(std::chrono::milliseconds delay) {
    const double extra = static_cast<double>(delay.count()) * 0.1 * random_fraction();
    return delay + std::chrono::milliseconds(static_cast<std::int64_t>(extra));
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::optional<std::string_view> value,
                                                           std::chrono::milliseconds max) {
    if (!value) return std::nullopt;
    std::string_view text = *value;
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    if (text.empty()) return std::nullopt;

    if (text.find_first_not_of("0123456789") == std::string_view::npos) {
        if (text.size() > 9) return max;
        const std::chrono::milliseconds delay(std::stoll(std::string(text)) * 1000);
        return std::min(delay, max);
    }

    // HTTP date, with or without the weekday.
    std::string date(text);
    if (const auto comma = date.find(','); comma != std::string::npos) date = date.substr(comma + 1);
    std::tm tm{};
    const char* end = strptime(date.c_str(), " %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') return std::nullopt;
    const std::time_t when = timegm(&tm);
    const std::time_t now = std::time(nullptr);
    if (when <= now) return std::chrono::milliseconds(0);
    return std::min(std::chrono::milliseconds((when - now) * 1000), max);
}

}  // namespace cebus::io_events::detail
