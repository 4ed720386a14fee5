// Entry point of the `cebus` tool: dispatches to one command per file.
#include <iostream>
#include <string>
#include <vector>

#include "cebus_config.h"
#include "commands.hpp"

namespace {

constexpr const char* usage_text =
    "usage: cebus COMMAND [ARGS...]\n"
    "\n"
    "commands:\n"
    "  validate FILE...          check CloudEvents JSON, batch and JSON-lines files\n"
    "  match EXPR FILE...        print the events that match a CESQL expression\n"
#if CEBUS_HAVE_JOURNAL
    "  inspect DIR [--json]      counts, sequence range, size, cursors and dead letters\n"
    "  tail DIR [--from SEQ] [--follow] [--filter EXPR] [--max N] [--sequence]\n"
    "                            print journal events as JSON lines\n"
    "  dead-letters list|requeue|purge DIR [--subscription NAME] [SEQ...]\n"
    "                            list, redeliver or delete dead letters\n"
    "  export DIR [FILE]         write the journal's events as JSON lines\n"
    "  import DIR FILE           append events from JSON lines\n"
#endif
#if CEBUS_HAVE_IO_EVENTS
    "  io-events emulator [--port N] [OPTIONS]\n"
    "                            run the Adobe I/O Events emulator on loopback\n"
#endif
    "  version                   print the version\n"
    "\n"
    "Run `cebus COMMAND --help` for a command's options and exit status.\n";

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << usage_text;
        return 2;
    }
    const std::string command = argv[1];
    const cebus::tool::Args args(argv + 2, argv + argc);

    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << usage_text;
        return 0;
    }
    if (command == "version" || command == "--version") {
        std::cout << "cebus " << CEBUS_VERSION << '\n';
        return 0;
    }
    if (command == "validate") return cebus::tool::validate(args, std::cout, std::cerr);
    if (command == "match") return cebus::tool::match(args, std::cout, std::cerr);
#if CEBUS_HAVE_JOURNAL
    if (command == "inspect" || command == "tail" || command == "dead-letters" ||
        command == "export" || command == "import") {
        return cebus::tool::journal(command, args, std::cout, std::cerr);
    }
#endif
#if CEBUS_HAVE_IO_EVENTS
    if (command == "io-events") return cebus::tool::io_events(args, std::cout, std::cerr);
#endif

    std::cerr << "cebus: unknown command \"" << command << "\"\n\n" << usage_text;
    return 2;
}
