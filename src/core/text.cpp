#include "text.hpp"

#include <array>
#include <cstdio>

namespace cebus::detail {

namespace {

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_base64_table() {
    std::array<std::int8_t, 256> table{};
    for (auto& v : table) v = -1;
    for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(base64_alphabet[i])] = static_cast<std::int8_t>(i);
    return table;
}

constexpr auto base64_table = make_base64_table();

char lower_ascii(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

void base64_encode_to(std::string_view bytes, std::string& out) {
    out.reserve(out.size() + (bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const auto n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                       (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) | std::uint8_t(bytes[i + 2]);
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += base64_alphabet[(n >> 6) & 63];
        out += base64_alphabet[n & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const auto n = std::uint32_t(std::uint8_t(bytes[i])) << 16;
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += "==";
    } else if (rest == 2) {
        const auto n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) | (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8);
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += base64_alphabet[(n >> 6) & 63];
        out += '=';
    }
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    base64_encode_to(bytes, out);
    return out;
}

std::optional<std::string> base64_decode(std::string_view text, std::size_t* bad_offset) {
    auto fail = [&](std::size_t at) -> std::optional<std::string> {
        if (bad_offset) *bad_offset = at;
        return std::nullopt;
    };
    if (text.size() % 4 != 0) return fail(text.size());

    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        int values[4];
        int padding = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = text[i + k];
            if (c == '=' && last && k >= 2) {
                // Padding may only end the last quantum: "xx==" or "xxx=".
                if (k == 2 && text[i + 3] != '=') return fail(i + k);
                values[k] = 0;
                ++padding;
                continue;
            }
            if (padding > 0) return fail(i + k);
            const int v = base64_table[static_cast<unsigned char>(c)];
            if (v < 0) return fail(i + k);
            values[k] = v;
        }
        const std::uint32_t n = (std::uint32_t(values[0]) << 18) | (std::uint32_t(values[1]) << 12) |
                                (std::uint32_t(values[2]) << 6) | std::uint32_t(values[3]);
        out += static_cast<char>((n >> 16) & 0xFF);
        if (padding < 2) out += static_cast<char>((n >> 8) & 0xFF);
        if (padding < 1) out += static_cast<char>(n & 0xFF);
    }
    return out;
}

std::int32_t next_code_point(std::string_view text, std::size_t& pos) noexcept {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char b0 = byte(pos);
    if (b0 < 0x80) {
        ++pos;
        return b0;
    }
    int length;
    std::int32_t cp;
    std::int32_t min;
    if ((b0 & 0xE0) == 0xC0) {
        length = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        length = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        length = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if (pos + length > text.size()) return -1;
    for (int k = 1; k < length; ++k) {
        const unsigned char b = byte(pos + k);
        if ((b & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    pos += length;
    return cp;
}

std::size_t find_invalid_utf8(std::string_view text) noexcept {
    std::size_t pos = 0;
    while (pos < text.size()) {
        // Fast path over ASCII.
        if (static_cast<unsigned char>(text[pos]) < 0x80) {
            ++pos;
            continue;
        }
        const std::size_t start = pos;
        if (next_code_point(text, pos) < 0) return start;
    }
    return std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
    }
    return true;
}

bool istarts_with(std::string_view text, std::string_view prefix) noexcept {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string to_lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) c = lower_ascii(c);
    return out;
}

std::string quote_for_message(std::string_view text) {
    constexpr std::size_t max_bytes = 120;
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size() && i < max_bytes; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    if (text.size() > max_bytes) out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

}  // namespace cebus::detail
