// The LMDB environment of one journal: opening, the named databases, a pool
// of read transactions that are reset and renewed, map growth and reopening.
// Internal to cebus-journal.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <cebus/journal.hpp>

namespace cebus::journal::detail {

// Throws JournalError for an LMDB return code, naming the operation.
[[noreturn]] void throw_lmdb(int rc, std::string_view what);
Errc errc_of(int rc);

inline MDB_val to_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view to_sv(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

struct Dbis {
    MDB_dbi events = 0, meta = 0, cursors = 0, dead = 0, dedup = 0, dedup_order = 0, state = 0;
};

class Env;

// A read transaction from the pool. While it lives the environment cannot be
// remapped or reopened (it holds the gate shared), so keep it short and never
// call user code while holding one.
class ReadTxn {
public:
    ReadTxn(ReadTxn&& other) noexcept;
    ReadTxn(const ReadTxn&) = delete;
    ~ReadTxn();
    MDB_txn* get() const noexcept { return txn_; }
    const Dbis& dbi() const noexcept;

private:
    friend class Env;
    ReadTxn(Env* env, std::shared_lock<std::shared_mutex> lock, MDB_txn* txn)
        : env_(env), lock_(std::move(lock)), txn_(txn) {}
    Env* env_;
    std::shared_lock<std::shared_mutex> lock_;
    MDB_txn* txn_;
};

class Env {
public:
    Env(const Options& options, const Logger& log);
    ~Env();
    Env(const Env&) = delete;
    Env& operator=(const Env&) = delete;

    // A renewed read transaction. Throws JournalError.
    ReadTxn read();

    // Writer-thread only. The write transaction is not gated: the writer is
    // the only thread that remaps (grow) or reopens, and does so between
    // its own transactions.
    MDB_txn* begin_write();
    MDB_env* raw() const noexcept { return env_; }
    const Dbis& dbi() const noexcept { return dbi_; }

    // Doubles the map (capped at max_map_size). False when growth is off or
    // the cap is reached. Takes the gate exclusively.
    bool grow();
    // Closes and opens the environment again (after MDB_PANIC or an I/O
    // error). Takes the gate exclusively. Throws JournalError if it fails.
    void reopen();
    // mdb_reader_check; returns slots cleared.
    int clear_stale_readers();
    std::size_t map_size() const noexcept { return map_size_; }
    const std::filesystem::path& directory() const noexcept { return dir_; }

private:
    friend class ReadTxn;
    void open();
    void close() noexcept;
    void release(MDB_txn* txn) noexcept;

    Options options_;
    Logger log_;
    std::filesystem::path dir_;
    MDB_env* env_ = nullptr;
    Dbis dbi_;
    std::size_t map_size_ = 0;

    std::shared_mutex gate_;
    std::mutex pool_mu_;
    std::vector<MDB_txn*> pool_;
};

}  // namespace cebus::journal::detail
