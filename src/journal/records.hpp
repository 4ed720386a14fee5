// On-disk layout of the journal (format version 1). Internal to
// cebus-journal; the tools read it through the public Journal API.
//
// Named LMDB databases in one environment:
//   events       u64 big-endian sequence -> record (header + event body)
//   meta         ASCII key -> little-endian integer (format, first_seq, ...)
//   cursors      subscription name -> CursorRecord
//   dead         name '\0' u64 BE sequence -> DeadRecord header + reason + record
//   dedup        source '\0' id (or a hash, see dedup_key) -> DedupValue
//   dedup_order  u64 BE sequence -> dedup key, oldest first, for pruning
//   state        opaque key -> opaque value (append_batch_with_state)
//
// Record header, 32 bytes, little-endian:
//   0  u16 format version   2  u16 flags (0)   4  u32 CRC32C of bytes 8..end
//   8  u64 sequence (equals the key)   16  i64 append time, ns since 1970 UTC
//   24 u32 body length   28 u32 reserved (0)   32 body
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace cebus::journal::detail {

inline constexpr std::size_t header_size = 32;

inline void put_le32(char* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void put_le64(char* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline std::uint32_t get_le32(const char* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
inline std::uint64_t get_le64(const char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
inline void put_be64(char* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * (7 - i)));
}
inline std::uint64_t get_be64(const char* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

struct SeqKey {
    char bytes[8];
    explicit SeqKey(std::uint64_t seq) { put_be64(bytes, seq); }
};

// Subscription state, 56 bytes little-endian.
struct CursorRecord {
    std::uint64_t cursor = 0;          // last sequence finished
    std::uint64_t head_seq = 0;        // the event head_attempts counts for
    std::uint32_t head_attempts = 0;
    std::uint32_t at_retention = 0;    // RetentionAtCursor
    std::uint64_t skipped_total = 0;
    std::uint64_t skip_first = 0;
    std::uint64_t skip_last = 0;
    std::uint64_t reserved = 0;

    static constexpr std::size_t size = 56;
    std::string encode() const {
        std::string s(size, '\0');
        put_le64(&s[0], cursor);
        put_le64(&s[8], head_seq);
        put_le32(&s[16], head_attempts);
        put_le32(&s[20], at_retention);
        put_le64(&s[24], skipped_total);
        put_le64(&s[32], skip_first);
        put_le64(&s[40], skip_last);
        put_le64(&s[48], reserved);
        return s;
    }
    static bool decode(std::string_view s, CursorRecord& r) {
        if (s.size() < size) return false;
        r.cursor = get_le64(&s[0]);
        r.head_seq = get_le64(&s[8]);
        r.head_attempts = get_le32(&s[16]);
        r.at_retention = get_le32(&s[20]);
        r.skipped_total = get_le64(&s[24]);
        r.skip_first = get_le64(&s[32]);
        r.skip_last = get_le64(&s[40]);
        return true;
    }
};

// Dead letter value: 24-byte header, the reason, then the full record.
//   0 u32 attempts  4 u32 flags (bit 0: requeued)  8 i64 time ns
//   16 u32 reason length  20 u32 reserved
struct DeadHeader {
    std::uint32_t attempts = 0;
    bool requeued = false;
    std::int64_t time_ns = 0;
    static constexpr std::size_t size = 24;
};

inline std::string dead_key(std::string_view name, std::uint64_t seq) {
    std::string k(name);
    k.push_back('\0');
    k.resize(k.size() + 8);
    put_be64(&k[k.size() - 8], seq);
    return k;
}

inline std::string encode_dead(const DeadHeader& h, std::string_view reason, std::string_view record) {
    std::string s(DeadHeader::size, '\0');
    put_le32(&s[0], h.attempts);
    put_le32(&s[4], h.requeued ? 1u : 0u);
    put_le64(&s[8], static_cast<std::uint64_t>(h.time_ns));
    put_le32(&s[16], static_cast<std::uint32_t>(reason.size()));
    s.append(reason);
    s.append(record);
    return s;
}

inline bool decode_dead(std::string_view v, DeadHeader& h, std::string_view& reason, std::string_view& record) {
    if (v.size() < DeadHeader::size) return false;
    h.attempts = get_le32(&v[0]);
    h.requeued = (get_le32(&v[4]) & 1u) != 0;
    h.time_ns = static_cast<std::int64_t>(get_le64(&v[8]));
    const std::uint32_t rl = get_le32(&v[16]);
    if (v.size() < DeadHeader::size + rl) return false;
    reason = v.substr(DeadHeader::size, rl);
    record = v.substr(DeadHeader::size + rl);
    return true;
}

}  // namespace cebus::journal::detail

#include <chrono>

#include <cebus/journal.hpp>

namespace cebus::journal::detail {

// Builds a full record: header with sequence, time and CRC32C, then `body`.
std::string make_record(std::uint64_t seq, std::int64_t time_ns, std::string_view body);

// Writes the header fields and CRC into `record`, whose body is already in
// place after header_size bytes. Lets the writer build a record in one buffer.
void seal_record(char* record, std::size_t size, std::uint64_t seq, std::int64_t time_ns);

struct RecordView {
    std::uint64_t seq = 0;
    std::int64_t time_ns = 0;
    std::string_view body;
};

// Checks the header, the CRC and that the embedded sequence equals
// `expected_seq` (0: any). Throws JournalError(corrupt) naming the sequence
// and what is wrong.
RecordView check_record(std::string_view record, std::uint64_t expected_seq);

// check_record plus decode_event.
StoredEvent decode_record(std::string_view record, std::uint64_t expected_seq);

inline std::chrono::system_clock::time_point to_time_point(std::int64_t ns) {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
}
inline std::int64_t to_ns(std::chrono::system_clock::time_point tp) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
}

}  // namespace cebus::journal::detail
