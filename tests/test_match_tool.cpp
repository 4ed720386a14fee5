// Runs the built `cebus match` command (CEBUS_TOOL) and checks what it
// prints and its exit status.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

extern char** environ;

namespace {

struct Outcome {
    int exit_code = -1;
    std::string out;
    std::string err;
};

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// A temporary folder that contains the inputs and the captured output.
struct Scratch {
    fs::path dir;

    Scratch() {
        dir = fs::temp_directory_path() / ("cebus-match-" + std::to_string(::getpid()) + "-" +
                                           std::to_string(counter++));
        fs::create_directories(dir);
    }
    ~Scratch() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }

    std::string file(const std::string& name, const std::string& text) const {
        std::ofstream(dir / name, std::ios::binary) << text;
        return (dir / name).string();
    }

    // Spawns the tool with exactly these arguments (no shell, so quotes in
    // expressions need no escaping) and standard input from `input`.
    Outcome run(std::vector<std::string> args, const std::string& input = "") const {
        const char* tool = std::getenv("CEBUS_TOOL");
        REQUIRE(tool != nullptr);
        args.insert(args.begin(), {tool, "match"});
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);

        const std::string in = file("stdin", input);
        const std::string out = (dir / "stdout").string();
        const std::string err = (dir / "stderr").string();
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        pid_t pid = 0;
        const int spawned = posix_spawn(&pid, tool, &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        REQUIRE(spawned == 0);

        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        Outcome outcome;
        outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        outcome.out = slurp(out);
        outcome.err = slurp(err);
        return outcome;
    }

    static inline int counter = 0;
};

std::string event_json(const std::string& id, const std::string& type, const std::string& extra = "") {
    return R"({"specversion":"1.0","id":")" + id + R"(","source":"urn:uuid:1","type":")" + type + "\"" + extra + "}";
}

std::vector<std::string> ids_of(const std::string& output) {
    std::vector<std::string> ids;
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) ids.push_back(nlohmann::json::parse(line).at("id").get<std::string>());
    return ids;
}

}  // namespace

TEST_CASE("match prints matching JSON lines") {
    Scratch s;
    const std::string path = s.file("events.jsonl", event_json("1", "com.example.a") + "\n" +
                                                        event_json("2", "com.example.b", R"(,"subject":"x")") + "\n\n" +
                                                        event_json("3", "org.other.a", R"(,"subject":"y")") + "\n");
    const Outcome o = s.run({"type LIKE 'com.example.%' AND EXISTS subject", path});
    CHECK(o.exit_code == 0);
    CHECK(ids_of(o.out) == std::vector<std::string>{"2"});
    CHECK(o.err.empty());
}

TEST_CASE("match reads batches and single events") {
    Scratch s;
    const std::string batch =
        s.file("batch.json", "[" + event_json("1", "a") + "," + event_json("2", "b") + "," + event_json("3", "a") + "]");
    const std::string single = s.file("one.json", "{\n  \"specversion\": \"1.0\", \"id\": \"4\",\n"
                                                  "  \"source\": \"/s\", \"type\": \"a\",\n"
                                                  "  \"data\": {\n    \"x\": 1\n  }\n}\n");
    const Outcome o = s.run({"type = 'a'", batch, single});
    CHECK(o.exit_code == 0);
    CHECK(ids_of(o.out) == std::vector<std::string>{"1", "3", "4"});
    // The pretty-printed data comes out on one line.
    CHECK(o.out.find(R"("data":{"x":1})") != std::string::npos);
}

TEST_CASE("match reads standard input") {
    Scratch s;
    const Outcome o = s.run({"id IN ('2', '9')", "-"}, event_json("1", "a") + "\n" + event_json("2", "a") + "\n");
    CHECK(o.exit_code == 0);
    CHECK(ids_of(o.out) == std::vector<std::string>{"2"});
}

TEST_CASE("match without matches exits 1") {
    Scratch s;
    const Outcome o = s.run({"type = 'nothing'", s.file("e.json", event_json("1", "a"))});
    CHECK(o.exit_code == 1);
    CHECK(o.out.empty());
}

TEST_CASE("match reports expression error position") {
    Scratch s;
    const std::string path = s.file("e.json", event_json("1", "a"));
    Outcome o = s.run({"type = ", path});
    CHECK(o.exit_code == 2);
    CHECK(o.err.find("byte 7") != std::string::npos);
    CHECK(o.err.find("       ^") != std::string::npos);
    CHECK(o.out.empty());

    o = s.run({"UNKNOWN(type)", path});
    CHECK(o.exit_code == 2);
    CHECK(o.err.find("unknown function UNKNOWN") != std::string::npos);
}

TEST_CASE("match reports bad input and continues") {
    Scratch s;
    const std::string lines =
        s.file("mixed.jsonl", event_json("1", "a") + "\n{\"specversion\":\"1.0\"}\n" + event_json("3", "a") + "\n");
    const Outcome o = s.run({"true", lines, (s.dir / "absent.json").string()});
    CHECK(o.exit_code == 1);
    CHECK(ids_of(o.out) == std::vector<std::string>{"1", "3"});
    CHECK(o.err.find("mixed.jsonl:2:") != std::string::npos);
    CHECK(o.err.find("absent.json") != std::string::npos);
}

TEST_CASE("match usage errors exit 2") {
    Scratch s;
    CHECK(s.run({}).exit_code == 2);
    CHECK(s.run({"true"}).exit_code == 2);
    const Outcome help = s.run({"--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("usage: cebus match") != std::string::npos);
}
