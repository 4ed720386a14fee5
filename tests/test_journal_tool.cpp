// Runs the built `cebus` tool (CEBUS_TOOL) against real journals.
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <cebus/journal.hpp>
#include <cebus/json.hpp>

#include "journal_support.hpp"

namespace cj = cebus::journal;
using jtest::eventually;
using jtest::make_event;
using jtest::TempDir;

namespace {

struct Run {
    int status = -1;
    std::string out;
    std::string err;
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'') {
            q += "'\\''";
        } else {
            q += c;
        }
    }
    return q + "'";
}

Run run(const TempDir& tmp, const std::vector<std::string>& args) {
    const char* tool = std::getenv("CEBUS_TOOL");
    if (!tool) FAIL("CEBUS_TOOL is not set; run through meson test");
    std::string cmd = quote(tool);
    for (const auto& a : args) cmd += " " + quote(a);
    const auto out_path = tmp.path() / "stdout.txt";
    const auto err_path = tmp.path() / "stderr.txt";
    cmd += " >" + quote(out_path.string()) + " 2>" + quote(err_path.string());
    Run r;
    const int rc = std::system(cmd.c_str());
    r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    std::stringstream o, e;
    o << std::ifstream(out_path).rdbuf();
    e << std::ifstream(err_path).rdbuf();
    r.out = o.str();
    r.err = e.str();
    return r;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

}  // namespace

TEST_CASE("tool import and export round trip", "[journal][tool]") {
    TempDir tmp;
    const std::string dir = (tmp.path() / "j").string();
    const std::string in = (tmp.path() / "in.jsonl").string();
    std::ofstream(in) << R"({"specversion":"1.0","id":"1","source":"/s","type":"t.a","data":{"x":1}})" << "\n"
                      << R"({"specversion":"1.0","id":"2","source":"/s","type":"t.b","subject":"s2"})" << "\n"
                      << R"({"specversion":"1.0","id":"1","source":"/s","type":"t.a","data":{"x":1}})" << "\n";
    auto imp = run(tmp, {"import", dir, in});
    CHECK(imp.status == 0);
    CHECK(imp.out.find("imported 2 event(s), skipped 1 duplicate(s)") != std::string::npos);

    const std::string out = (tmp.path() / "out.jsonl").string();
    CHECK(run(tmp, {"export", dir, out}).status == 0);
    std::stringstream ss;
    ss << std::ifstream(out).rdbuf();
    auto got = lines(ss.str());
    REQUIRE(got.size() == 2);
    CHECK(*cebus::json::decode(got[0]) == *cebus::json::decode(R"({"specversion":"1.0","id":"1","source":"/s","type":"t.a","data":{"x":1}})"));
    CHECK(cebus::json::decode(got[1])->subject() == std::optional<std::string>("s2"));
}

TEST_CASE("tool import stops at a bad line", "[journal][tool]") {
    TempDir tmp;
    const std::string dir = (tmp.path() / "j").string();
    const std::string in = (tmp.path() / "in.jsonl").string();
    std::ofstream(in) << R"({"specversion":"1.0","id":"1","source":"/s","type":"t"})" << "\n"
                      << "not json\n"
                      << R"({"specversion":"1.0","id":"3","source":"/s","type":"t"})" << "\n";
    auto r = run(tmp, {"import", dir, in});
    CHECK(r.status == 1);
    CHECK(r.err.find(":2:") != std::string::npos);
    CHECK(r.out.find("imported 1 event(s)") != std::string::npos);
    cj::Options o;
    o.directory = dir;
    o.read_only = true;
    cj::Journal j(o);
    CHECK(j.last_sequence() == 1);
}

TEST_CASE("tool inspect shows cursors and lag", "[journal][tool]") {
    TempDir tmp;
    const std::string dir = (tmp.path() / "j").string();
    {
        cj::Options o;
        o.directory = dir;
        cj::Journal j(o);
        for (int i = 0; i < 5; ++i) j.append_sync(make_event("i" + std::to_string(i)));
        cj::SubscriptionOptions so;
        so.start = cj::StartPosition::at_sequence(4);
        auto sub = j.subscribe("audit", [](const cj::Delivery&) { return cj::HandlerResult::ack(); }, so);
        REQUIRE(eventually([&] { return sub.cursor() == 5; }));
        sub.reset();
        j.append_sync(make_event("i5"));
    }
    auto r = run(tmp, {"inspect", dir});
    CHECK(r.status == 0);
    CHECK(r.out.find("events        6 (sequences 1..6)") != std::string::npos);
    CHECK(r.out.find("audit: cursor 5, lag 1") != std::string::npos);

    auto js = run(tmp, {"inspect", dir, "--json"});
    REQUIRE(js.status == 0);
    auto doc = nlohmann::json::parse(js.out);
    CHECK(doc["events"] == 6);
    CHECK(doc["cursors"][0]["name"] == "audit");
    CHECK(doc["cursors"][0]["lag"] == 1);

    auto missing = run(tmp, {"inspect", (tmp.path() / "none").string()});
    CHECK(missing.status == 1);
    CHECK_FALSE(missing.err.empty());
}

TEST_CASE("tool tail filters and starts at a sequence", "[journal][tool]") {
    TempDir tmp;
    const std::string dir = (tmp.path() / "j").string();
    {
        cj::Options o;
        o.directory = dir;
        cj::Journal j(o);
        for (int i = 0; i < 30; ++i) {
            j.append_sync(cebus::EventBuilder()
                              .id(std::to_string(i))
                              .source("/tail")
                              .type(i % 3 == 0 ? "com.example.three" : "com.example.other")
                              .build());
        }
    }
    auto last10 = run(tmp, {"tail", dir});
    CHECK(lines(last10.out).size() == 10);
    CHECK(cebus::json::decode(lines(last10.out).front())->id() == "20");

    auto from = run(tmp, {"tail", dir, "--from", "28", "--sequence"});
    auto fl = lines(from.out);
    REQUIRE(fl.size() == 3);
    CHECK(fl[0].rfind("28\t", 0) == 0);

    auto filtered = run(tmp, {"tail", dir, "--from", "1", "--filter", "type = 'com.example.three'"});
    CHECK(lines(filtered.out).size() == 10);

    auto bad = run(tmp, {"tail", dir, "--filter", "type ="});
    CHECK(bad.status == 2);
    CHECK(bad.err.find("invalid --filter") != std::string::npos);

    auto bad_from = run(tmp, {"tail", dir, "--from", "x"});
    CHECK(bad_from.status == 2);
}

TEST_CASE("tool lists requeues and purges dead letters", "[journal][tool]") {
    TempDir tmp;
    const std::string dir = (tmp.path() / "j").string();
    {
        cj::Options o;
        o.directory = dir;
        cj::Journal j(o);
        auto sub = j.subscribe("webhook", [](const cj::Delivery&) {
            return cj::HandlerResult::dead_letter("HTTP 404: no such hook");
        });
        for (int i = 0; i < 3; ++i) j.append_sync(make_event("d" + std::to_string(i)));
        REQUIRE(eventually([&] { return j.stats().dead_letters == 3; }));
    }
    auto list = run(tmp, {"dead-letters", "list", dir});
    auto ll = lines(list.out);
    REQUIRE(ll.size() == 3);
    auto first = nlohmann::json::parse(ll[0]);
    CHECK(first["subscription"] == "webhook");
    CHECK(first["reason"] == "HTTP 404: no such hook");
    CHECK(first["attempts"] == 1);
    CHECK(first["event"]["id"] == "d0");

    CHECK(run(tmp, {"dead-letters", "requeue", dir, "--subscription", "webhook", "2"}).out == "requeued 1 dead letter(s)\n");
    CHECK(run(tmp, {"dead-letters", "purge", dir, "--subscription", "webhook", "1"}).out == "purged 1 dead letter(s)\n");
    {
        cj::Options o;
        o.directory = dir;
        cj::Journal j(o);
        auto dl = j.dead_letters("webhook");
        REQUIRE(dl.size() == 2);
        CHECK(dl[0].sequence == 2);
        CHECK(dl[0].requeued);
        // The requeued letter is redelivered when the subscription runs.
        std::atomic<int> delivered{0};
        auto sub = j.subscribe("webhook", [&](const cj::Delivery& d) {
            if (d.requeued) ++delivered;
            return cj::HandlerResult::ack();
        });
        REQUIRE(eventually([&] { return delivered.load() == 1; }));
        REQUIRE(eventually([&] { return j.dead_letters("webhook").size() == 1; }));
    }
    CHECK(run(tmp, {"dead-letters", "requeue", dir}).status == 2);  // needs --subscription
}

TEST_CASE("tool writes fail while a host holds the journal", "[journal][tool]") {
    TempDir tmp;
    const std::string dir = (tmp.path() / "j").string();
    cj::Options o;
    o.directory = dir;
    cj::Journal host(o);
    host.append_sync(make_event("h"));
    const std::string in = (tmp.path() / "in.jsonl").string();
    std::ofstream(in) << R"({"specversion":"1.0","id":"x","source":"/s","type":"t"})" << "\n";
    auto r = run(tmp, {"import", dir, in});
    CHECK(r.status == 1);
    CHECK(r.err.find("another process") != std::string::npos);
    // Reading works next to the host.
    auto t = run(tmp, {"tail", dir});
    CHECK(t.status == 0);
    CHECK(lines(t.out).size() == 1);
}

TEST_CASE("tool inspect counts dead letters per subscription", "[journal][tool][dead]") {
    TempDir tmp;
    const std::string dir = (tmp.path() / "j").string();
    {
        cj::Options o;
        o.directory = dir;
        cj::Journal j(o);
        auto refuse = j.subscribe("refuse", [](const cj::Delivery&) { return cj::HandlerResult::dead_letter("no"); });
        auto accept = j.subscribe("accept", [](const cj::Delivery&) { return cj::HandlerResult::ack(); });
        for (int i = 0; i < 3; ++i) j.append_sync(make_event("k" + std::to_string(i)));
        REQUIRE(eventually([&] { return j.stats().dead_letters == 3 && accept.cursor() == 3; }));
    }
    auto r = run(tmp, {"inspect", dir});
    REQUIRE(r.status == 0);
    CHECK(r.out.find("refuse: cursor 3, lag 0, retention waits, 3 dead letter(s)") != std::string::npos);
    CHECK(r.out.find("accept: cursor 3, lag 0, retention waits, 0 dead letter(s)") != std::string::npos);

    auto js = run(tmp, {"inspect", dir, "--json"});
    REQUIRE(js.status == 0);
    auto doc = nlohmann::json::parse(js.out);
    CHECK(doc["dead_letters"] == 3);
    for (const auto& c : doc["cursors"]) CHECK(c["dead_letters"] == (c["name"] == "refuse" ? 3 : 0));
}
