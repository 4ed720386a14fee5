// Runs the built `cebus validate` command (CEBUS_TOOL) on files written to a
// temporary folder and checks its exit status and messages.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace {

struct Run {
    int status = -1;
    std::string out;
    std::string err;
};

class Workspace {
public:
    Workspace() {
        std::random_device random;
        dir_ = fs::temp_directory_path() / ("cebus-validate-" + std::to_string(random()));
        fs::create_directories(dir_);
    }
    ~Workspace() {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }

    std::string write(const std::string& name, const std::string& text) const {
        const fs::path path = dir_ / name;
        std::ofstream(path, std::ios::binary) << text;
        return path.string();
    }

    // Runs `cebus validate ARGS` from the workspace, feeding `input` on stdin.
    Run validate(const std::string& args, const std::string& input = "") const {
        const char* tool = std::getenv("CEBUS_TOOL");
        REQUIRE(tool != nullptr);
        const std::string in = write("stdin.txt", input);
        const std::string out = (dir_ / "stdout.txt").string();
        const std::string err = (dir_ / "stderr.txt").string();
        const std::string command = "cd '" + dir_.string() + "' && '" + tool + "' validate " + args + " <'" + in +
                                    "' >'" + out + "' 2>'" + err + "'";
        const int raw = std::system(command.c_str());
        REQUIRE(raw != -1);
        Run run;
        run.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
        run.out = read(out);
        run.err = read(err);
        return run;
    }

private:
    static std::string read(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }

    fs::path dir_;
};

const std::string valid_event = R"({"specversion":"1.0","id":"1","source":"/s","type":"t"})";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("validate accepts valid files") {
    Workspace ws;
    ws.write("one.json", "{\n  \"specversion\": \"1.0\",\n  \"id\": \"1\",\n  \"source\": \"/s\",\n  \"type\": \"t\"\n}\n");
    ws.write("batch.json", "[" + valid_event + "," + valid_event + "]");
    ws.write("empty.json", "[]");
    ws.write("lines.txt", valid_event + "\n\n" + valid_event + "\n");
    const Run run = ws.validate("one.json batch.json empty.json lines.txt");
    INFO(run.out << run.err);
    CHECK(run.status == 0);
    CHECK(contains(run.out, "one.json: valid, 1 event\n"));
    CHECK(contains(run.out, "batch.json: valid, 2 events\n"));
    CHECK(contains(run.out, "empty.json: valid, 0 events\n"));
    CHECK(contains(run.out, "lines.txt: valid, 2 events\n"));
}

TEST_CASE("validate reports each error with position") {
    Workspace ws;
    ws.write("syntax.json", "{\n  \"specversion\": \"1.0\",\n  \"id\": 1 2\n}\n");
    ws.write("batch.json", "[" + valid_event + ",\n  " +
                               R"({"specversion":"1.0","id":"2","source":"/s","type":"t","n":1.5})" + ",\n  " +
                               R"({"specversion":"0.3","id":"3","source":"/s","type":"t"})" + "]");
    ws.write("events.jsonl", valid_event + "\n" + R"({"specversion":"1.0","id":"1","source":"/s","type":"t","Bad":1})" +
                                 "\n" + R"({"specversion":"1.0",)" + "\n");
    const Run run = ws.validate("syntax.json batch.json events.jsonl");
    INFO(run.out << run.err);
    CHECK(run.status == 1);
    CHECK(contains(run.out, "syntax.json:3:11: unexpected character '2'; expected ',' or '}'"));
    CHECK(contains(run.out, "batch.json:2:3: event 1: invalid extension n \"1.5\""));
    CHECK(contains(run.out, "batch.json:3:3: event 2: invalid specversion \"0.3\""));
    CHECK(contains(run.out, "events.jsonl:2:1: event 1: invalid extension name \"Bad\""));
    CHECK(contains(run.out, "events.jsonl:3:22: event 2: unexpected end of input"));
    CHECK_FALSE(contains(run.out, "valid,"));
}

TEST_CASE("validate reads standard input") {
    Workspace ws;
    CHECK(ws.validate("-", valid_event).status == 0);
    const Run bad = ws.validate("-", R"({"specversion":"1.0","id":"1","source":"/s"})");
    CHECK(bad.status == 1);
    CHECK(contains(bad.out, "<stdin>:1:1: invalid type"));
}

TEST_CASE("validate usage errors exit 2") {
    Workspace ws;
    CHECK(ws.validate("").status == 2);
    CHECK(ws.validate("--bogus").status == 2);
    const Run missing = ws.validate("missing.json");
    CHECK(missing.status == 2);
    CHECK(contains(missing.err, "cannot read \"missing.json\""));
    CHECK(ws.validate("--help").status == 0);
}
