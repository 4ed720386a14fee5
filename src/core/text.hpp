// Text helpers shared by the event model and the formats: Base64 (RFC 4648,
// standard alphabet with padding), UTF-8 checks and ASCII case folding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cebus::detail {

std::string base64_encode(std::string_view bytes);
// Appends the encoding to `out`.
void base64_encode_to(std::string_view bytes, std::string& out);
// Decodes strict Base64 (padding required, no whitespace). Returns nothing on
// invalid input and stores the offset of the first bad character.
std::optional<std::string> base64_decode(std::string_view text, std::size_t* bad_offset = nullptr);

// Decodes one UTF-8 code point at `text[pos]`, rejecting overlong forms,
// surrogates and values past U+10FFFF. Advances `pos`; returns -1 when invalid.
std::int32_t next_code_point(std::string_view text, std::size_t& pos) noexcept;
// Byte offset of the first invalid UTF-8 sequence, or npos.
std::size_t find_invalid_utf8(std::string_view text) noexcept;

bool iequals(std::string_view a, std::string_view b) noexcept;
bool istarts_with(std::string_view text, std::string_view prefix) noexcept;
std::string to_lower(std::string_view text);

// Quotes `text` for an error message: at most 120 bytes, control bytes
// escaped, so a hostile value cannot flood a log line.
std::string quote_for_message(std::string_view text);

}  // namespace cebus::detail
