// `cebus validate FILE...`: checks CloudEvents JSON files, JSON batch files
// and JSON-lines files (one event per line) and prints every error with its
// position, in the `file:line:column: message` form editors understand.
#include <cstddef>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <cebus/json.hpp>

#include "commands.hpp"

namespace cebus::tool {

namespace {

constexpr const char* validate_usage =
    "usage: cebus validate FILE...\n"
    "\n"
    "Checks CloudEvents 1.0 files in the JSON event format. A file may hold one\n"
    "event, a batch (a JSON array of events) or JSON lines (one event per line;\n"
    "files ending in .jsonl or .ndjson, or files whose every non-empty line is an\n"
    "object). FILE may be - for standard input.\n"
    "\n"
    "Prints each error as FILE:LINE:COLUMN: message (columns count bytes).\n"
    "Exit status: 0 when every event is valid, 1 when any is invalid, 2 on a\n"
    "usage error or a file that cannot be read.\n";

enum class Layout { single, batch, lines };

struct Position {
    std::size_t line = 1;
    std::size_t column = 1;
};

Position position_of(std::string_view text, std::size_t offset) {
    Position pos;
    if (offset > text.size()) offset = text.size();
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++pos.line;
            pos.column = 1;
        } else {
            ++pos.column;
        }
    }
    return pos;
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(" \t\r\n");
    return s.substr(first, last - first + 1);
}

Layout detect_layout(std::string_view name, std::string_view text) {
    const std::string_view body = trim(text);
    if (ends_with(name, ".jsonl") || ends_with(name, ".ndjson")) return Layout::lines;
    if (!body.empty() && body.front() == '[') return Layout::batch;

    // Several lines that are each a whole object: JSON lines. A pretty-printed
    // event has lines such as `{` or `"id": "1",` that are not.
    std::size_t objects = 0;
    std::istringstream in{std::string(body)};
    std::string line;
    while (std::getline(in, line)) {
        const std::string_view item = trim(line);
        if (item.empty()) continue;
        if (item.front() != '{' || item.back() != '}') return Layout::single;
        ++objects;
    }
    return objects > 1 ? Layout::lines : Layout::single;
}

// Finds the byte ranges of the elements of a JSON array without decoding
// them, so each event of a batch can be checked on its own. Stops at the
// first syntax error; decode_batch() reports that one.
std::vector<std::pair<std::size_t, std::size_t>> split_array(std::string_view text) {
    std::vector<std::pair<std::size_t, std::size_t>> elements;
    std::size_t i = text.find('[');
    if (i == std::string_view::npos) return elements;
    ++i;
    constexpr std::size_t none = std::string_view::npos;
    std::size_t depth = 0;
    std::size_t start = none;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '"') {
            if (start == none) start = i;
            for (++i; i < text.size() && text[i] != '"'; ++i) {
                if (text[i] == '\\') ++i;
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (depth == 0 && (c == ',' || c == ']')) {
            if (start != none) elements.emplace_back(start, i);
            start = none;
            if (c == ']') break;
            continue;
        }
        if (start == none) start = i;
        if (c == '{' || c == '[') ++depth;
        if ((c == '}' || c == ']') && depth > 0) --depth;
    }
    return elements;
}

class Checker {
public:
    Checker(std::ostream& out) : out_(out) {}

    // Checks one file's text; returns true when every event is valid.
    bool check(const std::string& name, const std::string& text) {
        name_ = name;
        text_ = text;
        std::size_t events = 0;
        bool ok = true;
        switch (detect_layout(name, text)) {
            case Layout::single: ok = check_single(events); break;
            case Layout::batch: ok = check_batch(events); break;
            case Layout::lines: ok = check_lines(events); break;
        }
        if (ok) out_ << name << ": valid, " << events << (events == 1 ? " event\n" : " events\n");
        return ok;
    }

private:
    void report(std::size_t offset, const std::string& message) {
        const Position pos = position_of(text_, offset);
        out_ << name_ << ':' << pos.line << ':' << pos.column << ": " << message << '\n';
    }

    // Decodes one event at `offset` of the file; reports and returns false
    // on an error. `label` names the event in messages ("" for a lone one).
    bool check_event(std::string_view event_text, std::size_t offset, const std::string& label) {
        try {
            json::decode(event_text);
            return true;
        } catch (const ParseError& e) {
            report(offset + e.offset(), label + e.reason());
        } catch (const ValidationError& e) {
            const auto skipped = event_text.find_first_not_of(" \t\r\n");
            report(offset + (skipped == std::string_view::npos ? 0 : skipped), label + e.what());
        }
        return false;
    }

    bool check_single(std::size_t& events) {
        events = 1;
        return check_event(text_, 0, "");
    }

    bool check_batch(std::size_t& events) {
        try {
            events = json::decode_batch(text_).size();
            return true;
        } catch (const ParseError& e) {
            report(e.offset(), e.reason());
            return false;
        } catch (const ValidationError&) {
            // Check each event on its own so that every invalid one is listed.
        }
        const auto elements = split_array(text_);
        for (std::size_t index = 0; index < elements.size(); ++index) {
            const auto [begin, end] = elements[index];
            check_event(std::string_view(text_).substr(begin, end - begin), begin,
                        "event " + std::to_string(index) + ": ");
        }
        return false;
    }

    bool check_lines(std::size_t& events) {
        bool ok = true;
        std::size_t line_start = 0;
        while (line_start < text_.size()) {
            std::size_t line_end = text_.find('\n', line_start);
            if (line_end == std::string::npos) line_end = text_.size();
            const std::string_view line = std::string_view(text_).substr(line_start, line_end - line_start);
            if (!trim(line).empty()) {
                ok = check_event(line, line_start, "event " + std::to_string(events) + ": ") && ok;
                ++events;
            }
            line_start = line_end + 1;
        }
        return ok;
    }

    std::ostream& out_;
    std::string name_;
    std::string text_;
};

}  // namespace

int validate(const Args& args, std::ostream& out, std::ostream& err) {
    if (args.empty()) {
        err << validate_usage;
        return 2;
    }
    for (const auto& arg : args) {
        if (arg == "--help" || arg == "-h") {
            out << validate_usage;
            return 0;
        }
        if (arg.size() > 1 && arg[0] == '-') {
            err << "cebus validate: unknown option \"" << arg << "\"\n\n" << validate_usage;
            return 2;
        }
    }

    Checker checker(out);
    bool all_valid = true;
    bool unreadable = false;
    for (const auto& arg : args) {
        std::string text;
        std::string name = arg;
        if (arg == "-") {
            name = "<stdin>";
            text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        } else {
            std::ifstream in(arg, std::ios::binary);
            if (!in) {
                err << "cebus validate: cannot read \"" << arg << "\": no such file or no permission\n";
                unreadable = true;
                continue;
            }
            text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        if (!checker.check(name, text)) all_valid = false;
    }
    if (unreadable) return 2;
    return all_valid ? 0 : 1;
}

}  // namespace cebus::tool
