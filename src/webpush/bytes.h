// Byte containers used across the Web Push core.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace flashwire::webpush {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

inline std::string_view as_chars(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace flashwire::webpush
