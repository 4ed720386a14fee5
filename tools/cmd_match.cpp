// `cebus match EXPR FILE...`: prints the events that match a CESQL
// expression, one JSON object a line.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <cebus/cesql.hpp>
#include <cebus/json.hpp>

#include "commands.hpp"

namespace cebus::tool {

namespace {

constexpr const char* match_usage =
    "usage: cebus match EXPR FILE...\n"
    "\n"
    "Prints, as JSON lines, the events in FILE that match the CESQL v1 expression\n"
    "EXPR: those for which it yields Boolean true with no error. A file may hold\n"
    "one CloudEvents JSON event, a batch (a JSON array) or JSON lines (one event\n"
    "per line). FILE may be - for standard input.\n"
    "\n"
    "Example: cebus match \"type LIKE 'com.example.%' AND EXISTS subject\" events.jsonl\n"
    "\n"
    "Exit status: 0 when some event matched, 1 when none did or an input could\n"
    "not be read or decoded, 2 on a usage error or an invalid expression.\n";

bool read_input(const std::string& name, std::string& text, std::ostream& err) {
    if (name == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        return true;
    }
    std::ifstream in(name, std::ios::binary);
    if (!in) {
        err << "cebus match: cannot open " << name << '\n';
        return false;
    }
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return true;
}

std::string_view strip(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

// Decodes every event of one input, whatever its layout, reporting each
// undecodable event (by line for JSON lines) and keeping the rest.
bool decode_events(const std::string& name, std::string_view text, std::vector<EventPtr>& events,
                   std::ostream& err) {
    const std::string_view body = strip(text);
    if (body.empty()) return true;
    if (body.front() == '[') {
        try {
            events = json::decode_batch(body);
            return true;
        } catch (const Error& e) {
            err << name << ": " << e.what() << '\n';
            return false;
        }
    }

    // One event, possibly pretty-printed; failing that, JSON lines.
    try {
        events.push_back(json::decode(body));
        return true;
    } catch (const ParseError&) {
        if (body.find('\n') == std::string_view::npos) throw;
    }
    bool ok = true;
    std::size_t line_number = 0;
    while (!text.empty()) {
        ++line_number;
        const std::size_t end = text.find('\n');
        const std::string_view line = strip(text.substr(0, end));
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        if (line.empty()) continue;
        try {
            events.push_back(json::decode(line));
        } catch (const Error& e) {
            err << name << ':' << line_number << ": " << e.what() << '\n';
            ok = false;
        }
    }
    return ok;
}

}  // namespace

int match(const Args& args, std::ostream& out, std::ostream& err) {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
        out << match_usage;
        return 0;
    }
    if (args.size() < 2) {
        err << match_usage;
        return 2;
    }

    // A call to an unknown function could never match, so it is an error
    // here as it is for subscription filters.
    cesql::CompileOptions options;
    options.reject_unknown_functions = true;
    std::optional<cesql::Expression> expression;
    try {
        expression = cesql::Expression::compile(args[0], options);
    } catch (const cesql::CompileError& e) {
        err << "cebus match: " << e.what() << "\n  " << args[0] << "\n  "
            << std::string(std::min(e.offset(), args[0].size()), ' ') << "^\n";
        return 2;
    }

    bool inputs_ok = true;
    std::size_t matched = 0;
    std::string buffer;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& name = args[i];
        std::string text;
        if (!read_input(name, text, err)) {
            inputs_ok = false;
            continue;
        }
        std::vector<EventPtr> events;
        try {
            inputs_ok = decode_events(name, text, events, err) && inputs_ok;
        } catch (const Error& e) {
            err << name << ": " << e.what() << '\n';
            inputs_ok = false;
            continue;
        }
        for (const EventPtr& event : events) {
            if (!expression->matches(*event)) continue;
            buffer.clear();
            json::encode_to(*event, buffer);
            // JSON data keeps its original bytes, line breaks included; one
            // event a line needs it compacted. A JSON string contains no raw
            // line break, so any found lies between tokens.
            if (buffer.find_first_of("\r\n") != std::string::npos) buffer = nlohmann::ordered_json::parse(buffer).dump();
            out << buffer << '\n';
            ++matched;
        }
    }
    out.flush();
    return matched > 0 && inputs_ok ? 0 : 1;
}

}  // namespace cebus::tool
