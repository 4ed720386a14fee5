// Replays every saved fuzzer finding through the entry function of the
// target that found it (fuzz/entries.cpp), so a fixed crash stays fixed. The
// inputs live in tests/data/fuzz-regressions/<target>/, one file each.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "../fuzz/entries.hpp"

namespace fs = std::filesystem;

namespace {

fs::path regressions_dir() {
    const char* data = std::getenv("CEBUS_TEST_DATA");
    REQUIRE(data != nullptr);
    return fs::path(data) / "fuzz-regressions";
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const cebus::fuzz::Target* find_target(const std::string& name) {
    for (const auto& target : cebus::fuzz::targets()) {
        if (target.name == name) return &target;
    }
    return nullptr;
}

}  // namespace

TEST_CASE("fuzz regressions replay cleanly") {
    const fs::path root = regressions_dir();
    REQUIRE(fs::is_directory(root));

    std::size_t replayed = 0;
    for (const auto& folder : fs::directory_iterator(root)) {
        if (!folder.is_directory()) continue;
        const cebus::fuzz::Target* target = find_target(folder.path().filename().string());
        if (target == nullptr) continue;  // a target this build lacks (webhook without io_events)
        for (const auto& file : fs::directory_iterator(folder.path())) {
            if (!file.is_regular_file() || file.path().filename() == "README.md") continue;
            INFO("input: " << file.path().string());
            const std::string input = read_file(file.path());
            CHECK_NOTHROW(target->run(input));
            ++replayed;
        }
    }
    // An empty folder would make the test pass while replaying nothing.
    CHECK(replayed > 0);
}

TEST_CASE("fuzz regression folders name targets") {
    const fs::path root = regressions_dir();
    for (const auto& folder : fs::directory_iterator(root)) {
        if (!folder.is_directory()) continue;
        const std::string name = folder.path().filename().string();
        INFO("folder tests/data/fuzz-regressions/" << name);
        const bool known = find_target(name) != nullptr || name == "webhook";
        CHECK(known);
    }
}

TEST_CASE("fuzz entries return on bad input") {
    // Rejected input is the normal case while fuzzing: an entry that let a
    // ParseError or CompileError escape would report every such input as a
    // crash.
    const std::string deep(10000, '[');
    const std::string inputs[] = {"", "{", "\xff\xfe", "[{\"id\":1}]", deep, "a:\n\n{", "1 +", "(((("};
    for (const auto& target : cebus::fuzz::targets()) {
        for (const auto& input : inputs) {
            INFO("target " << target.name << ", input of " << input.size() << " bytes");
            CHECK_NOTHROW(target.run(input));
        }
    }
}
