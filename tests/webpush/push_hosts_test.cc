#include "webpush/push_hosts.h"

#include <gtest/gtest.h>

#include "fails_with.h"

namespace flashwire::webpush {
namespace {

TEST(PushHostPolicy, AcceptsTheBrowserVendorsPushServices) {
  auto policy = PushHostPolicy::create({});
  ASSERT_TRUE(policy);
  const std::pair<const char*, const char*> accepted[] = {
      {"https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b", "https://fcm.googleapis.com"},
      {"https://updates.push.services.mozilla.com/wpush/v2/gAAAAAB",
       "https://updates.push.services.mozilla.com"},
      {"https://web.push.apple.com/QGaWlNB9", "https://web.push.apple.com"},
      {"https://api.push.apple.com/3/device/x", "https://api.push.apple.com"},
      {"https://wns2-by3p.notify.windows.com/w/?token=BQYAAA",
       "https://wns2-by3p.notify.windows.com"},
  };
  for (const auto& [endpoint, origin] : accepted) {
    auto checked = policy->check(endpoint);
    ASSERT_TRUE(checked) << endpoint << ": " << checked.error().message;
    EXPECT_EQ(*checked, origin);
  }
}

TEST(PushHostPolicy, RefusesEverythingElse) {
  auto policy = PushHostPolicy::create({"http://127.0.0.1:8090"});
  ASSERT_TRUE(policy);
  for (const char* endpoint : {"http://fcm.googleapis.com/fcm/send/x",        // not https
                               "https://fcm.googleapis.com:8443/fcm/send/x",  // odd port
                               "https://evil.example/fcm.googleapis.com",     // host is what counts
                               "https://fcm.googleapis.com.evil.example/x",   // suffix trick
                               "https://notify.windows.com.evil.example/x",
                               "https://push.apple.com/x",  // bare suffix, no subdomain
                               // Not host names under a wildcard suffix (found by fuzzing):
                               "https://+x.notify.windows.com/w/", "https://a_b.push.apple.com/x",
                               "https://%61.push.apple.com/x",
                               "https://169.254.169.254/latest/meta-data",  // cloud metadata
                               "http://127.0.0.1:8091/wpush/x",             // loopback, other port
                               "http://localhost:8090/wpush/x",         // same port, other spelling
                               "https://user:pw@fcm.googleapis.com/x",  // credentials
                               "https://fcm.googleapis.com/x#frag", "file:///etc/passwd",
                               "javascript:alert(1)", "", "not a url"}) {
    auto checked = policy->check(endpoint);
    EXPECT_FALSE(checked) << endpoint;
  }
  EXPECT_FALSE(policy->check("https://fcm.googleapis.com/" + std::string(2100, 'a')));
}

TEST(PushHostPolicy, AllowsConfiguredOriginsExactly) {
  auto policy = PushHostPolicy::create({"http://127.0.0.1:8090", "https://push.example.net"});
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy->check("http://127.0.0.1:8090/wpush/abc").value_or(""), "http://127.0.0.1:8090");
  EXPECT_EQ(policy->check("https://push.example.net/p/1").value_or(""), "https://push.example.net");
  auto only_extra = PushHostPolicy::create({"http://127.0.0.1:8090"}, /*allow_builtin=*/false);
  ASSERT_TRUE(only_extra);
  EXPECT_FALSE(only_extra->check("https://fcm.googleapis.com/fcm/send/x"));
}

// An authority that is not exactly host[:port] (a lenient parse reads "8090:1/wpush/y" as port
// and a path not starting with "/") is refused at subscribe time, on an allowed origin too.
TEST(PushHostPolicy, RefusesMalformedAuthorities) {
  auto policy = PushHostPolicy::create({"http://127.0.0.1:8090"});
  ASSERT_TRUE(policy);
  for (const char* endpoint : {
           "http://127.0.0.1:8090:1/wpush/y",
           "http://127.0.0.1:8090:/wpush/y",
           "http://127.0.0.1:8090x/wpush/y",
           "http://127.0.0.1:08090/wpush/y",
           "http://127.0.0.1:99999/wpush/y",
           "http://127.0.0.1:8090",  // no push resource
           "http://127.0.0.1:8090?x=1",
           "http://user@127.0.0.1:8090/wpush/y",
           "http://:pw@127.0.0.1:8090/wpush/y",
           "http://127.0.0.1%2f:8090/wpush/y",
           "https://fcm.googleapis.com:443:1/fcm/send/x",
           "https://fcm.googleapis.com:/fcm/send/x",
           "https://fcm_googleapis.com/fcm/send/x",
           "https://[::1/x",
       }) {
    EXPECT_FALSE(policy->check(endpoint)) << endpoint;
  }
  EXPECT_TRUE(policy->check("http://127.0.0.1:8090/wpush/y?x=1"));
}

TEST(PushHostPolicy, RejectsConfiguredEntriesThatAreNotOrigins) {
  for (const char* bad :
       {"127.0.0.1:8090", "http://127.0.0.1:8090/", "https://push.example.net/path", "ftp://x"}) {
    auto policy = PushHostPolicy::create({bad});
    ASSERT_FALSE(policy) << bad;
    EXPECT_TRUE(FailsWith(policy, ErrorCode::kInvalid, "is not an origin")) << bad;
  }
}

}  // namespace
}  // namespace flashwire::webpush
