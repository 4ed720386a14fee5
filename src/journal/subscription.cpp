// Durable subscriptions: one delivery thread per subscription reads the
// journal in batches from its cursor and calls the handler in sequence order.
#include <algorithm>
#include <cmath>
#include <random>

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

// A stored event read for delivery; `error` is set when the record is
// damaged, and the event then goes to the dead-letter store unseen.
struct Item {
    StoredEvent stored;
    std::string error;
    bool passed = false;  // rejected by sequence_filter, not decoded
};

enum class Outcome { ack, dead, stopped };

}  // namespace

// ---------------------------------------------------------------------------
// Subscribe and stop

DurableSubscription Journal::subscribe(std::string name, Handler handler, SubscriptionOptions options) {
    Impl& im = *impl_;
    if (im.opt.read_only) throw JournalError(Errc::invalid, "journal: opened read-only; cannot subscribe");
    if (name.empty() || name.size() > 200 ||
        std::any_of(name.begin(), name.end(), [](char c) { return c < 0x21 || c > 0x7E; })) {
        throw JournalError(Errc::invalid, "journal: invalid subscription name \"" + name +
                                              "\": names are 1 to 200 bytes of printable ASCII without spaces");
    }
    if (!handler) throw JournalError(Errc::invalid, "journal: subscription \"" + name + "\" has no handler");
    if (options.max_deliveries == 0) options.max_deliveries = 1;
    if (options.batch_size == 0) options.batch_size = 1;

    auto state = std::make_shared<DurableSubscription::State>();
    state->impl = impl_;
    state->name = name;
    state->handler = std::move(handler);
    state->opt = std::move(options);
    {
        std::lock_guard lk(im.subs_mu);
        auto it = im.subs.find(name);
        if (it != im.subs.end() && !it->second.expired()) {
            throw JournalError(Errc::busy, "journal: subscription \"" + name + "\" is already attached");
        }
        im.subs[name] = state;
    }

    try {
        CursorRecord loaded;
        im.run_op([&](OpContext& ctx) {
            CursorRecord rec;
            const bool exists = Impl::get_cursor(ctx.txn, ctx.dbi, state->name, rec);
            if (!exists || state->opt.reset_cursor) {
                rec = CursorRecord{};
                rec.cursor = im.resolve_start(ctx.txn, state->opt.start);
            }
            rec.at_retention = static_cast<std::uint32_t>(state->opt.at_retention);
            Impl::put_cursor(ctx.txn, ctx.dbi, state->name, rec);
            loaded = rec;
        });
        state->cursor = loaded.cursor;
        state->head_seq = loaded.head_seq;
        state->head_attempts = loaded.head_attempts;
        state->thread = std::thread([s = state.get()] { s->run(); });
    } catch (...) {
        std::lock_guard lk(im.subs_mu);
        im.subs.erase(state->name);
        throw;
    }
    return DurableSubscription(state);
}

void DurableSubscription::State::shutdown() {
    std::lock_guard lk(stop_mu);
    if (joined) return;
    {
        std::lock_guard g(impl->notify_mu);
        stop = true;
    }
    impl->notify_cv.notify_all();
    if (thread.joinable()) {
        if (thread.get_id() == std::this_thread::get_id()) {
            // Called from inside the handler: it cannot wait for itself.
            thread.detach();
        } else {
            thread.join();
        }
    }
    joined = true;
    std::lock_guard sl(impl->subs_mu);
    auto it = impl->subs.find(name);
    if (it != impl->subs.end() && (it->second.expired() || it->second.lock().get() == this)) impl->subs.erase(it);
}

DurableSubscription::DurableSubscription(DurableSubscription&& other) noexcept = default;

DurableSubscription& DurableSubscription::operator=(DurableSubscription&& other) noexcept {
    if (this != &other) {
        reset();
        state_ = std::move(other.state_);
    }
    return *this;
}

DurableSubscription::~DurableSubscription() { reset(); }

void DurableSubscription::reset() {
    if (!state_) return;
    state_->shutdown();
    state_.reset();
}

const std::string& DurableSubscription::name() const {
    static const std::string empty;
    return state_ ? state_->name : empty;
}

std::uint64_t DurableSubscription::cursor() const noexcept { return state_ ? state_->cursor.load() : 0; }

// ---------------------------------------------------------------------------
// Delivery

namespace {

std::chrono::milliseconds backoff_for(const SubscriptionOptions& o, std::uint32_t failed, std::mt19937& rng) {
    const double base = static_cast<double>(o.initial_backoff.count()) *
                        std::pow(std::max(1.0, o.backoff_multiplier), static_cast<double>(failed > 0 ? failed - 1 : 0));
    const double capped = std::min(base, static_cast<double>(o.max_backoff.count()));
    std::uniform_real_distribution<double> jitter(0.8, 1.0);
    return std::chrono::milliseconds(static_cast<std::int64_t>(capped * jitter(rng)));
}

}  // namespace

void DurableSubscription::State::run() noexcept {
    Journal::Impl& im = *impl;
    std::mt19937 rng(std::random_device{}());
    std::uint64_t c = cursor.load();
    std::uint64_t saved = c;
    std::uint64_t seen_requeue = ~std::uint64_t{0};
    auto save_in_flight = std::make_shared<std::atomic<bool>>(false);

    auto log_error = [&](const std::string& what) {
        im.log_limited(LogLevel::error, "error:" + name, "journal: subscription \"" + name + "\": " + what);
    };

    // Waits `d` unless stopped; returns false when stopped.
    auto sleep_for = [&](std::chrono::milliseconds d) {
        std::unique_lock lk(im.notify_mu);
        return !im.notify_cv.wait_for(lk, d, [&] { return stop.load(); });
    };

    // Stores the cursor (never backwards) without waiting.
    auto save_async = [&] {
        if (c == saved || save_in_flight->exchange(true)) return;
        const std::uint64_t value = c;
        try {
            im.post_op(
                // The op runs on the writer thread, possibly after this
                // subscription is reset and its state freed: copy the name.
                [name = name, value](OpContext& ctx) {
                    CursorRecord rec;
                    Journal::Impl::get_cursor(ctx.txn, ctx.dbi, name, rec);
                    if (value > rec.cursor) rec.cursor = value;
                    if (rec.head_seq <= rec.cursor) {
                        rec.head_seq = 0;
                        rec.head_attempts = 0;
                    }
                    Journal::Impl::put_cursor(ctx.txn, ctx.dbi, name, rec);
                },
                [flag = save_in_flight](std::exception_ptr) { flag->store(false); });
            saved = value;
        } catch (const std::exception& e) {
            save_in_flight->store(false);
            log_error(std::string("storing the cursor failed: ") + e.what());
        }
    };

    // Calls the handler until it acks, dead-letters or runs out of attempts.
    auto deliver = [&](const StoredEvent& se, bool requeued, std::uint32_t failed, std::string& reason,
                       std::uint32_t& attempts) -> Outcome {
        for (;;) {
            if (stop) return Outcome::stopped;
            Delivery d{se.sequence, se.appended, se.event, failed + 1, requeued};
            HandlerResult result = HandlerResult::ack();
            try {
                result = handler(d);
            } catch (const std::exception& e) {
                result = HandlerResult::retry(e.what());
            } catch (...) {
                result = HandlerResult::retry("the handler threw a non-standard exception");
            }
            im.metrics.delivered++;
            attempts = failed + 1;

            if (result.kind() == HandlerResult::Kind::ack) return Outcome::ack;
            if (result.kind() == HandlerResult::Kind::dead_letter) {
                reason = result.reason();
                return Outcome::dead;
            }

            ++failed;
            im.metrics.retries++;
            reason = result.reason().empty() ? "the handler asked for a retry" : result.reason();
            if (failed >= opt.max_deliveries) {
                reason = "gave up after " + std::to_string(failed) + " deliveries; last error: " + reason;
                return Outcome::dead;
            }
            im.log_limited(LogLevel::debug, "retry:" + name,
                           "journal: subscription \"" + name + "\" retries sequence " +
                               std::to_string(se.sequence) + " (attempt " + std::to_string(failed) + "): " + reason);
            if (!requeued) {
                // Keep the attempt count across restarts, so max_deliveries
                // holds even for a handler that crashes the process.
                const std::uint64_t seq = se.sequence;
                const std::uint32_t count = failed;
                try {
                    im.post_op(
                        [name = name, seq, count](OpContext& ctx) {
                            CursorRecord rec;
                            Journal::Impl::get_cursor(ctx.txn, ctx.dbi, name, rec);
                            if (rec.cursor < seq) {
                                rec.head_seq = seq;
                                rec.head_attempts = count;
                                Journal::Impl::put_cursor(ctx.txn, ctx.dbi, name, rec);
                            }
                        },
                        nullptr);
                } catch (const std::exception&) {
                    return Outcome::stopped;  // the journal is closing
                }
            }
            const auto delay = result.delay() ? *result.delay() : backoff_for(opt, failed, rng);
            if (!sleep_for(delay)) return Outcome::stopped;
        }
    };

    // Writes a dead letter (and, for a live event, the cursor) in one
    // transaction, and waits for it.
    auto dead_letter = [&](const StoredEvent& se, const std::string& reason, std::uint32_t attempts,
                           bool requeued) -> bool {
        try {
            im.run_op([&](OpContext& ctx) {
                SeqKey key(se.sequence);
                MDB_val k{8, key.bytes};
                MDB_val v;
                std::string record;
                if (mdb_get(ctx.txn, ctx.dbi.events, &k, &v) == 0) {
                    record.assign(static_cast<const char*>(v.mv_data), v.mv_size);
                } else if (se.event) {
                    // Trimmed meanwhile: keep a fresh copy of the record.
                    record = make_record(se.sequence, to_ns(se.appended), codec::encode_event(*se.event));
                }
                DeadHeader h;
                h.attempts = attempts;
                h.requeued = false;
                h.time_ns = ctx.now_ns;
                const std::string value = encode_dead(h, reason, record);
                const std::string dk = dead_key(name, se.sequence);
                MDB_val dkey = to_val(dk);
                MDB_val dval = to_val(value);
                check_write(mdb_put(ctx.txn, ctx.dbi.dead, &dkey, &dval, 0), "writing a dead letter");
                if (!requeued) {
                    CursorRecord rec;
                    Journal::Impl::get_cursor(ctx.txn, ctx.dbi, name, rec);
                    rec.cursor = std::max(rec.cursor, se.sequence);
                    rec.head_seq = 0;
                    rec.head_attempts = 0;
                    Journal::Impl::put_cursor(ctx.txn, ctx.dbi, name, rec);
                }
            });
        } catch (const std::exception& e) {
            log_error(std::string("writing a dead letter failed: ") + e.what());
            return false;
        }
        im.metrics.dead_lettered++;
        try {
            if (!im.dead_lettered_signal.empty()) im.dead_lettered_signal(name, se.sequence, reason, attempts);
        } catch (...) {
            im.log_limited(LogLevel::error, "observer", "journal: an on_dead_lettered slot threw; the exception was dropped");
        }
        im.log_limited(LogLevel::warning, "dead:" + name,
                       "journal: subscription \"" + name + "\" dead-lettered sequence " + std::to_string(se.sequence) +
                           " (id " + (se.event ? se.event->id() : "?") + ") after " + std::to_string(attempts) +
                           " attempt(s): " + reason);
        return true;
    };

    // Redelivers requeued dead letters, oldest first.
    auto deliver_requeued = [&]() {
        for (;;) {
            std::vector<std::pair<std::uint64_t, std::string>> todo;  // sequence, record
            try {
                auto r = im.env->read();
                CursorCloser cc;
                if (mdb_cursor_open(r.get(), r.dbi().dead, &cc.c) != 0) return;
                std::string prefix = name;
                prefix.push_back('\0');
                MDB_val k = to_val(prefix);
                MDB_val v;
                for (int rc = mdb_cursor_get(cc.c, &k, &v, MDB_SET_RANGE); rc == 0 && todo.size() < 64;
                     rc = mdb_cursor_get(cc.c, &k, &v, MDB_NEXT)) {
                    const std::string_view key = to_sv(k);
                    if (key.size() != prefix.size() + 8 || key.substr(0, prefix.size()) != prefix) break;
                    DeadHeader h;
                    std::string_view reason, record;
                    if (!decode_dead(to_sv(v), h, reason, record) || !h.requeued) continue;
                    todo.emplace_back(get_be64(key.data() + prefix.size()), std::string(record));
                }
            } catch (const std::exception& e) {
                log_error(std::string("reading requeued dead letters failed: ") + e.what());
                return;
            }
            if (todo.empty()) return;

            for (auto& [seq, record] : todo) {
                if (stop) return;
                StoredEvent se;
                try {
                    se = decode_record(record, seq);
                } catch (const JournalError& e) {
                    dead_letter(StoredEvent{seq, {}, nullptr}, e.what(), 0, true);
                    continue;
                }
                std::string reason;
                std::uint32_t attempts = 0;
                const Outcome out = deliver(se, true, 0, reason, attempts);
                if (out == Outcome::stopped) return;
                if (out == Outcome::ack) {
                    try {
                        // seq copied: clang 14 cannot capture a structured binding.
                        im.run_op([&, seq = seq](OpContext& ctx) {
                            const std::string dk = dead_key(name, seq);
                            MDB_val k = to_val(dk);
                            const int rc = mdb_del(ctx.txn, ctx.dbi.dead, &k, nullptr);
                            if (rc != MDB_NOTFOUND) check_write(rc, "removing a redelivered dead letter");
                        });
                    } catch (const std::exception& e) {
                        log_error(std::string("removing a redelivered dead letter failed: ") + e.what());
                        return;
                    }
                } else if (!dead_letter(se, reason, attempts, true)) {
                    return;
                }
            }
        }
    };

    std::vector<Item> batch;
    while (!stop) {
        const std::uint64_t gen = im.requeue_gen.load();
        if (gen != seen_requeue) {
            seen_requeue = gen;
            deliver_requeued();
            if (stop) break;
        }

        const std::uint64_t durable = im.last_seq.load(std::memory_order_acquire);
        if (c >= durable) {
            save_async();
            std::unique_lock lk(im.notify_mu);
            im.notify_cv.wait_for(lk, std::chrono::milliseconds(250), [&] {
                return stop.load() || im.last_seq.load() > c || im.requeue_gen.load() != seen_requeue;
            });
            continue;
        }

        // Read one batch under a short snapshot; decode; release it before
        // any handler runs.
        batch.clear();
        std::uint64_t gap_end = 0;
        try {
            auto r = im.env->read();
            CursorCloser cc;
            if (const int rc = mdb_cursor_open(r.get(), r.dbi().events, &cc.c); rc != 0) {
                throw_lmdb(rc, "opening an events cursor");
            }
            SeqKey key(c + 1);
            MDB_val k{8, key.bytes};
            MDB_val v;
            int rc = mdb_cursor_get(cc.c, &k, &v, MDB_SET_RANGE);
            if (rc == 0) {
                const std::uint64_t found = get_be64(static_cast<const char*>(k.mv_data));
                if (found > c + 1) gap_end = std::min(found, durable + 1) - 1;
            } else {
                // Everything after the cursor was trimmed.
                gap_end = durable;
            }
            for (; rc == 0 && batch.size() < opt.batch_size; rc = mdb_cursor_get(cc.c, &k, &v, MDB_NEXT)) {
                const std::uint64_t seq = get_be64(static_cast<const char*>(k.mv_data));
                if (seq > durable) break;
                Item it;
                if (opt.sequence_filter && !opt.sequence_filter(seq)) {
                    it.stored.sequence = seq;
                    it.passed = true;
                    batch.push_back(std::move(it));
                    continue;
                }
                try {
                    it.stored = decode_record(to_sv(v), seq);
                } catch (const JournalError& e) {
                    it.stored.sequence = seq;
                    it.error = e.what();
                }
                batch.push_back(std::move(it));
            }
        } catch (const std::exception& e) {
            log_error(std::string("reading the journal failed: ") + e.what() + "; retrying");
            if (!sleep_for(std::chrono::milliseconds(200))) break;
            continue;
        }

        if (gap_end > c) {
            // Retention trimmed these before we finished them (skip policy);
            // the writer recorded the range on our cursor.
            const std::uint64_t first = c + 1;
            im.log_limited(LogLevel::warning, "skip:" + name,
                           "journal: subscription \"" + name + "\" lost sequences " + std::to_string(first) + ".." +
                               std::to_string(gap_end) + " to retention");
            if (opt.on_skip) {
                try {
                    opt.on_skip(first, gap_end);
                } catch (...) {
                    log_error("the on_skip callback threw");
                }
            }
            c = gap_end;
            cursor = c;
        }

        for (Item& it : batch) {
            if (stop) break;
            const StoredEvent& se = it.stored;
            if (it.passed) {
                c = se.sequence;
                cursor = c;
                continue;
            }
            if (!it.error.empty()) {
                log_error("sequence " + std::to_string(se.sequence) + " is unreadable: " + it.error);
                if (!dead_letter(se, it.error, 0, false)) break;
                c = se.sequence;
                cursor = c;
                continue;
            }
            if (opt.filter) {
                bool match = false;
                try {
                    match = opt.filter(*se.event);
                } catch (...) {
                    log_error("the filter threw on sequence " + std::to_string(se.sequence) + "; skipping it");
                }
                if (!match) {
                    c = se.sequence;
                    cursor = c;
                    continue;
                }
            }
            const std::uint32_t failed = head_seq == se.sequence ? head_attempts : 0;
            std::string reason;
            std::uint32_t attempts = 0;
            const Outcome out = deliver(se, false, failed, reason, attempts);
            if (out == Outcome::stopped) break;
            if (out == Outcome::dead && !dead_letter(se, reason, attempts, false)) break;
            head_seq = 0;
            head_attempts = 0;
            c = se.sequence;
            cursor = c;
        }
        save_async();
    }

    // Store the final cursor durably before returning.
    if (c > saved || save_in_flight->load()) {
        try {
            const std::uint64_t value = c;
            im.run_op([this, value](OpContext& ctx) {
                CursorRecord rec;
                Journal::Impl::get_cursor(ctx.txn, ctx.dbi, name, rec);
                if (value > rec.cursor) rec.cursor = value;
                if (rec.head_seq <= rec.cursor) {
                    rec.head_seq = 0;
                    rec.head_attempts = 0;
                }
                Journal::Impl::put_cursor(ctx.txn, ctx.dbi, name, rec);
            });
        } catch (const std::exception& e) {
            log_error(std::string("storing the final cursor failed: ") + e.what());
        }
    }
}

}  // namespace cebus::journal
