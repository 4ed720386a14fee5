// Runs `cebus --help` and `cebus COMMAND --help` (CEBUS_TOOL) and checks that
// each usage line lists every option its command documents, and that
// docs/cli.md shows the same usage lines as the tool prints.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

extern char** environ;

namespace {

struct Outcome {
    int exit_code = -1;
    std::string out;
};

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Spawns the tool with these arguments and returns its exit status and
// standard output; standard error is discarded.
Outcome run_tool(std::vector<std::string> args) {
    const char* tool = std::getenv("CEBUS_TOOL");
    REQUIRE(tool != nullptr);
    args.insert(args.begin(), tool);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    const fs::path out = fs::temp_directory_path() / ("cebus-help-" + std::to_string(::getpid()) + ".out");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, tool, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(spawned == 0);

    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    Outcome outcome;
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    outcome.out = slurp(out);
    std::error_code ignored;
    fs::remove(out, ignored);
    return outcome;
}

// Collapses every run of whitespace to one space, so line wrapping and
// indentation do not matter when texts are compared.
std::string normalise(const std::string& text) {
    std::istringstream words(text);
    std::string word, result;
    while (words >> word) {
        if (!result.empty()) result += ' ';
        result += word;
    }
    return result;
}

// The usage block of a help text: from its start to the first blank line,
// without the "usage:" labels.
std::string usage_block(const std::string& help) {
    const std::size_t end = help.find("\n\n");
    std::string block = help.substr(0, end);
    for (std::size_t at = block.find("usage:"); at != std::string::npos; at = block.find("usage:")) {
        block.erase(at, 6);
    }
    return block;
}

std::set<std::string> long_options(const std::string& text) {
    static const std::regex option(R"(--[a-z][a-z-]*)");
    std::set<std::string> found;
    for (std::sregex_iterator it(text.begin(), text.end(), option), end; it != end; ++it) found.insert(it->str());
    return found;
}

// The text of every fenced code block in a Markdown file, concatenated.
std::string code_blocks(const std::string& markdown) {
    std::istringstream lines(markdown);
    std::string line, blocks;
    bool inside = false;
    while (std::getline(lines, line)) {
        if (line.rfind("```", 0) == 0) {
            inside = !inside;
            blocks += '\n';
        } else if (inside) {
            blocks += line + '\n';
        }
    }
    return blocks;
}

struct Command {
    std::vector<std::string> help_args;
    std::string name;
    bool summarised;  // true when `cebus --help` shows its options as [OPTIONS]
};

const std::vector<Command> all_commands = {
    {{"validate", "--help"}, "validate", false},
    {{"match", "--help"}, "match", false},
    {{"inspect", "--help"}, "inspect", false},
    {{"tail", "--help"}, "tail", false},
    {{"dead-letters", "--help"}, "dead-letters", false},
    {{"export", "--help"}, "export", false},
    {{"import", "--help"}, "import", false},
    {{"io-events", "--help"}, "io-events emulator", true},
};

// The commands this build has (the journal and bridge commands are optional).
std::vector<Command> built_commands() {
    std::vector<Command> built;
    for (const Command& command : all_commands) {
        if (run_tool(command.help_args).exit_code == 0) built.push_back(command);
    }
    return built;
}

}  // namespace

TEST_CASE("tool help lists every option", "[tool][help]") {
    const Outcome top = run_tool({"--help"});
    REQUIRE(top.exit_code == 0);
    const std::set<std::string> top_options = long_options(top.out);

    for (const Command& command : built_commands()) {
        INFO("cebus " << command.name << " --help");
        const Outcome help = run_tool(command.help_args);
        CHECK(help.out.rfind("usage: cebus " + command.name, 0) == 0);
        CHECK(top.out.find("  " + command.name.substr(0, command.name.find(' '))) != std::string::npos);

        // Every option the help text explains is in its usage line.
        const std::set<std::string> in_usage = long_options(usage_block(help.out));
        for (const std::string& option : long_options(help.out)) {
            INFO("option " << option);
            CHECK(in_usage.count(option) == 1);
        }
        if (command.summarised) continue;
        // The command list of `cebus --help` shows the same options.
        for (const std::string& option : in_usage) {
            INFO("option " << option);
            CHECK(top_options.count(option) == 1);
        }
    }
}

TEST_CASE("docs/cli.md shows tool usages", "[tool][help]") {
    const char* data = std::getenv("CEBUS_TEST_DATA");
    REQUIRE(data != nullptr);
    const fs::path page = fs::path(data) / ".." / ".." / "docs" / "cli.md";
    REQUIRE(fs::exists(page));
    const std::string docs = normalise(code_blocks(slurp(page)));

    const std::vector<Command> built = built_commands();
    for (const Command& command : built) {
        const std::string usage = normalise(usage_block(run_tool(command.help_args).out));
        INFO("usage of cebus " << command.name << ": " << usage);
        CHECK(docs.find(usage) != std::string::npos);
    }

    // The page shows the command list of a build with every feature.
    if (built.size() == all_commands.size()) {
        const std::string top = run_tool({"--help"}).out;
        const std::string commands = normalise(top);
        INFO("cebus --help: " << commands);
        CHECK(docs.find(commands) != std::string::npos);
    }
}
