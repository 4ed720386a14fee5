// Internal OpenSSL helpers shared by the webhook verifier and the emulator:
// Base64, RSA key generation, PEM, and RSA-SHA256 (PKCS#1 v1.5) sign/verify.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace cebus::io_events::detail {

struct PkeyDeleter {
    void operator()(EVP_PKEY* key) const noexcept;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

std::string base64_encode(std::string_view bytes);
// Standard alphabet with padding; whitespace is not accepted. nullopt when
// the text is not valid Base64.
std::optional<std::string> base64_decode(std::string_view text);

// Generates an RSA key pair. Throws cebus::Error on failure.
PkeyPtr generate_rsa_key(int bits);
// SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY") of a key.
std::string public_key_pem(EVP_PKEY* key);
// Parses a SubjectPublicKeyInfo PEM. Returns null when the text is not an
// RSA public key.
PkeyPtr parse_public_key_pem(std::string_view pem);

// RSA-SHA256 with PKCS#1 v1.5 padding over `data`, Base64 encoded.
std::string sign_rsa_sha256_base64(EVP_PKEY* private_key, std::string_view data);
// Verifies a Base64 RSA-SHA256 (PKCS#1 v1.5) signature. False on any failure,
// including malformed Base64.
bool verify_rsa_sha256_base64(EVP_PKEY* public_key, std::string_view data,
                              std::string_view signature_base64);

// Random bytes from the OpenSSL CSPRNG as lower-case hex.
std::string random_hex(std::size_t bytes);
// A random (version 4) UUID in canonical form.
std::string random_uuid();

}  // namespace cebus::io_events::detail
