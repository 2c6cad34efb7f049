#include "webpush/base64url.h"

#include <array>

namespace flashwire::webpush {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> make_decode_table() {
  std::array<std::int8_t, 256> table{};
  for (auto& entry : table) entry = -1;
  for (int i = 0; i < 64; ++i)
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  return table;
}
constexpr auto kDecode = make_decode_table();

}  // namespace

std::string base64url_encode(ByteView data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v =
        (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{data[i]} << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

Result<Bytes> base64url_decode(std::string_view text) {
  // Strip padding, then check that what was stripped is what the length calls for.
  std::size_t end = text.size();
  while (end > 0 && text[end - 1] == '=') --end;
  const std::size_t padding = text.size() - end;
  if (padding > 0 && (text.size() % 4 != 0 || padding > 2)) {
    return make_error(ErrorCode::kInvalid, "base64url: misplaced '=' padding");
  }
  const std::size_t tail = end % 4;
  if (tail == 1) {
    return make_error(ErrorCode::kInvalid, "base64url: impossible length " + std::to_string(end) +
                                               " (one character left over)");
  }
  if (padding > 0 && padding != (4 - tail) % 4) {
    return make_error(ErrorCode::kInvalid, "base64url: padding does not match the length");
  }

  Bytes out;
  out.reserve(end / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < end; ++i) {
    const std::int8_t v = kDecode[static_cast<unsigned char>(text[i])];
    if (v < 0) {
      return make_error(ErrorCode::kInvalid,
                        "base64url: invalid character at position " + std::to_string(i));
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return make_error(ErrorCode::kInvalid, "base64url: non-zero trailing bits (not canonical)");
  }
  return out;
}

}  // namespace flashwire::webpush
