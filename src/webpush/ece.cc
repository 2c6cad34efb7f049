#include "webpush/ece.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "webpush/internal/openssl.h"

namespace flashwire::webpush {
namespace {

constexpr std::string_view kCekInfo("Content-Encoding: aes128gcm\0\x01", 29);
constexpr std::string_view kNonceInfo("Content-Encoding: nonce\0\x01", 25);

Nonce record_nonce(const Nonce& base, std::uint64_t sequence) {
  Nonce nonce = base;
  for (int i = 0; i < 8; ++i) {
    nonce[11 - i] ^= static_cast<std::uint8_t>(sequence >> (8 * i));
  }
  return nonce;
}

}  // namespace

Result<EceHeader> parse_ece_header(ByteView body) {
  if (body.size() < kEceHeaderFixedSize) {
    return make_error(ErrorCode::kInvalid, "aes128gcm: body of " + std::to_string(body.size()) +
                                               " bytes is shorter than the 21-byte header");
  }
  EceHeader header;
  std::copy_n(body.begin(), header.salt.size(), header.salt.begin());
  header.record_size = (std::uint32_t{body[16]} << 24) | (std::uint32_t{body[17]} << 16) |
                       (std::uint32_t{body[18]} << 8) | std::uint32_t{body[19]};
  const std::size_t id_len = body[20];
  if (header.record_size < kEceMinRecordSize) {
    return make_error(ErrorCode::kInvalid, "aes128gcm: record size " +
                                               std::to_string(header.record_size) + " is below 18");
  }
  if (body.size() < kEceHeaderFixedSize + id_len) {
    return make_error(ErrorCode::kInvalid, "aes128gcm: body ends inside the keyid");
  }
  header.key_id = body.subspan(kEceHeaderFixedSize, id_len);
  header.size = kEceHeaderFixedSize + id_len;
  return header;
}

EceKeys derive_ece_keys(ByteView ikm, const Salt& salt) {
  auto& hmac = internal::thread_crypto().hmac;
  EceKeys keys;
  keys.prk = hmac.mac(salt, {ikm});
  const auto cek = hmac.mac(keys.prk, {as_bytes(kCekInfo)});
  const auto nonce = hmac.mac(keys.prk, {as_bytes(kNonceInfo)});
  std::copy_n(cek.begin(), keys.cek.size(), keys.cek.begin());
  std::copy_n(nonce.begin(), keys.nonce.size(), keys.nonce.begin());
  return keys;
}

Result<Bytes> ece_encrypt(ByteView ikm, const Salt& salt, ByteView plaintext,
                          const EceEncryptOptions& options) {
  if (options.record_size < kEceMinRecordSize) {
    return make_error(
        ErrorCode::kInvalid,
        "aes128gcm: record size " + std::to_string(options.record_size) + " is below 18");
  }
  if (options.key_id.size() > 255) {
    return make_error(ErrorCode::kInvalid, "aes128gcm: keyid longer than 255 bytes");
  }
  const std::size_t record_plain = plaintext.size() + 1 + options.padding;
  if (record_plain + kEceTagSize > options.record_size) {
    return make_error(ErrorCode::kTooLarge, "aes128gcm: " + std::to_string(plaintext.size()) +
                                                " bytes of plaintext and " +
                                                std::to_string(options.padding) +
                                                " of padding do not fit one record of " +
                                                std::to_string(options.record_size));
  }
  const EceKeys keys = derive_ece_keys(ikm, salt);

  const std::size_t header_size = kEceHeaderFixedSize + options.key_id.size();
  Bytes body(header_size + record_plain + kEceTagSize);
  std::copy(salt.begin(), salt.end(), body.begin());
  body[16] = static_cast<std::uint8_t>(options.record_size >> 24);
  body[17] = static_cast<std::uint8_t>(options.record_size >> 16);
  body[18] = static_cast<std::uint8_t>(options.record_size >> 8);
  body[19] = static_cast<std::uint8_t>(options.record_size);
  body[20] = static_cast<std::uint8_t>(options.key_id.size());
  std::copy(options.key_id.begin(), options.key_id.end(), body.begin() + kEceHeaderFixedSize);

  // Build the padded record in place, then seal it in place (AES-GCM allows in == out).
  std::uint8_t* record = body.data() + header_size;
  std::copy(plaintext.begin(), plaintext.end(), record);
  record[plaintext.size()] = 0x02;  // delimiter of the last (here: only) record
  std::memset(record + plaintext.size() + 1, 0, options.padding);
  internal::thread_crypto().gcm.seal(keys.cek, keys.nonce, ByteView(record, record_plain), record);
  return body;
}

Result<Bytes> ece_decrypt_records(const EceKeys& keys, const EceHeader& header, ByteView body) {
  const ByteView records = body.subspan(header.size);
  if (records.empty()) {
    return make_error(ErrorCode::kInvalid, "aes128gcm: no records after the header");
  }
  auto& gcm = internal::thread_crypto().gcm;
  Bytes plaintext(records.size());
  std::size_t written = 0;
  std::uint64_t sequence = 0;
  for (std::size_t offset = 0; offset < records.size(); offset += header.record_size, ++sequence) {
    const std::size_t chunk = std::min<std::size_t>(header.record_size, records.size() - offset);
    const bool last = offset + chunk == records.size();
    if (chunk < kEceTagSize + 1) {
      return make_error(ErrorCode::kInvalid, "aes128gcm: record " + std::to_string(sequence) +
                                                 " is too short to hold a tag and a delimiter");
    }
    std::uint8_t* out = plaintext.data() + written;
    if (!gcm.open(keys.cek, record_nonce(keys.nonce, sequence), records.subspan(offset, chunk),
                  out)) {
      return make_error(ErrorCode::kInvalid,
                        "aes128gcm: record " + std::to_string(sequence) +
                            " failed authentication (wrong key or altered data)");
    }
    // The record is data, one delimiter byte, then zero padding.
    std::size_t end = chunk - kEceTagSize;
    while (end > 0 && out[end - 1] == 0) --end;
    if (end == 0) {
      return make_error(ErrorCode::kInvalid, "aes128gcm: record " + std::to_string(sequence) +
                                                 " has no padding delimiter");
    }
    const std::uint8_t delimiter = out[end - 1];
    if (delimiter == 0x02 && !last) {
      return make_error(ErrorCode::kInvalid, "aes128gcm: record " + std::to_string(sequence) +
                                                 " is marked final but more records follow");
    }
    if (delimiter == 0x01 && last) {
      return make_error(ErrorCode::kInvalid,
                        "aes128gcm: the last record is not marked final (body truncated)");
    }
    if (delimiter != 0x01 && delimiter != 0x02) {
      return make_error(ErrorCode::kInvalid, "aes128gcm: record " + std::to_string(sequence) +
                                                 " has an invalid padding delimiter");
    }
    written += end - 1;
  }
  plaintext.resize(written);
  return plaintext;
}

Result<Bytes> ece_decrypt(ByteView ikm, ByteView body, const EceDecryptOptions& options) {
  auto header = parse_ece_header(body);
  if (!header) return tl::unexpected(header.error());
  if (options.expected_key_id_size && header->key_id.size() != *options.expected_key_id_size) {
    return make_error(ErrorCode::kInvalid,
                      "aes128gcm: keyid is " + std::to_string(header->key_id.size()) +
                          " bytes, expected " + std::to_string(*options.expected_key_id_size));
  }
  return ece_decrypt_records(derive_ece_keys(ikm, header->salt), *header, body);
}

}  // namespace flashwire::webpush
