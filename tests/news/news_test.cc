// The domain rules every module shares: slugs, addresses, alert links, categories, urgency and
// the delivery report's arithmetic.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "news/alert.h"
#include "news/article.h"
#include "news/category.h"
#include "news/delivery.h"

namespace flashwire::news {
namespace {

TEST(NewsSlug, IsOneToOneHundredTwentyLowerCaseLettersDigitsAndHyphens) {
  for (const std::string& slug :
       std::vector<std::string>{"a", "storm-2026", "---", std::string(120, 'x')}) {
    EXPECT_TRUE(is_slug(slug)) << slug;
  }
  for (const std::string& slug : std::vector<std::string>{"", "Storm", "a b", "a/b", "a_b", "é",
                                                          "a.b", std::string(121, 'x')}) {
    EXPECT_FALSE(is_slug(slug)) << slug;
  }
}

TEST(NewsPaths, EncodeTheSlugAsOneSegmentAndSendLiveEventsToTheirPage) {
  EXPECT_EQ(article_path("storm"), "/articles/storm");
  EXPECT_EQ(article_path("a/b c"), "/articles/a%2Fb%20c");
  EXPECT_EQ(live_path("vote-night"), "/live/vote-night");
  EXPECT_EQ(encode_path_segment("A-z0._~%/?"), "A-z0._~%25%2F%3F");
  Article article;
  article.slug = "vote-night";
  EXPECT_EQ(reader_path(article), "/articles/vote-night");
  article.category = Category::kLive;
  EXPECT_EQ(reader_path(article), "/live/vote-night");
  article.category = Category::kExclusive;
  EXPECT_EQ(reader_path(article), "/articles/vote-night");
}

TEST(NewsAlertLinks, StayOnTheSite) {
  constexpr std::string_view kOrigin = "https://news.example";
  for (const char* url : {"/", "/articles/storm", "/live/x#update-3", "https://news.example",
                          "https://news.example/", "https://news.example/articles/storm?a=1"}) {
    EXPECT_TRUE(is_url_on_site(url, kOrigin)) << url;
  }
  for (const char* url :
       {"", "articles/storm", "//evil.example/x", "/\\evil.example", "/a b", "/a\tb", "/a\x7f",
        "https://news.example.evil/", "https://news.example@evil.example/", "https://news.exampl",
        "http://news.example/", "https://news.example//evil.example", "javascript:alert(1)"}) {
    EXPECT_FALSE(is_url_on_site(url, kOrigin)) << url;
  }
  EXPECT_TRUE(is_url_on_site("/articles/storm", ""));
  EXPECT_FALSE(is_url_on_site("https://news.example/", "")) << "no origin: paths only";
}

TEST(NewsVideo, HttpsOrSitePathsOfMp4WebmOrHlsOnly) {
  for (const char* url :
       {"https://video.example/a.mp4", "https://video.example:8443/live/stream.m3u8?token=x",
        "/media/clip.webm", "/media/CLIP.MP4#t=10", "https://cdn-1.example/x/y.mp4"}) {
    EXPECT_TRUE(is_video_url(url)) << url;
  }
  for (const char* url :
       {"", "http://video.example/a.mp4", "https://video.example/a.mov",
        "https://video.example/a.mp4.html", "//video.example/a.mp4",
        "https://user@video.example/a.mp4", "https://video.example:x/a.mp4", "https:///a.mp4",
        "/a b.mp4", "/a\".mp4", "/a<x>.mp4", "javascript:alert(1)//.mp4",
        "https://v.example;a/b.mp4", "https://video.example/a.m3u8\n"}) {
    EXPECT_FALSE(is_video_url(url)) << url;
  }
  EXPECT_FALSE(is_video_url("/" + std::string(2048, 'a') + ".mp4"));
  EXPECT_EQ(video_origin("https://Video.Example:8443/a.mp4"), "https://video.example:8443");
  EXPECT_EQ(video_origin("https://video.example/a.mp4"), "https://video.example");
  EXPECT_EQ(video_origin("/media/a.mp4"), "");
  EXPECT_EQ(video_type("/a.MP4"), "video/mp4");
  EXPECT_EQ(video_type("/a.webm?x=1"), "video/webm");
  EXPECT_EQ(video_type("https://v.example/s.m3u8"), "application/vnd.apple.mpegurl");
}

TEST(NewsCategory, NamesRoundTripAndNothingElseParses) {
  for (const Category category : kAllCategories) {
    EXPECT_EQ(parse_category(category_name(category)), category);
  }
  EXPECT_EQ(category_name(Category::kBreaking), "breaking");
  EXPECT_EQ(category_name(Category::kLive), "live");
  EXPECT_EQ(category_name(Category::kExclusive), "exclusive");
  for (const char* name : {"", "Breaking", "breaking ", "news", "all"}) {
    EXPECT_FALSE(parse_category(name).has_value()) << name;
  }
}

TEST(NewsAlert, UrgencyIsAnRfc8030ValueAndBeaconsHaveFourKinds) {
  for (const char* urgency : {"very-low", "low", "normal", "high"})
    EXPECT_TRUE(is_urgency(urgency));
  for (const char* urgency : {"", "High", "urgent", "very low"}) EXPECT_FALSE(is_urgency(urgency));
  EXPECT_EQ(parse_alert_event("received"), AlertEvent::kReceived);
  EXPECT_EQ(parse_alert_event("displayed"), AlertEvent::kDisplayed);
  EXPECT_EQ(parse_alert_event("clicked"), AlertEvent::kClicked);
  EXPECT_EQ(parse_alert_event("dismissed"), AlertEvent::kDismissed);
  EXPECT_FALSE(parse_alert_event("opened").has_value());
}

TEST(NewsDelivery, CountsAddUpAndStatesHaveNames) {
  DeliveryCounts total;
  total.sent = 2;
  total.failed_by_reason["http_413"] = 1;
  total.failed = 1;
  total.accept_latency[0] = 2;
  total.last_accept_ms = 500;
  DeliveryCounts shard;
  shard.sent = 3;
  shard.gone = 1;
  shard.retried = 4;
  shard.failed = 2;
  shard.failed_by_reason["http_413"] = 1;
  shard.failed_by_reason["expired"] = 1;
  shard.accept_latency[0] = 1;
  shard.accept_latency[kAcceptLatencyBoundsMs.size()] = 2;
  shard.last_accept_ms = 400;
  total.add(shard);
  EXPECT_EQ(total.sent, 5u);
  EXPECT_EQ(total.gone, 1u);
  EXPECT_EQ(total.failed, 3u);
  EXPECT_EQ(total.retried, 4u);
  EXPECT_EQ(total.failed_by_reason.at("http_413"), 2u);
  EXPECT_EQ(total.failed_by_reason.at("expired"), 1u);
  EXPECT_EQ(total.accept_latency[0], 3u);
  EXPECT_EQ(total.accept_latency.back(), 2u);
  EXPECT_EQ(total.last_accept_ms, 500) << "the latest accept stays";
  EXPECT_STREQ(delivery_state_name(DeliveryState::kRunning), "running");
  EXPECT_STREQ(delivery_state_name(DeliveryState::kDone), "done");
  EXPECT_STREQ(delivery_state_name(DeliveryState::kCancelled), "cancelled");
  EXPECT_STREQ(delivery_state_name(DeliveryState::kFailed), "failed");
}

}  // namespace
}  // namespace flashwire::news
