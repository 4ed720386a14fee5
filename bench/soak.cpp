// Soak run: the bus and the journal under a steady load for minutes, to show
// that memory, queue depth and latency stay flat. Not a benchmark and not a
// test; scripts/soak.sh runs it and plots the CSV it writes.
//
// Setup: producers publish to a bus with a sync subscriber, two async
// subscribers (one blocking, one drop_oldest) and a journal attached to the
// bus, which feeds two durable subscriptions. A churn thread subscribes and
// unsubscribes short-lived bus subscribers (sync, async, with exact, prefix
// and CESQL filters) and durable subscriptions, and retention trims the
// journal as it goes.
//
// First it measures capacity: every producer publishes as fast as it can for
// a few seconds, and capacity is the rate at which the slowest consumer
// finished. Then it offers a fraction of that (half by default) for the
// configured time, sampling every few seconds: resident memory, queue depth,
// durable lag, the journal's file size and latency percentiles (publish to
// handler, per consumer kind). It exits 1 when, over the second half of the
// run, the least-squares slope of anonymous memory, of the backlog or of the
// journal file (data.mdb, judged only on samples taken while retention was
// trimming) exceeds its limit. The verdict uses a slope over half the run,
// not one sample, because a single peak does not show growth without bound,
// and allocators and LMDB both grow in steps.
#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <cebus/bus.hpp>
#include <cebus/event.hpp>
#include <cebus/filter.hpp>
#include <cebus/journal.hpp>

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Settings {
    double seconds = 120;
    double interval = 5;
    double calibrate = 4;
    double load = 0.5;
    double rate = 0;  // events/s; 0 = load x measured capacity
    unsigned producers = 2;
    std::string csv = "soak.csv";
    std::string json;  // verdict and slopes as JSON; none when empty
    std::string dir;   // journal folder; a temporary one when empty
    // Retention keeps this many events, few enough that it trims from early
    // in the run, so the file has no reason to grow after that.
    std::uint64_t retain_events = 100000;
    // De-duplication index bound; 0 keeps the journal's default. The default
    // is larger than the retained events, so the soak also shows whether the
    // index follows retention instead of growing to its own bound.
    std::uint64_t dedup_entries = 0;
    double max_memory_slope_kb = 2048;  // KiB per minute of anonymous memory
    double max_backlog_slope = 0;       // events per minute; 0 = 1% of the offered rate
    double max_file_slope_kb = 2048;    // KiB per minute of data.mdb while retention trims
};

void usage(std::ostream& out) {
    const Settings defaults;
    out << "usage: soak [OPTION...]\n"
           "Runs the bus and a journal at a fraction of their measured capacity, samples\n"
           "memory, backlog, journal file size and latency, and exits 1 when memory, the\n"
           "backlog or the journal file keeps growing over the second half of the run.\n"
           "\n"
           "  --seconds S            paced run time after calibration (default "
        << defaults.seconds << ")\n"
        << "  --interval S           seconds between samples (default " << defaults.interval << ")\n"
        << "  --calibrate S          seconds of full-speed publishing that measure capacity (default "
        << defaults.calibrate << ")\n"
        << "  --load F               fraction of the measured capacity offered (default " << defaults.load << ")\n"
        << "  --rate N               offer N events/s instead, skipping calibration\n"
        << "  --producers N          producer threads (default " << defaults.producers << ")\n"
        << "  --retain-events N      retention keeps N events (default " << defaults.retain_events << ")\n"
        << "  --dedup-entries N      de-duplication index bound (default: the journal's, "
        << cebus::journal::Options{}.dedup_max_entries << ")\n"
        << "  --csv FILE             samples, one line each (default " << defaults.csv << ")\n"
        << "  --json FILE            verdict, slopes and limits as JSON (default: none)\n"
        << "  --dir DIR              journal folder (default: a temporary folder, removed after)\n"
        << "  --max-memory-slope K   KiB/min of anonymous memory allowed (default " << defaults.max_memory_slope_kb
        << ")\n"
        << "  --max-backlog-slope N  events/min of async depth + durable lag allowed\n"
           "                         (default: 1% of the offered rate per minute, at least 500)\n"
        << "  --max-file-slope K     KiB/min of data.mdb growth allowed while retention trims\n"
           "                         (default "
        << defaults.max_file_slope_kb << ")\n";
}

// The 1-minute load average, to record next to the verdict.
double load_average() {
    std::ifstream in("/proc/loadavg");
    double one = 0;
    in >> one;
    return one;
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// A lock-free latency histogram with buckets a quarter of a power of two
// wide, swapped out at every sample.
class Histogram {
public:
    static constexpr int buckets = 160;

    void record(std::int64_t ns) noexcept {
        if (ns < 1) ns = 1;
        const double position = std::log2(static_cast<double>(ns)) * 4.0;
        const int index = std::min(buckets - 1, static_cast<int>(position));
        counts_[index].fetch_add(1, std::memory_order_relaxed);
        std::int64_t seen = max_.load(std::memory_order_relaxed);
        while (ns > seen && !max_.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
        }
    }

    struct Snapshot {
        std::array<std::uint64_t, buckets> counts{};
        std::int64_t max = 0;
        std::uint64_t total = 0;

        // Upper bound of the bucket holding quantile q, in microseconds.
        double quantile_us(double q) const {
            if (total == 0) return 0;
            const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
            std::uint64_t seen = 0;
            for (int i = 0; i < buckets; ++i) {
                seen += counts[i];
                if (seen >= rank) return std::min(std::exp2((i + 1) / 4.0), static_cast<double>(max)) / 1000.0;
            }
            return static_cast<double>(max) / 1000.0;
        }
    };

    Snapshot take() noexcept {
        Snapshot s;
        for (int i = 0; i < buckets; ++i) {
            s.counts[i] = counts_[i].exchange(0, std::memory_order_relaxed);
            s.total += s.counts[i];
        }
        s.max = max_.exchange(0, std::memory_order_relaxed);
        return s;
    }

private:
    std::array<std::atomic<std::uint64_t>, buckets> counts_{};
    std::atomic<std::int64_t> max_{0};
};

// The publish time the producer wrote into the data: {"t":<ns>,...}.
std::int64_t sent_at(const cebus::Event& event) {
    const std::string_view data = event.data();
    const auto start = data.find("\"t\":");
    if (start == std::string_view::npos) return 0;
    std::int64_t value = 0;
    std::from_chars(data.data() + start + 4, data.data() + data.size(), value);
    return value;
}

struct Memory {
    long resident_kb = 0;
    long anonymous_kb = 0;  // resident minus file-backed: the journal's map is not ours
};

Memory read_memory() {
    std::ifstream statm("/proc/self/statm");
    long size = 0, resident = 0, shared = 0;
    statm >> size >> resident >> shared;
    const long page_kb = ::sysconf(_SC_PAGESIZE) / 1024;
    return {resident * page_kb, (resident - shared) * page_kb};
}

// Least-squares slope of y over x.
double slope(const std::vector<double>& x, const std::vector<double>& y) {
    const std::size_t n = x.size();
    if (n < 3) return 0;
    double mx = 0, my = 0;
    for (std::size_t i = 0; i < n; ++i) {
        mx += x[i];
        my += y[i];
    }
    mx /= static_cast<double>(n);
    my /= static_cast<double>(n);
    double sxy = 0, sxx = 0;
    for (std::size_t i = 0; i < n; ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    return sxx == 0 ? 0 : sxy / sxx;
}

struct Counters {
    std::atomic<std::uint64_t> published{0};
    std::atomic<std::uint64_t> sync_seen{0};
    std::atomic<std::uint64_t> async_seen{0};
    std::atomic<std::uint64_t> durable_seen{0};
    std::atomic<std::uint64_t> churn_seen{0};
    std::atomic<std::uint64_t> publish_errors{0};
    Histogram sync_latency, async_latency, durable_latency;
};

class Soak {
public:
    explicit Soak(const Settings& settings) : settings_(settings) {
        cebus::BusOptions bus_options;
        bus_options.worker_count = 2;
        bus_ = std::make_unique<cebus::Bus>(bus_options);

        cebus::journal::Options journal_options;
        journal_options.directory = settings.dir;
        journal_options.durability = cebus::journal::Durability::relaxed;
        journal_options.retention.max_events = settings.retain_events;
        if (settings.dedup_entries > 0) journal_options.dedup_max_entries = settings.dedup_entries;
        journal_options.retention.check_interval = std::chrono::milliseconds(500);
        journal_options.logger = [](cebus::journal::LogLevel level, std::string_view message) {
            if (level >= cebus::journal::LogLevel::warning) std::cerr << "journal: " << message << "\n";
        };
        journal_ = std::make_unique<cebus::journal::Journal>(journal_options);

        subscriptions_.push_back(bus_->subscribe(
            cebus::Filter(),
            [this](const cebus::Event& e) {
                counters_.sync_latency.record(now_ns() - sent_at(e));
                counters_.sync_seen.fetch_add(1, std::memory_order_relaxed);
            },
            cebus::SubscribeOptions().sync().with_name("sync")));
        subscriptions_.push_back(bus_->subscribe(
            cebus::Filter(),
            [this](const cebus::Event& e) {
                counters_.async_latency.record(now_ns() - sent_at(e));
                counters_.async_seen.fetch_add(1, std::memory_order_relaxed);
            },
            cebus::SubscribeOptions().async().with_name("async-block")));
        subscriptions_.push_back(bus_->subscribe(
            cebus::filters::prefix("type", "soak.a"), [](const cebus::Event&) {},
            cebus::SubscribeOptions()
                .async()
                .with_capacity(4096)
                .with_overflow(cebus::OverflowPolicy::drop_oldest)
                .with_name("async-drop-oldest")));
        subscriptions_.push_back(journal_->attach(*bus_));

        auto durable = [this](const cebus::journal::Delivery& d) {
            counters_.durable_latency.record(now_ns() - sent_at(*d.event));
            counters_.durable_seen.fetch_add(1, std::memory_order_relaxed);
            return cebus::journal::HandlerResult::ack();
        };
        durable_.push_back(journal_->subscribe("durable-all", durable));
        cebus::journal::SubscriptionOptions only_b;
        only_b.filter = [](const cebus::Event& e) { return e.type() == "soak.b"; };
        durable_.push_back(journal_->subscribe("durable-b", [](const cebus::journal::Delivery&) {
            return cebus::journal::HandlerResult::ack();
        }, only_b));
    }

    ~Soak() {
        stop_.store(true);
        for (auto& t : threads_) t.join();
        churned_.clear();
        subscriptions_.clear();
        durable_.clear();
        bus_->drain(std::chrono::seconds(5));
        journal_.reset();
        bus_.reset();
    }

    // Publishes as fast as possible for `seconds`, then waits until every
    // consumer has caught up; returns events per second end to end.
    double measure_capacity(double seconds) {
        const std::uint64_t start_count = counters_.published.load();
        const auto start = Clock::now();
        const auto until = start + to_duration(seconds);
        std::vector<std::thread> producers;
        for (unsigned p = 0; p < settings_.producers; ++p) {
            producers.emplace_back([this, p, until] {
                std::uint64_t n = 0;
                while (Clock::now() < until) {
                    for (int i = 0; i < 64; ++i) publish(p, n++);
                }
            });
        }
        for (auto& t : producers) t.join();
        const std::uint64_t published = counters_.published.load() - start_count;
        wait_caught_up(std::chrono::seconds(60));
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        return static_cast<double>(published) / elapsed;
    }

    // Runs the paced load with churn and retention; writes the CSV and
    // returns the exit status.
    int run(double rate) {
        std::cerr << "soak: offering " << static_cast<long>(rate) << " events/s for " << settings_.seconds
                  << " s\n";
        const auto start = Clock::now();
        const auto until = start + to_duration(settings_.seconds);
        for (unsigned p = 0; p < settings_.producers; ++p) {
            threads_.emplace_back([this, p, rate, start, until] { paced_producer(p, rate / settings_.producers, start, until); });
        }
        threads_.emplace_back([this, until] { churn(until); });

        std::ofstream csv(settings_.csv);
        csv << "t_s,rss_kb,anon_kb,rate,async_depth,durable_lag,journal_events,journal_file_kb,"
               "sync_p50_us,sync_p99_us,async_p50_us,async_p99_us,async_max_us,"
               "durable_p50_us,durable_p99_us,durable_max_us,dropped,subscriptions,trimmed,stored_kb\n";

        std::vector<double> t, anon, backlog, file_kb;
        std::vector<bool> trimming;  // retention trimmed during the interval before the sample
        std::uint64_t last_trimmed = journal_->metrics().trimmed;
        std::uint64_t last_published = counters_.published.load();
        auto last = Clock::now();
        for (auto next = start + to_duration(settings_.interval); next <= until + std::chrono::milliseconds(10);
             next += to_duration(settings_.interval)) {
            std::this_thread::sleep_until(next);
            journal_->trim_now();  // retention on demand, besides the periodic check

            const auto now = Clock::now();
            const double ts = std::chrono::duration<double>(now - start).count();
            const std::uint64_t published = counters_.published.load();
            const double interval_rate =
                static_cast<double>(published - last_published) / std::chrono::duration<double>(now - last).count();
            last_published = published;
            last = now;

            const Memory memory = read_memory();
            std::size_t async_depth = 0;
            for (const auto& m : bus_->subscription_metrics()) async_depth += m.queue_depth;
            const auto stats = journal_->stats();
            std::uint64_t durable_lag = 0;
            for (const auto& c : stats.cursors) durable_lag = std::max(durable_lag, c.lag);
            const auto sync = counters_.sync_latency.take();
            const auto async = counters_.async_latency.take();
            const auto durable = counters_.durable_latency.take();
            const auto metrics = bus_->metrics();
            const std::uint64_t trimmed = journal_->metrics().trimmed;

            csv << ts << ',' << memory.resident_kb << ',' << memory.anonymous_kb << ',' << interval_rate << ','
                << async_depth << ',' << durable_lag << ',' << stats.events << ',' << stats.file_bytes / 1024 << ','
                << sync.quantile_us(0.5) << ',' << sync.quantile_us(0.99) << ',' << async.quantile_us(0.5) << ','
                << async.quantile_us(0.99) << ',' << static_cast<double>(async.max) / 1000.0 << ','
                << durable.quantile_us(0.5) << ',' << durable.quantile_us(0.99) << ','
                << static_cast<double>(durable.max) / 1000.0 << ',' << metrics.dropped_total() << ','
                << metrics.subscriptions << ',' << trimmed << ',' << stats.stored_bytes / 1024 << '\n';
            csv.flush();
            std::fprintf(stderr,
                         "soak: t=%5.0fs rss=%ld KiB anon=%ld KiB rate=%.0f/s depth=%zu lag=%llu "
                         "file=%llu KiB events=%llu p99 async=%.0fus durable=%.0fus\n",
                         ts, memory.resident_kb, memory.anonymous_kb, interval_rate, async_depth,
                         static_cast<unsigned long long>(durable_lag),
                         static_cast<unsigned long long>(stats.file_bytes / 1024),
                         static_cast<unsigned long long>(stats.events), async.quantile_us(0.99),
                         durable.quantile_us(0.99));

            t.push_back(ts / 60.0);
            anon.push_back(static_cast<double>(memory.anonymous_kb));
            backlog.push_back(static_cast<double>(async_depth + durable_lag));
            file_kb.push_back(static_cast<double>(stats.file_bytes) / 1024.0);
            last_stored_kb_ = static_cast<double>(stats.stored_bytes) / 1024.0;
            trimming.push_back(trimmed > last_trimmed);
            last_trimmed = trimmed;
        }
        stop_.store(true);
        for (auto& th : threads_) th.join();
        threads_.clear();

        return judge(rate, t, anon, backlog, file_kb, trimming);
    }

private:
    static Clock::duration to_duration(double seconds) {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    }

    void publish(unsigned producer, std::uint64_t n) {
        char data[64];
        const int size = std::snprintf(data, sizeof data, "{\"t\":%lld,\"n\":%llu}",
                                       static_cast<long long>(now_ns()), static_cast<unsigned long long>(n));
        cebus::EventBuilder builder;
        builder.id(std::to_string(producer) + "-" + std::to_string(n))
            .source("/soak/producer/" + std::to_string(producer))
            .type(n % 2 == 0 ? "soak.a" : "soak.b")
            .datacontenttype("application/json")
            .data(std::string(data, static_cast<std::size_t>(size)));
        try {
            bus_->publish(builder.build());
            counters_.published.fetch_add(1, std::memory_order_relaxed);
        } catch (const cebus::Error&) {
            counters_.publish_errors.fetch_add(1, std::memory_order_relaxed);
        }
    }

    void paced_producer(unsigned producer, double rate, Clock::time_point start, Clock::time_point until) {
        // Continue the numbering of the calibration, so (source, id) stays unique.
        std::uint64_t n = 1'000'000'000;
        std::uint64_t sent = 0;
        while (!stop_.load(std::memory_order_relaxed)) {
            const auto now = Clock::now();
            if (now >= until) break;
            const double due = rate * std::chrono::duration<double>(now - start).count();
            while (static_cast<double>(sent) < due) {
                publish(producer, n++);
                ++sent;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
    }

    // Keeps about a dozen short-lived bus subscribers and one durable
    // subscription coming and going.
    void churn(Clock::time_point until) {
        std::mt19937 random(7);
        std::uint64_t round = 0;
        while (!stop_.load(std::memory_order_relaxed) && Clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            ++round;
            cebus::Filter filter;
            switch (random() % 4) {
                case 0: filter = cebus::filters::type("soak.a"); break;
                case 1: filter = cebus::filters::prefix("source", "/soak/producer/1"); break;
                case 2: filter = cebus::filters::sql("type = 'soak.b' AND source LIKE '/soak/%'"); break;
                default: break;
            }
            cebus::SubscribeOptions options;
            if (random() % 2 == 0) {
                options.sync();
            } else {
                options.async().with_capacity(1024).with_overflow(cebus::OverflowPolicy::drop_newest);
            }
            churned_.push_back(bus_->subscribe(
                filter, [this](const cebus::Event&) { counters_.churn_seen.fetch_add(1, std::memory_order_relaxed); },
                options));
            if (churned_.size() > 12) churned_.pop_front();

            if (round % 40 == 0) {
                // A durable subscription that joins at the end, reads for a
                // while and is removed with its cursor.
                const std::string name = "churn-" + std::to_string(round);
                cebus::journal::SubscriptionOptions from_end;
                from_end.start = cebus::journal::StartPosition::end();
                auto sub = journal_->subscribe(
                    name, [](const cebus::journal::Delivery&) { return cebus::journal::HandlerResult::ack(); },
                    from_end);
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
                sub.reset();
                journal_->remove_subscription(name);
            }
        }
    }

    void wait_caught_up(std::chrono::seconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            const std::uint64_t published = counters_.published.load();
            if (counters_.async_seen.load() >= published && counters_.durable_seen.load() >= published) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        std::cerr << "soak: consumers did not catch up within " << timeout.count() << " s\n";
    }

    // Fails when a series keeps growing over the second half of the run. The
    // file is judged only on samples of that half taken after retention first
    // trimmed: before then it grows by design, and afterwards LMDB should reuse
    // the pages retention frees.
    int judge(double rate, const std::vector<double>& t, const std::vector<double>& anon,
              const std::vector<double>& backlog, const std::vector<double>& file_kb,
              const std::vector<bool>& trimming) const {
        const std::size_t half = t.size() / 2;
        auto tail = [half](const std::vector<double>& v) {
            return std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(half), v.end());
        };
        const std::vector<double> t2 = tail(t);
        const double memory_slope = slope(t2, tail(anon));
        const double backlog_slope = slope(t2, tail(backlog));
        const double backlog_limit =
            settings_.max_backlog_slope > 0 ? settings_.max_backlog_slope : std::max(500.0, rate * 60.0 * 0.01);

        const auto first_trim = std::find(trimming.begin(), trimming.end(), true);
        const std::size_t file_from =
            std::max(half, static_cast<std::size_t>(first_trim - trimming.begin()));
        std::vector<double> t_file, file_series;
        for (std::size_t i = file_from; i < t.size(); ++i) {
            t_file.push_back(t[i]);
            file_series.push_back(file_kb[i]);
        }
        const double file_slope = slope(t_file, file_series);

        std::cerr << "soak: second half: anonymous memory slope " << memory_slope << " KiB/min (limit "
                  << settings_.max_memory_slope_kb << "), backlog slope " << backlog_slope << " events/min (limit "
                  << backlog_limit << "), journal file slope " << file_slope << " KiB/min over " << t_file.size()
                  << " samples while retention trimmed (limit " << settings_.max_file_slope_kb
                  << "), publish errors " << counters_.publish_errors.load() << "\n";
        if (!file_kb.empty()) {
            std::cerr << "soak: at the end data.mdb is " << file_kb.back() << " KiB for " << last_stored_kb_
                      << " KiB of stored records\n";
        }
        std::vector<std::string> failures;
        if (t2.size() < 3) {
            std::cerr << "soak: too few samples to judge: run longer or sample more often\n";
            failures.emplace_back("too few samples");
        }
        if (t_file.size() < 3) {
            std::cerr << "soak: retention trimmed in fewer than 3 samples of the second half, so file growth "
                         "cannot be judged: run longer or lower --retain-events\n";
            failures.emplace_back("file growth not judged");
        }
        if (memory_slope > settings_.max_memory_slope_kb) {
            std::cerr << "soak: FAIL: memory grows\n";
            failures.emplace_back("memory grows");
        }
        if (backlog_slope > backlog_limit) {
            std::cerr << "soak: FAIL: the backlog grows\n";
            failures.emplace_back("backlog grows");
        }
        if (file_slope > settings_.max_file_slope_kb) {
            std::cerr << "soak: FAIL: the journal file grows while retention trims\n";
            failures.emplace_back("journal file grows");
        }
        const double load = load_average();
        std::cerr << "soak: load average " << load << "\n";
        if (failures.empty()) std::cerr << "soak: OK\n";

        if (!settings_.json.empty()) {
            std::ofstream json(settings_.json);
            json << "{\n  \"seconds\": " << settings_.seconds << ",\n  \"interval_s\": " << settings_.interval
                 << ",\n  \"offered_rate\": " << rate << ",\n  \"producers\": " << settings_.producers
                 << ",\n  \"retain_events\": " << settings_.retain_events
                 << ",\n  \"samples\": " << t.size() << ",\n  \"memory_slope_kib_per_min\": " << memory_slope
                 << ",\n  \"memory_limit_kib_per_min\": " << settings_.max_memory_slope_kb
                 << ",\n  \"backlog_slope_events_per_min\": " << backlog_slope
                 << ",\n  \"backlog_limit_events_per_min\": " << backlog_limit
                 << ",\n  \"file_slope_kib_per_min\": " << file_slope
                 << ",\n  \"file_samples_judged\": " << t_file.size()
                 << ",\n  \"file_limit_kib_per_min\": " << settings_.max_file_slope_kb
                 << ",\n  \"file_kib_last\": " << (file_kb.empty() ? 0.0 : file_kb.back())
                 << ",\n  \"stored_kib_last\": " << last_stored_kb_
                 << ",\n  \"publish_errors\": " << counters_.publish_errors.load()
                 << ",\n  \"load_average_1min\": " << load << ",\n  \"failures\": [";
            for (std::size_t i = 0; i < failures.size(); ++i) json << (i ? ", " : "") << '"' << failures[i] << '"';
            json << "],\n  \"ok\": " << (failures.empty() ? "true" : "false") << "\n}\n";
        }
        return failures.empty() ? 0 : 1;
    }

    Settings settings_;
    Counters counters_;
    std::unique_ptr<cebus::Bus> bus_;
    std::unique_ptr<cebus::journal::Journal> journal_;
    std::vector<cebus::Subscription> subscriptions_;
    std::vector<cebus::journal::DurableSubscription> durable_;
    std::deque<cebus::Subscription> churned_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    double last_stored_kb_ = 0;  // record bytes retained at the last sample, for the verdict
};

}  // namespace

int main(int argc, char** argv) {
    Settings settings;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << "soak: " << argv[i] << " needs a value\n";
                usage(std::cerr);
                std::exit(2);
            }
            return argv[++i];
        };
        try {
            if (arg == "--seconds") settings.seconds = std::stod(value());
            else if (arg == "--interval") settings.interval = std::stod(value());
            else if (arg == "--calibrate") settings.calibrate = std::stod(value());
            else if (arg == "--load") settings.load = std::stod(value());
            else if (arg == "--rate") settings.rate = std::stod(value());
            else if (arg == "--producers") settings.producers = static_cast<unsigned>(std::stoul(value()));
            else if (arg == "--retain-events") settings.retain_events = std::stoull(value());
            else if (arg == "--dedup-entries") settings.dedup_entries = std::stoull(value());
            else if (arg == "--csv") settings.csv = value();
            else if (arg == "--json") settings.json = value();
            else if (arg == "--dir") settings.dir = value();
            else if (arg == "--max-memory-slope") settings.max_memory_slope_kb = std::stod(value());
            else if (arg == "--max-backlog-slope") settings.max_backlog_slope = std::stod(value());
            else if (arg == "--max-file-slope") settings.max_file_slope_kb = std::stod(value());
            else if (arg == "--help" || arg == "-h") {
                usage(std::cout);
                return 0;
            } else {
                std::cerr << "soak: unknown option " << arg << "\n";
                usage(std::cerr);
                return 2;
            }
        } catch (const std::exception&) {
            std::cerr << "soak: invalid value for " << arg << "\n";
            return 2;
        }
    }
    if (settings.producers == 0 || settings.interval <= 0 || settings.seconds < settings.interval) {
        std::cerr << "soak: need at least one producer and --seconds >= --interval > 0\n";
        return 2;
    }
    if (settings.retain_events == 0) {
        std::cerr << "soak: --retain-events must be at least 1: the soak judges the file under retention\n";
        return 2;
    }

    fs::path temporary;
    if (settings.dir.empty()) {
        std::string pattern = (fs::temp_directory_path() / "cebus-soak-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            std::perror("soak: mkdtemp");
            return 2;
        }
        temporary = pattern;
        settings.dir = (temporary / "journal").string();
    }

    int status = 0;
    try {
        Soak soak(settings);
        double rate = settings.rate;
        if (rate <= 0) {
            const double capacity = soak.measure_capacity(settings.calibrate);
            std::cerr << "soak: capacity " << static_cast<long>(capacity) << " events/s end to end\n";
            rate = capacity * settings.load;
        }
        status = soak.run(rate);
    } catch (const std::exception& e) {
        std::cerr << "soak: " << e.what() << "\n";
        status = 2;
    }
    if (!temporary.empty()) fs::remove_all(temporary);
    return status;
}
