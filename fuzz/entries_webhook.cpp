// Entry function of the webhook target: I/O Events delivery verification.
//
// The input is split like the http target's (header lines, an empty line,
// the body). Keys for the paths /fuzz/key1.pem and /fuzz/key2.pem are in the
// verifier's cache from the start. When the input's headers include
// `x-fuzz-sign`, the harness replaces x-adobe-digital-signature-1 with a
// valid signature of the body by key 1, so the fuzzer also reaches what
// follows a good signature; the fuzzer itself cannot forge RSA.
#include "entries.hpp"

#include <cstdlib>
#include <memory>
#include <string>

#include <cebus/http.hpp>
#include <cebus/io_events/http_client.hpp>
#include <cebus/io_events/signature.hpp>
#include <cebus/json.hpp>

#include "../src/io_events/crypto.hpp"

namespace cebus::fuzz {

namespace {

constexpr std::string_view client_id = "fuzz-client";
constexpr std::string_view key1_path = "/fuzz/key1.pem";
constexpr std::string_view key2_path = "/fuzz/key2.pem";

struct Harness {
    io_events::detail::PkeyPtr key1;
    std::unique_ptr<io_events::SignatureVerifier> verifier;

    Harness() {
        // A key path missing from the cache makes the verifier fetch it.
        // Every request goes to a closed port on loopback: through the proxy
        // libcurl reads from the environment, so not even a host name taken
        // from a fuzzed path is ever looked up.
        for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"}) {
            ::setenv(name, "http://127.0.0.1:9", 1);
        }
        ::unsetenv("no_proxy");
        ::unsetenv("NO_PROXY");

        io_events::HttpClientOptions client_options;
        client_options.connect_timeout = std::chrono::milliseconds(200);
        client_options.request_timeout = std::chrono::milliseconds(500);
        auto client = std::make_shared<io_events::HttpClient>(client_options);

        io_events::SignatureVerifierOptions options;
        options.client_id = std::string(client_id);
        options.public_key_base_url = "http://127.0.0.1:9";
        verifier = std::make_unique<io_events::SignatureVerifier>(options, client);

        key1 = io_events::detail::generate_rsa_key(2048);
        const auto key2 = io_events::detail::generate_rsa_key(2048);
        verifier->add_key(std::string(key1_path), io_events::detail::public_key_pem(key1.get()));
        verifier->add_key(std::string(key2_path), io_events::detail::public_key_pem(key2.get()));
    }
};

Harness& harness() {
    static Harness instance;
    return instance;
}

void check(bool ok, const std::string& what) {
    if (!ok) throw OracleFailure(what);
}

}  // namespace

void webhook(std::string_view input) {
    Harness& h = harness();
    http::Message message = split_http_message(input);

    bool signed_by_harness = false;
    if (http::find_header(message.headers, "x-fuzz-sign")) {
        const std::string signature = io_events::detail::sign_rsa_sha256_base64(h.key1.get(), message.body);
        bool replaced = false;
        for (auto& [name, value] : message.headers) {
            if (http::find_header({{name, value}}, "x-adobe-digital-signature-1")) {
                value = signature;
                replaced = true;
            }
        }
        if (!replaced) message.headers.emplace_back("x-adobe-digital-signature-1", signature);
        signed_by_harness = true;
    }

    const io_events::VerifyResult result = h.verifier->verify(message.headers, message.body);
    const io_events::VerifyResult again = h.verifier->verify(message.headers, message.body);
    check(result.status == again.status, "webhook verification is not deterministic: " + result.detail +
                                             " then " + again.detail);

    // Authentic means the recipient check passed as well.
    const bool recipient_ok = h.verifier->check_recipient(message.body).ok();
    if (result.ok()) check(recipient_ok, "verify() accepted a body with the wrong recipient");

    // A body signed by key 1 for our client, with well-formed headers naming
    // the cached keys, must verify.
    const auto path1 = http::find_header(message.headers, "x-adobe-public-key1-path");
    const auto path2 = http::find_header(message.headers, "x-adobe-public-key2-path");
    const auto signature2 = http::find_header(message.headers, "x-adobe-digital-signature-2");
    if (signed_by_harness && recipient_ok && path1 == key1_path && path2 && *path2 == key2_path &&
        signature2 && !signature2->empty()) {
        check(result.ok(), "a valid signature by key 1 was rejected: " + result.detail);
    }

    // What the receiver does next with an authentic body: decode the events.
    if (result.ok()) {
        try {
            if (!message.body.empty() && message.body.find('[') < message.body.find('{')) {
                (void)json::decode_batch(message.body);
            } else {
                (void)json::decode(message.body);
            }
        } catch (const ParseError&) {
        } catch (const ValidationError&) {
        }
    }
}

}  // namespace cebus::fuzz
