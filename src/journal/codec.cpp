// The binary event encoding of journal records (format version 1).
//
// Body layout: a presence byte (bit 0 datacontenttype, 1 dataschema,
// 2 subject, 3 time), then id, source, specversion, type and the present
// optional attributes as length-prefixed strings (`time` as its RFC 3339
// text, so every fractional digit survives), then the extension count and per
// extension its name, a type tag and the value, then a data-kind byte and the
// data bytes. Lengths and counts are unsigned LEB128 varints. A native data
// value is stored as its JSON text.
//
// Decoding trusts attribute values, because a record is accepted only after its
// CRC32C matched and the event was validated when it was appended, and
// skipping the re-validation (JSON data parse, UTF-8 scans) is what makes
// replay fast. It still bounds-checks every length, so a damaged body throws
// JournalError(corrupt) and never reads past the buffer.
#include <string>

#include "../core/event_access.hpp"
#include "records.hpp"

namespace cebus::journal {
namespace {

enum : std::uint8_t { has_contenttype = 1, has_dataschema = 2, has_subject = 4, has_time = 8 };

enum class Tag : std::uint8_t { boolean = 0, integer = 1, string = 2, binary = 3, uri = 4, uri_ref = 5, timestamp = 6 };

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7F) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

void put_string(std::string& out, std::string_view s) {
    put_varint(out, s.size());
    out.append(s);
}

class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}

    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            const auto b = static_cast<unsigned char>(byte());
            v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return v;
        }
        fail("varint longer than 10 bytes");
    }
    char byte() {
        if (pos_ >= in_.size()) fail("body ends early");
        return in_[pos_++];
    }
    std::string_view bytes(std::uint64_t n) {
        if (n > in_.size() - pos_) fail("length " + std::to_string(n) + " runs past the end");
        auto s = in_.substr(pos_, n);
        pos_ += n;
        return s;
    }
    std::string string() {
        auto n = varint();
        return std::string(bytes(n));
    }
    bool at_end() const { return pos_ == in_.size(); }
    [[noreturn]] void fail(const std::string& why) const {
        throw JournalError(Errc::corrupt,
                           "invalid journal event encoding at byte " + std::to_string(pos_) + ": " + why);
    }

private:
    std::string_view in_;
    std::size_t pos_ = 0;
};

}  // namespace

std::string codec::encode_event(const Event& e) {
    std::string out;
    out.reserve(64 + e.approximate_size());

    std::uint8_t flags = 0;
    if (e.datacontenttype()) flags |= has_contenttype;
    if (e.dataschema()) flags |= has_dataschema;
    if (e.subject()) flags |= has_subject;
    if (e.time()) flags |= has_time;
    out.push_back(static_cast<char>(flags));

    put_string(out, e.id());
    put_string(out, e.source());
    put_string(out, e.specversion());
    put_string(out, e.type());
    if (e.datacontenttype()) put_string(out, *e.datacontenttype());
    if (e.dataschema()) put_string(out, *e.dataschema());
    if (e.subject()) put_string(out, *e.subject());
    if (e.time()) put_string(out, e.time()->text());

    put_varint(out, e.extensions().size());
    for (const auto& [name, value] : e.extensions()) {
        put_string(out, name);
        std::visit(
            [&out](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, bool>) {
                    out.push_back(static_cast<char>(Tag::boolean));
                    out.push_back(v ? 1 : 0);
                } else if constexpr (std::is_same_v<T, std::int32_t>) {
                    out.push_back(static_cast<char>(Tag::integer));
                    char b[4];
                    detail::put_le32(b, static_cast<std::uint32_t>(v));
                    out.append(b, 4);
                } else if constexpr (std::is_same_v<T, std::string>) {
                    out.push_back(static_cast<char>(Tag::string));
                    put_string(out, v);
                } else if constexpr (std::is_same_v<T, Binary>) {
                    out.push_back(static_cast<char>(Tag::binary));
                    put_string(out, v.bytes);
                } else if constexpr (std::is_same_v<T, Uri>) {
                    out.push_back(static_cast<char>(Tag::uri));
                    put_string(out, v.value);
                } else if constexpr (std::is_same_v<T, UriRef>) {
                    out.push_back(static_cast<char>(Tag::uri_ref));
                    put_string(out, v.value);
                } else {
                    out.push_back(static_cast<char>(Tag::timestamp));
                    put_string(out, v.text());
                }
            },
            value);
    }

    // A native value is stored as the JSON text it serialises to.
    switch (e.data_kind()) {
        case DataKind::none:
            out.push_back(0);
            break;
        case DataKind::text:
        case DataKind::native:
            out.push_back(1);
            put_string(out, e.data());
            break;
        case DataKind::binary:
            out.push_back(2);
            put_string(out, e.data());
            break;
    }
    return out;
}

EventPtr codec::decode_event(std::string_view bytes) {
    using A = cebus::detail::EventAccess;
    Reader r(bytes);
    auto ev = A::make();

    const auto flags = static_cast<std::uint8_t>(r.byte());
    if (flags & ~0x0F) r.fail("unknown attribute flags " + std::to_string(flags));
    A::id(*ev) = r.string();
    A::source(*ev) = r.string();
    A::specversion(*ev) = r.string();
    A::type(*ev) = r.string();
    if (flags & has_contenttype) A::datacontenttype(*ev) = r.string();
    if (flags & has_dataschema) A::dataschema(*ev) = r.string();
    if (flags & has_subject) A::subject(*ev) = r.string();
    try {
        if (flags & has_time) A::time(*ev) = Timestamp::parse(r.bytes(r.varint()));

        const auto count = r.varint();
        if (count > bytes.size()) r.fail("extension count " + std::to_string(count) + " is impossible");
        auto& exts = A::extensions(*ev);
        exts.reserve(count);
        for (std::uint64_t i = 0; i < count; ++i) {
            std::string name = r.string();
            const auto tag = static_cast<Tag>(r.byte());
            switch (tag) {
                case Tag::boolean:
                    exts.emplace_back(std::move(name), AttributeValue(r.byte() != 0));
                    break;
                case Tag::integer:
                    exts.emplace_back(std::move(name),
                                      AttributeValue(static_cast<std::int32_t>(detail::get_le32(r.bytes(4).data()))));
                    break;
                case Tag::string:
                    exts.emplace_back(std::move(name), AttributeValue(r.string()));
                    break;
                case Tag::binary:
                    exts.emplace_back(std::move(name), AttributeValue(Binary{r.string()}));
                    break;
                case Tag::uri:
                    exts.emplace_back(std::move(name), AttributeValue(Uri{r.string()}));
                    break;
                case Tag::uri_ref:
                    exts.emplace_back(std::move(name), AttributeValue(UriRef{r.string()}));
                    break;
                case Tag::timestamp:
                    exts.emplace_back(std::move(name), AttributeValue(Timestamp::parse(r.bytes(r.varint()))));
                    break;
                default:
                    r.fail("unknown extension type tag " + std::to_string(static_cast<int>(tag)));
            }
        }
    } catch (const ValidationError& e) {
        r.fail(std::string("stored timestamp is invalid: ") + e.what());
    }

    const auto kind = static_cast<std::uint8_t>(r.byte());
    switch (kind) {
        case 0:
            A::data_kind(*ev) = DataKind::none;
            break;
        case 1:
            A::data_kind(*ev) = DataKind::text;
            A::data(*ev) = r.string();
            break;
        case 2:
            A::data_kind(*ev) = DataKind::binary;
            A::data(*ev) = r.string();
            break;
        default:
            r.fail("unknown data kind " + std::to_string(kind));
    }
    if (!r.at_end()) r.fail("trailing bytes after the event");
    return ev;
}

namespace detail {

void seal_record(char* record, std::size_t size, std::uint64_t seq, std::int64_t time_ns) {
    put_le32(record, format_version & 0xFFFF);  // version in the low 16 bits, flags 0
    put_le64(record + 8, seq);
    put_le64(record + 16, static_cast<std::uint64_t>(time_ns));
    put_le32(record + 24, static_cast<std::uint32_t>(size - header_size));
    put_le32(record + 28, 0);
    put_le32(record + 4, codec::crc32c(0, record + 8, size - 8));
}

std::string make_record(std::uint64_t seq, std::int64_t time_ns, std::string_view body) {
    std::string rec(header_size, '\0');
    rec.append(body);
    seal_record(rec.data(), rec.size(), seq, time_ns);
    return rec;
}

RecordView check_record(std::string_view record, std::uint64_t expected_seq) {
    auto fail = [&](const std::string& why) {
        throw JournalError(Errc::corrupt, "journal record " + std::to_string(expected_seq) + " is corrupt: " + why);
    };
    if (record.size() < header_size) fail("shorter than its header (" + std::to_string(record.size()) + " bytes)");
    const char* p = record.data();
    const std::uint32_t version = get_le32(p) & 0xFFFF;
    if (version != format_version) fail("format version " + std::to_string(version) + " is not supported");
    const std::uint32_t crc = codec::crc32c(0, p + 8, record.size() - 8);
    if (crc != get_le32(p + 4)) fail("checksum mismatch");
    RecordView v;
    v.seq = get_le64(p + 8);
    v.time_ns = static_cast<std::int64_t>(get_le64(p + 16));
    if (expected_seq != 0 && v.seq != expected_seq) fail("it holds sequence " + std::to_string(v.seq));
    if (get_le32(p + 24) != record.size() - header_size) fail("body length does not match");
    v.body = record.substr(header_size);
    return v;
}

StoredEvent decode_record(std::string_view record, std::uint64_t expected_seq) {
    const RecordView v = check_record(record, expected_seq);
    StoredEvent out;
    out.sequence = v.seq;
    out.appended = to_time_point(v.time_ns);
    out.event = codec::decode_event(v.body);
    return out;
}

}  // namespace detail
}  // namespace cebus::journal
