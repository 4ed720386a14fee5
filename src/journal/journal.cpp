// The journal's writer: one thread that owns every LMDB write transaction and
// commits whatever is queued as one transaction (group commit).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "impl.hpp"

namespace cebus::journal {

using namespace detail;

namespace {

// Directories open in this process. LMDB must not open one environment twice
// in a process (closing one handle drops the other's POSIX locks).
std::mutex open_dirs_mu;
std::set<std::pair<unsigned long, unsigned long>> open_dirs;

// Keys longer than this are replaced by a hash (LMDB's key limit is 511).
constexpr std::size_t max_plain_dedup_key = 400;

std::uint64_t fnv1a64(std::string_view s) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

std::int64_t now_ns() { return to_ns(std::chrono::system_clock::now()); }

}  // namespace

// LMDB reports a short write as EIO, and a full file system causes one when
// only part of a batch fits. The free space in the message shows an operator
// which of the two happened.
std::string Journal::Impl::space_note(int rc) const {
    if (rc != EIO && rc != ENOSPC) return {};
    struct statvfs fs {};
    if (::statvfs(opt.directory.c_str(), &fs) != 0) return {};
    const auto free_bytes = static_cast<unsigned long long>(fs.f_bavail) * fs.f_frsize;
    return " (the file system of " + opt.directory.string() + " has " + std::to_string(free_bytes) +
           " bytes free for this process)";
}

// ---------------------------------------------------------------------------
// Construction and shutdown

Journal::Impl::Impl(Options o) : opt(std::move(o)) {
    if (opt.directory.empty()) throw JournalError(Errc::invalid, "journal: Options::directory is empty");
    if (opt.max_map_size < opt.map_size) opt.max_map_size = opt.map_size;
    if (opt.max_batch_events == 0) opt.max_batch_events = 1;
    if (opt.max_pending_events == 0) opt.max_pending_events = 1;
    if (opt.retention.trim_batch == 0) opt.retention.trim_batch = 1;

    std::error_code ec;
    if (!opt.read_only) std::filesystem::create_directory(opt.directory, ec);
    struct stat st {};
    if (::stat(opt.directory.c_str(), &st) != 0) {
        throw JournalError(opt.read_only ? Errc::not_found : Errc::io,
                           "journal: cannot open directory " + opt.directory.string() + ": " + std::strerror(errno));
    }
    dir_id = {static_cast<unsigned long>(st.st_dev), static_cast<unsigned long>(st.st_ino)};
    {
        std::lock_guard lk(open_dirs_mu);
        if (!open_dirs.insert(dir_id).second) {
            throw JournalError(Errc::busy, "journal: " + opt.directory.string() +
                                               " is already open in this process; share that Journal instead");
        }
    }

    try {
        if (!opt.read_only) {
            // One writing process per journal: an advisory lock on a file
            // beside LMDB's own, released by the kernel if the process dies.
            const auto lock_path = opt.directory / "journal.lock";
            lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
            if (lock_fd < 0) {
                throw JournalError(Errc::io, "journal: cannot create " + lock_path.string() + ": " +
                                                 std::strerror(errno));
            }
            if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
                throw JournalError(Errc::busy, "journal: " + opt.directory.string() +
                                                   " is open for writing by another process; stop it, or open "
                                                   "read-only");
            }
        }
        const Logger sink = [this](LogLevel l, std::string_view m) { log(l, std::string(m)); };
        env = std::make_unique<Env>(opt, sink);
        {
            auto r = env->read();
            last_seq = last_in(r.get());
            MDB_val k{8, nullptr};
            MDB_val v;
            MDB_cursor* c = nullptr;
            mdb_cursor_open(r.get(), r.dbi().events, &c);
            if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && v.mv_size >= header_size) {
                last_time_ns = static_cast<std::int64_t>(get_le64(static_cast<const char*>(v.mv_data) + 16));
            }
            mdb_cursor_close(c);
        }
    } catch (...) {
        if (lock_fd >= 0) ::close(lock_fd);
        std::lock_guard lk(open_dirs_mu);
        open_dirs.erase(dir_id);
        throw;
    }
}

Journal::Impl::~Impl() {
    env.reset();
    if (lock_fd >= 0) ::close(lock_fd);
    std::lock_guard lk(open_dirs_mu);
    open_dirs.erase(dir_id);
}

void Journal::Impl::log(LogLevel level, const std::string& message) const noexcept {
    if (!opt.logger) return;
    try {
        opt.logger(level, message);
    } catch (...) {
        // A throwing logger must not break the writer.
    }
}

std::string LogLimiter::admit(std::string_view key, LogLevel level, std::string message, Clock::time_point now) {
    std::lock_guard lk(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
        Entry e;
        e.last_passed = now;
        e.level = level;
        entries_.emplace(std::string(key), std::move(e));
        return message;
    }
    Entry& e = it->second;
    if (now - e.last_passed < interval) {
        ++e.suppressed;
        e.level = std::max(e.level, level);
        e.last_message = std::move(message);
        return {};
    }
    if (e.suppressed > 0) {
        message += " [" + std::to_string(e.suppressed) + " similar message(s) suppressed in the last " +
                   std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - e.last_passed).count()) +
                   " ms]";
    }
    e.suppressed = 0;
    e.last_message.clear();
    e.last_passed = now;
    e.level = level;
    return message;
}

std::vector<LogLimiter::Summary> LogLimiter::due(Clock::time_point now, bool flush_all) {
    std::vector<Summary> out;
    std::lock_guard lk(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
        Entry& e = it->second;
        const auto idle = now - e.last_passed;
        if (e.suppressed > 0 && (flush_all || idle >= interval)) {
            out.push_back({e.level, "journal: " + std::to_string(e.suppressed) +
                                        " similar message(s) suppressed in the last " +
                                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(idle).count()) +
                                        " ms; the last: " + e.last_message});
            e.suppressed = 0;
            e.last_message.clear();
            e.last_passed = now;
            ++it;
        } else if (e.suppressed == 0 && idle >= std::chrono::minutes(1)) {
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

void Journal::Impl::log_limited(LogLevel level, std::string_view key, std::string message) noexcept {
    if (!opt.logger) return;
    try {
        std::string line = limiter.admit(key, level, std::move(message), LogLimiter::Clock::now());
        if (!line.empty()) log(level, line);
    } catch (...) {
        // Out of memory while building a log line: drop it.
    }
}

void Journal::Impl::flush_log_summaries(bool all) noexcept {
    if (!opt.logger) return;
    try {
        for (const auto& s : limiter.due(LogLimiter::Clock::now(), all)) log(s.level, s.message);
    } catch (...) {
        // As in log_limited.
    }
}

void Journal::Impl::report_commit_failure(const std::exception_ptr& error, std::size_t events) noexcept {
    std::string what = "unknown error";
    try {
        try {
            std::rethrow_exception(error);
        } catch (const JournalError& e) {
            what = e.what();
            if (!commit_failed_signal.empty()) commit_failed_signal(e, events);
        } catch (const std::exception& e) {
            what = e.what();
            if (!commit_failed_signal.empty()) commit_failed_signal(JournalError(Errc::io, what), events);
        }
    } catch (...) {
        log_limited(LogLevel::error, "observer", "journal: an on_commit_failed slot threw; the exception was dropped");
    }
    log_limited(LogLevel::error, "commit", what);
}

boost::signals2::connection Journal::on_dead_lettered(std::function<DeadLetteredSlot> slot) {
    return impl_->dead_lettered_signal.connect(std::move(slot));
}

boost::signals2::connection Journal::on_commit_failed(std::function<CommitFailedSlot> slot) {
    return impl_->commit_failed_signal.connect(std::move(slot));
}

Journal::Journal(Options options) : impl_(std::make_shared<Impl>(std::move(options))) {
    if (!impl_->opt.read_only) {
        impl_->writer = std::thread([impl = impl_.get()] { impl->writer_loop(); });
    }
}

Journal::~Journal() {
    // Subscriptions first: they store their cursors through the writer.
    std::vector<std::shared_ptr<DurableSubscription::State>> live;
    {
        std::lock_guard lk(impl_->subs_mu);
        for (auto& [name, weak] : impl_->subs) {
            if (auto s = weak.lock()) live.push_back(std::move(s));
        }
    }
    for (auto& s : live) s->shutdown();

    {
        std::lock_guard lk(impl_->mu);
        impl_->stopping = true;
    }
    impl_->cv_work.notify_all();
    impl_->cv_space.notify_all();
    if (impl_->writer.joinable()) impl_->writer.join();
    impl_->flush_log_summaries(true);
    impl_->closed = true;
    {
        std::lock_guard g(impl_->notify_mu);
    }
    impl_->notify_cv.notify_all();
}

const Options& Journal::options() const noexcept { return impl_->opt; }

Metrics Journal::metrics() const noexcept {
    const auto& m = impl_->metrics;
    Metrics out;
    out.appended = m.appended;
    out.duplicates = m.duplicates;
    out.commits = m.commits;
    out.failed_commits = m.failed_commits;
    out.failed_appends = m.failed_appends;
    out.map_growths = m.map_growths;
    out.reopens = m.reopens;
    out.trimmed = m.trimmed;
    out.delivered = m.delivered;
    out.retries = m.retries;
    out.dead_lettered = m.dead_lettered;
    out.skipped = m.skipped;
    out.stale_readers_cleared = m.stale_readers_cleared;
    out.last_batch_events = m.last_batch_events;
    return out;
}

// ---------------------------------------------------------------------------
// Producers

PendingEvent detail::encode_pending(const Options& opt, const Event& e) {
    PendingEvent p;
    p.record.assign(header_size, '\0');
    p.record += codec::encode_event(e);
    if (p.record.size() - header_size > opt.max_event_bytes) {
        throw JournalError(Errc::too_large, "journal: event " + e.id() + " from " + e.source() + " encodes to " +
                                                std::to_string(p.record.size() - header_size) +
                                                " bytes, above Options::max_event_bytes (" +
                                                std::to_string(opt.max_event_bytes) + ")");
    }
    if (opt.dedup_window.count() > 0) {
        std::string pair;
        pair.reserve(e.source().size() + 1 + e.id().size());
        pair.append(e.source());
        pair.push_back('\0');
        pair.append(e.id());
        if (pair.size() <= max_plain_dedup_key) {
            p.dedup_key = std::move(pair);
        } else {
            // A hash key; the full pair is stored in the value and compared
            // on a hit, so a collision never drops an event.
            p.dedup_key.assign(1, '\x01');
            char h[12];
            put_le64(h, fnv1a64(pair));
            put_le32(h + 8, codec::crc32c(0, pair.data(), pair.size()));
            p.dedup_key.append(h, 12);
            p.dedup_hashed = true;
            p.dedup_pair = std::move(pair);
        }
    }
    return p;
}

void Journal::Impl::submit(std::unique_ptr<Request> req) {
    if (opt.read_only) throw JournalError(Errc::invalid, "journal: opened read-only; writes are not allowed");
    const std::size_t n = req->events.size();
    std::unique_lock lk(mu);
    // Backpressure, except on the writer thread itself (a callback that
    // appends), which would otherwise wait for itself.
    if (std::this_thread::get_id() != writer_id) {
        cv_space.wait(lk, [&] { return stopping || pending_events == 0 || pending_events + n <= opt.max_pending_events; });
    }
    if (stopping) throw JournalError(Errc::closed, "journal: closed; nothing was written");
    pending_events += n;
    const bool was_empty = queue.empty();
    queue.push_back(std::move(req));
    lk.unlock();
    if (was_empty) cv_work.notify_one();
}

std::future<AppendResult> Journal::append(EventPtr event) {
    auto req = std::make_unique<Request>();
    req->kind = Request::Kind::single;
    req->single.emplace();
    auto fut = req->single->get_future();
    if (!event) throw JournalError(Errc::invalid, "journal: append of a null EventPtr");
    try {
        req->events.push_back(encode_pending(impl_->opt, *event));
        impl_->submit(std::move(req));
    } catch (...) {
        std::promise<AppendResult> failed;
        failed.set_exception(std::current_exception());
        return failed.get_future();
    }
    return fut;
}

void Journal::append(EventPtr event, AppendCallback callback) {
    if (!event) throw JournalError(Errc::invalid, "journal: append of a null EventPtr");
    auto req = std::make_unique<Request>();
    req->kind = Request::Kind::callback;
    req->callback = std::move(callback);
    req->events.push_back(encode_pending(impl_->opt, *event));
    impl_->submit(std::move(req));
}

std::future<std::vector<AppendResult>> Journal::append_batch(std::vector<EventPtr> events) {
    return append_batch_with_state(std::move(events), {}, {});
}

std::future<std::vector<AppendResult>> Journal::append_batch_with_state(std::vector<EventPtr> events,
                                                                        std::string state_key,
                                                                        std::string state_value) {
    auto req = std::make_unique<Request>();
    req->kind = Request::Kind::batch;
    req->batch.emplace();
    auto fut = req->batch->get_future();
    try {
        if (!state_key.empty() || !state_value.empty()) {
            if (state_key.empty() || state_key.size() > 400) {
                throw JournalError(Errc::invalid, "journal: state key of " + std::to_string(state_key.size()) +
                                                      " bytes; keys must be 1 to 400 bytes");
            }
            if (state_value.size() > impl_->opt.max_event_bytes) {
                throw JournalError(Errc::too_large, "journal: state value of " + std::to_string(state_value.size()) +
                                                        " bytes is above Options::max_event_bytes");
            }
            req->has_state = true;
            req->state_key = std::move(state_key);
            req->state_value = std::move(state_value);
        }
        req->events.reserve(events.size());
        for (const auto& e : events) {
            if (!e) throw JournalError(Errc::invalid, "journal: append_batch with a null EventPtr");
            req->events.push_back(encode_pending(impl_->opt, *e));
        }
        impl_->submit(std::move(req));
    } catch (...) {
        std::promise<std::vector<AppendResult>> failed;
        failed.set_exception(std::current_exception());
        return failed.get_future();
    }
    return fut;
}

void Journal::Impl::post_op(std::function<void(OpContext&)> op, std::function<void(std::exception_ptr)> done) {
    auto req = std::make_unique<Request>();
    req->kind = Request::Kind::op;
    req->op = std::move(op);
    req->op_done = std::move(done);
    submit(std::move(req));
}

void Journal::Impl::run_op(std::function<void(OpContext&)> op) {
    auto p = std::make_shared<std::promise<void>>();
    auto f = p->get_future();
    post_op(std::move(op), [p](std::exception_ptr e) {
        if (e) {
            p->set_exception(std::move(e));
        } else {
            p->set_value();
        }
    });
    f.get();
}

void Journal::flush() {
    if (impl_->opt.read_only) return;
    impl_->run_op([](OpContext&) {});
}

// ---------------------------------------------------------------------------
// The writer

void Journal::Impl::writer_loop() {
    {
        // submit() reads it under the same lock.
        std::lock_guard lk(mu);
        writer_id = std::this_thread::get_id();
    }
    next_housekeeping = std::chrono::steady_clock::now();
    next_reader_check = next_housekeeping + std::chrono::seconds(10);

    for (;;) {
        std::vector<std::unique_ptr<Request>> work;
        {
            std::unique_lock lk(mu);
            if (queue.empty() && !stopping && held.empty()) {
                cv_work.wait_until(lk, next_housekeeping, [&] { return !queue.empty() || stopping; });
            }
            work.swap(queue);
            if (work.empty() && stopping && held.empty()) break;
        }

        if (!work.empty()) process(work);

        // Relaxed mode: the queue is empty, so no next commit will flush the
        // meta page of the last one. Sync now and acknowledge.
        if (!held.empty()) {
            bool idle;
            {
                std::lock_guard lk(mu);
                idle = queue.empty();
            }
            if (idle) complete_held();
        }

        if (std::chrono::steady_clock::now() >= next_housekeeping) housekeeping();
    }
}

void Journal::Impl::process(std::vector<std::unique_ptr<Request>>& work) {
    // Split into transactions of at most max_batch_events / max_batch_bytes.
    std::size_t i = 0;
    while (i < work.size()) {
        std::size_t j = i;
        std::size_t events = 0;
        std::size_t bytes = 0;
        do {
            events += work[j]->events.size();
            for (const auto& e : work[j]->events) bytes += e.record.size();
            ++j;
        } while (j < work.size() && events + work[j]->events.size() <= opt.max_batch_events &&
                 bytes < opt.max_batch_bytes);

        commit_chunk(work.data() + i, work.data() + j);

        {
            std::lock_guard lk(mu);
            pending_events -= events;
        }
        cv_space.notify_all();
        i = j;
    }
}

std::uint64_t Journal::Impl::first_in(MDB_txn* txn) const {
    MDB_cursor* c = nullptr;
    if (mdb_cursor_open(txn, env->dbi().events, &c) != 0) return 0;
    MDB_val k, v;
    std::uint64_t first = 0;
    if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && k.mv_size == 8) first = get_be64(static_cast<const char*>(k.mv_data));
    mdb_cursor_close(c);
    return first;
}

std::uint64_t Journal::Impl::last_in(MDB_txn* txn) const {
    MDB_cursor* c = nullptr;
    if (mdb_cursor_open(txn, env->dbi().events, &c) != 0) return 0;
    MDB_val k, v;
    std::uint64_t last = 0;
    if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8) last = get_be64(static_cast<const char*>(k.mv_data));
    mdb_cursor_close(c);
    if (last == 0) {
        // Empty after retention: numbering resumes at the watermark.
        const std::uint64_t first = meta_get(txn, env->dbi(), "first_seq", 1);
        last = first - 1;
    }
    return last;
}

std::uint64_t Journal::Impl::load_last_seq(MDB_txn* txn) { return last_in(txn); }

void Journal::Impl::apply(MDB_txn* txn, std::unique_ptr<Request>* begin, std::unique_ptr<Request>* end,
                          std::uint64_t& last) {
    const Dbis& dbi = env->dbi();
    std::uint64_t seq = load_last_seq(txn) + 1;
    const std::uint64_t first_seq_before = seq;
    std::uint64_t stored = meta_get(txn, dbi, "stored_bytes", 0);
    std::uint64_t dedup_count = meta_get(txn, dbi, "dedup_count", 0);
    const std::uint64_t stored_before = stored;
    const std::uint64_t dedup_before = dedup_count;

    // Append times never decrease with the sequence, so sequence_at() can
    // binary-search them even if the wall clock steps back.
    const std::int64_t t = std::max(now_ns(), last_time_ns);
    const std::int64_t window_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(opt.dedup_window).count();

    MDB_cursor* cur = nullptr;
    check_write(mdb_cursor_open(txn, dbi.events, &cur), "opening the events cursor");
    struct CursorCloser {
        MDB_cursor* c;
        ~CursorCloser() { mdb_cursor_close(c); }
    } closer{cur};

    for (auto* it = begin; it != end; ++it) {
        Request& req = **it;
        req.results.clear();
        req.op_error = nullptr;

        if (req.kind == Request::Kind::op) {
            MDB_txn* child = nullptr;
            check_write(mdb_txn_begin(env->raw(), txn, 0, &child), "starting a nested transaction");
            try {
                OpContext ctx{child, dbi, t};
                req.op(ctx);
                check_write(mdb_txn_commit(child), "committing a nested transaction");
            } catch (const MapFullSignal&) {
                mdb_txn_abort(child);
                throw;
            } catch (...) {
                mdb_txn_abort(child);
                req.op_error = std::current_exception();
            }
            continue;
        }

        if (req.kind == Request::Kind::batch) {
            req.results.assign(req.events.size(), AppendResult{});
        } else {
            req.one = AppendResult{};
        }
        AppendResult* const slots = req.result_slots();
        for (std::size_t idx = 0; idx < req.events.size(); ++idx) {
            PendingEvent& pe = req.events[idx];
            AppendResult& res = slots[idx];

            bool index_it = !pe.dedup_key.empty();
            if (index_it) {
                MDB_val dk = to_val(pe.dedup_key);
                MDB_val dv;
                const int rc = mdb_get(txn, dbi.dedup, &dk, &dv);
                if (rc == 0 && dv.mv_size >= 16) {
                    const char* p = static_cast<const char*>(dv.mv_data);
                    const std::uint64_t prev_seq = get_le64(p);
                    const auto prev_t = static_cast<std::int64_t>(get_le64(p + 8));
                    const bool same_pair = !pe.dedup_hashed || to_sv(dv).substr(16) == pe.dedup_pair;
                    if (same_pair && t - prev_t <= window_ns) {
                        res.sequence = prev_seq;
                        res.duplicate = true;
                        continue;
                    }
                    // A hash collision: store the event but leave the index
                    // entry of the other pair alone.
                    if (!same_pair) index_it = false;
                } else if (rc != MDB_NOTFOUND && rc != 0) {
                    check_write(rc, "reading the de-duplication index");
                }
            }

            seal_record(pe.record.data(), pe.record.size(), seq, t);
            SeqKey key(seq);
            MDB_val k{8, key.bytes};
            MDB_val v = to_val(pe.record);
            check_write(mdb_cursor_put(cur, &k, &v, MDB_APPEND), "appending an event");
            stored += pe.record.size();
            res.sequence = seq;

            if (index_it) {
                std::string val(16, '\0');
                put_le64(&val[0], seq);
                put_le64(&val[8], static_cast<std::uint64_t>(t));
                if (pe.dedup_hashed) val += pe.dedup_pair;
                MDB_val dk = to_val(pe.dedup_key);
                MDB_val dv = to_val(val);
                MDB_val old;
                const bool existed = mdb_get(txn, dbi.dedup, &dk, &old) == 0;
                check_write(mdb_put(txn, dbi.dedup, &dk, &dv, 0), "writing the de-duplication index");
                MDB_val ok{8, key.bytes};
                MDB_val ov = to_val(pe.dedup_key);
                check_write(mdb_put(txn, dbi.dedup_order, &ok, &ov, MDB_APPEND), "writing the de-duplication order");
                if (!existed) ++dedup_count;
            }
            ++seq;
        }

        if (req.has_state) {
            MDB_val sk = to_val(req.state_key);
            MDB_val sv = to_val(req.state_value);
            check_write(mdb_put(txn, dbi.state, &sk, &sv, 0), "writing journal state");
        }
    }

    if (stored != stored_before) meta_put(txn, dbi, "stored_bytes", stored);
    if (dedup_count != dedup_before) meta_put(txn, dbi, "dedup_count", dedup_count);
    last = seq - 1;
    if (last >= first_seq_before) last_time_ns = t;
}

void Journal::Impl::commit_chunk(std::unique_ptr<Request>* begin, std::unique_ptr<Request>* end) {
    std::vector<std::unique_ptr<Request>> done;
    std::size_t events = 0;
    for (auto* it = begin; it != end; ++it) events += (*it)->events.size();
    const std::int64_t saved_time = last_time_ns;

    if (!env->raw()) {
        // An earlier reopen failed (a full or failing disk): try again, so
        // appends work once the cause is gone. begin_write() reports it if
        // the environment is still closed.
        try {
            env->reopen();
            metrics.reopens++;
            auto r = env->read();
            publish_last(last_in(r.get()));
        } catch (const std::exception&) {
            // Reported through the batch's failure below.
        }
    }

    for (;;) {
        MDB_txn* txn = nullptr;
        std::uint64_t last = 0;
        int rc = 0;
        try {
            txn = env->begin_write();
            apply(txn, begin, end, last);
            if (opt.fault_hook) rc = opt.fault_hook(FaultPoint::before_commit, last_seq.load() + 1, events);
            if (rc == 0) {
                rc = mdb_txn_commit(txn);
            } else {
                mdb_txn_abort(txn);
            }
            txn = nullptr;
        } catch (const MapFullSignal&) {
            if (txn) mdb_txn_abort(txn);
            rc = MDB_MAP_FULL;
        } catch (...) {
            // An LMDB error inside the batch (not a commit failure): nothing
            // of it is stored and no producer in it is acknowledged.
            if (txn) mdb_txn_abort(txn);
            last_time_ns = saved_time;
            metrics.failed_commits++;
            for (auto* it = begin; it != end; ++it) done.push_back(std::move(*it));
            const auto err = std::current_exception();
            report_commit_failure(err, events);
            complete(done, err);
            return;
        }

        if (rc == MDB_MAP_FULL) {
            last_time_ns = saved_time;
            if (env->grow()) {
                metrics.map_growths++;
                continue;
            }
            metrics.failed_commits++;
            for (auto* it = begin; it != end; ++it) done.push_back(std::move(*it));
            const auto err = std::make_exception_ptr(JournalError(
                Errc::full, "journal: the map is full (" + std::to_string(env->map_size()) +
                                " bytes) and may not grow past Options::max_map_size; " + std::to_string(events) +
                                " event(s) not stored"));
            report_commit_failure(err, events);
            complete(done, err);
            return;
        }

        if (rc == 0 && opt.fault_hook) rc = opt.fault_hook(FaultPoint::after_commit, last, events);
        if (rc != 0) {
            last_time_ns = saved_time;
            metrics.failed_commits++;
            for (auto* it = begin; it != end; ++it) done.push_back(std::move(*it));
            auto err = std::make_exception_ptr(JournalError(
                errc_of(rc), std::string("journal: commit failed: ") + mdb_strerror(rc) + space_note(rc) + "; " +
                                 std::to_string(events) + " event(s) not acknowledged"));
            // Anything held (relaxed mode) may not be durable either.
            std::vector<std::unique_ptr<Request>> held_now;
            held_now.swap(held);
            // Recover first, so a producer that sees the error can retry at once.
            report_commit_failure(err, events);
            after_failure(rc);
            complete(held_now, err);
            complete(done, err);
            return;
        }

        metrics.commits++;
        metrics.last_batch_events = events;
        for (auto* it = begin; it != end; ++it) done.push_back(std::move(*it));

        if (opt.durability == Durability::durable) {
            publish_last(last);
            complete(done, nullptr);
        } else {
            // This commit's fdatasync made the previous commit's meta page
            // durable: acknowledge that one, hold this one.
            complete_held();
            held = std::move(done);
            held_last_seq = last;
        }
        return;
    }
}

void Journal::Impl::complete_held() {
    if (held.empty()) return;
    const int rc = mdb_env_sync(env->raw(), 1);
    std::vector<std::unique_ptr<Request>> now;
    now.swap(held);
    if (rc != 0) {
        metrics.failed_commits++;
        const auto err = std::make_exception_ptr(
            JournalError(Errc::io, std::string("journal: sync failed: ") + mdb_strerror(rc) + space_note(rc) +
                                       "; appends not acknowledged"));
        std::size_t events = 0;
        for (const auto& r : now) events += r->events.size();
        report_commit_failure(err, events);
        after_failure(rc);
        complete(now, err);
        return;
    }
    publish_last(held_last_seq);
    complete(now, nullptr);
}

void Journal::Impl::publish_last(std::uint64_t seq) {
    if (seq > last_seq.load(std::memory_order_relaxed)) {
        {
            std::lock_guard g(notify_mu);
            last_seq.store(seq, std::memory_order_release);
        }
        notify_cv.notify_all();
    }
}

void Journal::Impl::complete(std::vector<std::unique_ptr<Request>>& done, std::exception_ptr error) {
    for (auto& r : done) {
        std::size_t stored = 0;
        if (!error) {
            const AppendResult* slots = r->result_slots();
            for (std::size_t i = 0; i < r->result_count(); ++i) {
                if (slots[i].duplicate) {
                    metrics.duplicates++;
                } else {
                    ++stored;
                }
            }
            metrics.appended += stored;
        } else {
            metrics.failed_appends += r->events.size();
        }
        std::exception_ptr mine = error ? error : std::move(r->op_error);
        try {
            switch (r->kind) {
                case Request::Kind::single:
                    if (mine) {
                        r->single->set_exception(std::move(mine));
                    } else {
                        r->single->set_value(r->one);
                    }
                    break;
                case Request::Kind::batch:
                    if (mine) {
                        r->batch->set_exception(std::move(mine));
                    } else {
                        r->batch->set_value(std::move(r->results));
                    }
                    break;
                case Request::Kind::callback:
                    if (mine) {
                        r->callback(AppendResult{}, std::move(mine));
                    } else {
                        r->callback(r->one, nullptr);
                    }
                    break;
                case Request::Kind::op:
                    if (r->op_done) r->op_done(std::move(mine));
                    break;
            }
        } catch (...) {
            log_limited(LogLevel::error, "callback", "journal: an append callback threw; the exception was dropped");
        }
    }
    done.clear();
}

void Journal::Impl::after_failure(int rc) {
    // A failed commit or sync may have left the environment fatal
    // (MDB_PANIC on every later transaction) and Linux may have dropped the
    // dirty pages, so a retried fsync proves nothing. Reopen, then read back
    // what is really stored.
    log_limited(LogLevel::error, "reopen",
                std::string("journal: commit failed (") + mdb_strerror(rc) + "); reopening the environment");
    try {
        env->reopen();
        metrics.reopens++;
        auto r = env->read();
        const std::uint64_t last = last_in(r.get());
        // A commit that failed after it reached the disk (possible with an
        // I/O error reported late) may be there: show it to subscribers.
        publish_last(last);
    } catch (const std::exception& e) {
        log_limited(LogLevel::error, "reopen-failed",
                    std::string("journal: reopening failed: ") + e.what() +
                        "; later appends fail until a reopen succeeds");
    }
}

}  // namespace cebus::journal
