// Journal commands of the `cebus` tool: inspect, tail, dead-letters, export
// and import. Reading commands open the journal read-only, so they work while
// a host process writes it; commands that change it need the host stopped.
#include <csignal>
#include <fstream>
#include <iostream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <cebus/filter.hpp>
#include <cebus/journal.hpp>
#include <cebus/json.hpp>

#include "commands.hpp"

namespace cebus::tool {

namespace cj = cebus::journal;

namespace {

constexpr const char* inspect_usage =
    "usage: cebus inspect DIR [--json]\n"
    "\n"
    "Prints the journal in DIR: event count, sequence range, stored and file\n"
    "sizes, durable subscription cursors with their lag and dead-letter\n"
    "counts, and the total of dead letters.\n"
    "\n"
    "  --json  print one JSON object instead of text\n"
    "\n"
    "Opens DIR read-only, so it works while the host runs. Exit status: 0 on\n"
    "success, 1 on a journal error, 2 on a usage error.\n";

constexpr const char* tail_usage =
    "usage: cebus tail DIR [--from SEQ] [--follow] [--filter EXPR] [--max N]\n"
    "                      [--sequence]\n"
    "\n"
    "Prints journal events as CloudEvents JSON lines. Without --from, starts with\n"
    "the last 10 events.\n"
    "\n"
    "  --from SEQ     start at sequence number SEQ\n"
    "  --follow, -f   keep waiting for new events until Ctrl-C\n"
    "  --filter EXPR  print only the events for which the CESQL v1 expression\n"
    "                 yields Boolean true\n"
    "  --max N        stop after printing N events\n"
    "  --sequence     prefix each line with the sequence number and a tab\n"
    "\n"
    "Opens DIR read-only, so it works while the host runs. Exit status: 0 on\n"
    "success, 1 on a journal error, 2 on a usage error or an invalid EXPR.\n";

constexpr const char* dead_usage =
    "usage: cebus dead-letters list DIR [--subscription NAME]\n"
    "       cebus dead-letters requeue DIR --subscription NAME [SEQ...]\n"
    "       cebus dead-letters purge DIR [--subscription NAME] [SEQ...]\n"
    "\n"
    "list prints one JSON object per dead letter: subscription, sequence,\n"
    "attempts, reason, time and the event. requeue marks dead letters of NAME\n"
    "(all, or the given sequences) for redelivery when the subscription next\n"
    "runs. purge deletes them. Without --subscription, list and purge act on\n"
    "every subscription's dead letters. requeue and purge write to the journal,\n"
    "so stop the host process first.\n"
    "\n"
    "Exit status: 0 on success, 1 on a journal error, 2 on a usage error.\n";

constexpr const char* export_usage =
    "usage: cebus export DIR [FILE]\n"
    "\n"
    "Writes every stored event as CloudEvents JSON lines to FILE, or to standard\n"
    "output when FILE is - or absent. Opens DIR read-only, so it works while the\n"
    "host runs.\n"
    "\n"
    "Exit status: 0 on success, 1 on a journal error or a FILE that cannot be\n"
    "written, 2 on a usage error.\n";

constexpr const char* import_usage =
    "usage: cebus import DIR FILE\n"
    "\n"
    "Appends the events of a JSON lines FILE (- for standard input) to the\n"
    "journal in DIR, creating it if needed. Events whose source and id the\n"
    "journal already holds are skipped (de-duplication). Stops at the first line\n"
    "that is not a valid event; the lines before it stay imported. Writes to the\n"
    "journal, so stop the host process first.\n"
    "\n"
    "Exit status: 0 on success, 1 on an invalid line, a journal error or a FILE\n"
    "that cannot be read, 2 on a usage error.\n";

volatile std::sig_atomic_t interrupted = 0;

bool wants_help(const Args& args) {
    for (const auto& a : args) {
        if (a == "--help" || a == "-h") return true;
    }
    return false;
}

std::optional<std::uint64_t> parse_u64(const std::string& s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
}

std::unique_ptr<cj::Journal> open_journal(const std::string& dir, bool writable) {
    cj::Options o;
    o.directory = dir;
    o.read_only = !writable;
    return std::make_unique<cj::Journal>(o);
}

std::string format_time(std::chrono::system_clock::time_point tp) {
    return Timestamp::from_time_point(tp).text();
}

nlohmann::json dead_letter_json(const cj::DeadLetter& d) {
    nlohmann::json j{{"subscription", d.subscription},
                     {"sequence", d.sequence},
                     {"attempts", d.attempts},
                     {"reason", d.reason},
                     {"dead_lettered_at", format_time(d.dead_lettered_at)},
                     {"requeued", d.requeued}};
    j["event"] = d.event ? json::to_json_value(*d.event) : nlohmann::json(nullptr);
    return j;
}

int inspect(const Args& args, std::ostream& out, std::ostream& err) {
    std::string dir;
    bool as_json = false;
    for (const auto& a : args) {
        if (a == "--json") {
            as_json = true;
        } else if (dir.empty() && a.rfind("--", 0) != 0) {
            dir = a;
        } else {
            err << "cebus inspect: unexpected argument \"" << a << "\"\n" << inspect_usage;
            return 2;
        }
    }
    if (dir.empty()) {
        err << inspect_usage;
        return 2;
    }
    auto j = open_journal(dir, false);
    const cj::Stats s = j->stats();

    if (as_json) {
        nlohmann::json cursors = nlohmann::json::array();
        for (const auto& c : s.cursors) {
            cursors.push_back({{"name", c.name},
                               {"cursor", c.cursor},
                               {"lag", c.lag},
                               {"head_attempts", c.head_attempts},
                               {"at_retention", c.at_retention == cj::RetentionAtCursor::wait ? "wait" : "skip"},
                               {"skipped_events", c.skipped_events},
                               {"dead_letters", c.dead_letters}});
        }
        nlohmann::json doc{{"directory", dir},
                           {"format_version", cj::format_version},
                           {"events", s.events},
                           {"first_sequence", s.first_sequence},
                           {"last_sequence", s.last_sequence},
                           {"stored_bytes", s.stored_bytes},
                           {"file_bytes", s.file_bytes},
                           {"map_bytes", s.map_bytes},
                           {"dead_letters", s.dead_letters},
                           {"dedup_entries", s.dedup_entries},
                           {"reader_slots", s.readers_used},
                           {"cursors", cursors}};
        out << doc.dump(2) << '\n';
        return 0;
    }

    out << "journal " << dir << " (format version " << cj::format_version << ")\n";
    if (s.events == 0) {
        out << "  events        0\n";
    } else {
        out << "  events        " << s.events << " (sequences " << s.first_sequence << ".." << s.last_sequence << ")\n";
    }
    out << "  stored bytes  " << s.stored_bytes << '\n';
    out << "  file bytes    " << s.file_bytes << " (map " << s.map_bytes << ")\n";
    out << "  dead letters  " << s.dead_letters << '\n';
    out << "  de-dup index  " << s.dedup_entries << " entries\n";
    out << "  reader slots  " << s.readers_used << " in use\n";
    out << "  subscriptions " << s.cursors.size() << '\n';
    for (const auto& c : s.cursors) {
        out << "    " << c.name << ": cursor " << c.cursor << ", lag " << c.lag << ", retention "
            << (c.at_retention == cj::RetentionAtCursor::wait ? "waits" : "skips");
        if (c.head_attempts) out << ", " << c.head_attempts << " failed attempt(s) on the next event";
        out << ", " << c.dead_letters << " dead letter(s)";
        if (c.skipped_events) {
            out << ", " << c.skipped_events << " event(s) skipped by retention (last " << c.last_skipped_first << ".."
                << c.last_skipped_last << ")";
        }
        out << '\n';
    }
    return 0;
}

int tail(const Args& args, std::ostream& out, std::ostream& err) {
    std::string dir;
    std::optional<std::uint64_t> from;
    std::optional<std::uint64_t> max;
    bool follow = false;
    bool with_seq = false;
    std::optional<Filter> filter;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](const char* what) -> std::optional<std::string> {
            if (i + 1 >= args.size()) {
                err << "cebus tail: " << a << " needs " << what << '\n';
                return std::nullopt;
            }
            return args[++i];
        };
        if (a == "--follow" || a == "-f") {
            follow = true;
        } else if (a == "--sequence") {
            with_seq = true;
        } else if (a == "--from" || a == "--max") {
            auto v = value("a number");
            if (!v) return 2;
            auto n = parse_u64(*v);
            if (!n) {
                err << "cebus tail: invalid " << a << " value \"" << *v << "\": use a non-negative integer\n";
                return 2;
            }
            (a == "--from" ? from : max) = *n;
        } else if (a == "--filter") {
            auto v = value("a CESQL expression");
            if (!v) return 2;
            try {
                filter = filters::sql(*v);
            } catch (const std::exception& e) {
                err << "cebus tail: invalid --filter expression: " << e.what() << '\n';
                return 2;
            }
        } else if (dir.empty() && a.rfind("-", 0) != 0) {
            dir = a;
        } else {
            err << "cebus tail: unexpected argument \"" << a << "\"\n" << tail_usage;
            return 2;
        }
    }
    if (dir.empty()) {
        err << tail_usage;
        return 2;
    }

    auto j = open_journal(dir, false);
    std::uint64_t next = 1;
    if (from) {
        next = *from;
    } else {
        const std::uint64_t last = j->last_sequence();
        next = last > 10 ? last - 9 : 1;
    }

    interrupted = 0;
    auto previous = std::signal(SIGINT, [](int) { interrupted = 1; });
    std::uint64_t printed = 0;
    std::string line;
    for (;;) {
        j->replay(next, [&](const cj::StoredEvent& s) {
            next = s.sequence + 1;
            if (filter && !filter->match(*s.event)) return true;
            line.clear();
            if (with_seq) line = std::to_string(s.sequence) + "\t";
            json::encode_to(*s.event, line);
            out << line << '\n';
            ++printed;
            return !(max && printed >= *max) && !interrupted;
        });
        out.flush();
        if (!follow || (max && printed >= *max) || interrupted) break;
        j->wait_for_append(next - 1, std::chrono::milliseconds(200));
        if (interrupted) break;
    }
    std::signal(SIGINT, previous);
    return 0;
}

int dead_letters(const Args& args, std::ostream& out, std::ostream& err) {
    if (args.empty()) {
        err << dead_usage;
        return 2;
    }
    const std::string action = args[0];
    std::string dir;
    std::string subscription;
    std::vector<std::uint64_t> seqs;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--subscription") {
            if (i + 1 >= args.size()) {
                err << "cebus dead-letters: --subscription needs a name\n";
                return 2;
            }
            subscription = args[++i];
        } else if (dir.empty() && a.rfind("-", 0) != 0) {
            dir = a;
        } else if (auto n = parse_u64(a); n && action != "list") {
            seqs.push_back(*n);
        } else {
            err << "cebus dead-letters: unexpected argument \"" << a << "\"\n" << dead_usage;
            return 2;
        }
    }
    if (dir.empty() || (action != "list" && action != "requeue" && action != "purge")) {
        err << dead_usage;
        return 2;
    }
    if (action == "list") {
        auto j = open_journal(dir, false);
        for (const auto& d : j->dead_letters(subscription)) out << dead_letter_json(d).dump() << '\n';
        return 0;
    }
    if (action == "requeue" && subscription.empty()) {
        err << "cebus dead-letters requeue: --subscription NAME is required\n";
        return 2;
    }
    auto j = open_journal(dir, true);
    const std::size_t n = action == "requeue" ? j->requeue(subscription, seqs) : j->purge(subscription, seqs);
    out << (action == "requeue" ? "requeued " : "purged ") << n << " dead letter(s)\n";
    return 0;
}

int export_events(const Args& args, std::ostream& out, std::ostream& err) {
    if (args.empty() || args.size() > 2) {
        err << export_usage;
        return 2;
    }
    auto j = open_journal(args[0], false);
    std::ofstream file;
    std::ostream* dest = &out;
    if (args.size() == 2 && args[1] != "-") {
        file.open(args[1], std::ios::binary | std::ios::trunc);
        if (!file) {
            err << "cebus export: cannot create " << args[1] << '\n';
            return 1;
        }
        dest = &file;
    }
    std::string line;
    const std::uint64_t n = j->replay(1, [&](const cj::StoredEvent& s) {
        line.clear();
        json::encode_to(*s.event, line);
        line.push_back('\n');
        dest->write(line.data(), static_cast<std::streamsize>(line.size()));
        return static_cast<bool>(*dest);
    });
    dest->flush();
    if (!*dest) {
        err << "cebus export: writing failed after " << n << " event(s)\n";
        return 1;
    }
    if (dest != &out) err << "cebus export: wrote " << n << " event(s)\n";
    return 0;
}

int import_events(const Args& args, std::ostream& out, std::ostream& err) {
    if (args.size() != 2) {
        err << import_usage;
        return 2;
    }
    std::ifstream file;
    std::istream* in = &std::cin;
    if (args[1] != "-") {
        file.open(args[1], std::ios::binary);
        if (!file) {
            err << "cebus import: cannot open " << args[1] << '\n';
            return 1;
        }
        in = &file;
    }
    auto j = open_journal(args[0], true);

    std::uint64_t stored = 0, duplicates = 0, line_no = 0;
    std::vector<EventPtr> batch;
    auto flush = [&] {
        if (batch.empty()) return;
        for (const auto& r : j->append_batch(std::move(batch)).get()) (r.duplicate ? duplicates : stored)++;
        batch.clear();
    };
    std::string line;
    int status = 0;
    while (std::getline(*in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            batch.push_back(json::decode(line));
        } catch (const std::exception& e) {
            err << "cebus import: " << args[1] << ":" << line_no << ": " << e.what() << '\n';
            status = 1;
            break;
        }
        if (batch.size() >= 1000) flush();
    }
    flush();
    out << "imported " << stored << " event(s), skipped " << duplicates << " duplicate(s)\n";
    return status;
}

}  // namespace

int journal(const std::string& command, const Args& args, std::ostream& out, std::ostream& err) {
    const char* usage = command == "inspect"        ? inspect_usage
                        : command == "tail"         ? tail_usage
                        : command == "dead-letters" ? dead_usage
                        : command == "export"       ? export_usage
                                                    : import_usage;
    if (wants_help(args)) {
        out << usage;
        return 0;
    }
    try {
        if (command == "inspect") return inspect(args, out, err);
        if (command == "tail") return tail(args, out, err);
        if (command == "dead-letters") return dead_letters(args, out, err);
        if (command == "export") return export_events(args, out, err);
        if (command == "import") return import_events(args, out, err);
    } catch (const cj::JournalError& e) {
        err << "cebus " << command << ": " << e.what() << '\n';
        return 1;
    }
    err << usage;
    return 2;
}

}  // namespace cebus::tool
