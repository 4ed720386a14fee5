// Internal retry helpers: backoff with jitter and Retry-After parsing.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace cebus::io_events::detail {

// initial * 2^(attempt-1), capped at `max`, minus up to 50 % random jitter
// so that many senders do not retry in step.
std::chrono::milliseconds backoff_delay(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                                        std::uint32_t attempt);

// Adds up to 10 % random jitter on top of a server-given delay.
std::chrono::milliseconds add_jitter(std::chrono::milliseconds delay);

// Retry-After as delta-seconds or an HTTP date (RFC 7231 IMF-fixdate, and
// the weekday-less form some servers send). nullopt when absent or
// unparsable; capped at `max`; a date in the past is zero.
std::optional<std::chrono::milliseconds> parse_retry_after(std::optional<std::string_view> value,
                                                           std::chrono::milliseconds max);

}  // namespace cebus::io_events::detail
