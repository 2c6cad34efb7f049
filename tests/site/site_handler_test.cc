#include "site/site_handler.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "store/serialized_site_store.h"
#include "store/sqlite/sqlite_site_store.h"

namespace flashwire::site {
namespace {

namespace bhttp = boost::beast::http;

std::string gunzip(const std::string& data) {
  z_stream stream{};
  inflateInit2(&stream, 15 + 16);
  std::string out(data.size() * 20 + 1024, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  inflateEnd(&stream);
  return rc == Z_STREAM_END ? out : std::string("<inflate failed>");
}

class SiteHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flashwire-handler-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = std::move(store::open_sqlite_site_store((dir_ / "site.sqlite").string()).value());
    store::Article article;
    article.slug = "bridge-closed";
    article.headline = "Bridge closed <after> ship strike";
    article.standfirst = "Engineers inspect the pier.";
    article.byline = "By Mara Okafor";
    article.dateline = "PORT ELLIN";
    article.body_markdown = "The bridge **closed** at 06:40.\n\n<script>alert(1)</script>\n";
    article.published = true;
    article.published_at = article.updated_at = 1'800'000'000;
    ASSERT_TRUE(store_->create_article(article));
    article.slug = "draft-story";
    article.published = false;
    article.published_at = 0;
    ASSERT_TRUE(store_->create_article(article));
    hosts_.emplace(webpush::PushHostPolicy::create({}).value());
    api_ = std::make_unique<SiteApi>(*store_, *hosts_, clock_,
                                     SiteApiOptions{"http://127.0.0.1:8080", "BKEY"});
    SiteInfo info;
    info.name = "Port Ellin Wire";
    info.base_url = "http://127.0.0.1:8080";
    info.vapid_public_key = "BKEY";
    handler_ = std::make_unique<SiteHandler>(*store_, *api_, info,
                                             WellKnownFiles{"", R"([{"relation":[]}])"});
  }
  void TearDown() override {
    handler_.reset();
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  http::Response get(const std::string& target,
                     const std::vector<std::pair<bhttp::field, std::string>>& headers = {},
                     bhttp::verb method = bhttp::verb::get) {
    http::Request request(method, target, 11);
    for (const auto& [field, value] : headers) request.set(field, value);
    return handler_->handle(request, http::RequestContext{"127.0.0.1"});
  }

  std::filesystem::path dir_;
  ManualClock clock_{1'800'000'000};
  std::unique_ptr<store::SiteStore> store_;
  std::optional<webpush::PushHostPolicy> hosts_;
  std::unique_ptr<SiteApi> api_;
  std::unique_ptr<SiteHandler> handler_;
};

TEST_F(SiteHandlerTest, ServesPublishedArticlesWithSafeMarkup) {
  const auto response = get("/articles/bridge-closed");
  ASSERT_EQ(response.result(), bhttp::status::ok);
  EXPECT_EQ(response[bhttp::field::content_type], "text/html; charset=utf-8");
  EXPECT_NE(response.body().find("Bridge closed &lt;after&gt; ship strike"), std::string::npos);
  EXPECT_NE(response.body().find("<strong>closed</strong>"), std::string::npos);
  EXPECT_EQ(response.body().find("<script>alert(1)</script>"), std::string::npos);
  EXPECT_NE(response.body().find("Be the first to know"), std::string::npos);
  EXPECT_EQ(get("/articles/draft-story").result(), bhttp::status::not_found)
      << "drafts are not public";
  EXPECT_EQ(get("/articles/no-such-story").result(), bhttp::status::not_found);
}

TEST_F(SiteHandlerTest, LiveEventsHaveALivePage) {
  store::Article live;
  live.slug = "election-night";
  live.category = store::Category::kLive;
  live.headline = "Election night";
  live.standfirst = "Results as they come.";
  live.byline = "By the desk";
  live.dateline = "PORT ELLIN";
  live.body_markdown = "Polls have *closed*.";
  live.published = true;
  live.published_at = live.updated_at = 1'800'000'100;
  ASSERT_TRUE(store_->create_article(live));
  const auto page = get("/live/election-night");
  ASSERT_EQ(page.result(), bhttp::status::ok);
  EXPECT_NE(page.body().find("Polls have <em>closed</em>."), std::string::npos);
  EXPECT_EQ(get("/live/bridge-closed").result(), bhttp::status::not_found) << "not a live event";
  EXPECT_EQ(get("/live/election-night/events").result(), bhttp::status::no_content);
}

TEST_F(SiteHandlerTest, HomeFeedAndPreferences) {
  const auto home = get("/");
  ASSERT_EQ(home.result(), bhttp::status::ok);
  EXPECT_NE(home.body().find("/articles/bridge-closed"), std::string::npos);
  EXPECT_EQ(home.body().find("draft-story"), std::string::npos);
  const auto feed = get("/feed.atom");
  ASSERT_EQ(feed.result(), bhttp::status::ok);
  EXPECT_EQ(feed[bhttp::field::content_type], "application/atom+xml; charset=utf-8");
  EXPECT_NE(feed.body().find("<feed"), std::string::npos);
  EXPECT_EQ(get("/preferences").result(), bhttp::status::ok);
}

TEST_F(SiteHandlerTest, EveryResponseCarriesSecurityHeaders) {
  for (const char* path :
       {"/", "/articles/bridge-closed", "/nope", "/sw.js", "/api/vapid-public-key", "/health"}) {
    const auto response = get(path);
    EXPECT_NE(std::string(response["Content-Security-Policy"]).find("default-src 'self'"),
              std::string::npos)
        << path;
    EXPECT_EQ(response["X-Content-Type-Options"], "nosniff") << path;
    EXPECT_EQ(response["X-Frame-Options"], "DENY") << path;
  }
}

TEST_F(SiteHandlerTest, EtagsAnswer304AndGzipIsOffered) {
  const auto first = get("/articles/bridge-closed");
  const std::string etag(first[bhttp::field::etag]);
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(first[bhttp::field::cache_control], "no-cache");
  const auto again = get("/articles/bridge-closed", {{bhttp::field::if_none_match, etag}});
  EXPECT_EQ(again.result(), bhttp::status::not_modified);
  EXPECT_TRUE(again.body().empty());

  const auto gzipped =
      get("/articles/bridge-closed", {{bhttp::field::accept_encoding, "gzip, deflate, br"}});
  ASSERT_EQ(gzipped[bhttp::field::content_encoding], "gzip");
  EXPECT_LT(gzipped.body().size(), first.body().size());
  EXPECT_EQ(gunzip(gzipped.body()), first.body());
  EXPECT_EQ(gzipped[bhttp::field::vary], "Accept-Encoding");

  const auto head = get("/articles/bridge-closed", {}, bhttp::verb::head);
  EXPECT_EQ(head.result(), bhttp::status::ok);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(head[bhttp::field::content_length], std::to_string(first.body().size()));
  EXPECT_EQ(handler_->cached_pages(), 1u);
}

TEST_F(SiteHandlerTest, AssetsAndWellKnownFiles) {
  const auto worker = get("/sw.js");
  ASSERT_EQ(worker.result(), bhttp::status::ok);
  EXPECT_EQ(worker[bhttp::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ(worker[bhttp::field::cache_control], "no-cache");
  EXPECT_NE(worker.body().find("showNotification"), std::string::npos);
  EXPECT_EQ(get("/assets/site.css?v=1")[bhttp::field::cache_control],
            "public, max-age=31536000, immutable");
  EXPECT_EQ(get("/.well-known/assetlinks.json").result(), bhttp::status::ok);
  EXPECT_EQ(get("/.well-known/apple-app-site-association").result(), bhttp::status::not_found);
}

TEST_F(SiteHandlerTest, ScriptsAndStyleSheetsAreGzippedForClientsThatAcceptIt) {
  const auto plain = get("/assets/site.js?v=1");
  const auto gz = get("/assets/site.js?v=1", {{bhttp::field::accept_encoding, "gzip, br"}});
  EXPECT_EQ(plain[bhttp::field::content_encoding], "");
  ASSERT_EQ(gz[bhttp::field::content_encoding], "gzip");
  EXPECT_EQ(gunzip(gz.body()), plain.body());
  EXPECT_LT(gz.body().size(), plain.body().size() / 2);
  EXPECT_EQ(gz[bhttp::field::etag], plain[bhttp::field::etag]);
  // PNG images are compressed already: sent as they are.
  EXPECT_EQ(get("/assets/icon-192.png",
                {{bhttp::field::accept_encoding, "gzip"}})[bhttp::field::content_encoding],
            "");
}

TEST_F(SiteHandlerTest, PagesAreReadOnly) {
  const auto post = get("/articles/bridge-closed", {}, bhttp::verb::post);
  EXPECT_EQ(post.result(), bhttp::status::method_not_allowed);
  EXPECT_EQ(post[bhttp::field::allow], "GET, HEAD");
}

TEST_F(SiteHandlerTest, UnknownPathsDoNotGrowTheCache) {
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(get("/junk/" + std::to_string(i)).result(), bhttp::status::not_found);
  EXPECT_LE(handler_->cached_pages(), 1u);
}

TEST_F(SiteHandlerTest, ServesTheNewsroomPageLikeTheOtherPages) {
  const auto page = get("/newsroom");
  ASSERT_EQ(page.result(), bhttp::status::ok);
  EXPECT_EQ(page[bhttp::field::content_type], "text/html; charset=utf-8");
  EXPECT_EQ(page[bhttp::field::cache_control], "no-cache");
  EXPECT_NE(page.body().find("<h1 class=\"page-title\">Newsroom</h1>"), std::string::npos);
  EXPECT_NE(page.body().find("<label for=\"nr-signin-token\">Editor token"), std::string::npos);
  EXPECT_NE(page.body().find("<script src=\"/assets/newsroom.js\" defer></script>"),
            std::string::npos);
  EXPECT_NE(page.body().find("data-base-url=\"http://127.0.0.1:8080\""), std::string::npos);
  EXPECT_NE(page.body().find("<meta name=\"robots\" content=\"noindex, nofollow\">"),
            std::string::npos);
  // The same strict policy as every page: scripts and styles from the site only, fetch() to
  // the site only (the newsroom API), no framing.
  const std::string csp(page["Content-Security-Policy"]);
  for (std::string_view directive : {"default-src 'self'", "script-src 'self'", "style-src 'self'",
                                     "connect-src 'self'", "frame-ancestors 'none'"}) {
    EXPECT_NE(csp.find(directive), std::string::npos) << directive;
  }
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_EQ(page["X-Frame-Options"], "DENY");

  // Cached and revalidated like the other pages.
  const std::string etag(page[bhttp::field::etag]);
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(get("/newsroom", {{bhttp::field::if_none_match, etag}}).result(),
            bhttp::status::not_modified);
  EXPECT_EQ(get("/newsroom?from=footer").body(), page.body());
  EXPECT_EQ(get("/newsroom", {}, bhttp::verb::head).result(), bhttp::status::ok);
  EXPECT_EQ(get("/newsroom", {}, bhttp::verb::post).result(), bhttp::status::method_not_allowed);
  EXPECT_EQ(get("/newsroom/articles").result(), bhttp::status::not_found);

  // Its script and style sheet are embedded assets.
  const auto script = get("/assets/newsroom.js");
  ASSERT_EQ(script.result(), bhttp::status::ok);
  EXPECT_EQ(script[bhttp::field::content_type], "text/javascript; charset=utf-8");
  const auto style = get("/assets/newsroom.css?v=1");
  ASSERT_EQ(style.result(), bhttp::status::ok);
  EXPECT_EQ(style[bhttp::field::content_type], "text/css; charset=utf-8");
  EXPECT_EQ(style[bhttp::field::cache_control], "public, max-age=31536000, immutable");
}

TEST_F(SiteHandlerTest, ReaderPagesLinkToTheNewsroom) {
  for (const char* path : {"/", "/articles/bridge-closed", "/preferences"}) {
    const auto page = get(path);
    EXPECT_NE(page.body().find("<a href=\"/newsroom\" rel=\"nofollow\">Newsroom</a>"),
              std::string::npos)
        << path;
    EXPECT_EQ(page.body().find("noindex"), std::string::npos) << path;
  }
}

TEST_F(SiteHandlerTest, LeavesTheNewsroomApiToTheRouter) {
  // `flashwire serve` routes /api/newsroom to the newsroom (app/, http::Router); the site only
  // knows its readers' API, so here that path is one more unknown API.
  const auto answer = get("/api/newsroom/articles");
  EXPECT_EQ(answer.result(), bhttp::status::not_found);
  EXPECT_EQ(answer[bhttp::field::content_type], "application/json");
  EXPECT_FALSE(answer["Content-Security-Policy"].empty());
  EXPECT_EQ(get("/api/vapid-public-key").result(), bhttp::status::ok) << "readers' API unaffected";
}

TEST_F(SiteHandlerTest, ContentEventsDropRenderedPages) {
  news::ContentEvents& events = *handler_;
  ASSERT_EQ(get("/articles/bridge-closed").result(), bhttp::status::ok);
  ASSERT_EQ(get("/").result(), bhttp::status::ok);
  EXPECT_EQ(handler_->cached_pages(), 2u);
  auto edited = store_->find_article_by_slug("bridge-closed").value().value();
  edited.headline = "Bridge reopens to traffic";
  ASSERT_TRUE(store_->update_article(edited));
  EXPECT_EQ(get("/articles/bridge-closed").body().find("Bridge reopens"), std::string::npos)
      << "served from the cache until told";
  events.article_changed(edited);
  EXPECT_EQ(handler_->cached_pages(), 0u);
  EXPECT_NE(get("/articles/bridge-closed").body().find("Bridge reopens"), std::string::npos);
}

// The HTTP server calls one handler from several threads while editors change content: every
// answer is whole, and once the last change is announced no page from before it is kept.
TEST_F(SiteHandlerTest, ThreadsShareTheRenderCacheAndNoPageOutlivesAnInvalidation) {
  store::SerializedSiteStore shared(*store_);
  SiteInfo info;
  info.name = "Port Ellin Wire";
  info.base_url = "http://127.0.0.1:8080";
  SiteApi api(shared, *hosts_, clock_, SiteApiOptions{"http://127.0.0.1:8080", "BKEY"});
  SiteHandler handler(shared, api, info, WellKnownFiles{});
  constexpr int kEditions = 40;
  std::atomic<bool> editing = true;
  std::atomic<int> bad = 0, answers = 0;
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      const std::string paths[] = {"/", "/articles/bridge-closed", "/feed.atom",
                                   "/assets/site.css"};
      for (int i = 0; editing || i < 50; ++i) {
        http::Request request(bhttp::verb::get, paths[(r + i) % 4], 11);
        if (i % 2 == 0) request.set(bhttp::field::accept_encoding, "gzip");
        const http::Response response = handler.handle(request, http::RequestContext{"::1"});
        const bool gzip = response[bhttp::field::content_encoding] == "gzip";
        const std::string body = gzip ? gunzip(response.body()) : response.body();
        if (response.result() != bhttp::status::ok || body.empty() ||
            body == "<inflate failed>")
          ++bad;
        ++answers;
      }
    });
  }
  auto article = shared.find_article_by_slug("bridge-closed").value().value();
  for (int edition = 1; edition <= kEditions; ++edition) {
    article.headline = "Edition " + std::to_string(edition);
    ASSERT_TRUE(shared.update_article(article));
    if (edition % 2 == 0) {
      handler.invalidate_all();  // as a cluster listener does, from a thread of its own
    } else {
      static_cast<news::ContentEvents&>(handler).article_changed(article);
    }
  }
  editing = false;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(bad, 0);
  EXPECT_GE(answers, 4 * 50);
  http::Request request(bhttp::verb::get, "/articles/bridge-closed", 11);
  const std::string body = handler.handle(request, http::RequestContext{"::1"}).body();
  EXPECT_NE(body.find("Edition " + std::to_string(kEditions) + "<"), std::string::npos)
      << "a page rendered before the last change was kept";
}

TEST_F(SiteHandlerTest, ManifestRobotsAndSitemaps) {
  const http::Response manifest = get("/manifest.webmanifest");
  EXPECT_EQ(manifest.result(), bhttp::status::ok);
  EXPECT_EQ(manifest[bhttp::field::content_type], "application/manifest+json");
  EXPECT_NE(manifest.body().find("\"display\":\"standalone\""), std::string::npos);
  EXPECT_NE(manifest.body().find("\"name\":\"Port Ellin Wire\""), std::string::npos);

  const http::Response robots = get("/robots.txt");
  EXPECT_EQ(robots.result(), bhttp::status::ok);
  EXPECT_EQ(robots[bhttp::field::content_type], "text/plain; charset=utf-8");
  EXPECT_NE(robots.body().find("Sitemap: http://127.0.0.1:8080/sitemap.xml"), std::string::npos);

  const http::Response sitemap = get("/sitemap.xml");
  EXPECT_EQ(sitemap[bhttp::field::content_type], "application/xml; charset=utf-8");
  EXPECT_NE(sitemap.body().find("<loc>http://127.0.0.1:8080/articles/bridge-closed</loc>"),
            std::string::npos);
  EXPECT_EQ(sitemap.body().find("draft-story"), std::string::npos) << "drafts are not listed";

  // The news sitemap follows the clock: the story is in it for 48 hours, then it is not.
  EXPECT_NE(get("/news-sitemap.xml")
                .body()
                .find("<news:title>Bridge closed &lt;after&gt; ship "
                      "strike</news:title>"),
            std::string::npos);
  ManualClock later{1'800'000'000 + 48 * 3600 + 1};
  handler_->set_clock(later);
  EXPECT_EQ(get("/news-sitemap.xml").body().find("<news:news>"), std::string::npos);
}

TEST_F(SiteHandlerTest, SearchFindsPublishedStoriesAndSaysWhenNothingMatches) {
  const http::Response found = get("/search?q=bridge+Strike");
  EXPECT_EQ(found.result(), bhttp::status::ok);
  EXPECT_NE(found.body().find("1 result for “bridge Strike”"), std::string::npos);
  EXPECT_NE(found.body().find("<mark>Bridge</mark> closed &lt;after&gt; ship <mark>strike</mark>"),
            std::string::npos);
  const http::Response none = get("/search?q=%3Cvolcano%3E");
  EXPECT_EQ(none.result(), bhttp::status::ok);
  EXPECT_NE(none.body().find("No results for “&lt;volcano&gt;”"), std::string::npos);
  EXPECT_EQ(none.body().find("<volcano>"), std::string::npos);
  // Search answers are never cached by path: another query, another page.
  EXPECT_NE(get("/search?q=bridge").body(), get("/search?q=ship").body());
  EXPECT_EQ(get("/search").result(), bhttp::status::ok);
  // A very long query is cut rather than refused.
  EXPECT_EQ(get("/search?q=" + std::string(2000, 'a')).result(), bhttp::status::ok);
  EXPECT_EQ(get("/search?q=%E2%82").result(), bhttp::status::ok) << "a cut UTF-8 sequence";
}

TEST_F(SiteHandlerTest, ArticlesListRelatedStoriesOfTheirCategory) {
  store::Article other;
  other.slug = "ferries-extra";
  other.headline = "Ferries add crossings";
  other.standfirst = "Every 15 minutes.";
  other.body_markdown = "Text.";
  other.published = true;
  other.published_at = other.updated_at = 1'800'000'100;
  ASSERT_TRUE(store_->create_article(other));
  const std::string page = get("/articles/bridge-closed").body();
  EXPECT_NE(page.find("<a href=\"/articles/ferries-extra\">Ferries add crossings</a>"),
            std::string::npos);
  EXPECT_NE(page.find("\"@type\":\"NewsArticle\""), std::string::npos);
}

TEST_F(SiteHandlerTest, HomeShowsTheNewestLiveUpdateOnceItIsPosted) {
  store::Article live;
  live.slug = "election-night";
  live.category = store::Category::kLive;
  live.headline = "Election night";
  live.body_markdown = "Polls closed.";
  live.published = true;
  live.published_at = live.updated_at = 1'800'000'100;
  live.id = store_->create_article(live).value();
  const std::string before = get("/").body();
  EXPECT_NE(before.find("<a href=\"/live/election-night\">Election night</a>"), std::string::npos);
  EXPECT_EQ(before.find("data-ticker"), std::string::npos);
  store::LiveUpdate update{0, live.id, "North **declares** & counts", 1'800'000'400, "desk"};
  update.id = store_->add_live_update(update).value();
  handler_->live_update_posted(live, update);  // drops the cached home page too
  const std::string after = get("/").body();
  EXPECT_NE(after.find("href=\"/live/election-night#update-" + std::to_string(update.id)),
            std::string::npos);
  EXPECT_NE(after.find("North declares &amp; counts"), std::string::npos);
  EXPECT_NE(after.find("Updated <time datetime=\"2027-01-15T08:06:40Z\" data-local=\"relative\">"),
            std::string::npos);
}

}  // namespace
}  // namespace flashwire::site
