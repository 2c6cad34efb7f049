#include "http/client_address.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace flashwire::http {
namespace {

namespace ip = boost::asio::ip;
namespace bhttp = boost::beast::http;

std::string client(const TrustedProxies& proxies, const std::string& peer,
                   const std::vector<std::string>& values,
                   const std::string& field = "X-Forwarded-For") {
  bhttp::fields headers;
  for (const auto& value : values) headers.insert(field, value);
  return proxies.client_address(ip::make_address(peer), headers);
}

TEST(TrustedProxiesTest, ParsesAddressesAndBlocksAndNamesABadEntry) {
  auto proxies = TrustedProxies::parse({"10.0.0.0/8", "192.0.2.1", "fd00::/8", "::1"},
                                       ForwardedHeader::kXForwardedFor);
  ASSERT_TRUE(proxies) << proxies.error().message;
  EXPECT_TRUE(proxies->trusts(ip::make_address("10.200.1.1")));
  EXPECT_TRUE(proxies->trusts(ip::make_address("192.0.2.1")));
  EXPECT_TRUE(proxies->trusts(ip::make_address("::ffff:192.0.2.1"))) << "IPv4-mapped";
  EXPECT_TRUE(proxies->trusts(ip::make_address("fd12::5")));
  EXPECT_TRUE(proxies->trusts(ip::make_address("::1")));
  EXPECT_FALSE(proxies->trusts(ip::make_address("192.0.2.2")));
  EXPECT_FALSE(proxies->trusts(ip::make_address("11.0.0.1")));
  EXPECT_FALSE(proxies->trusts(ip::make_address("127.0.0.1")));
  for (const std::string bad : {"10.0.0.0/33", "example.com", "10.0.0", "", "::1/129"}) {
    auto parsed = TrustedProxies::parse({"127.0.0.1", bad}, ForwardedHeader::kXForwardedFor);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalid);
    EXPECT_NE(parsed.error().message.find("'" + bad + "'"), std::string::npos)
        << parsed.error().message;
  }
}

TEST(TrustedProxiesTest, TakesTheRightmostUntrustedHopOfXForwardedFor) {
  const auto proxies =
      TrustedProxies::parse({"127.0.0.1", "10.0.0.0/8"}, ForwardedHeader::kXForwardedFor).value();
  struct Case {
    std::string peer;
    std::vector<std::string> headers;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"203.0.113.9", {"198.51.100.1"}, "203.0.113.9"},  // untrusted peer: header ignored
      {"127.0.0.1", {}, "127.0.0.1"},                    // a trusted peer's own request
      {"127.0.0.1", {"198.51.100.1"}, "198.51.100.1"},
      // A forged hop left of the real client is never reached.
      {"127.0.0.1", {"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
      {"127.0.0.1", {"1.2.3.4", "198.51.100.1, 10.0.0.2"}, "198.51.100.1"},  // two proxies
      {"127.0.0.1", {"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},  // all trusted: the leftmost
      {"127.0.0.1", {"garbage, 198.51.100.1"}, "198.51.100.1"},
      {"127.0.0.1", {"198.51.100.1, garbage"}, "127.0.0.1"},  // unparsable: stop at the proxy
      {"127.0.0.1", {"[2001:db8::1]:443"}, "2001:db8::1"},
      {"127.0.0.1", {"198.51.100.1:5555"}, "198.51.100.1"},
      {"::ffff:127.0.0.1", {"198.51.100.1"}, "198.51.100.1"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(client(proxies, c.peer, c.headers), c.expected)
        << c.peer << " " << (c.headers.empty() ? "" : c.headers.back());
  }
  // The other header is not read.
  EXPECT_EQ(client(proxies, "127.0.0.1", {"for=198.51.100.1"}, "Forwarded"), "127.0.0.1");
}

TEST(TrustedProxiesTest, ReadsForwardedForParameters) {
  const auto proxies = TrustedProxies::parse({"127.0.0.1"}, ForwardedHeader::kForwarded).value();
  const auto forwarded = [&](const std::string& value) {
    return client(proxies, "127.0.0.1", {value}, "Forwarded");
  };
  EXPECT_EQ(forwarded("for=198.51.100.1;proto=https"), "198.51.100.1");
  EXPECT_EQ(forwarded("for=1.2.3.4, For=\"[2001:db8::7]:4711\";by=127.0.0.1"), "2001:db8::7");
  EXPECT_EQ(forwarded("for=1.2.3.4, for=unknown"), "127.0.0.1");
  EXPECT_EQ(forwarded("proto=https"), "127.0.0.1");
  EXPECT_EQ(client(proxies, "127.0.0.1", {"198.51.100.1"}), "127.0.0.1")
      << "X-Forwarded-For is not read when the proxies write Forwarded";
}

TEST(TrustedProxiesTest, NoneConfiguredMeansThePeer) {
  const TrustedProxies none;
  EXPECT_EQ(client(none, "127.0.0.1", {"198.51.100.1"}), "127.0.0.1");
}

}  // namespace
}  // namespace flashwire::http
