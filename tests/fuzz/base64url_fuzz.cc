// base64url_decode on any text. Properties: a decoded value re-encodes to the input without its
// '=' padding (one value, one accepted spelling), and whatever is encoded decodes back.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "webpush/base64url.h"

using namespace flashwire::webpush;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto decoded = base64url_decode(text)) {
    std::string_view unpadded = text;
    while (unpadded.ends_with('=')) unpadded.remove_suffix(1);
    FUZZ_CHECK(base64url_encode(*decoded) == unpadded, "decode then encode gives the input back");
  }
  const ByteView raw(data, size);
  const auto round_trip = base64url_decode(base64url_encode(raw));
  FUZZ_CHECK(round_trip && Bytes(raw.begin(), raw.end()) == *round_trip,
             "encode then decode gives the bytes back");
  return 0;
}
