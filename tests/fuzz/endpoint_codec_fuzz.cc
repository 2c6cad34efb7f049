// EndpointCodec::decode on any token (the last path segment of a push request), and
// encode/decode round trips. Two modes, by the first input byte:
//   even: the rest is a token. Property: nothing we did not issue decodes (a random token
//         cannot pass AES-GCM authentication), and nothing crashes.
//   odd:  the rest makes a reference (uaid, channel id, key hash) that is encoded; decoding
//         gives it back, and a token with one character changed decodes to nothing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "pushservice/endpoint_codec.h"

using namespace flashwire::pushservice;

namespace {

EndpointCodec& codec() {
  static EndpointCodec instance([] {
    EndpointKey key{};
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(0xA0 + i);
    return key;
  }());
  return instance;
}

std::string hex(const std::uint8_t* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

void round_trip(const std::uint8_t* data, std::size_t size) {
  if (size < 16 + 16 + 16 + 1) return;
  EndpointRef ref;
  ref.uaid = hex(data, 16);
  const std::string id = hex(data + 16, 16);
  ref.channel_id = id.substr(0, 8) + "-" + id.substr(8, 4) + "-" + id.substr(12, 4) + "-" +
                   id.substr(16, 4) + "-" + id.substr(20);
  std::copy_n(data + 32, 16, ref.vapid_key_hash.begin());
  const std::size_t change_at = data[48];
  auto token = codec().encode(ref);
  FUZZ_CHECK(token.has_value(), "a valid reference encodes");
  auto back = codec().decode(*token);
  FUZZ_CHECK(back && back->uaid == ref.uaid && back->channel_id == ref.channel_id &&
                 back->vapid_key_hash == ref.vapid_key_hash,
             "decode(encode(ref)) == ref");
  std::string altered = *token;
  const std::size_t at = change_at % altered.size();
  altered[at] = altered[at] == 'A' ? 'B' : 'A';
  FUZZ_CHECK(!codec().decode(altered), "a token with one character changed is not ours");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    const std::string_view token(reinterpret_cast<const char*>(data + 1), size - 1);
    FUZZ_CHECK(!codec().decode(token), "only tokens we issued decode");
  } else {
    round_trip(data + 1, size - 1);
  }
  return 0;
}
