#include "webpush/base64url.h"

#include <gtest/gtest.h>

#include <random>

namespace flashwire::webpush {
namespace {

struct Case {
  std::string_view plain;
  std::string_view encoded;
};

// RFC 4648 §10 vectors, in the url-safe alphabet and without padding.
constexpr Case kCases[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

TEST(Base64Url, EncodesRfc4648VectorsWithoutPadding) {
  for (const auto& c : kCases) EXPECT_EQ(base64url_encode(as_bytes(c.plain)), c.encoded) << c.plain;
}

TEST(Base64Url, DecodesRfc4648VectorsWithAndWithoutPadding) {
  for (const auto& c : kCases) {
    auto unpadded = base64url_decode(c.encoded);
    ASSERT_TRUE(unpadded) << c.encoded;
    EXPECT_EQ(as_chars(*unpadded), c.plain);
    std::string padded(c.encoded);
    while (padded.size() % 4 != 0) padded += '=';
    auto with_padding = base64url_decode(padded);
    ASSERT_TRUE(with_padding) << padded;
    EXPECT_EQ(as_chars(*with_padding), c.plain);
  }
}

TEST(Base64Url, UsesTheUrlSafeAlphabet) {
  const std::uint8_t bytes[] = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(base64url_encode(bytes), "-_-_");
  auto decoded = base64url_decode("-_-_");
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, Bytes(std::begin(bytes), std::end(bytes)));
}

TEST(Base64Url, RejectsBadInputWithClearErrors) {
  struct Bad {
    std::string_view text;
    std::string_view message_part;
  };
  const Bad bad[] = {
      {"Zm9v+g", "invalid character at position 4"},  // standard-alphabet '+'
      {"Zm9v/g", "invalid character at position 4"},
      {"Zm 9", "invalid character at position 2"},
      {"Zm9vY", "impossible length"},    // 5 characters: one left over
      {"Zg=", "misplaced '=' padding"},  // padded but not a multiple of 4
      {"Z===", "misplaced '=' padding"},
      {"Zm8==", "misplaced '=' padding"},
      {"Zg=a", "invalid character"},     // '=' in the middle
      {"Zh", "non-zero trailing bits"},  // "f" is Zg; Zh has a stray low bit
      {"Zm9=", "non-zero trailing bits"},
  };
  for (const auto& b : bad) {
    auto result = base64url_decode(b.text);
    ASSERT_FALSE(result) << b.text;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalid);
    EXPECT_NE(result.error().message.find(b.message_part), std::string::npos)
        << b.text << ": " << result.error().message;
  }
}

TEST(Base64Url, RoundTripsRandomData) {
  std::mt19937 rng(8291);
  for (std::size_t size = 0; size < 300; ++size) {
    Bytes data(size);
    for (auto& byte : data) byte = static_cast<std::uint8_t>(rng());
    const std::string text = base64url_encode(data);
    EXPECT_EQ(text.find('='), std::string::npos);
    auto back = base64url_decode(text);
    ASSERT_TRUE(back) << size;
    EXPECT_EQ(*back, data);
  }
}

}  // namespace
}  // namespace flashwire::webpush
