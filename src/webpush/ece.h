// RFC 8188 "aes128gcm" content encoding: the record layer under Web Push message encryption.
//
// A body is a header (salt 16 | record size 4 | keyid length 1 | keyid) followed by records of
// `record_size` bytes (the last may be shorter), each AES-128-GCM sealed with a nonce derived from
// the record's sequence number. Encryption here writes a single record, which is all Web Push
// allows (RFC 8291 §4); decryption accepts any number of records, as RFC 8188 requires.
// Pure functions; thread-safe (each thread reuses its own OpenSSL contexts).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "webpush/bytes.h"
#include "webpush/error.h"

namespace flashwire::webpush {

using Salt = std::array<std::uint8_t, 16>;
using ContentKey = std::array<std::uint8_t, 16>;
using Nonce = std::array<std::uint8_t, 12>;

inline constexpr std::size_t kEceHeaderFixedSize = 21;  // salt + rs + idlen, before the keyid
inline constexpr std::size_t kEceTagSize = 16;
inline constexpr std::uint32_t kEceMinRecordSize = 18;  // tag + delimiter + at least one byte

struct EceHeader {
  Salt salt{};
  std::uint32_t record_size = 0;
  ByteView key_id;       // points into the parsed body
  std::size_t size = 0;  // header length in bytes: 21 + key_id.size()
};

// Errors: kInvalid — shorter than its header (or its keyid), a record size below 18.
Result<EceHeader> parse_ece_header(ByteView body);

// The content-encryption key and base nonce for `ikm` and `salt` (RFC 8188 §2.2, §2.3).
struct EceKeys {
  std::array<std::uint8_t, 32> prk{};
  ContentKey cek{};
  Nonce nonce{};
};
EceKeys derive_ece_keys(ByteView ikm, const Salt& salt);

struct EceEncryptOptions {
  std::uint32_t record_size = 4096;  // written to the header; the single record must fit in it
  std::size_t padding = 0;           // zero bytes after the delimiter, hides the plaintext length
  ByteView key_id;                   // at most 255 bytes
};

// Encrypts `plaintext` as one record. Errors: kInvalid (record_size < 18, a keyid over 255
// bytes), kTooLarge (plaintext + padding + delimiter + tag > record_size).
Result<Bytes> ece_encrypt(ByteView ikm, const Salt& salt, ByteView plaintext,
                          const EceEncryptOptions& options = {});

struct EceDecryptOptions {
  // When set, a header whose keyid is not this long is rejected (kInvalid, "keyid is N bytes,
  // expected M"; Web Push requires a 65-byte public key).
  std::optional<std::size_t> expected_key_id_size;
};

// Decrypts a whole body. Errors: kInvalid, its message naming the reason — the body cut short
// (or the last record not marked last: "body truncated"), a record size below 18, a keyid of the
// wrong length, a record that "failed authentication" (its tag does not match: wrong key or
// altered data), bad padding (no delimiter, an invalid one, or a final-record delimiter before
// the end).
Result<Bytes> ece_decrypt(ByteView ikm, ByteView body, const EceDecryptOptions& options = {});

// Decrypts the records that follow an already parsed header, with already derived keys.
Result<Bytes> ece_decrypt_records(const EceKeys& keys, const EceHeader& header, ByteView body);

}  // namespace flashwire::webpush
