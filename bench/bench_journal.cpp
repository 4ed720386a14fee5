// Durable append throughput and acknowledgement latency of the journal, side
// by side with the baselines on the same disk, plus replay throughput.
//
// For 1, 4 and 16 producer threads, cebus appends events of about 300
// encoded bytes and counts an append only when its acknowledgement (after the
// durable commit) arrives. The group commit forms its own batches; the
// baselines then run with the same batch size, the mean events per commit of
// that cebus run:
//   file    write() of the batch's records + fdatasync, appending to a file
//   sqlite  WAL, synchronous=FULL, one BEGIN/COMMIT per batch of INSERTs
//   lmdb-1  raw LMDB, one transaction (two flushes) per event: the naive way
// A relaxed-mode row (16 producers) shows the cost of LMDB's second flush.
// Replay stores N events, then times a durable subscription that decodes and
// receives all of them.
//
// usage: bench_journal [--events N] [--replay N] [--dir PATH] [--json FILE]
// PATH must be on a real disk (not tmpfs): the figures are about flushes.
#include <fcntl.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <cebus/journal.hpp>

namespace cj = cebus::journal;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint32_t tmpfs_magic = 0x01021994;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

cebus::EventPtr make_event(std::uint64_t n) {
    // About 268 bytes of body + 32 bytes of record header.
    static const std::string filler(150, 'x');
    return cebus::EventBuilder()
        .id("evt-" + std::to_string(n))
        .source("/bench/journal/producer")
        .type("com.example.bench.reading")
        .time("2026-12-04T20:00:00.123456Z")
        .data(R"({"n":)" + std::to_string(n) + R"(,"filler":")" + filler + R"("})")
        .datacontenttype("application/json")
        .build();
}

std::vector<std::string> make_records(std::size_t n) {
    std::vector<std::string> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(std::string(32, '\0') + cj::codec::encode_event(*make_event(i)));
    return out;
}

struct Row {
    std::string name;
    int threads = 1;
    double events_per_s = 0;
    double batch = 0;
    double p50_us = 0, p99_us = 0, max_us = 0;
};

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

Row run_cebus(const fs::path& dir, int producers, std::size_t events, const std::vector<cebus::EventPtr>& pool,
              cj::Durability durability = cj::Durability::durable) {
    fs::remove_all(dir);
    cj::Options o;
    o.directory = dir;
    o.durability = durability;
    o.map_size = std::size_t{4} << 30;
    o.dedup_window = std::chrono::seconds(0);  // the baselines do no de-dup either
    cj::Journal j(o);

    // Each producer keeps `window` appends in flight: 256 in flight in total.
    const std::size_t window = std::max<std::size_t>(16, 256 / static_cast<std::size_t>(producers));
    const std::size_t per = events / static_cast<std::size_t>(producers);
    std::vector<std::vector<double>> lat(static_cast<std::size_t>(producers));
    std::vector<std::thread> ts;
    const auto t0 = Clock::now();
    for (int p = 0; p < producers; ++p) {
        ts.emplace_back([&, p] {
            auto& mine = lat[static_cast<std::size_t>(p)];
            mine.reserve(per);
            std::mutex mu;
            std::condition_variable cv;
            std::size_t in_flight = 0;
            for (std::size_t i = 0; i < per; ++i) {
                {
                    std::unique_lock lk(mu);
                    cv.wait(lk, [&] { return in_flight < window; });
                    ++in_flight;
                }
                const auto start = Clock::now();
                j.append(pool[(static_cast<std::size_t>(p) * per + i) % pool.size()],
                         [&, start](const cj::AppendResult&, std::exception_ptr err) {
                             if (err) std::abort();
                             const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
                             std::lock_guard lk(mu);
                             mine.push_back(us);
                             --in_flight;
                             cv.notify_one();
                         });
            }
            std::unique_lock lk(mu);
            cv.wait(lk, [&] { return in_flight == 0; });
        });
    }
    for (auto& t : ts) t.join();
    const double secs = seconds_since(t0);

    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    Row r;
    r.name = durability == cj::Durability::durable ? "cebus durable" : "cebus relaxed";
    r.threads = producers;
    r.events_per_s = static_cast<double>(per * static_cast<std::size_t>(producers)) / secs;
    const auto m = j.metrics();
    r.batch = static_cast<double>(m.appended) / static_cast<double>(std::max<std::uint64_t>(1, m.commits));
    r.p50_us = percentile(all, 0.50);
    r.p99_us = percentile(all, 0.99);
    r.max_us = all.empty() ? 0 : all.back();
    return r;
}

Row run_file(const fs::path& dir, std::size_t events, std::size_t batch, const std::vector<std::string>& records) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    const auto path = dir / "log.bin";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd < 0) throw std::runtime_error("cannot create " + path.string());
    std::string buf;
    std::vector<double> lat;
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < events;) {
        const auto start = Clock::now();
        buf.clear();
        const std::size_t end = std::min(events, i + batch);
        for (; i < end; ++i) {
            const std::string& rec = records[i % records.size()];
            const auto len = static_cast<std::uint32_t>(rec.size());
            buf.append(reinterpret_cast<const char*>(&len), 4);
            buf.append(rec);
        }
        if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) throw std::runtime_error("write failed");
        if (::fdatasync(fd) != 0) throw std::runtime_error("fdatasync failed");
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    const double secs = seconds_since(t0);
    ::close(fd);
    Row r;
    r.name = "file write+fdatasync";
    r.events_per_s = static_cast<double>(events) / secs;
    r.batch = static_cast<double>(batch);
    r.p50_us = percentile(lat, 0.5);
    r.p99_us = percentile(lat, 0.99);
    r.max_us = lat.empty() ? 0 : lat.back();
    return r;
}

Row run_sqlite(const fs::path& dir, std::size_t events, std::size_t batch, const std::vector<std::string>& records) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    sqlite3* db = nullptr;
    if (sqlite3_open((dir / "bench.db").c_str(), &db) != SQLITE_OK) throw std::runtime_error("sqlite3_open failed");
    auto exec = [&](const char* sql) {
        char* msg = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
            std::string m = msg ? msg : "?";
            sqlite3_free(msg);
            throw std::runtime_error(std::string("sqlite: ") + sql + ": " + m);
        }
    };
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("CREATE TABLE events (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    sqlite3_stmt* ins = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO events (seq, body) VALUES (?, ?)", -1, &ins, nullptr);
    std::vector<double> lat;
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < events;) {
        const auto start = Clock::now();
        exec("BEGIN");
        const std::size_t end = std::min(events, i + batch);
        for (; i < end; ++i) {
            const std::string& rec = records[i % records.size()];
            sqlite3_bind_int64(ins, 1, static_cast<sqlite3_int64>(i + 1));
            sqlite3_bind_blob(ins, 2, rec.data(), static_cast<int>(rec.size()), SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE) throw std::runtime_error("sqlite insert failed");
            sqlite3_reset(ins);
        }
        exec("COMMIT");
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    const double secs = seconds_since(t0);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    Row r;
    r.name = "sqlite WAL FULL";
    r.events_per_s = static_cast<double>(events) / secs;
    r.batch = static_cast<double>(batch);
    r.p50_us = percentile(lat, 0.5);
    r.p99_us = percentile(lat, 0.99);
    r.max_us = lat.empty() ? 0 : lat.back();
    return r;
}

Row run_lmdb_per_event(const fs::path& dir, std::size_t events, const std::vector<std::string>& records) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    MDB_env* env = nullptr;
    mdb_env_create(&env);
    mdb_env_set_mapsize(env, std::size_t{1} << 30);
    if (mdb_env_open(env, dir.c_str(), 0, 0644) != 0) throw std::runtime_error("mdb_env_open failed");
    MDB_dbi dbi;
    MDB_txn* txn = nullptr;
    mdb_txn_begin(env, nullptr, 0, &txn);
    mdb_dbi_open(txn, nullptr, 0, &dbi);
    mdb_txn_commit(txn);
    std::vector<double> lat;
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < events; ++i) {
        const auto start = Clock::now();
        mdb_txn_begin(env, nullptr, 0, &txn);
        char key[8];
        for (int b = 0; b < 8; ++b) key[b] = static_cast<char>((i + 1) >> (8 * (7 - b)));
        MDB_val k{8, key};
        const std::string& rec = records[i % records.size()];
        MDB_val v{rec.size(), const_cast<char*>(rec.data())};
        if (mdb_put(txn, dbi, &k, &v, MDB_APPEND) != 0 || mdb_txn_commit(txn) != 0) {
            throw std::runtime_error("lmdb commit failed");
        }
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    const double secs = seconds_since(t0);
    mdb_env_close(env);
    Row r;
    r.name = "lmdb commit per event";
    r.events_per_s = static_cast<double>(events) / secs;
    r.batch = 1;
    r.p50_us = percentile(lat, 0.5);
    r.p99_us = percentile(lat, 0.99);
    r.max_us = lat.empty() ? 0 : lat.back();
    return r;
}

double run_replay(const fs::path& dir, std::size_t events, const std::vector<cebus::EventPtr>& pool) {
    fs::remove_all(dir);
    cj::Options o;
    o.directory = dir;
    o.map_size = std::size_t{4} << 30;
    o.dedup_window = std::chrono::seconds(0);
    cj::Journal j(o);
    for (std::size_t i = 0; i < events;) {
        std::vector<cebus::EventPtr> batch;
        for (std::size_t k = 0; k < 5000 && i < events; ++k, ++i) batch.push_back(pool[i % pool.size()]);
        j.append_batch(std::move(batch)).get();
    }
    std::atomic<std::size_t> seen{0};
    std::atomic<std::size_t> bytes{0};
    std::mutex mu;
    std::condition_variable cv;
    cj::SubscriptionOptions so;
    so.batch_size = 1024;
    const auto t0 = Clock::now();
    auto sub = j.subscribe("replay", [&](const cj::Delivery& d) {
        bytes.fetch_add(d.event->id().size(), std::memory_order_relaxed);  // touch the decoded event
        if (seen.fetch_add(1, std::memory_order_relaxed) + 1 == events) {
            std::lock_guard lk(mu);
            cv.notify_all();
        }
        return cj::HandlerResult::ack();
    }, so);
    {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return seen.load() >= events; });
    }
    const double secs = seconds_since(t0);
    return static_cast<double>(events) / secs;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t events = 200000;
    std::size_t replay_events = 1000000;
    std::string json_path;
    fs::path base = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--events" && i + 1 < argc) {
            events = std::stoull(argv[++i]);
        } else if (a == "--replay" && i + 1 < argc) {
            replay_events = std::stoull(argv[++i]);
        } else if (a == "--dir" && i + 1 < argc) {
            base = argv[++i];
        } else if (a == "--json" && i + 1 < argc) {
            json_path = argv[++i];
        } else {
            std::cerr << "usage: bench_journal [--events N] [--replay N] [--dir PATH] [--json FILE]\n";
            return 2;
        }
    }
    struct statfs sf {};
    if (::statfs(base.c_str(), &sf) == 0 && static_cast<std::uint32_t>(sf.f_type) == tmpfs_magic) {
        std::cerr << "bench_journal: " << base << " is tmpfs, where fdatasync costs nothing; use --dir on a real disk\n";
        return 2;
    }
    const fs::path root = base / ("cebus-bench-journal-" + std::to_string(::getpid()));
    fs::create_directories(root);

    std::vector<cebus::EventPtr> pool;
    for (std::size_t i = 0; i < 4096; ++i) pool.push_back(make_event(i));
    const auto records = make_records(4096);
    std::cout << "record size: " << records[0].size() << " bytes (32-byte header + body)\n";

    nlohmann::json out;
    out["record_bytes"] = records[0].size();
    out["events"] = events;
    std::printf("%-24s %7s %12s %8s %10s %10s %10s\n", "writer", "threads", "events/s", "batch", "p50 us", "p99 us",
                "max us");
    auto print = [](const Row& r) {
        std::printf("%-24s %7d %12.0f %8.1f %10.0f %10.0f %10.0f\n", r.name.c_str(), r.threads, r.events_per_s,
                    r.batch, r.p50_us, r.p99_us, r.max_us);
    };
    auto to_json = [](const Row& r) {
        return nlohmann::json{{"name", r.name}, {"threads", r.threads}, {"events_per_s", r.events_per_s},
                              {"batch", r.batch}, {"p50_us", r.p50_us}, {"p99_us", r.p99_us}, {"max_us", r.max_us}};
    };

    for (int producers : {1, 4, 16}) {
        const Row c = run_cebus(root / "cebus", producers, events, pool);
        const auto batch = static_cast<std::size_t>(std::max(1.0, c.batch + 0.5));
        const Row f = run_file(root / "file", events, batch, records);
        const Row s = run_sqlite(root / "sqlite", events, batch, records);
        print(c);
        print(f);
        print(s);
        const double vs_file = c.events_per_s / f.events_per_s;
        const double vs_sqlite = c.events_per_s / s.events_per_s;
        std::printf("  ratios: cebus/file %.2f (target >= 0.70), cebus/sqlite %.2f (target >= 2.00), "
                    "ack p99 %.0f us (target < 2000)\n",
                    vs_file, vs_sqlite, c.p99_us);
        out["append"].push_back({{"producers", producers},
                                 {"cebus", to_json(c)},
                                 {"file", to_json(f)},
                                 {"sqlite", to_json(s)},
                                 {"cebus_vs_file", vs_file},
                                 {"cebus_vs_sqlite", vs_sqlite}});
    }
    // Relaxed mode acknowledges as late as durable mode but flushes once per
    // commit (MDB_NOMETASYNC, pipelined acknowledgement).
    const Row relaxed = run_cebus(root / "cebus", 16, events, pool, cj::Durability::relaxed);
    print(relaxed);
    out["relaxed_16"] = to_json(relaxed);

    const Row naive = run_lmdb_per_event(root / "lmdb", std::min<std::size_t>(events, 5000), records);
    print(naive);
    out["lmdb_commit_per_event"] = to_json(naive);

    const double replay = run_replay(root / "replay", replay_events, pool);
    std::printf("replay of %zu events to a durable subscriber, decode included: %.0f events/s (target >= 2000000)\n",
                replay_events, replay);
    out["replay"] = {{"events", replay_events}, {"events_per_s", replay}};

    fs::remove_all(root);
    if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << '\n';
    return 0;
}
