#include "pushservice/endpoint_codec.h"

#include <gtest/gtest.h>

namespace flashwire::pushservice {
namespace {

const EndpointKey kKey = {1, 2, 3, 4, 5};
const std::string kUaid = "0123456789abcdef0123456789abcdef";
const std::string kChannel = "5bd7a2a6-3e5c-4b1f-9a0e-1c2d3e4f5a6b";

TEST(EndpointCodec, RoundTripsAReference) {
  EndpointCodec codec(kKey);
  std::array<std::uint8_t, 65> vapid{4, 9, 9};
  const EndpointRef ref{kUaid, kChannel, hash_vapid_key(vapid)};
  const auto token = codec.encode(ref);
  ASSERT_TRUE(token);
  EXPECT_LE(token->size(), 110u);
  EXPECT_EQ(
      token->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos);
  const auto back = codec.decode(*token);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->uaid, kUaid);
  EXPECT_EQ(back->channel_id, kChannel);
  EXPECT_EQ(back->vapid_key_hash, ref.vapid_key_hash);
}

TEST(EndpointCodec, TokensAreOpaqueAndNeverRepeat) {
  EndpointCodec codec(kKey);
  const auto a = codec.encode({kUaid, kChannel, {}});
  const auto b = codec.encode({kUaid, kChannel, {}});
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);  // random nonce: the same subscription cannot be recognised across tokens
  EXPECT_EQ(a->find("0123456789abcdef"), std::string::npos);
}

TEST(EndpointCodec, RejectsAnythingItDidNotIssue) {
  EndpointCodec codec(kKey);
  const auto token = codec.encode({kUaid, kChannel, {}});
  ASSERT_TRUE(token);
  std::string flipped = *token;
  flipped[40] = flipped[40] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(codec.decode(flipped));
  EXPECT_FALSE(codec.decode(token->substr(0, token->size() - 2)));
  EXPECT_FALSE(codec.decode(""));
  EXPECT_FALSE(codec.decode("not+base64"));
  EXPECT_FALSE(codec.decode(std::string(103, 'A')));
  EndpointKey other = kKey;
  other[31] = 1;
  EndpointCodec other_codec(other);
  EXPECT_FALSE(other_codec.decode(*token)) << "a token must not verify under another server key";
}

TEST(EndpointCodec, RefusesToEncodeInvalidIds) {
  EndpointCodec codec(kKey);
  EXPECT_FALSE(codec.encode({"xyz", kChannel, {}}));
  EXPECT_FALSE(codec.encode({kUaid, "not-a-uuid", {}}));
}

TEST(Identifiers, ValidateUaidsAndChannelIds) {
  EXPECT_TRUE(is_valid_uaid(kUaid));
  EXPECT_FALSE(is_valid_uaid(kUaid.substr(1)));
  EXPECT_FALSE(is_valid_uaid("0123456789abcdef0123456789abcdeg"));
  EXPECT_EQ(canonical_channel_id("5BD7A2A6-3E5C-4B1F-9A0E-1C2D3E4F5A6B"), kChannel);
  EXPECT_FALSE(canonical_channel_id("5bd7a2a63e5c4b1f9a0e1c2d3e4f5a6b"));
  EXPECT_FALSE(canonical_channel_id("5bd7a2a6-3e5c-4b1f-9a0e-1c2d3e4f5a6g"));
  EXPECT_FALSE(canonical_channel_id(""));
}

}  // namespace
}  // namespace flashwire::pushservice
