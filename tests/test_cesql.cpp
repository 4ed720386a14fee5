// Unit tests of the CESQL engine beyond the TCK: precedence, casts, LIKE,
// errors and their positions, limits, host functions, allocation and
// robustness against random input.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <cebus/cesql.hpp>

using namespace cebus;
using cesql::ErrorKind;
using cesql::Type;

// ---- allocation counting ------------------------------------------------------
// Every allocation in this test program goes through these, so a test can
// count what an evaluation allocates. GCC 12 pairs the inlined replacement
// new with free() and warns wrongly, hence the pragma.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<std::size_t> allocations{0};
}

void* operator new(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
// The nothrow forms must come from malloc too: Catch2 allocates with them,
// and AddressSanitizer reports a mismatch when its own nothrow new meets
// the free() below.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

EventPtr sample_event() {
    return EventBuilder()
        .id("A234-1234-1234")
        .source("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66")
        .type("com.example.order.created")
        .subject("orders/42")
        .time(std::string_view("2026-12-04T10:00:00Z"))
        .extension("myint", std::int64_t{10})
        .extension("mybool", true)
        .extension("hop", "5")
        .extension("ttl", "10")
        .extension("greeting", "ñandú 日本")
        .extension("blob", Binary{"\x01\x02\x03"})
        .build();
}

cesql::Result eval(std::string_view text, const Event& event) {
    return cesql::Expression::compile(text).evaluate(event);
}

cesql::Result eval(std::string_view text) { return eval(text, *sample_event()); }

std::int32_t integer_of(std::string_view text) {
    const auto r = eval(text);
    INFO(text);
    REQUIRE(r.type() == Type::integer);
    return r.as_integer();
}

bool boolean_of(std::string_view text) {
    const auto r = eval(text);
    INFO(text);
    REQUIRE(r.type() == Type::boolean);
    return r.as_boolean();
}

std::string string_of(std::string_view text) {
    const auto r = eval(text);
    INFO(text);
    REQUIRE(r.type() == Type::string);
    return r.as_string();
}

// The compile error's offset, or npos when the text compiles.
std::size_t compile_error_offset(std::string_view text, std::string* reason = nullptr) {
    try {
        cesql::Expression::compile(text);
    } catch (const cesql::CompileError& e) {
        if (reason) *reason = e.reason();
        return e.offset();
    }
    return std::string::npos;
}

}  // namespace

// ---- precedence and grouping ---------------------------------------------------

TEST_CASE("arithmetic precedence and grouping") {
    CHECK(integer_of("1 + 2 * 3") == 7);
    CHECK(integer_of("(1 + 2) * 3") == 9);
    CHECK(integer_of("10 - 4 - 3") == 3);
    CHECK(integer_of("100 / 10 / 5") == 2);
    CHECK(integer_of("7 % 4 * 2") == 6);
    CHECK(integer_of("4-1") == 3);
    CHECK(integer_of("-7 / 2") == -3);
    CHECK(integer_of("-7 % 3") == -1);
    CHECK(integer_of("7 % -3") == 1);
}

TEST_CASE("logical operators group left to right") {
    // One precedence level for AND, OR and XOR: (true OR false) AND false.
    CHECK_FALSE(boolean_of("true OR false AND false"));
    CHECK(boolean_of("true OR (false AND false)"));
    CHECK(boolean_of("false AND false OR true"));
    CHECK(boolean_of("true XOR true XOR true"));
}

TEST_CASE("unary operators bind tightest") {
    // (NOT true) = false
    CHECK(boolean_of("NOT true = false"));
    // IN binds tighter than +: 2 + (3 IN (5)) = 2 + false.
    CHECK(integer_of("2 + 3 IN (5)") == 2);
    // (NOT 'abc') LIKE ... casts 'abc' to Boolean and fails.
    const auto r = eval("NOT 'abc' LIKE 'a%'");
    CHECK(r.has_error(ErrorKind::cast));
    CHECK(boolean_of("'abc' NOT LIKE 'x%'"));
    CHECK(boolean_of("NOT EXISTS missing"));
    CHECK(integer_of("--5") == 5);
    CHECK(integer_of("- 5 * 2") == -10);
}

TEST_CASE("comparisons chain left to right") {
    // (1 < 2) = true
    CHECK(boolean_of("1 < 2 = true"));
    CHECK(boolean_of("hop < ttl"));
    CHECK(boolean_of("myint >= 10 AND myint <= 10"));
}

// ---- casts -------------------------------------------------------------------------

TEST_CASE("equality casts left to right type") {
    CHECK_FALSE(boolean_of("true = 'TRUE'"));
    CHECK(boolean_of("'TRUE' = true"));
    CHECK(boolean_of("'10' = myint"));
    CHECK(boolean_of("myint = '10'"));
    CHECK(boolean_of("mybool = 'true'"));
    CHECK(boolean_of("1 = true"));
    CHECK(boolean_of("'1' IN (1, 2)"));
}

TEST_CASE("string to integer cast rules") {
    CHECK(integer_of("'+5' + 0") == 5);
    CHECK(integer_of("'-2147483648' + 0") == -2147483648);
    CHECK(integer_of("'2147483647' + 0") == 2147483647);
    for (const char* bad : {"' 5' + 0", "'5 ' + 0", "'2147483648' + 0", "'' + 0", "'-' + 0", "'0x10' + 0", "'1e3' + 0"}) {
        INFO(bad);
        const auto r = eval(bad);
        CHECK(r.as_integer() == 0);
        CHECK(r.has_error(ErrorKind::cast));
    }
}

TEST_CASE("string to boolean cast rules") {
    CHECK(boolean_of("BOOL('True')"));
    CHECK_FALSE(boolean_of("BOOL('fAlSe')"));
    const auto r = eval("BOOL('yes')");
    CHECK_FALSE(r.as_boolean());
    CHECK(r.has_error(ErrorKind::cast));
}

TEST_CASE("extension types keep their type") {
    CHECK(eval("myint").type() == Type::integer);
    CHECK(eval("mybool").type() == Type::boolean);
    CHECK(string_of("time") == "2026-12-04T10:00:00Z");
    CHECK(string_of("blob") == "AQID");  // Binary as Base64
    CHECK(string_of("STRING(myint)") == "10");
}

// ---- LIKE ---------------------------------------------------------------------------

TEST_CASE("LIKE matches code points") {
    CHECK(boolean_of("'日本' LIKE '__'"));
    CHECK_FALSE(boolean_of("'日本' LIKE '___'"));
    CHECK(boolean_of("greeting LIKE '_andú __'"));
    CHECK(boolean_of("greeting LIKE '%ú%本'"));
    CHECK(boolean_of("'ab' LIKE 'a_'"));
    CHECK_FALSE(boolean_of("'a' LIKE 'a_'"));
}

TEST_CASE("LIKE escapes and literal backslash") {
    CHECK(boolean_of(R"('50%' LIKE '50\%')"));
    CHECK_FALSE(boolean_of(R"('500' LIKE '50\%')"));
    CHECK(boolean_of(R"('a_b' LIKE 'a\_b')"));
    CHECK_FALSE(boolean_of(R"('axb' LIKE 'a\_b')"));
    CHECK(boolean_of(R"('a\b' LIKE 'a\b')"));
    CHECK(boolean_of(R"('a\\' LIKE 'a\\')"));
    CHECK(string_of(R"('a\\')") == R"(a\\)");
    CHECK(boolean_of("'' LIKE '%'"));
    CHECK(boolean_of("'' LIKE ''"));
    CHECK_FALSE(boolean_of("'' LIKE '_'"));
}

TEST_CASE("LIKE segment patterns") {
    CHECK(boolean_of("'abcabd' LIKE 'a%b%d'"));
    CHECK(boolean_of("'abcabd' LIKE '%ab%ab%'"));
    CHECK_FALSE(boolean_of("'abcab' LIKE '%ab%abc%'"));
    CHECK(boolean_of("'aXbXc' LIKE 'a%%c'"));
    CHECK_FALSE(boolean_of("'abc' LIKE 'abc%d'"));
    CHECK(boolean_of("source LIKE 'urn:uuid:%'"));
    CHECK(boolean_of("'aaa' LIKE 'a%a%a'"));
    CHECK_FALSE(boolean_of("'aa' LIKE 'a%a%a'"));
}

TEST_CASE("LIKE stays fast on hostile patterns") {
    const std::string text(4000, 'a');
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(boolean_of("'" + text + "' LIKE '%a%a%a%a%a%a%a%a%a%a%b'"));
    CHECK_FALSE(boolean_of("'" + text + "' LIKE '%a_%a_%a_%a_%a_%a_%b'"));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("attribute clauses on every attribute type") {
    // Text attributes take a fast path; the others must still cast.
    CHECK(boolean_of("type LIKE '%order%'"));
    CHECK(boolean_of("type LIKE '%created'"));
    CHECK(boolean_of("type NOT LIKE 'org.%'"));
    CHECK(boolean_of("type LIKE 'com.example.order.created'"));
    CHECK(boolean_of("subject LIKE 'orders/4_'"));
    CHECK(boolean_of("myint LIKE '1%'"));
    CHECK(boolean_of("mybool LIKE 'tr%'"));
    CHECK(boolean_of("mybool = 'true'"));
    CHECK(boolean_of("blob = 'AQID'"));
    CHECK(boolean_of("myint != '11'"));
    CHECK(boolean_of("EXISTS myint AND myint = '10' AND type != 'x'"));
    for (const char* text : {"missing LIKE 'x%'", "missing = 'x'", "missing != 'x'", "true AND missing NOT LIKE 'x'"}) {
        INFO(text);
        const auto r = eval(text);
        CHECK_FALSE(r.as_boolean());
        CHECK(r.has_error(ErrorKind::missing_attribute));
    }
    // The right operand is a String, so the Integer becomes "10": no error.
    const auto r = eval("myint = 'ten'");
    CHECK_FALSE(r.as_boolean());
    CHECK(r.ok());
}

// ---- errors -------------------------------------------------------------------------

TEST_CASE("integer overflow raises math error") {
    for (const char* text : {"2147483647 + 1", "-2147483648 - 1", "65536 * 65536", "-2147483648 / -1",
                             "-(-2147483648)", "- INT('-2147483648')"}) {
        INFO(text);
        const auto r = eval(text);
        CHECK(r.type() == Type::integer);
        CHECK(r.as_integer() == 0);
        CHECK(r.has_error(ErrorKind::math));
    }
    const auto remainder = eval("-2147483648 % -1");
    CHECK(remainder.as_integer() == 0);
    CHECK(remainder.ok());
}

TEST_CASE("operators return zero value on error") {
    auto r = eval("missing + 1");
    CHECK(r.as_integer() == 0);
    CHECK(r.has_error(ErrorKind::missing_attribute));

    r = eval("LENGTH(missing)");
    CHECK(r.type() == Type::integer);
    CHECK(r.as_integer() == 0);

    r = eval("UPPER(1/0)");
    CHECK(r.type() == Type::string);
    CHECK(r.as_string().empty());
    CHECK(r.has_error(ErrorKind::math));

    r = eval("1 IN ('x', 1)");
    CHECK_FALSE(r.as_boolean());
    CHECK(r.has_error(ErrorKind::cast));
}

TEST_CASE("functions return computed value on error") {
    auto r = eval("LEFT('abc', -1)");
    CHECK(r.as_string() == "abc");
    CHECK(r.has_error(ErrorKind::function_evaluation));

    r = eval("ABS(-2147483648)");
    CHECK(r.as_integer() == 2147483647);
    CHECK(r.has_error(ErrorKind::math));
}

TEST_CASE("AND and OR short circuit") {
    auto r = eval("false AND missing");
    CHECK(r.ok());
    r = eval("true OR 1/0 = 1");
    CHECK(r.ok());
    CHECK(r.as_boolean());
    r = eval("false XOR missing");
    CHECK(r.has_error(ErrorKind::missing_attribute));
}

TEST_CASE("IN stops at first match") {
    const auto r = eval("1 IN (1, 1/0)");
    CHECK(r.as_boolean());
    CHECK(r.ok());
    CHECK(boolean_of("1 NOT IN (2, 3)"));
}

TEST_CASE("runtime errors carry their offset") {
    auto r = eval("1 + 1 / 0");
    REQUIRE(r.errors().size() == 1);
    CHECK(r.errors()[0].offset == 6);
    CHECK(r.errors()[0].message.find("division by zero") != std::string::npos);

    r = eval("type = nothere");
    REQUIRE(r.errors().size() == 1);
    CHECK(r.errors()[0].kind == ErrorKind::missing_attribute);
    CHECK(r.errors()[0].offset == 7);
    CHECK(r.errors()[0].message.find("nothere") != std::string::npos);
}

TEST_CASE("compile errors carry offset and reason") {
    std::string reason;
    CHECK(compile_error_offset("a = ", &reason) == 4);
    CHECK(reason.find("expected") != std::string::npos);
    CHECK(compile_error_offset("1 + (2") == 6);
    CHECK(compile_error_offset("'abc") == 0);
    CHECK(compile_error_offset("x LIKE 123", &reason) == 7);
    CHECK(reason.find("LIKE") != std::string::npos);
    CHECK(compile_error_offset("foo @ bar") == 4);
    CHECK(compile_error_offset("2147483648", &reason) == 0);
    CHECK(reason.find("32-bit") != std::string::npos);
    CHECK(compile_error_offset("1 2") == 2);
    CHECK(compile_error_offset("x IN ()") == 6);
    CHECK(compile_error_offset("my_ext = 1") == 0);
    CHECK(compile_error_offset("a ! b") == 2);
    CHECK(compile_error_offset("") == 0);
    CHECK(compile_error_offset("\xff") == 0);
    CHECK(compile_error_offset("-2147483648") == std::string::npos);

    try {
        cesql::Expression::compile("1 +");
        FAIL("compiled");
    } catch (const ParseError& e) {
        CHECK(std::string(e.what()).find("byte 3") != std::string::npos);
    }
}

TEST_CASE("keywords and functions ignore case") {
    CHECK(boolean_of("exists SUBJECT aNd true"));
    CHECK(integer_of("length('abc')") == 3);
    CHECK(integer_of("Length('abc')") == 3);
    CHECK(boolean_of("TYPE = 'com.example.order.created'"));
}

TEST_CASE("string literal escapes") {
    CHECK(string_of(R"('it\'s')") == "it's");
    CHECK(string_of("'it''s'") == "it's");
    CHECK(string_of(R"("say \"hi\"")") == "say \"hi\"");
    CHECK(string_of(R"('a\nb')") == "a\\nb");
    CHECK(string_of(R"("it's")") == "it's");
}

// ---- limits ---------------------------------------------------------------------------

TEST_CASE("deep nesting is rejected") {
    std::string reason;
    const std::string parens = std::string(5000, '(') + "1" + std::string(5000, ')');
    CHECK(compile_error_offset(parens, &reason) != std::string::npos);
    CHECK(reason.find("nested deeper") != std::string::npos);

    std::string nots;
    for (int i = 0; i < 5000; ++i) nots += "NOT ";
    CHECK(compile_error_offset(nots + "true") != std::string::npos);

    std::string sum = "1";
    for (int i = 0; i < 500; ++i) sum += " + 1";
    CHECK(compile_error_offset(sum) != std::string::npos);

    const std::string fifty = std::string(50, '(') + "1" + std::string(50, ')');
    CHECK(integer_of(fifty) == 1);
}

TEST_CASE("long logical chains stay flat") {
    std::string any_of = "type = 'x0'";
    for (int i = 1; i < 2000; ++i) any_of += " OR type = 'x" + std::to_string(i) + "'";
    any_of += " OR type = 'com.example.order.created'";
    CHECK(boolean_of(any_of));
}

TEST_CASE("overlong expression is rejected") {
    cesql::CompileOptions options;
    options.max_length = 100;
    CHECK_THROWS_AS(cesql::Expression::compile(std::string(200, '1'), options), cesql::CompileError);
}

// ---- functions ------------------------------------------------------------------------

TEST_CASE("string functions count code points") {
    CHECK(integer_of("LENGTH(greeting)") == 8);
    CHECK(string_of("LEFT(greeting, 2)") == "ña");
    CHECK(string_of("RIGHT(greeting, 2)") == "日本");
    CHECK(string_of("SUBSTRING(greeting, 2, 4)") == "andú");
    CHECK(string_of("SUBSTRING(greeting, -2)") == "日本");
    CHECK(string_of("SUBSTRING('abc', 3)") == "c");
    CHECK(string_of("SUBSTRING('abc', 2, 100)") == "bc");
    const auto r = eval("SUBSTRING('abc', 1, -1)");
    CHECK(r.as_string().empty());
    CHECK(r.has_error(ErrorKind::function_evaluation));
}

TEST_CASE("case mapping beyond ASCII") {
    CHECK(string_of("UPPER('straße ñ ÿ ω я')") == "STRAßE Ñ Ÿ Ω Я");
    CHECK(string_of("LOWER('ÀÉÎ Ł Σ Ж')") == "àéî ł σ ж");
    CHECK(string_of("UPPER('日本')") == "日本");
}

TEST_CASE("TRIM removes Unicode whitespace") {
    CHECK(string_of("TRIM('\u00a0\u3000 a b \t')") == "a b");
    CHECK(string_of("TRIM('   ')").empty());
    CHECK(string_of("CONCAT_WS('-', 'a', myint, true)") == "a-10-true");
}

TEST_CASE("unknown function raises or rejects") {
    auto r = eval("NOPE(1)");
    CHECK(r.has_error(ErrorKind::missing_function));
    CHECK_FALSE(r.as_boolean());
    r = eval("LENGTH('a', 'b')");
    CHECK(r.has_error(ErrorKind::missing_function));

    cesql::CompileOptions strict;
    strict.reject_unknown_functions = true;
    CHECK_THROWS_AS(cesql::Expression::compile("NOPE(1)", strict), cesql::CompileError);
    CHECK_NOTHROW(cesql::Expression::compile("length('a')", strict));
}

TEST_CASE("host functions overload by arity") {
    using cesql::Value;
    cesql::Functions functions;
    functions.add("twice", {Type::integer}, Type::integer,
                  [](std::span<const Value> a, cesql::Call&) { return Value::integer(a[0].as_integer() * 2); });
    functions.add("TWICE", {Type::integer, Type::integer}, Type::integer, [](std::span<const Value> a, cesql::Call&) {
        return Value::integer((a[0].as_integer() + a[1].as_integer()) * 2);
    });
    functions.add_variadic("Twice", {Type::string, Type::string, Type::string}, Type::string, Type::integer,
                           [](std::span<const Value> a, cesql::Call&) {
                               return Value::integer(static_cast<std::int32_t>(a.size()));
                           });
    cesql::CompileOptions options;
    options.functions = &functions;
    const auto event = sample_event();
    auto run = [&](std::string_view text) { return cesql::Expression::compile(text, options).evaluate(*event); };

    CHECK(run("TWICE('4')").as_integer() == 8);
    CHECK(run("twice(1, 2)").as_integer() == 6);
    CHECK(run("TWICE(1, 2, 3)").as_integer() == 3);
    CHECK(run("TWICE(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)").as_integer() == 10);
    CHECK(run("TWICE()").has_error(ErrorKind::missing_function));
    CHECK(run("TWICE('x')").has_error(ErrorKind::cast));

    // Same arity twice, a second variadic, a variadic that does not outnumber.
    CHECK_THROWS_AS(functions.add("twice", {Type::string}, Type::integer, nullptr), Error);
    CHECK_THROWS_AS(functions.add_variadic("twice", {Type::string, Type::string, Type::string, Type::string},
                                           Type::string, Type::integer, nullptr),
                    Error);
    CHECK_THROWS_AS(functions.add("twice", {Type::string, Type::string, Type::string}, Type::integer, nullptr),
                    Error);
    CHECK_THROWS_AS(functions.add_variadic("other", {}, Type::string, Type::integer, nullptr).add(
                        "other", {Type::string}, Type::integer, nullptr),
                    Error);
    CHECK_THROWS_AS(functions.add("bad name", {}, Type::integer, nullptr), Error);
    CHECK_THROWS_AS(functions.add("LENGTH", {Type::string}, Type::integer, nullptr), Error);
}

TEST_CASE("host function errors and strings") {
    using cesql::Value;
    cesql::Functions functions;
    functions.add("SHOUT", {Type::string}, Type::string, [](std::span<const Value> a, cesql::Call& call) {
        std::string loud(a[0].as_string());
        loud += "!!!";
        if (loud.size() > 10) call.raise("too loud");
        return Value::string(call.store(loud));
    });
    functions.add("BOOM", {}, Type::boolean, [](std::span<const Value>, cesql::Call&) -> Value {
        throw std::runtime_error("exploded");
    });
    functions.add("EVENTID", {}, Type::string,
                  [](std::span<const Value>, cesql::Call& call) { return Value::string(call.event().id()); });
    cesql::CompileOptions options;
    options.functions = &functions;
    const auto event = sample_event();
    auto run = [&](std::string_view text) { return cesql::Expression::compile(text, options).evaluate(*event); };

    CHECK(run("shout('hi')").as_string() == "hi!!!");
    auto r = run("SHOUT('hello world')");
    CHECK(r.as_string() == "hello world!!!");
    CHECK(r.has_error(ErrorKind::function_evaluation));

    r = run("BOOM()");
    CHECK_FALSE(r.as_boolean());
    REQUIRE(r.errors().size() == 1);
    CHECK(r.errors()[0].message.find("exploded") != std::string::npos);
    CHECK(run("EVENTID() = id").is_true());

    // The expression keeps its functions after the registry is gone.
    auto compiled = std::make_unique<cesql::Expression>(cesql::Expression::compile("SHOUT('x')", options));
    functions = cesql::Functions();
    CHECK(compiled->evaluate(*event).as_string() == "x!!!");
}

// ---- evaluation contracts ---------------------------------------------------------------

TEST_CASE("matching allocates nothing") {
    const auto event = sample_event();
    const auto filter = cesql::Expression::compile(
        "type = 'com.example.order.created' AND source LIKE 'urn:uuid:%' AND EXISTS subject");
    const auto with_casts = cesql::Expression::compile(
        "LOWER(type) LIKE '%order%' AND INT(hop) < myint AND STRING(myint) = '10' AND id IN ('x', 'A234-1234-1234')");
    const auto with_underscore = cesql::Expression::compile("subject LIKE 'orders/__' AND NOT mybool = false");

    CHECK(filter.matches(*event));
    CHECK(with_casts.matches(*event));
    CHECK(with_underscore.matches(*event));

    const std::size_t before = allocations.load();
    bool all = true;
    for (int i = 0; i < 1000; ++i) {
        all = filter.matches(*event) && with_casts.matches(*event) && with_underscore.matches(*event) && all;
        all = filter.evaluate(*event).is_true() && all;
    }
    const std::size_t during = allocations.load() - before;
    CHECK(all);
    CHECK(during == 0);
}

TEST_CASE("failed match allocates nothing") {
    const auto event = sample_event();
    const auto filter = cesql::Expression::compile("missing = 'x' OR 1 / 0 = 1");
    CHECK_FALSE(filter.matches(*event));
    const std::size_t before = allocations.load();
    for (int i = 0; i < 100; ++i) CHECK_FALSE(filter.matches(*event));
    CHECK(allocations.load() - before == 0);
}

TEST_CASE("scratch overflow still correct") {
    // Strings larger than the fixed scratch buffer spill to the heap.
    const std::string big(3000, 'x');
    const auto r = eval("LENGTH(CONCAT('" + big + "', '" + big + "', UPPER('" + big + "'))) = 9000");
    CHECK(r.is_true());
}

TEST_CASE("string growth is capped") {
    // Strings grow with every reference: here 20 copies of 100 KB.
    const auto event = EventBuilder().id("1").source("/s").type("t").extension("big", std::string(100000, 'x')).build();
    std::string text = "LENGTH(CONCAT(big";
    for (int i = 1; i < 20; ++i) text += ", big";
    text += ")) > 0";

    cesql::CompileOptions options;
    options.max_string_bytes = 1000000;
    const auto capped = cesql::Expression::compile(text, options).evaluate(*event);
    CHECK_FALSE(capped.as_boolean());
    CHECK(capped.has_error(ErrorKind::generic));
    CHECK_FALSE(cesql::Expression::compile(text, options).matches(*event));

    options.max_string_bytes = 4000000;
    CHECK(cesql::Expression::compile(text, options).evaluate(*event).is_true());
}

TEST_CASE("one expression on many threads") {
    const auto expression = cesql::Expression::compile("UPPER(type) = 'COM.EXAMPLE.ORDER.CREATED' AND myint + 1 = 11");
    const auto event = sample_event();
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 5000; ++i) {
                if (!expression.matches(*event)) failures.fetch_add(1);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(failures.load() == 0);
}

TEST_CASE("result renders as CESQL") {
    CHECK(eval("'it''s'").to_string() == R"('it\'s')");
    CHECK(eval("-3").to_string() == "-3");
    CHECK(eval("true").to_string() == "true");
    CHECK(cesql::error_kind_name(ErrorKind::missing_attribute) == "missingAttribute");
    CHECK(cesql::type_name(Type::integer) == "Integer");
}

// ---- robustness ---------------------------------------------------------------------------

TEST_CASE("random expressions never crash") {
    static const char* const pieces[] = {
        "(", ")", ",", " ", "+", "-", "*", "/", "%", "=", "!=", "<>", "<", "<=", ">", ">=", "AND ", "OR ",
        "XOR ", "NOT ", "LIKE ", "IN ", "EXISTS ", "TRUE", "false", "0", "1", "2147483647", "-2147483648",
        "'a%_\\'", "'日本'", "\"x\"", "'", "\"", "id", "type", "missing", "myint", "mybool", "blob", "LENGTH(",
        "CONCAT(", "CONCAT_WS(", "SUBSTRING(", "ABS(", "INT(", "BOOL(", "STRING(", "LEFT(", "UPPER(", "TRIM(",
        "NOPE(", "!", "@", "\\", "_", "\xc3", "\t"};
    const auto event = sample_event();
    std::mt19937 random(12345);
    std::size_t compiled = 0;
    const auto start = std::chrono::steady_clock::now();

    for (int round = 0; round < 20000; ++round) {
        std::string text;
        const int length = static_cast<int>(random() % 24);
        for (int i = 0; i < length; ++i) text += pieces[random() % std::size(pieces)];
        try {
            const auto expression = cesql::Expression::compile(text);
            ++compiled;
            (void)expression.evaluate(*event);
            (void)expression.matches(*event);
        } catch (const cesql::CompileError&) {
        }
    }
    CHECK(compiled > 100);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("truncated expressions never crash") {
    const std::string full =
        "(id = 'myId' OR type LIKE '%.success') AND (CONCAT_WS(',', source, \"x\\\"y\") NOT IN ('a', 1) OR "
        "SUBSTRING(subject, -3, 2) = 'x') XOR NOT EXISTS time AND -myint * 2 >= ABS(-3) % 2";
    REQUIRE_NOTHROW(cesql::Expression::compile(full));
    const auto event = sample_event();
    for (std::size_t cut = 0; cut <= full.size(); ++cut) {
        const std::string text = full.substr(0, cut);
        try {
            (void)cesql::Expression::compile(text).evaluate(*event);
        } catch (const cesql::CompileError& e) {
            CHECK(e.offset() <= text.size());
        }
    }
}

TEST_CASE("random bytes never crash") {
    std::mt19937 random(99);
    const auto event = sample_event();
    for (int round = 0; round < 5000; ++round) {
        std::string text(random() % 40, '\0');
        for (char& c : text) c = static_cast<char>(random() % 128);
        try {
            (void)cesql::Expression::compile(text).evaluate(*event);
        } catch (const cesql::CompileError& e) {
            CHECK(e.offset() <= text.size());
        }
    }
}
