// Entry functions of the libFuzzer targets. Each takes one input, feeds it to
// a decoder or compiler of untrusted text, and checks what it can about the
// result (round trips, determinism). Both the fuzz targets in fuzz/ and the
// replay test tests/test_fuzz_regressions.cpp call these, so a crashing input
// saved under tests/data/fuzz-regressions/<target>/ is replayed through the
// exact code the fuzzer ran.
//
// An entry returns normally for input that is accepted or rejected the
// documented way (ParseError, ValidationError, cesql::CompileError). It
// throws OracleFailure when a check fails and lets any other exception out:
// both are bugs. Memory errors are the sanitizers' to catch.
#pragma once

#include <span>
#include <stdexcept>
#include <string_view>

#include <cebus/http.hpp>

namespace cebus::fuzz {

// A check on a decoded or evaluated result failed.
class OracleFailure : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

// JSON event format and batch format: decode, encode, decode again; the two
// decodings must be equal and the two encodings identical.
void json_format(std::string_view input);

// HTTP binding. The input reads like an HTTP message: header lines
// `name: value` up to the first empty line, then the body. A line without a
// colon is skipped (a request line, say). Every decoded event must survive a
// binary-mode and a structured-mode round trip, and percent-decoding a header
// value must invert percent-encoding.
void http_message(std::string_view input);

// CESQL: compile the input as an expression and evaluate it against a fixed
// event; evaluation must be deterministic and agree with matches().
void cesql(std::string_view input);

// Webhook delivery verification (I/O Events): see fuzz/entries_webhook.cpp
// for the input split. Built only with the I/O Events bridge.
void webhook(std::string_view input);

// Splits an input the way the http and webhook targets read it.
http::Message split_http_message(std::string_view input);

struct Target {
    std::string_view name;
    void (*run)(std::string_view input);
};

// The targets built into this program, by the names their regression folders
// and fuzz programs use.
std::span<const Target> targets();

}  // namespace cebus::fuzz
