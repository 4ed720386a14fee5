// The read side of the journal (snapshots through pooled read transactions)
// and the administrative operations: cursors, dead letters, state.
#include <sys/stat.h>

#include <algorithm>

#include "impl.hpp"

namespace cebus::journal {

using namespace detail;

namespace {

struct CursorCloser {
    MDB_cursor* c = nullptr;
    ~CursorCloser() {
        if (c) mdb_cursor_close(c);
    }
};

std::int64_t record_time(const MDB_val& v) {
    if (v.mv_size < header_size) return 0;
    return static_cast<std::int64_t>(get_le64(static_cast<const char*>(v.mv_data) + 16));
}

void check_name(std::string_view name) {
    if (name.empty() || name.size() > 200) {
        throw JournalError(Errc::invalid, "journal: invalid subscription name \"" + std::string(name.substr(0, 200)) +
                                              "\": names are 1 to 200 bytes");
    }
    for (char c : name) {
        if (c < 0x21 || c > 0x7E) {
            throw JournalError(Errc::invalid, "journal: invalid subscription name \"" + std::string(name) +
                                                  "\": names use printable ASCII without spaces");
        }
    }
}

}  // namespace

std::uint64_t Journal::Impl::refresh_last_seq() const {
    try {
        auto r = env->read();
        ro_last_cache = last_in(r.get());
    } catch (const JournalError&) {
        // Keep the last value read.
    }
    return ro_last_cache;
}

std::uint64_t Journal::last_sequence() const noexcept {
    if (impl_->opt.read_only) return impl_->refresh_last_seq();
    return impl_->last_seq.load(std::memory_order_acquire);
}

std::uint64_t Journal::first_sequence() const {
    auto r = impl_->env->read();
    const std::uint64_t first = impl_->first_in(r.get());
    if (first == 0) return 0;
    // In relaxed mode a stored event may not be acknowledged yet.
    return first <= last_sequence() ? first : 0;
}

std::optional<std::string> Journal::read_state(std::string_view key) const {
    auto r = impl_->env->read();
    MDB_val k = to_val(key);
    MDB_val v;
    const int rc = mdb_get(r.get(), r.dbi().state, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc != 0) throw_lmdb(rc, "reading journal state");
    return std::string(to_sv(v));
}

StoredEvent Journal::read(std::uint64_t sequence) const {
    if (sequence == 0 || sequence > last_sequence()) {
        throw JournalError(Errc::not_found, "journal: no event with sequence " + std::to_string(sequence));
    }
    auto r = impl_->env->read();
    SeqKey key(sequence);
    MDB_val k{8, key.bytes};
    MDB_val v;
    const int rc = mdb_get(r.get(), r.dbi().events, &k, &v);
    if (rc == MDB_NOTFOUND) {
        throw JournalError(Errc::not_found, "journal: no event with sequence " + std::to_string(sequence) +
                                                " (removed by retention or never stored)");
    }
    if (rc != 0) throw_lmdb(rc, "reading an event");
    return decode_record(to_sv(v), sequence);
}

std::uint64_t Journal::replay(std::uint64_t from, const std::function<bool(const StoredEvent&)>& visit,
                              std::uint64_t max_events) const {
    constexpr std::size_t batch = 512;
    std::uint64_t next = std::max<std::uint64_t>(from, 1);
    std::uint64_t visited = 0;
    std::vector<StoredEvent> events;
    events.reserve(batch);
    while (visited < max_events) {
        const std::uint64_t last = last_sequence();
        if (next > last) break;
        events.clear();
        {
            // Decode under the snapshot, visit after it is released: a slow
            // visitor pins no pages.
            auto r = impl_->env->read();
            CursorCloser cc;
            if (const int rc = mdb_cursor_open(r.get(), r.dbi().events, &cc.c); rc != 0) {
                throw_lmdb(rc, "opening an events cursor");
            }
            SeqKey key(next);
            MDB_val k{8, key.bytes};
            MDB_val v;
            for (int rc = mdb_cursor_get(cc.c, &k, &v, MDB_SET_RANGE);
                 rc == 0 && events.size() < batch && visited + events.size() < max_events;
                 rc = mdb_cursor_get(cc.c, &k, &v, MDB_NEXT)) {
                const std::uint64_t seq = get_be64(static_cast<const char*>(k.mv_data));
                if (seq > last) break;
                events.push_back(decode_record(to_sv(v), seq));
            }
        }
        if (events.empty()) break;
        for (const auto& e : events) {
            ++visited;
            if (!visit(e)) return visited;
        }
        next = events.back().sequence + 1;
    }
    return visited;
}

namespace {

std::uint64_t sequence_at_txn(MDB_txn* txn, const Dbis& dbi, std::uint64_t first, std::uint64_t last,
                              std::int64_t t) {
    // Append times never decrease with the sequence: binary search.
    std::uint64_t lo = first;
    std::uint64_t hi = last + 1;
    while (lo < hi) {
        const std::uint64_t mid = lo + (hi - lo) / 2;
        SeqKey key(mid);
        MDB_val k{8, key.bytes};
        MDB_val v;
        if (mdb_get(txn, dbi.events, &k, &v) != 0) {
            lo = mid + 1;  // removed meanwhile; cannot happen inside one snapshot
            continue;
        }
        if (record_time(v) < t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

}  // namespace

std::uint64_t Journal::sequence_at(std::chrono::system_clock::time_point time) const {
    auto r = impl_->env->read();
    const std::uint64_t first = impl_->first_in(r.get());
    const std::uint64_t last = impl_->last_in(r.get());
    if (first == 0) return last + 1;
    return sequence_at_txn(r.get(), r.dbi(), first, last, to_ns(time));
}

std::uint64_t Journal::wait_for_append(std::uint64_t after, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (impl_->opt.read_only) {
        // Another process writes: poll.
        for (;;) {
            const std::uint64_t last = last_sequence();
            if (last > after || std::chrono::steady_clock::now() >= deadline) return last;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    std::unique_lock lk(impl_->notify_mu);
    impl_->notify_cv.wait_until(lk, deadline, [&] { return impl_->last_seq.load() > after || impl_->closed.load(); });
    return impl_->last_seq.load();
}

std::uint64_t Journal::Impl::resolve_start(MDB_txn* txn, const StartPosition& pos) {
    const std::uint64_t first = first_in(txn);
    const std::uint64_t last = last_in(txn);
    const std::uint64_t floor = first == 0 ? last : first - 1;  // cursor that delivers everything stored
    switch (pos.kind) {
        case StartPosition::Kind::beginning:
            return floor;
        case StartPosition::Kind::end:
            return last;
        case StartPosition::Kind::sequence: {
            const std::uint64_t c = pos.sequence == 0 ? 0 : pos.sequence - 1;
            return std::clamp(c, floor, std::max(floor, c));
        }
        case StartPosition::Kind::time:
            if (first == 0) return last;
            return sequence_at_txn(txn, env->dbi(), first, last, to_ns(pos.time)) - 1;
    }
    return floor;
}

// ---------------------------------------------------------------------------
// Cursors and dead letters

std::vector<CursorInfo> Journal::cursors() const {
    std::vector<CursorInfo> out;
    const std::uint64_t last = last_sequence();
    {
        auto r = impl_->env->read();
        CursorCloser cc;
        if (const int rc = mdb_cursor_open(r.get(), r.dbi().cursors, &cc.c); rc != 0) throw_lmdb(rc, "reading cursors");
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cc.c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cc.c, &k, &v, MDB_NEXT)) {
            CursorRecord rec;
            if (!CursorRecord::decode(to_sv(v), rec)) continue;
            CursorInfo ci;
            ci.name = std::string(to_sv(k));
            ci.cursor = rec.cursor;
            ci.lag = last > rec.cursor ? last - rec.cursor : 0;
            ci.head_attempts = rec.head_seq == rec.cursor + 1 ? rec.head_attempts : 0;
            ci.at_retention = static_cast<RetentionAtCursor>(rec.at_retention);
            ci.skipped_events = rec.skipped_total;
            ci.last_skipped_first = rec.skip_first;
            ci.last_skipped_last = rec.skip_last;
            out.push_back(std::move(ci));
        }
        // Dead letters per subscription: their keys start with the name and
        // a NUL byte, so each count is one range scan.
        CursorCloser dc;
        if (const int rc = mdb_cursor_open(r.get(), r.dbi().dead, &dc.c); rc != 0) throw_lmdb(rc, "reading dead letters");
        for (auto& ci : out) {
            std::string prefix = ci.name;
            prefix.push_back('\0');
            MDB_val dk = to_val(prefix);
            MDB_val dv;
            for (int rc = mdb_cursor_get(dc.c, &dk, &dv, MDB_SET_RANGE); rc == 0;
                 rc = mdb_cursor_get(dc.c, &dk, &dv, MDB_NEXT)) {
                const std::string_view key = to_sv(dk);
                if (key.size() != prefix.size() + 8 || key.substr(0, prefix.size()) != prefix) break;
                ++ci.dead_letters;
            }
        }
    }
    std::lock_guard lk(impl_->subs_mu);
    for (auto& ci : out) {
        auto it = impl_->subs.find(ci.name);
        ci.attached = it != impl_->subs.end() && !it->second.expired();
    }
    return out;
}

std::vector<DeadLetter> Journal::dead_letters(std::string_view subscription, std::size_t limit) const {
    std::vector<DeadLetter> out;
    auto r = impl_->env->read();
    CursorCloser cc;
    if (const int rc = mdb_cursor_open(r.get(), r.dbi().dead, &cc.c); rc != 0) throw_lmdb(rc, "reading dead letters");
    std::string prefix;
    if (!subscription.empty()) {
        prefix.assign(subscription);
        prefix.push_back('\0');
    }
    MDB_val k = to_val(prefix);
    MDB_val v;
    int rc = prefix.empty() ? mdb_cursor_get(cc.c, &k, &v, MDB_FIRST) : mdb_cursor_get(cc.c, &k, &v, MDB_SET_RANGE);
    for (; rc == 0 && out.size() < limit; rc = mdb_cursor_get(cc.c, &k, &v, MDB_NEXT)) {
        const std::string_view key = to_sv(k);
        if (!prefix.empty() && key.substr(0, prefix.size()) != prefix) break;
        if (key.size() < 9) continue;
        DeadLetter d;
        d.subscription = std::string(key.substr(0, key.size() - 9));
        d.sequence = get_be64(key.data() + key.size() - 8);
        DeadHeader h;
        std::string_view reason, record;
        if (!decode_dead(to_sv(v), h, reason, record)) continue;
        d.attempts = h.attempts;
        d.requeued = h.requeued;
        d.reason = std::string(reason);
        d.dead_lettered_at = to_time_point(h.time_ns);
        try {
            d.event = decode_record(record, d.sequence).event;
        } catch (const JournalError&) {
            // A damaged copy: list it without the event.
        }
        out.push_back(std::move(d));
    }
    return out;
}

namespace {

// Visits the dead letters of `subscription` (all when empty) whose sequence
// is in `sequences` (all when empty) inside a write transaction.
template <class F>
std::size_t for_dead(MDB_txn* txn, const Dbis& dbi, std::string_view subscription,
                     const std::vector<std::uint64_t>& sequences, F&& f) {
    std::vector<std::pair<std::string, std::string>> hits;
    {
        CursorCloser cc;
        check_write(mdb_cursor_open(txn, dbi.dead, &cc.c), "reading dead letters");
        std::string prefix;
        if (!subscription.empty()) {
            prefix.assign(subscription);
            prefix.push_back('\0');
        }
        MDB_val k = to_val(prefix);
        MDB_val v;
        int rc = prefix.empty() ? mdb_cursor_get(cc.c, &k, &v, MDB_FIRST) : mdb_cursor_get(cc.c, &k, &v, MDB_SET_RANGE);
        for (; rc == 0; rc = mdb_cursor_get(cc.c, &k, &v, MDB_NEXT)) {
            const std::string_view key = to_sv(k);
            if (!prefix.empty() && key.substr(0, prefix.size()) != prefix) break;
            if (key.size() < 9) continue;
            const std::uint64_t seq = get_be64(key.data() + key.size() - 8);
            if (!sequences.empty() && std::find(sequences.begin(), sequences.end(), seq) == sequences.end()) continue;
            hits.emplace_back(std::string(key), std::string(to_sv(v)));
        }
    }
    for (auto& [key, value] : hits) f(key, value);
    return hits.size();
}

}  // namespace

std::size_t Journal::requeue(std::string_view subscription, const std::vector<std::uint64_t>& sequences) {
    std::size_t n = 0;
    impl_->run_op([&](OpContext& ctx) {
        n = 0;
        for_dead(ctx.txn, ctx.dbi, subscription, sequences, [&](const std::string& key, std::string& value) {
            if (value.size() < DeadHeader::size) return;
            put_le32(&value[4], 1u);
            MDB_val k = to_val(key);
            MDB_val v = to_val(value);
            check_write(mdb_put(ctx.txn, ctx.dbi.dead, &k, &v, 0), "requeuing a dead letter");
            ++n;
        });
    });
    {
        std::lock_guard g(impl_->notify_mu);
        impl_->requeue_gen++;
    }
    impl_->notify_cv.notify_all();
    return n;
}

std::size_t Journal::purge(std::string_view subscription, const std::vector<std::uint64_t>& sequences) {
    std::size_t n = 0;
    impl_->run_op([&](OpContext& ctx) {
        n = for_dead(ctx.txn, ctx.dbi, subscription, sequences, [&](const std::string& key, std::string&) {
            MDB_val k = to_val(key);
            check_write(mdb_del(ctx.txn, ctx.dbi.dead, &k, nullptr), "purging a dead letter");
        });
    });
    return n;
}

void Journal::remove_subscription(std::string_view name) {
    check_name(name);
    {
        std::lock_guard lk(impl_->subs_mu);
        auto it = impl_->subs.find(name);
        if (it != impl_->subs.end() && !it->second.expired()) {
            throw JournalError(Errc::busy, "journal: subscription \"" + std::string(name) +
                                               "\" is attached; reset its DurableSubscription first");
        }
    }
    impl_->run_op([&](OpContext& ctx) {
        MDB_val k = to_val(name);
        const int rc = mdb_del(ctx.txn, ctx.dbi.cursors, &k, nullptr);
        if (rc == MDB_NOTFOUND) {
            throw JournalError(Errc::not_found, "journal: no subscription \"" + std::string(name) + "\"");
        }
        check_write(rc, "removing a subscription");
        for_dead(ctx.txn, ctx.dbi, name, {}, [&](const std::string& key, std::string&) {
            MDB_val dk = to_val(key);
            check_write(mdb_del(ctx.txn, ctx.dbi.dead, &dk, nullptr), "removing dead letters");
        });
    });
}

void Journal::rewind(std::string_view name, StartPosition position) {
    check_name(name);
    {
        std::lock_guard lk(impl_->subs_mu);
        auto it = impl_->subs.find(name);
        if (it != impl_->subs.end() && !it->second.expired()) {
            throw JournalError(Errc::busy, "journal: subscription \"" + std::string(name) +
                                               "\" is attached; reset its DurableSubscription before rewinding");
        }
    }
    impl_->run_op([&](OpContext& ctx) {
        CursorRecord rec;
        if (!Impl::get_cursor(ctx.txn, ctx.dbi, name, rec)) {
            throw JournalError(Errc::not_found, "journal: no subscription \"" + std::string(name) + "\"");
        }
        rec.cursor = impl_->resolve_start(ctx.txn, position);
        rec.head_seq = 0;
        rec.head_attempts = 0;
        Impl::put_cursor(ctx.txn, ctx.dbi, name, rec);
    });
}

Stats Journal::stats() const {
    Stats s;
    {
        auto r = impl_->env->read();
        s.first_sequence = impl_->first_in(r.get());
        s.last_sequence = s.first_sequence ? impl_->last_in(r.get()) : 0;
        s.events = s.first_sequence ? s.last_sequence - s.first_sequence + 1 : 0;
        MDB_val k = to_val("stored_bytes");
        MDB_val v;
        if (mdb_get(r.get(), r.dbi().meta, &k, &v) == 0 && v.mv_size == 8) {
            s.stored_bytes = get_le64(static_cast<const char*>(v.mv_data));
        }
        MDB_stat st;
        if (mdb_stat(r.get(), r.dbi().dead, &st) == 0) s.dead_letters = st.ms_entries;
        if (mdb_stat(r.get(), r.dbi().dedup, &st) == 0) s.dedup_entries = st.ms_entries;
    }
    MDB_envinfo info;
    mdb_env_info(impl_->env->raw(), &info);
    s.map_bytes = info.me_mapsize;
    struct stat fst {};
    if (::stat((impl_->opt.directory / "data.mdb").c_str(), &fst) == 0) s.file_bytes = static_cast<std::uint64_t>(fst.st_size);
    std::uint64_t readers = 0;
    mdb_reader_list(
        impl_->env->raw(),
        [](const char* line, void* ctx) -> int {
            // Skip the column header and the "(no active readers)" line.
            const std::string_view l(line);
            if (l.find("pid") == std::string_view::npos && l.find("no active") == std::string_view::npos) {
                ++*static_cast<std::uint64_t*>(ctx);
            }
            return 0;
        },
        &readers);
    s.readers_used = readers;
    s.cursors = cursors();
    return s;
}

}  // namespace cebus::journal
