// `cebus io-events emulator`: runs the I/O Events emulator on loopback.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

#include <cebus/io_events/emulator.hpp>

#include "commands.hpp"

namespace cebus::tool {

namespace {

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void on_stop_signal(int) { stop_requested = 1; }

constexpr const char* emulator_usage =
    "usage: cebus io-events emulator [--port N] [--host ADDR] [--client-id ID]\n"
    "                               [--client-secret SECRET] [--provider-id ID]\n"
    "                               [--journal-retry-after SECONDS] [--quiet]\n"
    "\n"
    "Serves the Adobe I/O Events endpoints on one loopback port until Ctrl-C or\n"
    "SIGTERM, and prints their URLs:\n"
    "  POST /                 publishing (ingress)\n"
    "  POST /ims/token/v3     OAuth client_credentials tokens\n"
    "  GET  <journal path>    the registration's journal\n"
    "  GET  /prod/keys/...    the public keys of webhook signatures\n"
    "\n"
    "  --port N               TCP port (default 8089; 0 lets the OS choose)\n"
    "  --host ADDR            loopback address to bind (default 127.0.0.1)\n"
    "  --client-id ID         accept only this client id (default: any)\n"
    "  --client-secret SECRET accept only this client secret (default: any)\n"
    "  --provider-id ID       accept only events with source urn:uuid:ID\n"
    "  --journal-retry-after SECONDS  retry-after on 204 journal answers (default 10)\n"
    "  --quiet                do not print each request\n"
    "\n"
    "A host's public_key_base_url is the base URL (http://127.0.0.1:PORT), not a\n"
    "printed key URL. Exit status: 0 after a stop, 1 when the emulator cannot\n"
    "start (for example ADDR is not a loopback address), 2 on a usage error.\n";

int run_emulator(const Args& args, std::ostream& out, std::ostream& err) {
    io_events::EmulatorOptions options;
    options.port = 8089;
    bool quiet = false;

    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        auto value = [&]() -> const std::string* {
            if (i + 1 >= args.size()) {
                err << "cebus io-events emulator: " << arg << " needs a value\n";
                return nullptr;
            }
            return &args[++i];
        };
        if (arg == "--help" || arg == "-h") {
            out << emulator_usage;
            return 0;
        } else if (arg == "--quiet") {
            quiet = true;
        } else if (arg == "--port" || arg == "--host" || arg == "--client-id" ||
                   arg == "--client-secret" || arg == "--provider-id" ||
                   arg == "--journal-retry-after") {
            const std::string* v = value();
            if (v == nullptr) return 2;
            if (arg == "--port" || arg == "--journal-retry-after") {
                char* end = nullptr;
                const long number = std::strtol(v->c_str(), &end, 10);
                if (v->empty() || *end != '\0' || number < 0 || number > 65535) {
                    err << "cebus io-events emulator: invalid " << arg << " \"" << *v
                        << "\": use an integer from 0 to 65535\n";
                    return 2;
                }
                (arg == "--port" ? options.port : options.journal_retry_after) = static_cast<int>(number);
            } else if (arg == "--host") {
                options.host = *v;
            } else if (arg == "--client-id") {
                options.client_id = *v;
            } else if (arg == "--client-secret") {
                options.client_secret = *v;
            } else {
                options.provider_id = *v;
            }
        } else {
            err << "cebus io-events emulator: unknown option \"" << arg << "\"\n\n" << emulator_usage;
            return 2;
        }
    }

    std::mutex print_mutex;
    if (!quiet) {
        options.log = [&print_mutex, &out](io_events::LogLevel level, std::string_view message) {
            // Debug records are the per-request lines.
            std::lock_guard lock(print_mutex);
            out << io_events::to_string(level) << ": " << message << std::endl;
        };
    }

    try {
        io_events::Emulator emulator(options);
        {
            std::lock_guard lock(print_mutex);
            out << "ingress:      " << emulator.ingress_url() << '\n'
                << "ims token:    " << emulator.ims_token_url() << '\n'
                << "journal:      " << emulator.journal_url() << '\n'
                << "public keys:  " << emulator.public_key_base_url() << emulator.public_key_path(1)
                << "\n              " << emulator.public_key_base_url() << emulator.public_key_path(2)
                << "\nPress Ctrl-C to stop." << std::endl;
        }
        std::signal(SIGINT, on_stop_signal);
        std::signal(SIGTERM, on_stop_signal);
        while (stop_requested == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        emulator.stop();
        const auto stats = emulator.stats();
        out << "stopped: " << stats.ingress_accepted << " events accepted ("
            << stats.ingress_distinct_ids << " distinct ids), " << stats.tokens_issued
            << " tokens issued, " << stats.journal_requests << " journal requests\n";
    } catch (const std::exception& e) {
        err << "cebus io-events emulator: " << e.what() << '\n';
        return 1;
    }
    return 0;
}

}  // namespace

int io_events(const Args& args, std::ostream& out, std::ostream& err) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        (args.empty() ? err : out) << emulator_usage;
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "emulator") return run_emulator(Args(args.begin() + 1, args.end()), out, err);
    err << "cebus io-events: unknown subcommand \"" << args[0] << "\"\n\n" << emulator_usage;
    return 2;
}

}  // namespace cebus::tool
