// Helpers shared by the Web Push unit tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "webpush/base64url.h"

namespace flashwire::webpush::testing {

inline Bytes b64(std::string_view text) {
  auto bytes = base64url_decode(text);
  EXPECT_TRUE(bytes.has_value()) << "bad test vector: " << text;
  return bytes.value_or(Bytes{});
}

template <std::size_t N>
std::array<std::uint8_t, N> b64_array(std::string_view text) {
  const Bytes bytes = b64(text);
  std::array<std::uint8_t, N> out{};
  EXPECT_EQ(bytes.size(), N) << text;
  std::copy_n(bytes.begin(), std::min(N, bytes.size()), out.begin());
  return out;
}

inline std::string hex(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const auto byte : data) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 15];
  }
  return out;
}

}  // namespace flashwire::webpush::testing
