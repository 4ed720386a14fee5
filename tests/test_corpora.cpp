// Runs the CloudEvents corpora in tests/data (see tests/data/NOTICE for their
// origin): every valid file must round-trip losslessly through the JSON
// format and both HTTP modes, and every invalid one must fail naming the
// attribute or rule it breaks. A file that no expectation covers fails the
// test, so new corpus files cannot go unexercised.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <cebus/http.hpp>
#include <cebus/json.hpp>

using namespace cebus;
namespace fs = std::filesystem;

namespace {

fs::path data_dir() {
    const char* dir = std::getenv("CEBUS_TEST_DATA");
    REQUIRE(dir != nullptr);
    return fs::path(dir);
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Every regular file under `folder`, relative to the data directory.
std::set<std::string> files_under(const std::string& folder) {
    std::set<std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(data_dir() / folder)) {
        if (entry.is_regular_file()) files.insert(fs::relative(entry.path(), data_dir()).generic_string());
    }
    return files;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The message of the error that decoding throws, or "" when it succeeds.
template <class F>
std::string error_of(F&& decode) {
    try {
        decode();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Drops null members: null means absent, so they do not survive encoding.
nlohmann::json without_nulls(nlohmann::json doc) {
    for (auto it = doc.begin(); it != doc.end();) {
        if (it->is_null() && it.key() != "data") {
            it = doc.erase(it);
        } else {
            ++it;
        }
    }
    return doc;
}

// Checks the lossless round trips of a decoded event: JSON format, HTTP
// structured mode and HTTP binary mode.
void check_round_trips(const EventPtr& event) {
    const std::string encoded = json::encode(*event);
    const auto back = json::decode(encoded);
    CHECK(*back == *event);
    CHECK(json::encode(*back) == encoded);

    const auto structured = http::encode_structured(*event);
    CHECK(*http::decode_event(structured.headers, structured.body) == *event);

    // Binary mode carries extensions as strings, so compare what a binary
    // receiver can know: every attribute's canonical string and the data.
    const auto binary = http::encode_binary(*event);
    const auto received = http::decode_event(binary.headers, binary.body);
    CHECK(received->id() == event->id());
    CHECK(received->source() == event->source());
    CHECK(received->type() == event->type());
    CHECK(received->subject() == event->subject());
    CHECK(received->dataschema() == event->dataschema());
    CHECK(received->time() == event->time());
    REQUIRE(received->extensions().size() == event->extensions().size());
    for (const auto& [name, value] : event->extensions()) {
        CHECK(std::get<std::string>(*received->extension(name)) == to_canonical_string(value));
    }
    CHECK(received->has_data() == event->has_data());
    if (event->has_data()) CHECK(received->data() == event->data());
    if (event->datacontenttype()) {
        CHECK(received->datacontenttype() == event->datacontenttype());
    } else if (event->data_kind() == DataKind::text) {
        // JSON data with an implied content type travels with it stated.
        CHECK(received->datacontenttype() == "application/json");
    } else {
        CHECK_FALSE(received->datacontenttype());
    }
}

// Decodes a valid structured file and checks it against the document:
// every member is present with the same value (JSON-level equality), and
// the event survives every round trip.
EventPtr check_valid_structured(const std::string& text) {
    const auto event = json::decode(text);
    const auto expected = without_nulls(nlohmann::json::parse(text));
    const auto encoded = nlohmann::json::parse(json::encode(*event));
    CHECK(encoded == expected);
    check_round_trips(event);
    return event;
}

// A parsed `*.http-binary.txt` file: header lines, a blank line, the body.
struct HttpExample {
    http::Headers headers;
    std::string body;
};

HttpExample parse_http_example(const std::string& text, bool has_request_line) {
    HttpExample example;
    std::istringstream in(text);
    std::string line;
    if (has_request_line) std::getline(in, line);
    while (std::getline(in, line) && !line.empty()) {
        const auto colon = line.find(':');
        REQUIRE(colon != std::string::npos);
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        example.headers.emplace_back(line.substr(0, colon), value);
    }
    std::ostringstream body;
    body << in.rdbuf();
    example.body = body.str();
    // The files end with a newline that is not part of the example body.
    while (!example.body.empty() && example.body.back() == '\n') example.body.pop_back();
    return example;
}

// Checks that a binary-mode event matches its structured twin attribute by
// attribute, comparing canonical strings (binary mode has no types).
void check_same_attributes(const Event& binary, const nlohmann::json& structured) {
    for (const auto& [name, value] : structured.items()) {
        if (value.is_null() || name == "data" || name == "data_base64") continue;
        INFO("attribute " << name);
        const auto attribute = binary.attribute(name);
        REQUIRE(attribute);
        const std::string expected = value.is_string() ? value.get<std::string>() : value.dump();
        CHECK(to_canonical_string(*attribute) == expected);
    }
}

const std::map<std::string, std::string> placeholder_files = {
    // The spec writes "... base64 encoded string ..." where real Base64 would go.
    {"spec-examples/json-format-v1.0.2/01-binary-data-base64.structured.json", "invalid data_base64"},
};

}  // namespace

TEST_CASE("spec JSON format examples") {
    std::set<std::string> seen;
    const std::set<std::string> all = [] {
        auto files = files_under("spec-examples/json-format-v1.0.2");
        files.merge(files_under("spec-examples/json-format-v1.0.3-wip"));
        return files;
    }();

    for (const auto& file : all) {
        if (!contains(file, ".structured.json")) continue;
        INFO(file);
        seen.insert(file);
        const std::string text = read_file(data_dir() / file);
        const std::string pair_file = file.substr(0, file.find(".structured.json")) + ".http-binary.txt";
        REQUIRE(all.count(pair_file) == 1);
        seen.insert(pair_file);
        const auto http_example = parse_http_example(read_file(data_dir() / pair_file), false);
        const auto received = http::decode_event(http_example.headers, http_example.body);
        check_round_trips(received);
        check_same_attributes(*received, nlohmann::json::parse(text));

        if (const auto placeholder = placeholder_files.find(file); placeholder != placeholder_files.end()) {
            CHECK(contains(error_of([&] { json::decode(text); }), placeholder->second));
            // The binary twin carries its bytes raw, so it is valid.
            CHECK(received->data_kind() == DataKind::binary);
            CHECK(received->data() == "...raw binary bytes...");
            continue;
        }

        const auto event = check_valid_structured(text);
        if (event->data_kind() == DataKind::binary) {
            // 06: no content type on either side, the same bytes.
            CHECK(*received == *event);
        } else if (event->data_is_json()) {
            CHECK(received->data_json() == event->data_json());
            CHECK(received->datacontenttype().value_or("") ==
                  event->datacontenttype().value_or("application/json"));
        } else {
            CHECK(received->data_kind() == event->data_kind());
            CHECK(received->data() == event->data());
            CHECK(received->datacontenttype() == event->datacontenttype());
        }
    }

    // Batches.
    const std::string empty = "spec-examples/json-format-v1.0.2/batch-empty.json";
    CHECK(json::decode_batch(read_file(data_dir() / empty)).empty());
    seen.insert(empty);

    const std::string two = "spec-examples/json-format-v1.0.2/batch-two-events.json";
    const std::string two_text = read_file(data_dir() / two);
    const std::string error = error_of([&] { json::decode_batch(two_text); });
    CHECK(contains(error, "invalid data_base64"));
    CHECK(contains(error, "(batch event 0)"));
    // The second entry is valid on its own.
    const auto entries = nlohmann::json::parse(two_text);
    check_valid_structured(entries.at(1).dump());
    seen.insert(two);

    CHECK(seen == all);
}

TEST_CASE("spec single event examples") {
    for (const auto& file : files_under("spec-examples/events")) {
        INFO(file);
        const auto event = check_valid_structured(read_file(data_dir() / file));
        CHECK(event->specversion() == "1.0");
    }
}

TEST_CASE("spec percent-encoding vectors") {
    const auto vectors = nlohmann::json::parse(read_file(data_dir() / "spec-examples/http-percent-encoding-vectors.json"));
    REQUIRE(vectors.at("encode").size() == 1);
    for (const auto& v : vectors.at("encode")) {
        CHECK(http::percent_encode(v.at("decoded").get<std::string>()) == v.at("encoded").get<std::string>());
        CHECK(http::percent_decode(v.at("encoded").get<std::string>()) == v.at("decoded").get<std::string>());
    }
    for (const auto& v : vectors.at("decode_must_accept")) {
        CHECK(http::percent_decode(v.at("encoded").get<std::string>()) == v.at("decoded").get<std::string>());
    }
    for (const auto& v : vectors.at("decode_must_reject")) {
        CHECK_THROWS_WITH(http::percent_decode(v.at("encoded").get<std::string>()), Catch::Contains("not valid UTF-8"));
    }
}

TEST_CASE("sdk-java JSON vectors") {
    const fs::path dir = data_dir() / "sdk-java/json-jackson";
    const auto expectations = nlohmann::json::parse(read_file(dir / "EXPECTATIONS.json"));

    // Invalid files and the rule each breaks.
    const std::map<std::string, std::string> invalid = {
        {"v1/fail_numeric_decimal.json", "without fraction or exponent"},
        {"v1/fail_numeric_long.json", "fit in 32 bits"},
        {"v1/json_data_with_ext_upper_case.json", "invalid extension name \"aString\""},
        {"v1/json_data_with_ext_invalid.json", "invalid extension name \"a_invalid_name\""},
    };

    std::size_t checked = 0;
    for (const auto& file : files_under("sdk-java/json-jackson/v1")) {
        const std::string name = file.substr(std::string("sdk-java/json-jackson/").size());
        INFO(name);
        const std::string text = read_file(dir / name);
        const auto& expectation = expectations.at(name);
        if (const auto rule = invalid.find(name); rule != invalid.end()) {
            CHECK(expectation.at("expect").get<std::string>().rfind("invalid", 0) == 0);
            CHECK(contains(error_of([&] { json::decode(text); }), rule->second));
        } else {
            CHECK(expectation.at("expect") == "valid");
            check_valid_structured(text);
        }
        ++checked;
    }
    CHECK(checked == 17);

    // Specific meanings the expectations spell out.
    const auto decode_file = [&](const char* name) { return json::decode(read_file(dir / name)); };
    CHECK(*decode_file("v1/min_subject_null.json") == *decode_file("v1/min.json"));
    CHECK(decode_file("v1/json_data_with_fractional_time.json")->time()->text() == "2018-04-26T14:48:09.1234Z");
    CHECK(std::get<std::string>(*decode_file("v1/binary_attr.json")->extension("binary")) == "4P8ARKo=");
    const auto numeric = decode_file("v1/numeric_ext.json");
    CHECK(std::get<std::int32_t>(*numeric->extension("integer")) == 42);
    CHECK(std::get<std::string>(*numeric->extension("decimal")) == "42.42");
    CHECK(std::get<std::string>(*numeric->extension("long")) == "4200");
    const auto base64_json = decode_file("v1/base64_json_data.json");
    const auto json_data = decode_file("v1/json_data.json");
    CHECK(base64_json->data_kind() == DataKind::binary);
    CHECK(base64_json->data() == json_data->data());
    CHECK(base64_json->data_json() == json_data->data_json());
    CHECK(decode_file("v1/base64_text_data.json")->data() == "Hello World Lorena!");

    // Specversion 0.3 is not supported: every v03 file fails naming it,
    // except the two numeric failures, which upstream wrote as 1.0 events.
    std::size_t v03 = 0;
    for (const auto& file : files_under("sdk-java/json-jackson/v03")) {
        INFO(file);
        const std::string error = error_of([&] { json::decode(read_file(data_dir() / file)); });
        if (contains(file, "fail_numeric_decimal")) {
            CHECK(contains(error, "without fraction or exponent"));
        } else if (contains(file, "fail_numeric_long")) {
            CHECK(contains(error, "fit in 32 bits"));
        } else {
            CHECK(contains(error, "invalid specversion \"0.3\""));
        }
        ++v03;
    }
    CHECK(v03 == 14);

    // Content type detection. sdk-java accepts only the application and
    // text types and no whitespace before ';'. cebus follows the JSON
    // format's `*/json` rule for any type, and ignores whitespace around the
    // media type as RFC 7231 allows before the ';', so these four are JSON.
    const auto& detection = expectations.at("json_content_type_detection");
    for (const auto& type : detection.at("is_json")) {
        INFO(type.dump());
        CHECK(is_json_content_type(type.is_null() ? "" : type.get<std::string>()));
    }
    const std::set<std::string> lenient = {"text/json ", "text/json ;", "applications/json", "test/json"};
    for (const auto& type : detection.at("is_not_json")) {
        INFO(type.dump());
        CHECK(is_json_content_type(type.get<std::string>()) == (lenient.count(type.get<std::string>()) == 1));
    }
}

TEST_CASE("sdk-rust JSON fixtures") {
    const auto fixtures = nlohmann::json::parse(read_file(data_dir() / "sdk-rust/v10-json-fixtures.transcribed.json"));
    std::size_t checked = 0;
    for (const auto& [name, fixture] : fixtures.items()) {
        if (name == "_note") continue;
        INFO(name);
        const bool bad_names = fixture.contains("string_ex");
        if (bad_names) {
            // sdk-rust does not check names; string_ex breaks the a-z0-9 rule.
            CHECK(contains(error_of([&] { json::decode(fixture.dump()); }), "names use only a-z and 0-9"));

            // With valid names the fixture is a valid event.
            auto renamed = fixture;
            for (const char* ext : {"string_ex", "bool_ex", "int_ex"}) {
                std::string valid = ext;
                valid.erase(valid.find('_'), 1);
                renamed[valid] = renamed[ext];
                renamed.erase(ext);
            }
            const auto event = check_valid_structured(renamed.dump());
            CHECK(std::get<std::int32_t>(*event->extension("intex")) == 10);
            CHECK(std::get<bool>(*event->extension("boolex")) == true);
        } else {
            check_valid_structured(fixture.dump());
        }
        ++checked;
    }
    CHECK(checked == 7);
}

namespace {

// Builds the HTTP messages a conformance YAML document describes.
http::Message binary_message(const nlohmann::json& doc) {
    http::Message message;
    const auto& attributes = doc.at("ContextAttributes");
    for (const auto& [name, value] : attributes.items()) {
        if (name == "Extensions") continue;
        if (name == "datacontenttype") {
            message.headers.emplace_back("Content-Type", value.get<std::string>());
        } else {
            message.headers.emplace_back("ce-" + name, http::percent_encode(value.get<std::string>()));
        }
    }
    if (attributes.contains("Extensions")) {
        for (const auto& [name, value] : attributes.at("Extensions").items()) {
            message.headers.emplace_back("ce-" + name, http::percent_encode(value.get<std::string>()));
        }
    }
    if (doc.contains("TransportExtensions")) {
        for (const auto& [name, value] : doc.at("TransportExtensions").items()) {
            message.headers.emplace_back(name, value.get<std::string>());
        }
    }
    if (doc.contains("Data")) message.body = doc.at("Data").get<std::string>();
    return message;
}

http::Message structured_message(const nlohmann::json& doc) {
    const auto& attributes = doc.at("ContextAttributes");
    nlohmann::json event = nlohmann::json::object();
    for (const auto& [name, value] : attributes.items()) {
        if (name != "Extensions") event[name] = value;
    }
    if (attributes.contains("Extensions")) {
        for (const auto& [name, value] : attributes.at("Extensions").items()) event[name] = value;
    }
    std::string body = event.dump();
    if (doc.contains("Data")) {
        const std::string data = doc.at("Data").get<std::string>();
        const bool json_data =
            !attributes.contains("datacontenttype") || is_json_content_type(attributes.at("datacontenttype").get<std::string>());
        // JSON data goes in as the JSON value it is, other data as a string.
        body.pop_back();
        body += ",\"data\":" + (json_data ? data : nlohmann::json(data).dump()) + "}";
    }
    return {{{"Content-Type", "application/cloudevents+json; charset=utf-8"}}, body};
}

// The YAML literal blocks (`|`) end their extension values with a newline.
// A CloudEvents String may not contain one, so the fixtures must mean the
// text without it.
nlohmann::json trim_extension_newlines(nlohmann::json doc) {
    auto& attributes = doc.at("ContextAttributes");
    if (attributes.contains("Extensions")) {
        for (auto& [name, value] : attributes.at("Extensions").items()) {
            std::string text = value.get<std::string>();
            while (!text.empty() && text.back() == '\n') text.pop_back();
            value = text;
        }
    }
    return doc;
}

void check_conformance_event(const Event& event, const nlohmann::json& doc) {
    const auto& attributes = doc.at("ContextAttributes");
    for (const auto& [name, value] : attributes.items()) {
        if (name == "Extensions") continue;
        INFO("attribute " << name);
        CHECK(event.attribute_text(name) == value.get<std::string>());
    }
    if (attributes.contains("Extensions")) {
        for (const auto& [name, value] : attributes.at("Extensions").items()) {
            CHECK(event.attribute_text(name) == value.get<std::string>());
        }
    }
    // No extension came from the transport headers.
    CHECK(event.extension("user-agent") == nullptr);
    if (!doc.contains("Data")) return;
    const std::string data = doc.at("Data").get<std::string>();
    if (event.data_is_json() && event.data_kind() == DataKind::text) {
        CHECK(event.data_json() == nlohmann::json::parse(data));
    } else {
        CHECK(event.data() == data);
    }
}

}  // namespace

TEST_CASE("conformance YAML events") {
    const auto corpus = nlohmann::json::parse(read_file(data_dir() / "conformance/conformance.json"));
    std::set<std::string> seen = {"conformance/conformance.json", "conformance/convert.py"};

    for (const auto& [file, docs] : corpus.at("yaml").items()) {
        seen.insert("conformance/" + file);
        for (const auto& raw : docs) {
            const std::string version = raw.at("ContextAttributes").at("specversion");
            const std::string mode = raw.value("Mode", "both");
            INFO(file << " " << raw.at("ContextAttributes").value("id", "") << " mode " << mode);
            for (const bool binary : {true, false}) {
                if ((binary && mode == "structured") || (!binary && mode == "binary")) continue;
                if (version != "1.0") {
                    // Only CloudEvents 1.0 is supported.
                    const auto message = binary ? binary_message(raw) : structured_message(raw);
                    CHECK(contains(error_of([&] { http::decode_event(message.headers, message.body); }),
                                   "invalid specversion \"" + version + "\""));
                    continue;
                }
                // As written, the trailing newline makes the extension invalid.
                if (raw.at("ContextAttributes").contains("Extensions")) {
                    const auto message = binary ? binary_message(raw) : structured_message(raw);
                    CHECK(contains(error_of([&] { http::decode_event(message.headers, message.body); }),
                                   "control character"));
                }
                const auto doc = trim_extension_newlines(raw);
                const auto message = binary ? binary_message(doc) : structured_message(doc);
                const auto event = http::decode_event(message.headers, message.body);
                check_conformance_event(*event, doc);
                check_round_trips(event);
            }
        }
    }

    for (const auto& [file, cases] : corpus.at("features").items()) {
        seen.insert("conformance/" + file);
        const bool kafka = contains(file, "kafka");
        for (const auto& c : cases) {
            INFO(file << ": " << c.at("scenario").get<std::string>());
            EventPtr event;
            if (kafka) {
                // cebus has no Kafka binding. Kafka's binary headers differ
                // from HTTP's only in the ce_ prefix (these values need no
                // percent-encoding), so they are decoded through HTTP.
                http::Headers headers;
                for (const auto& [name, value] : c.at("kafka_headers").items()) {
                    std::string header = name;
                    if (header.rfind("ce_", 0) == 0) header.replace(0, 3, "ce-");
                    headers.emplace_back(header, value.get<std::string>());
                }
                event = http::decode_event(headers, c.at("kafka_payload").get<std::string>());
            } else {
                const auto request = parse_http_example(c.at("http_request").get<std::string>(), true);
                event = http::decode_event(request.headers, request.body);
            }
            for (const auto& [name, value] : c.at("attributes").items()) {
                INFO("attribute " << name);
                CHECK(event->attribute_text(name) == value.get<std::string>());
            }
            CHECK(event->data_json() == c.at("data_json"));
            check_round_trips(event);
        }
    }

    CHECK(seen == files_under("conformance"));
}
