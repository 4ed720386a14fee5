// Retention, de-duplication pruning and stale-reader checks, run by the
// writer between batches in transactions of bounded size.
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

}  // namespace

bool Journal::Impl::get_cursor(MDB_txn* txn, const Dbis& dbi, std::string_view name, CursorRecord& r) {
    MDB_val k = to_val(name);
    MDB_val v;
    if (mdb_get(txn, dbi.cursors, &k, &v) != 0) return false;
    return CursorRecord::decode(to_sv(v), r);
}

void Journal::Impl::put_cursor(MDB_txn* txn, const Dbis& dbi, std::string_view name, const CursorRecord& r) {
    const std::string s = r.encode();
    MDB_val k = to_val(name);
    MDB_val v = to_val(s);
    check_write(mdb_put(txn, dbi.cursors, &k, &v, 0), "writing a subscription cursor");
}

std::uint64_t Journal::Impl::trim_batch(OpContext& ctx, bool& more) {
    const RetentionPolicy& rp = opt.retention;
    if (rp.max_age.count() == 0 && rp.max_bytes == 0 && rp.max_events == 0) return 0;
    MDB_txn* txn = ctx.txn;
    const Dbis& dbi = ctx.dbi;

    const std::uint64_t first = first_in(txn);
    if (first == 0) return 0;
    const std::uint64_t last = last_in(txn);

    // Subscriptions that retention waits for bound the trim.
    std::uint64_t bound = last;
    std::string blocker;
    std::vector<std::pair<std::string, CursorRecord>> skippers;
    {
        CursorCloser cc;
        check_write(mdb_cursor_open(txn, dbi.cursors, &cc.c), "reading cursors");
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cc.c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cc.c, &k, &v, MDB_NEXT)) {
            CursorRecord r;
            if (!CursorRecord::decode(to_sv(v), r)) continue;
            if (r.at_retention == static_cast<std::uint32_t>(RetentionAtCursor::wait)) {
                if (r.cursor < bound) {
                    bound = r.cursor;
                    blocker = std::string(to_sv(k));
                }
            } else {
                skippers.emplace_back(std::string(to_sv(k)), r);
            }
        }
    }

    std::uint64_t stored = meta_get(txn, dbi, "stored_bytes", 0);
    const std::uint64_t count = last - first + 1;
    const std::int64_t age_cut =
        ctx.now_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(rp.max_age).count();

    std::vector<std::uint64_t> victims;
    bool blocked = false;
    {
        CursorCloser cc;
        check_write(mdb_cursor_open(txn, dbi.events, &cc.c), "reading events");
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cc.c, &k, &v, MDB_FIRST); rc == 0 && victims.size() < rp.trim_batch;
             rc = mdb_cursor_get(cc.c, &k, &v, MDB_NEXT)) {
            const std::uint64_t seq = get_be64(static_cast<const char*>(k.mv_data));
            const std::uint64_t left = count - victims.size();
            bool over = (rp.max_events != 0 && left > rp.max_events) || (rp.max_bytes != 0 && stored > rp.max_bytes);
            if (!over && rp.max_age.count() != 0 && v.mv_size >= header_size) {
                const auto t = static_cast<std::int64_t>(get_le64(static_cast<const char*>(v.mv_data) + 16));
                over = t < age_cut;
            }
            if (!over) break;
            if (seq > bound) {
                blocked = true;
                break;
            }
            victims.push_back(seq);
            stored -= std::min<std::uint64_t>(stored, v.mv_size);
        }
    }

    if (blocked && retention_blocked_logged != bound + 1) {
        retention_blocked_logged = bound + 1;
        log(LogLevel::warning, "journal: retention waits for subscription \"" + blocker + "\" at sequence " +
                                   std::to_string(bound) + "; the journal is over its limits until it catches up");
    }
    if (victims.empty()) return 0;

    for (std::uint64_t seq : victims) {
        SeqKey key(seq);
        MDB_val k{8, key.bytes};
        check_write(mdb_del(txn, dbi.events, &k, nullptr), "trimming an event");
    }
    const std::uint64_t upto = victims.back();
    meta_put(txn, dbi, "first_seq", upto + 1);
    meta_put(txn, dbi, "stored_bytes", stored);

    // Subscriptions that chose to be skipped: move their cursors in the same
    // transaction and record the range, so nothing is passed silently.
    for (auto& [name, r] : skippers) {
        if (r.cursor >= upto) continue;
        const std::uint64_t skipped = upto - r.cursor;
        r.skip_first = r.cursor + 1;
        r.skip_last = upto;
        r.skipped_total += skipped;
        r.cursor = upto;
        r.head_seq = 0;
        r.head_attempts = 0;
        put_cursor(txn, dbi, name, r);
        metrics.skipped += skipped;
        log_limited(LogLevel::warning, "retention-skip:" + name,
                    "journal: retention skipped sequences " + std::to_string(r.skip_first) + ".." +
                        std::to_string(upto) + " before subscription \"" + name + "\" finished them");
    }

    more = victims.size() == rp.trim_batch;
    return victims.size();
}

std::uint64_t Journal::Impl::prune_dedup(OpContext& ctx, bool& more) {
    if (opt.dedup_window.count() == 0) return 0;
    MDB_txn* txn = ctx.txn;
    const Dbis& dbi = ctx.dbi;
    std::uint64_t count = meta_get(txn, dbi, "dedup_count", 0);
    const std::uint64_t count_before = count;
    // Entries of events that retention removed go too, so the index size
    // follows retention and the file stops growing once retention trims.
    // The window and dedup_max_entries alone allow a much larger index.
    const std::uint64_t first_kept = meta_get(txn, dbi, "first_seq", 1);
    const std::int64_t cut =
        ctx.now_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(opt.dedup_window).count();

    std::vector<std::pair<std::string, std::string>> drop;  // order key, dedup key (empty: order only)
    {
        CursorCloser cc;
        check_write(mdb_cursor_open(txn, dbi.dedup_order, &cc.c), "reading the de-duplication order");
        MDB_val k, v;
        std::uint64_t simulated = count;
        for (int rc = mdb_cursor_get(cc.c, &k, &v, MDB_FIRST); rc == 0 && drop.size() < opt.retention.trim_batch;
             rc = mdb_cursor_get(cc.c, &k, &v, MDB_NEXT)) {
            const std::uint64_t seq = get_be64(static_cast<const char*>(k.mv_data));
            MDB_val dk = v;
            MDB_val dv;
            const bool live = mdb_get(txn, dbi.dedup, &dk, &dv) == 0 && dv.mv_size >= 16 &&
                              get_le64(static_cast<const char*>(dv.mv_data)) == seq;
            if (!live) {
                // The pair was appended again later; its index entry belongs
                // to the newer order entry.
                drop.emplace_back(std::string(to_sv(k)), std::string());
                continue;
            }
            const auto t = static_cast<std::int64_t>(get_le64(static_cast<const char*>(dv.mv_data) + 8));
            if (simulated <= opt.dedup_max_entries && t >= cut && seq >= first_kept) break;
            drop.emplace_back(std::string(to_sv(k)), std::string(to_sv(v)));
            --simulated;
        }
    }
    for (const auto& [ok, dk] : drop) {
        MDB_val k = to_val(ok);
        check_write(mdb_del(txn, dbi.dedup_order, &k, nullptr), "pruning the de-duplication order");
        if (!dk.empty()) {
            MDB_val d = to_val(dk);
            const int rc = mdb_del(txn, dbi.dedup, &d, nullptr);
            if (rc != MDB_NOTFOUND) check_write(rc, "pruning the de-duplication index");
            if (count > 0) --count;
        }
    }
    if (count != count_before) meta_put(txn, dbi, "dedup_count", count);
    more = more || drop.size() == opt.retention.trim_batch;
    return drop.size();
}

void Journal::Impl::housekeeping() {
    const auto now = std::chrono::steady_clock::now();
    bool more = false;
    const RetentionPolicy& rp = opt.retention;
    const bool retention_on = rp.max_age.count() != 0 || rp.max_bytes != 0 || rp.max_events != 0;

    if ((retention_on || opt.dedup_window.count() != 0) && env->raw()) {
        MDB_txn* txn = nullptr;
        try {
            txn = env->begin_write();
            OpContext ctx{txn, env->dbi(), std::max(to_ns(std::chrono::system_clock::now()), last_time_ns)};
            const std::uint64_t trimmed = trim_batch(ctx, more);
            const std::uint64_t pruned = prune_dedup(ctx, more);
            if (trimmed + pruned == 0) {
                mdb_txn_abort(txn);
            } else {
                const int rc = mdb_txn_commit(txn);
                txn = nullptr;
                if (rc == 0) {
                    metrics.trimmed += trimmed;
                    metrics.commits++;
                } else if (rc == MDB_MAP_FULL) {
                    if (env->grow()) metrics.map_growths++;
                    more = true;
                } else {
                    metrics.failed_commits++;
                    report_commit_failure(
                        std::make_exception_ptr(JournalError(
                            errc_of(rc), std::string("journal: committing a retention trim failed: ") +
                                             mdb_strerror(rc))),
                        0);
                    after_failure(rc);
                }
            }
            txn = nullptr;
        } catch (const MapFullSignal&) {
            if (txn) mdb_txn_abort(txn);
            // Deleting needs a few new pages too.
            if (env->grow()) {
                metrics.map_growths++;
                more = true;
            }
        } catch (const std::exception& e) {
            if (txn) mdb_txn_abort(txn);
            log_limited(LogLevel::error, "retention", std::string("journal: retention failed: ") + e.what());
        }
    }
    flush_log_summaries(false);

    if (now >= next_reader_check) {
        metrics.stale_readers_cleared += static_cast<std::uint64_t>(std::max(0, env->clear_stale_readers()));
        next_reader_check = now + std::chrono::seconds(10);
    }
    next_housekeeping = more ? now : now + std::max(rp.check_interval, std::chrono::milliseconds(1));
}

std::uint64_t Journal::trim_now() {
    if (impl_->opt.read_only) throw JournalError(Errc::invalid, "journal: opened read-only; cannot trim");
    std::uint64_t total = 0;
    for (;;) {
        std::uint64_t n = 0;
        impl_->run_op([this, &n](OpContext& ctx) {
            bool more = false;
            n = impl_->trim_batch(ctx, more);
            impl_->prune_dedup(ctx, more);
        });
        impl_->metrics.trimmed += n;
        total += n;
        if (n < impl_->opt.retention.trim_batch) break;
    }
    return total;
}

}  // namespace cebus::journal
