#include "newsroom/api_tokens.h"

#include <gtest/gtest.h>

#include <set>

namespace flashwire::newsroom {
namespace {

TEST(ApiTokens, SecretsHaveTheTokenShapeAndNeverRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string secret = generate_token_secret();
    EXPECT_TRUE(looks_like_token(secret)) << secret;
    EXPECT_TRUE(seen.insert(secret).second);
  }
}

TEST(ApiTokens, HashIsSha256Hex) {
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  EXPECT_EQ(hash_token_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string secret = generate_token_secret();
  EXPECT_EQ(hash_token_secret(secret), hash_token_secret(secret));
  EXPECT_EQ(hash_token_secret(secret).size(), 64u);
  EXPECT_EQ(hash_token_secret(secret).find(secret.substr(3, 10)), std::string::npos);
}

TEST(ApiTokens, RejectsWhatIsNotAToken) {
  for (const char* bad : {"", "fw_", "fw_short", "xx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                          "fw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
                          "fw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    EXPECT_FALSE(looks_like_token(bad)) << bad;
  }
}

TEST(ApiTokens, ScopesAndNames) {
  EXPECT_TRUE(is_known_scope("alerts:send"));
  EXPECT_FALSE(is_known_scope("alerts:*"));
  EXPECT_EQ(all_scopes().size(), 3u);
  EXPECT_TRUE(is_valid_token_name("desk-ana.2"));
  EXPECT_FALSE(is_valid_token_name("Desk Ana"));
  EXPECT_FALSE(is_valid_token_name(""));
  EXPECT_FALSE(is_valid_token_name(std::string(65, 'a')));
}

}  // namespace
}  // namespace flashwire::newsroom
