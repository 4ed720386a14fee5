#include "env.hpp"

#include <cerrno>
#include <system_error>

#include "records.hpp"

namespace cebus::journal::detail {

namespace {
// Reset read transactions kept for renewal. Each keeps an LMDB reader slot
// (MDB_NOTLS ties the slot to the transaction), so the cap keeps the slots
// this process uses bounded whatever the number of threads.
constexpr std::size_t pool_cap = 16;
}  // namespace

Errc errc_of(int rc) {
    switch (rc) {
        case MDB_MAP_FULL:
            return Errc::full;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
            return Errc::corrupt;
        case MDB_INVALID:
        case MDB_VERSION_MISMATCH:
        case MDB_INCOMPATIBLE:
            return Errc::format;
        case MDB_NOTFOUND:
            return Errc::not_found;
        default:
            return Errc::io;
    }
}

void throw_lmdb(int rc, std::string_view what) {
    throw JournalError(errc_of(rc), "journal: " + std::string(what) + " failed: " + mdb_strerror(rc));
}

ReadTxn::ReadTxn(ReadTxn&& other) noexcept
    : env_(other.env_), lock_(std::move(other.lock_)), txn_(std::exchange(other.txn_, nullptr)) {}

ReadTxn::~ReadTxn() {
    if (txn_) env_->release(txn_);
}

const Dbis& ReadTxn::dbi() const noexcept { return env_->dbi(); }

Env::Env(const Options& options, const Logger& log) : options_(options), log_(log), dir_(options.directory) {
    open();
}

Env::~Env() { close(); }

void Env::open() {
    std::error_code ec;
    if (!options_.read_only) std::filesystem::create_directory(dir_, ec);
    if (!std::filesystem::is_directory(dir_, ec)) {
        throw JournalError(options_.read_only ? Errc::not_found : Errc::io,
                           "journal directory " + dir_.string() + " does not exist or is not a directory");
    }

    int rc = mdb_env_create(&env_);
    if (rc != 0) throw_lmdb(rc, "mdb_env_create");
    auto fail = [&](int code, std::string_view what) {
        mdb_env_close(env_);
        env_ = nullptr;
        throw_lmdb(code, what);
    };
    if ((rc = mdb_env_set_maxdbs(env_, 8)) != 0) fail(rc, "mdb_env_set_maxdbs");
    if ((rc = mdb_env_set_maxreaders(env_, options_.max_readers)) != 0) fail(rc, "mdb_env_set_maxreaders");
    if (map_size_ == 0) map_size_ = options_.map_size;
    if ((rc = mdb_env_set_mapsize(env_, map_size_)) != 0) fail(rc, "mdb_env_set_mapsize");

    // MDB_NOTLS: reader slots follow transactions, not threads, so a pool of
    // read transactions serves any thread. Never MDB_NOSYNC or MDB_WRITEMAP.
    unsigned flags = MDB_NOTLS;
    if (options_.durability == Durability::relaxed) flags |= MDB_NOMETASYNC;
    if (options_.read_only) flags |= MDB_RDONLY;
    rc = mdb_env_open(env_, dir_.c_str(), flags, 0644);
    if (rc != 0) {
        mdb_env_close(env_);
        env_ = nullptr;
        if (rc == ENOENT) {
            throw JournalError(Errc::not_found, "journal: no journal in " + dir_.string());
        }
        throw JournalError(errc_of(rc), "journal: cannot open LMDB environment in " + dir_.string() + ": " +
                                            mdb_strerror(rc));
    }

    // The file may be larger than the configured map (it grew earlier).
    MDB_envinfo info;
    mdb_env_info(env_, &info);
    map_size_ = info.me_mapsize;

    clear_stale_readers();

    // Open (or create) the named databases and check the format version.
    MDB_txn* txn = nullptr;
    rc = mdb_txn_begin(env_, nullptr, options_.read_only ? MDB_RDONLY : 0, &txn);
    if (rc != 0) fail(rc, "opening the journal's databases");
    const unsigned create = options_.read_only ? 0 : MDB_CREATE;
    struct Named {
        const char* name;
        MDB_dbi* dbi;
    };
    const Named names[] = {{"events", &dbi_.events},   {"meta", &dbi_.meta},
                           {"cursors", &dbi_.cursors}, {"dead", &dbi_.dead},
                           {"dedup", &dbi_.dedup},     {"dedup_order", &dbi_.dedup_order},
                           {"state", &dbi_.state}};
    for (const auto& n : names) {
        rc = mdb_dbi_open(txn, n.name, create, n.dbi);
        if (rc != 0) {
            // A read-only open of an environment whose creator was killed
            // before its first commit finds no databases at all: there is
            // no journal yet, which differs from a foreign LMDB file.
            bool never_committed = false;
            if (rc == MDB_NOTFOUND) {
                MDB_dbi main_dbi = 0;
                MDB_stat main_stat{};
                never_committed = mdb_dbi_open(txn, nullptr, 0, &main_dbi) == 0 &&
                                  mdb_stat(txn, main_dbi, &main_stat) == 0 && main_stat.ms_entries == 0;
            }
            mdb_txn_abort(txn);
            mdb_env_close(env_);
            env_ = nullptr;
            if (never_committed) {
                throw JournalError(Errc::not_found, "journal: " + dir_.string() +
                                                        " has no committed journal yet; open it read-write first");
            }
            if (rc == MDB_NOTFOUND) {
                throw JournalError(Errc::format, "journal: " + dir_.string() +
                                                     " holds an LMDB environment that is not a cebus journal "
                                                     "(no \"" + n.name + "\" database)");
            }
            throw_lmdb(rc, std::string("opening database \"") + n.name + "\"");
        }
    }

    MDB_val key = to_val("format");
    MDB_val val;
    rc = mdb_get(txn, dbi_.meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        mdb_stat(txn, dbi_.events, &st);
        if (st.ms_entries != 0) {
            mdb_txn_abort(txn);
            close();
            throw JournalError(Errc::format, "journal: " + dir_.string() + " has events but no format version");
        }
        if (!options_.read_only) {
            char buf[4];
            put_le32(buf, format_version);
            MDB_val v{4, buf};
            rc = mdb_put(txn, dbi_.meta, &key, &v, 0);
            if (rc != 0) {
                mdb_txn_abort(txn);
                close();
                throw_lmdb(rc, "writing the format version");
            }
        }
    } else if (rc == 0) {
        const std::uint32_t version = val.mv_size == 4 ? get_le32(static_cast<const char*>(val.mv_data)) : 0;
        if (version != format_version) {
            mdb_txn_abort(txn);
            close();
            throw JournalError(Errc::format, "journal: " + dir_.string() + " has format version " +
                                                 std::to_string(version) + " but this build reads only version " +
                                                 std::to_string(format_version));
        }
    } else {
        mdb_txn_abort(txn);
        close();
        throw_lmdb(rc, "reading the format version");
    }

    // Committing also keeps the DBI handles of a read-only transaction open;
    // aborting would close them.
    if ((rc = mdb_txn_commit(txn)) != 0) {
        close();
        throw_lmdb(rc, "creating the journal");
    }
}

void Env::close() noexcept {
    {
        std::lock_guard lk(pool_mu_);
        for (MDB_txn* t : pool_) mdb_txn_abort(t);
        pool_.clear();
    }
    if (env_) mdb_env_close(env_);
    env_ = nullptr;
}

int Env::clear_stale_readers() {
    int dead = 0;
    if (env_) mdb_reader_check(env_, &dead);
    if (dead > 0 && log_) {
        log_(LogLevel::warning, "journal: cleared " + std::to_string(dead) +
                                    " stale LMDB reader slot(s) left by a process that exited");
    }
    return dead;
}

ReadTxn Env::read() {
    for (int tries = 0;; ++tries) {
        std::shared_lock lk(gate_);
        if (!env_) throw JournalError(Errc::closed, "journal: the environment is closed after a failure");
        MDB_txn* txn = nullptr;
        {
            std::lock_guard pl(pool_mu_);
            if (!pool_.empty()) {
                txn = pool_.back();
                pool_.pop_back();
            }
        }
        int rc;
        if (txn) {
            rc = mdb_txn_renew(txn);
            if (rc != 0) {
                mdb_txn_abort(txn);
                txn = nullptr;
            }
        } else {
            rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
        }
        if (rc == 0) return ReadTxn(this, std::move(lk), txn);
        lk.unlock();

        if (tries >= 2) throw_lmdb(rc, "starting a read transaction");
        if (rc == MDB_MAP_RESIZED) {
            // Another process grew the map: adopt its size.
            std::unique_lock ex(gate_);
            mdb_env_set_mapsize(env_, 0);
            MDB_envinfo info;
            mdb_env_info(env_, &info);
            map_size_ = info.me_mapsize;
        } else if (rc == MDB_READERS_FULL) {
            clear_stale_readers();
        } else {
            throw_lmdb(rc, "starting a read transaction");
        }
    }
}

void Env::release(MDB_txn* txn) noexcept {
    mdb_txn_reset(txn);
    std::lock_guard pl(pool_mu_);
    if (pool_.size() < pool_cap) {
        pool_.push_back(txn);
    } else {
        mdb_txn_abort(txn);
    }
}

MDB_txn* Env::begin_write() {
    if (!env_) throw JournalError(Errc::closed, "journal: the environment is closed after a failure");
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc == MDB_MAP_RESIZED) {
        std::unique_lock ex(gate_);
        mdb_env_set_mapsize(env_, 0);
        rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    }
    if (rc != 0) throw_lmdb(rc, "starting a write transaction");
    return txn;
}

bool Env::grow() {
    if (map_size_ >= options_.max_map_size) return false;
    std::size_t next = map_size_ * 2;
    if (next > options_.max_map_size) next = options_.max_map_size;

    // Remapping invalidates every pointer into the map, so no read
    // transaction of this process may be active: the gate excludes them.
    std::unique_lock ex(gate_);
    const int rc = mdb_env_set_mapsize(env_, next);
    if (rc != 0) {
        if (log_) log_(LogLevel::error, std::string("journal: growing the map failed: ") + mdb_strerror(rc));
        return false;
    }
    MDB_envinfo info;
    mdb_env_info(env_, &info);
    map_size_ = info.me_mapsize;
    if (log_) log_(LogLevel::info, "journal: map grown to " + std::to_string(map_size_) + " bytes");
    return true;
}

void Env::reopen() {
    std::unique_lock ex(gate_);
    close();
    open();
}

}  // namespace cebus::journal::detail
