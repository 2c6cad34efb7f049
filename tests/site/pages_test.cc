#include "site/pages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "site/html.h"

namespace flashwire::site {
namespace {

using news::Article;
using news::Category;
using ::testing::HasSubstr;
using ::testing::Not;

// Every field a page interpolates gets this, with a field-specific suffix.
constexpr std::string_view kEvil = "<script>\"&'";

std::string evil(std::string_view field) { return std::string(kEvil) + std::string(field); }

std::size_t count(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

SiteInfo test_site() {
  SiteInfo site;
  site.name = "Flashwire";
  site.description = "Breaking news as it happens.";
  site.base_url = "https://news.example";
  site.vapid_public_key =
      "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
  return site;
}

AppInfo test_app() {
  AppInfo app;
  app.name = "Flashwire News";
  app.scheme = "flashwire";
  app.ios_app_id = "1234567890";
  app.ios_store_url = "https://apps.apple.com/app/id1234567890";
  app.android_package = "com.example.flashwire";
  app.android_store_url = "https://play.google.com/store/apps/details?id=com.example.flashwire";
  return app;
}

Article test_article() {
  Article a;
  a.id = 7;
  a.slug = "storm-hits-lisbon";
  a.headline = "Storm hits Lisbon";
  a.standfirst = "Flooding closes the metro as 120 mm of rain falls in six hours.";
  a.byline = "By Ana Ruiz";
  a.dateline = "LISBON";
  a.category = Category::kBreaking;
  a.image_url = "https://img.example/storm.jpg";
  a.image_alt = "A flooded street in Baixa";
  a.body_markdown = "Rain.";
  a.published = true;
  a.published_at = 1741788300;  // 2025-03-12T14:05:00Z
  a.updated_at = 1741788300;
  return a;
}

Article evil_article() {
  Article a = test_article();
  a.slug = "\"><script>slug";
  a.headline = evil("headline");
  a.standfirst = evil("standfirst");
  a.byline = evil("byline");
  a.dateline = evil("dateline");
  a.image_url = "https://img.example/a.jpg?x=" + evil("image_url");
  a.image_alt = evil("image_alt");
  return a;
}

SiteInfo evil_site() {
  SiteInfo site;
  site.name = evil("site_name");
  site.description = evil("description");
  site.base_url = "https://news.example/" + evil("base_url");
  site.vapid_public_key = evil("vapid");
  site.asset_version = evil("version");
  AppInfo app;
  app.name = evil("app_name");
  app.scheme = "flashwire";
  app.ios_app_id = evil("ios_app_id");
  app.ios_store_url = "https://apps.apple.com/" + evil("ios_store");
  app.android_package = evil("android_package");
  app.android_store_url = "https://play.google.com/" + evil("android_store");
  site.app = app;
  return site;
}

std::vector<CategorySection> sections_of(const std::vector<Article>& breaking) {
  return {{Category::kBreaking, breaking}, {Category::kLive, {}}, {Category::kExclusive, {}}};
}

// All the pages, rendered for one site.
std::map<std::string, std::string> all_pages(const SiteInfo& site, const Article& article) {
  const std::vector<CategorySection> sections = sections_of({article, article});
  const LiveUpdate updates[] = {{2, 1741788300, "<p>Second</p>\n"},
                                {1, 1741788000, "<p>First</p>\n"}};
  return {
      {"home", render_home(site, sections)},
      {"article", render_article(site, article, "<p>Body</p>\n")},
      {"preferences", render_preferences(site)},
      {"live", render_live(site, article.slug, article.headline, updates)},
      {"not_found", render_not_found(site)},
  };
}

// Script elements a browser runs: all but the JSON-LD data blocks.
std::size_t executable_scripts(const std::string& page) {
  return count(page, "<script") - count(page, "<script type=\"application/ld+json\">");
}

// ---- escaping ----

TEST(Pages, EscapesEveryArticleField) {
  const Article article = evil_article();
  const std::string page = render_article(test_site(), article, "<p>Body</p>\n");
  for (const std::string& field : {article.headline, article.standfirst, article.byline,
                                   article.dateline, article.image_url, article.image_alt}) {
    EXPECT_THAT(page, HasSubstr(escape_html(field))) << field;
  }
  EXPECT_THAT(page, Not(HasSubstr(kEvil)));
  EXPECT_THAT(page, HasSubstr("href=\"https://news.example/articles/%22%3E%3Cscript%3Eslug\""));
  EXPECT_EQ(executable_scripts(page), 1u);  // only site.js
}

TEST(Pages, EscapesEverySiteAndAppFieldOnEveryPage) {
  const SiteInfo site = evil_site();
  const Article article = evil_article();
  for (const auto& [name, page] : all_pages(site, article)) {
    EXPECT_THAT(page, Not(HasSubstr(kEvil))) << name;
    EXPECT_EQ(executable_scripts(page), 1u) << name;
    EXPECT_THAT(page, HasSubstr(escape_html(site.name))) << name;
    EXPECT_THAT(page, HasSubstr("data-vapid-public-key=\"" + escape_html(site.vapid_public_key)))
        << name;
    EXPECT_THAT(page, HasSubstr("?v=%3Cscript%3E%22%26%27version")) << name;  // asset version
    EXPECT_THAT(page, HasSubstr(escape_html(site.app->ios_app_id))) << name;
  }
  const std::string article_page = render_article(site, article, "");
  for (const std::string& field : {site.description, site.app->name, site.app->ios_store_url,
                                   site.app->android_package, site.app->android_store_url}) {
    if (field == site.description) continue;  // an article's description is its standfirst
    EXPECT_THAT(article_page, HasSubstr(escape_html(field))) << field;
  }
  EXPECT_THAT(render_home(site, sections_of({})), HasSubstr(escape_html(site.description)));
  EXPECT_THAT(article_page, HasSubstr(escape_html(site.base_url)));  // canonical link
}

TEST(Pages, EscapesLiveTitleAndHomeFields) {
  const Article article = evil_article();
  const std::string live = render_live(test_site(), "slug", evil("live_title"), {});
  EXPECT_THAT(live, HasSubstr(escape_html(evil("live_title"))));
  EXPECT_THAT(live, Not(HasSubstr(kEvil)));
  const std::string home = render_home(test_site(), sections_of({article}));
  EXPECT_THAT(home, Not(HasSubstr(kEvil)));
  for (const std::string& field :
       {article.headline, article.standfirst, article.dateline, article.image_alt}) {
    EXPECT_THAT(home, HasSubstr(escape_html(field))) << field;
  }
}

TEST(Pages, BodyHtmlIsInsertedAsGiven) {
  const std::string page = render_article(test_site(), test_article(), "<h2>Sub</h2>\n<p>x</p>\n");
  EXPECT_THAT(page, HasSubstr("<div class=\"story-body\">\n<h2>Sub</h2>\n<p>x</p>\n</div>"));
}

// ---- structure and accessibility ----

TEST(Pages, EveryPageHasLandmarksSkipLinkAndOneH1) {
  for (const auto& [name, page] : all_pages(test_site(), test_article())) {
    EXPECT_EQ(page.rfind("<!doctype html>\n<html lang=\"en\">", 0), 0u) << name;
    EXPECT_THAT(page, HasSubstr("<meta charset=\"utf-8\">")) << name;
    EXPECT_THAT(page, HasSubstr("<meta name=\"viewport\"")) << name;
    const std::size_t skip =
        page.find("<a class=\"skip-link\" href=\"#main\">Skip to main content</a>");
    const std::size_t header = page.find("<header class=\"masthead\">");
    const std::size_t nav = page.find("<nav class=\"site-nav\" aria-label=\"Sections\">");
    const std::size_t main = page.find("<main id=\"main\" tabindex=\"-1\">");
    const std::size_t footer = page.find("<footer class=\"site-footer\">");
    ASSERT_NE(skip, std::string::npos) << name;
    ASSERT_NE(header, std::string::npos) << name;
    ASSERT_NE(nav, std::string::npos) << name;
    ASSERT_NE(main, std::string::npos) << name;
    ASSERT_NE(footer, std::string::npos) << name;
    EXPECT_LT(skip, header) << name;  // the skip link comes first
    EXPECT_LT(header, nav) << name;
    EXPECT_LT(nav, main) << name;
    EXPECT_LT(main, footer) << name;
    EXPECT_EQ(count(page, "<main"), 1u) << name;
    EXPECT_EQ(count(page, "<h1"), 1u) << name;
    // Notification settings are linked from the header of every page.
    const std::string masthead = page.substr(header, main - header);
    EXPECT_THAT(masthead, HasSubstr("href=\"/preferences\"")) << name;
  }
}

// True if some attribute is an inline event handler: whitespace, "on", letters, "=".
bool has_event_handler_attribute(const std::string& html) {
  for (std::size_t at = html.find("on"); at != std::string::npos; at = html.find("on", at + 1)) {
    if (at == 0 || !std::isspace(static_cast<unsigned char>(html[at - 1]))) continue;
    std::size_t end = at + 2;
    while (end < html.size() && std::isalpha(static_cast<unsigned char>(html[end]))) ++end;
    if (end > at + 2 && end < html.size() && html[end] == '=') return true;
  }
  return false;
}

// The id="…" of every <input>, and how many inputs had none.
std::vector<std::string> input_ids(const std::string& html, std::size_t& without_id) {
  std::vector<std::string> ids;
  without_id = 0;
  for (std::size_t at = html.find("<input"); at != std::string::npos;
       at = html.find("<input", at + 1)) {
    const std::string tag = html.substr(at, html.find('>', at) - at);
    const std::size_t id = tag.find(" id=\"");
    if (id == std::string::npos) {
      ++without_id;
      continue;
    }
    const std::size_t start = id + 5;
    ids.push_back(tag.substr(start, tag.find('"', start) - start));
  }
  return ids;
}

TEST(Pages, NoInlineScriptsStylesOrHandlers) {
  ASSERT_TRUE(has_event_handler_attribute("<a onclick=\"x\">"));  // the check itself works
  ASSERT_FALSE(has_event_handler_attribute("<p>turn on notifications</p>"));
  for (const auto& [name, page] : all_pages(test_site(), test_article())) {
    EXPECT_FALSE(has_event_handler_attribute(page)) << name;
    EXPECT_THAT(page, Not(HasSubstr(" style="))) << name;
    EXPECT_THAT(page, Not(HasSubstr("<style"))) << name;
    EXPECT_THAT(page, HasSubstr("<script src=\"/assets/site.js\" defer></script>")) << name;
    EXPECT_EQ(executable_scripts(page), 1u) << name;
    EXPECT_LE(count(page, "<script type=\"application/ld+json\">"), 1u) << name;
    EXPECT_THAT(page, HasSubstr("<link rel=\"stylesheet\" href=\"/assets/site.css\">")) << name;
    EXPECT_THAT(page, Not(HasSubstr("http://"))) << name;  // nothing loaded over plain HTTP
  }
}

TEST(Pages, EveryFormControlHasALabel) {
  for (const auto& [name, page] : all_pages(test_site(), test_article())) {
    std::size_t without_id = 0;
    for (const std::string& id : input_ids(page, without_id)) {
      EXPECT_THAT(page, HasSubstr("<label for=\"" + id + "\">")) << name;
    }
    EXPECT_EQ(without_id, 0u) << name << ": an input without an id";
    // Buttons are labelled by their text.
    EXPECT_EQ(count(page, "<button"), count(page, "</button>")) << name;
  }
}

TEST(Pages, ArticleShowsHeadlineStandfirstBylineDatelineTimeCategoryAndImage) {
  Article article = test_article();
  article.updated_at = article.published_at + 3600;
  const std::string page = render_article(test_site(), article, "<p>Body</p>\n");
  EXPECT_THAT(page, HasSubstr("<title>Storm hits Lisbon — Flashwire</title>"));
  EXPECT_THAT(page, HasSubstr("<h1 class=\"headline\">Storm hits Lisbon</h1>"));
  EXPECT_THAT(page, HasSubstr("<p class=\"standfirst\">Flooding closes the metro"));
  EXPECT_THAT(page, HasSubstr("<p class=\"byline\">By Ana Ruiz</p>"));
  EXPECT_THAT(page, HasSubstr("<span class=\"dateline\">LISBON</span>"));
  EXPECT_THAT(
      page, HasSubstr("<time datetime=\"2025-03-12T14:05:00Z\" data-local=\"full\">12 March 2025, "
                      "14:05 UTC</time>"));
  EXPECT_THAT(page, HasSubstr("Updated <time datetime=\"2025-03-12T15:05:00Z\""));
  EXPECT_THAT(page, HasSubstr("<a href=\"/#breaking\">Breaking news</a>"));
  EXPECT_THAT(page, HasSubstr("<img class=\"story-figure-image\" "
                              "src=\"https://img.example/storm.jpg\" "
                              "srcset=\"https://img.example/storm.jpg 1200w\" "
                              "sizes=\"(min-width: 760px) 720px, 100vw\" width=\"1200\" "
                              "height=\"675\" alt=\"A flooded street in Baixa\" "
                              "fetchpriority=\"high\" decoding=\"async\">"))
      << "the lead image is in the server's HTML, sized, and not lazy: it is above the fold";
  EXPECT_THAT(page, HasSubstr("<link rel=\"canonical\" href=\"https://news.example/articles/"
                              "storm-hits-lisbon\">"));
  EXPECT_THAT(page, HasSubstr("<meta name=\"description\" content=\"Flooding closes the metro"));
  EXPECT_THAT(page, Not(HasSubstr("Follow live updates")));
}

TEST(Pages, LeadImageListsItsRenditionsNarrowestFirstAndPreviewsTheWidest) {
  Article article = test_article();
  article.image_url = "/assets/demo/storm.svg";
  article.image_renditions = {{"/assets/demo/storm-960.png", 960},
                              {"javascript:alert(1)", 600},
                              {"https://img.example/storm-480.png", 480},
                              {"/assets/demo/storm-1440.png", 1440}};
  const std::string page = render_article(test_site(), article, "<p>Body</p>\n");
  EXPECT_THAT(page,
              HasSubstr("<img class=\"story-figure-image\" src=\"/assets/demo/storm.svg\" "
                        "srcset=\"https://img.example/storm-480.png 480w, "
                        "/assets/demo/storm-960.png 960w, /assets/demo/storm-1440.png 1440w\" "
                        "sizes=\"(min-width: 760px) 720px, 100vw\" width=\"1200\" "
                        "height=\"675\" alt=\"A flooded street in Baixa\" "
                        "fetchpriority=\"high\" decoding=\"async\">"))
      << "every safe size, narrowest first; the unsafe one left out";
  EXPECT_THAT(page, Not(HasSubstr("javascript:")));
  EXPECT_THAT(page, HasSubstr("<meta property=\"og:image\" "
                              "content=\"https://news.example/assets/demo/storm-1440.png\">\n"
                              "<meta property=\"og:image:width\" content=\"1440\">\n"
                              "<meta property=\"og:image:height\" content=\"810\">"))
      << "link previews get the widest raster size, not the SVG";
  EXPECT_THAT(page, HasSubstr("\"image\":[{\"@type\":\"ImageObject\",\"url\":"
                              "\"https://news.example/assets/demo/storm-1440.png\",\"width\":1440,"
                              "\"height\":810"));

  // On the home page: the first lead image eager, a later one lazy, both with their sizes.
  Article second = article;
  second.id = article.id + 1;
  second.slug = "second";
  second.category = Category::kExclusive;
  const std::vector<CategorySection> sections = {{Category::kBreaking, {article}},
                                                 {Category::kExclusive, {second}}};
  const std::string home = render_home(test_site(), sections, {});
  const std::size_t first = home.find("<img class=\"story-image\"");
  const std::size_t later = home.find("<img class=\"story-image\"", first + 1);
  ASSERT_NE(later, std::string::npos);
  const std::string first_img = home.substr(first, home.find('>', first) - first);
  const std::string later_img = home.substr(later, home.find('>', later) - later);
  for (const std::string& img : {first_img, later_img}) {
    EXPECT_THAT(img, HasSubstr("/assets/demo/storm-960.png 960w")) << img;
    EXPECT_THAT(img, HasSubstr("width=\"1200\" height=\"675\"")) << img;
  }
  EXPECT_THAT(first_img, HasSubstr("fetchpriority=\"high\""));
  EXPECT_THAT(first_img, Not(HasSubstr("loading=\"lazy\"")));
  EXPECT_THAT(later_img, HasSubstr("loading=\"lazy\""));
}

TEST(Pages, ArticleLeavesOutUnsafeImagesAndEmptyFields) {
  Article article = test_article();
  article.image_url = "javascript:alert(1)";
  article.byline.clear();
  article.dateline.clear();
  const std::string page = render_article(test_site(), article, "");
  EXPECT_THAT(page, Not(HasSubstr("<img")));
  EXPECT_THAT(page, Not(HasSubstr("javascript:")));
  EXPECT_THAT(page, Not(HasSubstr("class=\"byline\"")));
  EXPECT_THAT(page, Not(HasSubstr("class=\"dateline\"")));
  EXPECT_THAT(page, Not(HasSubstr("Updated")));
}

TEST(Pages, LiveArticlesLinkToTheirLivePage) {
  Article article = test_article();
  article.category = Category::kLive;
  const std::string page = render_article(test_site(), article, "");
  EXPECT_THAT(page, HasSubstr("href=\"/live/storm-hits-lisbon\""));
  EXPECT_THAT(page, HasSubstr("Follow live updates"));
}

TEST(Pages, OptInCardWordingIsExact) {
  const std::string page = render_article(test_site(), test_article(), "");
  EXPECT_THAT(page, HasSubstr("<aside class=\"optin\" id=\"optin\" data-optin hidden"));
  EXPECT_THAT(page, HasSubstr(">Be the first to know</h2>"));
  EXPECT_THAT(page, HasSubstr(">Get browser notifications for breaking news, live events, and "
                              "exclusive reporting.</p>"));
  EXPECT_THAT(page, HasSubstr("data-optin-enable>Turn on notifications</button>"));
  EXPECT_THAT(page, HasSubstr("data-optin-later>Not now</button>"));
  EXPECT_THAT(page, HasSubstr("<label for=\"optin-breaking\">Breaking news</label>"));
  EXPECT_THAT(page, HasSubstr("<label for=\"optin-live\">Live events</label>"));
  EXPECT_THAT(page, HasSubstr("<label for=\"optin-exclusive\">Exclusive reporting</label>"));
  EXPECT_THAT(page, HasSubstr("value=\"breaking\""));
  EXPECT_THAT(page, HasSubstr("value=\"live\""));
  EXPECT_THAT(page, HasSubstr("value=\"exclusive\""));
  EXPECT_THAT(page, HasSubstr("role=\"status\" aria-live=\"polite\""));
  // The submit button is the first in the card, "Not now" never submits.
  EXPECT_THAT(page, HasSubstr("<button type=\"button\" class=\"button button-secondary\" "
                              "data-optin-later>"));
}

TEST(Pages, OptInNeedsAVapidKey) {
  SiteInfo site = test_site();
  site.vapid_public_key.clear();
  const std::string page = render_article(site, test_article(), "");
  EXPECT_THAT(page, Not(HasSubstr("data-optin")));
  EXPECT_THAT(page, Not(HasSubstr("data-vapid-public-key")));
}

TEST(Pages, HomeArticleAndLivePagesCarryTheOptInCard) {
  for (const auto& [name, page] : all_pages(test_site(), test_article())) {
    const bool expected = name == "article" || name == "live" || name == "home";
    EXPECT_EQ(page.find("Be the first to know") != std::string::npos, expected) << name;
  }
}

TEST(Pages, PreferencesPage) {
  const std::string page = render_preferences(test_site());
  EXPECT_THAT(page, HasSubstr("<h1 class=\"page-title\">Notification settings</h1>"));
  EXPECT_THAT(page, HasSubstr("data-prefs hidden"));
  EXPECT_THAT(page, HasSubstr("<legend>Send me notifications for</legend>"));
  EXPECT_THAT(page, HasSubstr("data-prefs-unsubscribe hidden>Turn off notifications</button>"));
  EXPECT_THAT(page, HasSubstr("<noscript>"));
  EXPECT_THAT(page, HasSubstr("href=\"/preferences\" data-alerts-entry aria-current=\"page\""));
}

// ---- the app hand-off ----

TEST(Pages, NoAppMeansNoAppMarkup) {
  for (const auto& [name, page] : all_pages(test_site(), test_article())) {
    EXPECT_THAT(page, Not(HasSubstr("apple-itunes-app"))) << name;
    EXPECT_THAT(page, Not(HasSubstr("app-sheet"))) << name;
    EXPECT_THAT(page, Not(HasSubstr("Open in"))) << name;
  }
}

TEST(Pages, AppMetaAndSheetOnArticles) {
  SiteInfo site = test_site();
  site.app = test_app();
  const std::string page = render_article(site, test_article(), "");
  EXPECT_THAT(page, HasSubstr("<meta name=\"apple-itunes-app\" content=\"app-id=1234567890, "
                              "app-argument=flashwire://article/storm-hits-lisbon\">"));
  EXPECT_THAT(page, HasSubstr("<aside class=\"app-sheet\" data-app-sheet hidden"));
  EXPECT_THAT(page, HasSubstr("href=\"flashwire://article/storm-hits-lisbon\">Open in Flashwire "
                              "News</a>"));
  EXPECT_THAT(page, HasSubstr("data-app-continue>Continue in browser</button>"));
  EXPECT_THAT(page, HasSubstr("data-android-package=\"com.example.flashwire\""));
  EXPECT_THAT(page, HasSubstr("data-ios-store-url=\"https://apps.apple.com/app/id1234567890\""));
}

TEST(Pages, AppMetaWithoutSheetElsewhere) {
  SiteInfo site = test_site();
  site.app = test_app();
  for (const auto& [name, page] : all_pages(site, test_article())) {
    EXPECT_THAT(page, HasSubstr("<meta name=\"apple-itunes-app\" content=\"app-id=1234567890"))
        << name;
    EXPECT_EQ(page.find("data-app-sheet") != std::string::npos, name == "article" || name == "live")
        << name;
  }
}

TEST(Pages, AppWithoutIosIdHasNoMetaButASheet) {
  SiteInfo site = test_site();
  site.app = test_app();
  site.app->ios_app_id.clear();
  const std::string page = render_article(site, test_article(), "");
  EXPECT_THAT(page, Not(HasSubstr("apple-itunes-app")));
  EXPECT_THAT(page, HasSubstr("data-app-sheet"));
}

TEST(Pages, DangerousAppSchemesAreNotUsed) {
  for (std::string_view scheme : {"javascript", "data", "https", "", "9app", "my app"}) {
    SiteInfo site = test_site();
    site.app = test_app();
    site.app->scheme = std::string(scheme);
    const std::string page = render_article(site, test_article(), "");
    EXPECT_THAT(page, Not(HasSubstr("app-sheet"))) << scheme;
    EXPECT_THAT(page, Not(HasSubstr("apple-itunes-app"))) << scheme;
  }
}

// ---- home, live, 404 ----

TEST(Pages, HomeListsSectionsInOrderWithLeadStories) {
  Article second = test_article();
  second.slug = "metro-reopens";
  second.headline = "Metro reopens";
  Article exclusive = test_article();
  exclusive.slug = "leaked-report";
  exclusive.headline = "Leaked report";
  exclusive.category = Category::kExclusive;
  const std::vector<CategorySection> sections = {
      {Category::kBreaking, {test_article(), second}},
      {Category::kLive, {}},
      {Category::kExclusive, {exclusive}},
  };
  const std::string page = render_home(test_site(), sections);
  const std::size_t breaking = page.find("id=\"breaking\"");
  const std::size_t live = page.find("id=\"live\"");
  const std::size_t excl = page.find("id=\"exclusive\"");
  ASSERT_NE(breaking, std::string::npos);
  EXPECT_LT(breaking, live);
  EXPECT_LT(live, excl);
  EXPECT_THAT(page, HasSubstr(">Breaking news</h2>"));
  EXPECT_THAT(page, HasSubstr(">Live events</h2>"));
  EXPECT_THAT(page, HasSubstr(">Exclusive reporting</h2>"));
  EXPECT_THAT(page, HasSubstr("<article class=\"story story-lead\">"));
  EXPECT_THAT(page, HasSubstr("<a href=\"/articles/storm-hits-lisbon\">Storm hits Lisbon</a>"));
  EXPECT_THAT(page, HasSubstr("<a href=\"/articles/metro-reopens\">Metro reopens</a>"));
  EXPECT_THAT(page, HasSubstr("<a href=\"/articles/leaked-report\">Leaked report</a>"));
  EXPECT_THAT(page, HasSubstr("No stories yet."));
  EXPECT_THAT(page, HasSubstr("<link rel=\"alternate\" type=\"application/atom+xml\""));
}

TEST(Pages, LivePageShellCarriesUpdatesAndTheEventStream) {
  const LiveUpdate updates[] = {{42, 1741788300, "<p>Water is receding.</p>\n"}};
  const std::string page = render_live(test_site(), "storm-live", "Storm: live", updates);
  EXPECT_THAT(page, HasSubstr("data-live data-events-url=\"/live/storm-live/events\""));
  EXPECT_THAT(page, HasSubstr("<li class=\"live-update\" id=\"update-42\" data-update-id=\"42\">"));
  EXPECT_THAT(
      page, HasSubstr("<time datetime=\"2025-03-12T14:05:00Z\" data-local=\"short\">12 Mar, 14:05 "
                      "UTC</time>"));
  EXPECT_THAT(page, HasSubstr("<p>Water is receding.</p>"));
  EXPECT_THAT(page, HasSubstr("data-live-status role=\"status\" aria-live=\"polite\""));
  EXPECT_THAT(page, Not(HasSubstr("No updates yet")));
  EXPECT_THAT(render_live(test_site(), "s", "t", {}), HasSubstr("No updates yet"));
}

TEST(Pages, NotFound) {
  const std::string page = render_not_found(test_site());
  EXPECT_THAT(page, HasSubstr("<h1 class=\"page-title\">Page not found</h1>"));
  EXPECT_THAT(page, Not(HasSubstr("rel=\"canonical\"")));
}

// ---- the newsroom ----

// The id="…" of every <tag> (input, select, textarea), and how many had none.
std::vector<std::string> control_ids(const std::string& html, std::string_view tag,
                                     std::size_t& without_id) {
  std::vector<std::string> ids;
  without_id = 0;
  const std::string open = "<" + std::string(tag);
  for (std::size_t at = html.find(open); at != std::string::npos; at = html.find(open, at + 1)) {
    const std::string start_tag = html.substr(at, html.find('>', at) - at);
    const std::size_t id = start_tag.find(" id=\"");
    if (id == std::string::npos) {
      ++without_id;
      continue;
    }
    const std::size_t start = id + 5;
    ids.push_back(start_tag.substr(start, start_tag.find('"', start) - start));
  }
  return ids;
}

TEST(Pages, NewsroomIsAShellForItsOwnScript) {
  SiteInfo site = test_site();
  site.asset_version = "v1";
  const std::string page = render_newsroom(site);
  EXPECT_THAT(page, HasSubstr("<title>Newsroom — Flashwire</title>"));
  EXPECT_THAT(page, HasSubstr("<h1 class=\"page-title\">Newsroom</h1>"));
  EXPECT_THAT(page, HasSubstr("<body class=\"page-newsroom\">"));
  EXPECT_THAT(page, HasSubstr("data-newsroom data-base-url=\"https://news.example\""));
  // Its own scripts only (the compose preview, newsroom.js, then its parts: the live desk,
  // analytics); the readers' script (opt-in, app sheet) is not loaded.
  EXPECT_EQ(count(page, "<script"), 4u);
  EXPECT_THAT(page, HasSubstr("<script src=\"/assets/newsroom-compose.js?v=v1\" defer></script>\n"
                              "<script src=\"/assets/newsroom.js?v=v1\" defer></script>\n"
                              "<script src=\"/assets/newsroom-live.js?v=v1\" defer></script>\n"
                              "<script src=\"/assets/newsroom-analytics.js?v=v1\" defer></script>"));
  EXPECT_THAT(page, Not(HasSubstr("site.js")));
  EXPECT_THAT(page, HasSubstr("<link rel=\"stylesheet\" href=\"/assets/site.css?v=v1\">"));
  EXPECT_THAT(page, HasSubstr("<link rel=\"stylesheet\" href=\"/assets/newsroom.css?v=v1\">"));
  EXPECT_THAT(page, HasSubstr("<noscript>"));
  // The sign-in form and the desk are hidden until newsroom.js decides which to show.
  EXPECT_THAT(page, HasSubstr("data-nr-signin hidden"));
  EXPECT_THAT(page, HasSubstr("data-nr-desk hidden"));
  EXPECT_THAT(page, HasSubstr("data-nr-confirm hidden"));
}

TEST(Pages, NewsroomIsNotForReadersOrSearchEngines) {
  SiteInfo site = test_site();
  site.app = test_app();
  const std::string page = render_newsroom(site);
  EXPECT_THAT(page, HasSubstr("<meta name=\"robots\" content=\"noindex, nofollow\">"));
  EXPECT_THAT(page, Not(HasSubstr("rel=\"canonical\"")));
  EXPECT_THAT(page, Not(HasSubstr("data-vapid-public-key")));
  EXPECT_THAT(page, Not(HasSubstr("apple-itunes-app")));
  EXPECT_THAT(page, Not(HasSubstr("app-sheet")));
  EXPECT_THAT(page, Not(HasSubstr("data-optin")));
  EXPECT_THAT(page, Not(HasSubstr("og:")));
  // Reader pages stay indexable.
  for (const auto& [name, reader_page] : all_pages(site, test_article())) {
    EXPECT_THAT(reader_page, Not(HasSubstr("name=\"robots\""))) << name;
  }
  EXPECT_THAT(render_search(site, "storm", {}), Not(HasSubstr("name=\"robots\"")));
}

TEST(Pages, EveryPageLinksToTheNewsroomFromItsFooter) {
  auto pages = all_pages(test_site(), test_article());
  pages["newsroom"] = render_newsroom(test_site());
  for (const auto& [name, page] : pages) {
    const std::size_t footer = page.find("<footer class=\"site-footer\">");
    ASSERT_NE(footer, std::string::npos) << name;
    EXPECT_THAT(page.substr(footer), HasSubstr("<a href=\"/newsroom\" rel=\"nofollow\"")) << name;
  }
  EXPECT_THAT(pages["newsroom"],
              HasSubstr("href=\"/newsroom\" rel=\"nofollow\" aria-current=\"page\">Newsroom</a>"));
  EXPECT_THAT(pages["home"], Not(HasSubstr("aria-current=\"page\">Newsroom")));
}

TEST(Pages, NewsroomHasLandmarksAndOneH1) {
  const std::string page = render_newsroom(test_site());
  const std::size_t skip = page.find("<a class=\"skip-link\" href=\"#main\">");
  const std::size_t header = page.find("<header class=\"masthead\">");
  const std::size_t main = page.find("<main id=\"main\" tabindex=\"-1\">");
  const std::size_t footer = page.find("<footer class=\"site-footer\">");
  ASSERT_NE(skip, std::string::npos);
  ASSERT_NE(footer, std::string::npos);
  EXPECT_LT(skip, header);
  EXPECT_LT(header, main);
  EXPECT_LT(main, footer);
  EXPECT_EQ(count(page, "<h1"), 1u);
  // Each part of the desk is a region named by its heading.
  for (std::string_view region : {"nr-signin-title", "nr-articles-title", "nr-editor-title",
                                  "nr-compose-title", "nr-alerts-title"}) {
    EXPECT_THAT(page, HasSubstr("aria-labelledby=\"" + std::string(region) + "\""));
    EXPECT_THAT(page, HasSubstr("id=\"" + std::string(region) + "\""));
  }
  // Status messages are announced.
  EXPECT_GE(count(page, "role=\"status\" aria-live=\"polite\""), 5u);
}

TEST(Pages, NewsroomFormControlsAreLabelledAndDescribed) {
  const std::string page = render_newsroom(test_site());
  std::size_t total = 0;
  for (std::string_view tag : {"input", "select", "textarea"}) {
    std::size_t without_id = 0;
    for (const std::string& id : control_ids(page, tag, without_id)) {
      ++total;
      EXPECT_EQ(count(page, "<label for=\"" + id + "\">"), 1u) << id;
      EXPECT_EQ(count(page, "id=\"" + id + "\""), 1u) << "unique id " << id;
      // Every control points at its error line, where the API's message for it goes.
      const std::size_t at = page.rfind('<', page.find(" id=\"" + id + "\""));
      const std::string start_tag = page.substr(at, page.find('>', at) - at);
      EXPECT_THAT(start_tag, HasSubstr(" aria-describedby=\"")) << id;
      EXPECT_THAT(start_tag, HasSubstr(id + "-error\"")) << id;
      EXPECT_THAT(page, HasSubstr("<p class=\"field-error\" id=\"" + id + "-error\" hidden>"))
          << id;
    }
    EXPECT_EQ(without_id, 0u) << tag;
  }
  EXPECT_EQ(total, 20u);  // token, 10 article fields, 7 alert fields, 2 of the live desk
  EXPECT_EQ(count(page, "<button"), count(page, "</button>"));

  const auto has_label = [&](std::string_view id, std::string_view text) {
    EXPECT_THAT(page, HasSubstr("<label for=\"" + std::string(id) + "\">" + std::string(text)))
        << id;
  };
  has_label("nr-signin-token", "Editor token");
  EXPECT_THAT(page, HasSubstr("<input type=\"password\" id=\"nr-signin-token\" name=\"token\""));
  has_label("nr-article-slug", "Slug");
  has_label("nr-article-headline", "Headline");
  has_label("nr-article-standfirst", "Standfirst");
  has_label("nr-article-byline", "Byline");
  has_label("nr-article-dateline", "Dateline");
  has_label("nr-article-category", "Category");
  has_label("nr-article-image-url", "Image URL");
  has_label("nr-article-image-alt", "Image description (alt text)");
  has_label("nr-article-body-markdown", "Body (Markdown)");
  has_label("nr-alert-title", "Title");
  has_label("nr-alert-body", "Text");
  has_label("nr-alert-url", "Link");
  has_label("nr-alert-category", "Category");
  has_label("nr-alert-urgency", "Urgency");
  has_label("nr-alert-ttl-seconds", "Expires after");
  has_label("nr-alert-topic", "Topic");
  // Controls are named as the API's fields, so its messages ("slug: …") find them.
  for (std::string_view field :
       {"slug", "headline", "standfirst", "byline", "dateline", "category", "image_url",
        "image_alt", "body_markdown", "title", "body", "url", "urgency", "ttl_seconds", "topic"}) {
    EXPECT_THAT(page, HasSubstr("name=\"" + std::string(field) + "\"")) << field;
  }
}

TEST(Pages, NewsroomChoicesAreTheApisNames) {
  const std::string page = render_newsroom(test_site());
  for (std::string_view value : {"very-low", "low", "normal", "high"}) {
    EXPECT_THAT(page, HasSubstr("<option value=\"" + std::string(value) + "\"")) << value;
  }
  EXPECT_THAT(page, HasSubstr("<option value=\"high\" selected>"));
  EXPECT_THAT(page, HasSubstr("<option value=\"3600\" selected>1 hour</option>"));  // breaking
  EXPECT_THAT(page, HasSubstr("<option value=\"900\">15 minutes</option>"));        // live
  EXPECT_THAT(page, HasSubstr("<option value=\"86400\">1 day</option>"));           // exclusive
  EXPECT_EQ(count(page, "<option value=\"breaking\" selected>Breaking news</option>"), 2u);
  EXPECT_EQ(count(page, "<option value=\"live\">Live events</option>"), 2u);
  EXPECT_EQ(count(page, "<option value=\"exclusive\">Exclusive reporting</option>"), 2u);
  // The topic is for live events: hidden until that category is chosen.
  EXPECT_THAT(page, HasSubstr("<div class=\"field\" data-field=\"topic\" hidden>"));
  // The two steps: Compose, then Confirm or Cancel.
  EXPECT_THAT(page, HasSubstr("data-nr-compose>Compose</button>"));
  EXPECT_THAT(page, HasSubstr("data-nr-confirm-send>Confirm</button>"));
  EXPECT_THAT(page, HasSubstr("data-nr-confirm-cancel>Cancel</button>"));
  EXPECT_THAT(page, HasSubstr("value=\"save\" data-nr-save>Save draft</button>"));
  EXPECT_THAT(page, HasSubstr("value=\"publish\" data-nr-publish>Publish</button>"));
  // Saving comes first: Enter in a field submits with the first button, and must not publish.
  EXPECT_LT(page.find("data-nr-save"), page.find("data-nr-publish"));
}

TEST(Pages, NewsroomIsCompatibleWithTheStrictCsp) {
  const std::string page = render_newsroom(test_site());
  EXPECT_FALSE(has_event_handler_attribute(page));
  EXPECT_THAT(page, Not(HasSubstr(" style=")));
  EXPECT_THAT(page, Not(HasSubstr("<style")));
  EXPECT_THAT(page, Not(HasSubstr("javascript:")));
  EXPECT_THAT(page, Not(HasSubstr("http://")));
  EXPECT_EQ(count(page, "<script"), count(page, "<script src=\"/assets/"));
  // Forms are driven by the script; none posts anywhere by itself.
  EXPECT_THAT(page, Not(HasSubstr(" action=")));
  EXPECT_EQ(count(page, "<form"), count(page, "novalidate>"));
}

TEST(Pages, NewsroomEscapesSiteFields) {
  const SiteInfo site = evil_site();
  const std::string page = render_newsroom(site);
  EXPECT_THAT(page, Not(HasSubstr(kEvil)));
  EXPECT_THAT(page, HasSubstr(escape_html(site.name)));
  EXPECT_THAT(page, HasSubstr("data-base-url=\"" + escape_html(site.base_url) + "\""));
  EXPECT_EQ(render_newsroom(site), render_newsroom(site));
}

TEST(Pages, OutOfRangeTimesAreClamped) {
  Article article = test_article();
  article.published_at = -5;
  article.updated_at = std::numeric_limits<std::int64_t>::max();
  const std::string page = render_article(test_site(), article, "");
  EXPECT_THAT(page, HasSubstr("<time datetime=\"1970-01-01T00:00:00Z\" data-local=\"full\">1 "
                              "January 1970, 00:00 UTC"));
  EXPECT_THAT(page, HasSubstr("<time datetime=\"9999-12-31T23:59:59Z\" data-local=\"full\">31 "
                              "December 9999, 23:59 UTC"));
}

TEST(Pages, RenderingIsDeterministic) {
  SiteInfo site = test_site();
  site.app = test_app();
  EXPECT_EQ(all_pages(site, test_article()), all_pages(site, test_article()));
}

TEST(Pages, PathsAndCategoryNames) {
  EXPECT_EQ(article_path("storm"), "/articles/storm");
  EXPECT_EQ(article_path("a/b"), "/articles/a%2Fb");
  EXPECT_EQ(live_path("storm"), "/live/storm");
  EXPECT_EQ(category_slug(Category::kBreaking), "breaking");
  EXPECT_EQ(category_slug(Category::kLive), "live");
  EXPECT_EQ(category_slug(Category::kExclusive), "exclusive");
  EXPECT_EQ(category_label(Category::kExclusive), "Exclusive reporting");
}

// ---- the Atom feed ----

// A minimal XML 1.0 reader, enough to prove the feed well-formed: one root element, properly
// nested tags, quoted and unique attributes, only the predefined and numeric entities, no stray
// '<' or '&', nothing after the root but whitespace.
struct XmlNode {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<XmlNode> children;
  std::string text;

  std::vector<const XmlNode*> all(std::string_view child_name) const {
    std::vector<const XmlNode*> found;
    for (const XmlNode& child : children) {
      if (child.name == child_name) found.push_back(&child);
    }
    return found;
  }
  const XmlNode* first(std::string_view child_name) const {
    auto found = all(child_name);
    return found.empty() ? nullptr : found.front();
  }
};

class XmlReader {
 public:
  explicit XmlReader(std::string_view text) : text_(text) {}

  std::optional<XmlNode> document() {
    if (text_.substr(0, 5) == "<?xml") {
      const std::size_t end = text_.find("?>");
      if (end == std::string_view::npos) return fail("unterminated declaration");
      pos_ = end + 2;
    }
    skip_space();
    auto root = element();
    if (!root) return std::nullopt;
    skip_space();
    if (pos_ != text_.size()) return fail("content after the root element");
    return root;
  }

  const std::string& error() const { return error_; }

 private:
  std::nullopt_t fail(std::string message) {
    if (error_.empty()) error_ = message + " at offset " + std::to_string(pos_);
    return std::nullopt;
  }
  bool at_end() const { return pos_ >= text_.size(); }
  void skip_space() {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t' ||
                         text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  std::string name() {
    const std::size_t start = pos_;
    while (!at_end() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                         text_[pos_] == ':' || text_[pos_] == '-' || text_[pos_] == '_')) {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }
  // Decodes text up to `stop`; false on '<' or a bad entity.
  bool chars(char stop, std::string& out) {
    while (!at_end() && text_[pos_] != stop) {
      const char c = text_[pos_];
      if (c == '<' && stop != '<') return false;
      if (c == '&') {
        const std::size_t semi = text_.find(';', pos_);
        if (semi == std::string_view::npos) return false;
        const std::string_view entity = text_.substr(pos_ + 1, semi - pos_ - 1);
        static const std::map<std::string_view, char> kNamed = {
            {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
        if (auto it = kNamed.find(entity); it != kNamed.end()) {
          out += it->second;
        } else if (entity.size() > 1 && entity[0] == '#') {
          // Numeric reference; ASCII is all the feed uses them for.
          const bool hex = entity[1] == 'x';
          const std::string digits(entity.substr(hex ? 2 : 1));
          if (digits.empty()) return false;
          std::size_t used = 0;
          const unsigned long code = std::stoul(digits, &used, hex ? 16 : 10);
          if (used != digits.size() || code == 0 || code > 0x7F) return false;
          out += static_cast<char>(code);
        } else {
          return false;
        }
        pos_ = semi + 1;
        continue;
      }
      out += c;
      ++pos_;
    }
    return true;
  }
  std::optional<XmlNode> element() {
    if (at_end() || text_[pos_] != '<') return fail("expected '<'");
    ++pos_;
    XmlNode node;
    node.name = name();
    if (node.name.empty()) return fail("empty element name");
    while (true) {
      skip_space();
      if (at_end()) return fail("unterminated start tag");
      if (text_.substr(pos_, 2) == "/>") {
        pos_ += 2;
        return node;
      }
      if (text_[pos_] == '>') {
        ++pos_;
        break;
      }
      const std::string attribute = name();
      if (attribute.empty() || at_end() || text_[pos_] != '=') return fail("bad attribute");
      ++pos_;
      if (at_end() || (text_[pos_] != '"' && text_[pos_] != '\'')) return fail("unquoted value");
      const char quote = text_[pos_++];
      std::string value;
      if (!chars(quote, value) || at_end()) return fail("bad attribute value");
      ++pos_;
      if (!node.attributes.emplace(attribute, value).second) return fail("duplicate attribute");
    }
    while (true) {
      if (!chars('<', node.text)) return fail("bad character data");
      if (at_end()) return fail("unclosed <" + node.name + ">");
      if (text_.substr(pos_, 2) == "</") {
        pos_ += 2;
        if (name() != node.name) return fail("mismatched end tag for <" + node.name + ">");
        skip_space();
        if (at_end() || text_[pos_] != '>') return fail("bad end tag");
        ++pos_;
        return node;
      }
      auto child = element();
      if (!child) return std::nullopt;
      node.children.push_back(std::move(*child));
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string error_;
};

TEST(AtomFeed, IsWellFormedWithOneEntryPerArticle) {
  Article second = test_article();
  second.slug = "metro-reopens";
  second.headline = "Metro reopens";
  second.byline = "";
  second.category = Category::kLive;
  second.published_at = 1741791900;
  second.updated_at = 1741795500;
  const std::vector<Article> articles = {second, test_article()};
  const std::string feed = render_atom_feed(test_site(), articles, 1741795500);

  XmlReader reader(feed);
  const auto root = reader.document();
  ASSERT_TRUE(root) << reader.error() << "\n" << feed;
  EXPECT_EQ(root->name, "feed");
  EXPECT_EQ(root->attributes.at("xmlns"), "http://www.w3.org/2005/Atom");
  ASSERT_NE(root->first("title"), nullptr);
  EXPECT_EQ(root->first("title")->text, "Flashwire");
  EXPECT_EQ(root->first("id")->text, "https://news.example/");
  EXPECT_EQ(root->first("updated")->text, "2025-03-12T16:05:00Z");
  ASSERT_NE(root->first("author"), nullptr);
  bool self_link = false;
  for (const XmlNode* link : root->all("link")) {
    if (link->attributes.at("rel") == "self") {
      self_link = true;
      EXPECT_EQ(link->attributes.at("href"), "https://news.example/feed.atom");
    }
  }
  EXPECT_TRUE(self_link);

  const auto entries = root->all("entry");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0]->first("title")->text, "Metro reopens");
  EXPECT_EQ(entries[0]->first("id")->text, "https://news.example/articles/metro-reopens");
  EXPECT_EQ(entries[0]->first("link")->attributes.at("href"),
            "https://news.example/articles/metro-reopens");
  EXPECT_EQ(entries[0]->first("published")->text, "2025-03-12T15:05:00Z");
  EXPECT_EQ(entries[0]->first("updated")->text, "2025-03-12T16:05:00Z");
  EXPECT_EQ(entries[0]->first("category")->attributes.at("term"), "live");
  EXPECT_EQ(entries[0]->first("author"), nullptr);  // no byline: the feed's author applies
  EXPECT_EQ(entries[1]->first("author")->first("name")->text, "Ana Ruiz");
  EXPECT_EQ(entries[1]->first("summary")->text, test_article().standfirst);
  for (const XmlNode* entry : entries) {
    for (std::string_view required : {"title", "id", "updated", "link"}) {
      EXPECT_NE(entry->first(required), nullptr) << required;
    }
  }
}

TEST(AtomFeed, EscapesFieldsAndStaysWellFormedWithHostileInput) {
  Article article = evil_article();
  article.headline += std::string("\x01\x02 bad\xFF");  // control characters and invalid UTF-8
  const std::vector<Article> articles = {article};
  const std::string feed = render_atom_feed(evil_site(), articles, 0);
  EXPECT_THAT(feed, Not(HasSubstr(kEvil)));
  XmlReader reader(feed);
  const auto root = reader.document();
  ASSERT_TRUE(root) << reader.error() << "\n" << feed;
  const XmlNode* entry = root->first("entry");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->first("title")->text, evil("headline") + " bad\xEF\xBF\xBD");
  EXPECT_EQ(entry->first("summary")->text, evil("standfirst"));
  EXPECT_EQ(entry->first("author")->first("name")->text, evil("byline"));
  EXPECT_EQ(root->first("title")->text, evil("site_name"));
  EXPECT_EQ(root->first("updated")->text, "1970-01-01T00:00:00Z");
}

TEST(AtomFeed, EmptyFeedIsStillValid) {
  const std::string feed = render_atom_feed(test_site(), {}, 1741788300);
  XmlReader reader(feed);
  const auto root = reader.document();
  ASSERT_TRUE(root) << reader.error();
  EXPECT_TRUE(root->all("entry").empty());
}

// ---- the readers' side: live signals, structured data, search, sitemaps ----

Article live_event() {
  Article a = test_article();
  a.id = 9;
  a.slug = "election-live";
  a.headline = "Election night: live";
  a.category = Category::kLive;
  return a;
}

TEST(Pages, HomeShowsLiveEventsWithBadgeUpdatedTimeAndLivePageLinks) {
  const Article event = live_event();
  const std::vector<CategorySection> sections = {{Category::kBreaking, {test_article()}},
                                                 {Category::kLive, {event}},
                                                 {Category::kExclusive, {}}};
  const LiveSignal signals[] = {{9, 77, 1741788600, "North declares: <Ana> wins & more"}};
  const std::string page = render_home(test_site(), sections, signals);
  EXPECT_THAT(page, HasSubstr("<a href=\"/live/election-live\">Election night: live</a>"));
  EXPECT_THAT(page, Not(HasSubstr("href=\"/articles/election-live\"")));
  EXPECT_THAT(page, HasSubstr("<span class=\"badge-live\">Live</span> <span "
                              "class=\"live-updated\">Updated <time "
                              "datetime=\"2025-03-12T14:10:00Z\" data-local=\"relative\">"));
  // The ticker: the newest update, escaped, linking to it on the live page.
  EXPECT_THAT(page, HasSubstr("<a class=\"ticker-link\" href=\"/live/election-live#update-77\">"));
  EXPECT_THAT(page, HasSubstr("North declares: &lt;Ana&gt; wins &amp; more"));
  EXPECT_LT(page.find("data-ticker"), page.find("id=\"breaking\"")) << "the ticker leads";
  // Breaking stories are not live: no badge.
  EXPECT_EQ(count(page, "class=\"story-live\""), 1u);
  // Without signals: a badge, no time, no ticker.
  const std::string quiet = render_home(test_site(), sections);
  EXPECT_THAT(quiet,
              HasSubstr("<p class=\"story-live\"><span class=\"badge-live\">Live</span></p>"));
  EXPECT_THAT(quiet, Not(HasSubstr("data-ticker")));
}

TEST(Pages, HomeOffersAlertsAfterTheSectionsAndOnlyTheFirstLeadImageIsEager) {
  Article second = test_article();
  second.id = 8;
  second.slug = "second";
  const std::vector<CategorySection> sections = {{Category::kBreaking, {test_article()}},
                                                 {Category::kLive, {}},
                                                 {Category::kExclusive, {second}}};
  const std::string page = render_home(test_site(), sections);
  EXPECT_GT(page.find("data-optin"), page.find("id=\"exclusive\""));
  EXPECT_EQ(count(page, "fetchpriority=\"high\""), 1u);
  EXPECT_EQ(count(page, "loading=\"lazy\""), 1u);
  EXPECT_LT(page.find("fetchpriority=\"high\""), page.find("loading=\"lazy\""));
  EXPECT_THAT(page, HasSubstr("width=\"1200\" height=\"675\""));
}

TEST(Pages, HeaderHasTheAlertsEntryAndSearch) {
  for (const auto& [name, page] : all_pages(test_site(), test_article())) {
    EXPECT_THAT(page, HasSubstr("<a class=\"nav-alerts\" href=\"/preferences\" data-alerts-entry"))
        << name;
    EXPECT_THAT(page, HasSubstr("<a class=\"nav-search\" href=\"/search\">")) << name;
    EXPECT_THAT(page, HasSubstr("<span class=\"visually-hidden\">Search</span>")) << name;
  }
}

TEST(Pages, EveryReaderPageLinksTheManifestAndTouchIcon) {
  for (const auto& [name, page] : all_pages(test_site(), test_article())) {
    EXPECT_THAT(page, HasSubstr("<link rel=\"manifest\" href=\"/manifest.webmanifest\">")) << name;
    EXPECT_THAT(page, HasSubstr("<link rel=\"apple-touch-icon\" href=\"/assets/icon-180.png\">"))
        << name;
  }
}

TEST(Pages, ArticleHasOpenGraphTwitterAndNewsArticleJsonLd) {
  Article article = test_article();
  article.image_url = "/assets/demo/storm.svg";
  const std::string page = render_article(test_site(), article, "<p>Body</p>\n");
  EXPECT_THAT(page, HasSubstr("<meta property=\"og:type\" content=\"article\">"));
  EXPECT_THAT(page, HasSubstr("<meta property=\"og:image\" "
                              "content=\"https://news.example/assets/demo/storm.svg\">"));
  EXPECT_THAT(page, HasSubstr("<meta name=\"twitter:card\" content=\"summary_large_image\">"));
  EXPECT_THAT(page, HasSubstr("<meta name=\"twitter:title\" content=\"Storm hits Lisbon\">"));
  EXPECT_THAT(page,
              HasSubstr("<script type=\"application/ld+json\">{\"@context\":\"https://schema.org\","
                        "\"@type\":\"NewsArticle\",\"headline\":\"Storm hits Lisbon\""));
  EXPECT_THAT(page, HasSubstr("\"datePublished\":\"2025-03-12T14:05:00Z\""));
  EXPECT_THAT(page, HasSubstr("\"author\":[{\"@type\":\"Person\",\"name\":\"Ana Ruiz\"}]"));
  EXPECT_THAT(page, HasSubstr("\"image\":[{\"@type\":\"ImageObject\",\"url\":"
                              "\"https://news.example/assets/demo/storm.svg\""));
  EXPECT_THAT(page, HasSubstr("\"mainEntityOfPage\":\"https://news.example/articles/"
                              "storm-hits-lisbon\""));
}

TEST(Pages, JsonLdCannotEndItsScriptElement) {
  Article article = evil_article();
  article.headline = "</script><script>alert(1)</script>";
  const std::string page = render_article(test_site(), article, "");
  const std::size_t start = page.find("<script type=\"application/ld+json\">");
  ASSERT_NE(start, std::string::npos);
  const std::size_t end = page.find("</script>", start);
  const std::string block = page.substr(start, end - start);
  EXPECT_THAT(block, HasSubstr("\\u003c/script\\u003e\\u003cscript\\u003ealert(1)"));
  EXPECT_THAT(block.substr(1), Not(HasSubstr("<")));
  EXPECT_THAT(block, Not(HasSubstr(">\"")));
}

TEST(Pages, LivePageHasLiveBlogPostingWithUpdatesAndTheAppSheet) {
  SiteInfo site = test_site();
  site.app = test_app();
  const Article event = live_event();
  const LiveUpdate updates[] = {
      {42, 1741788600, "<p>North &amp; Hills <strong>declare</strong></p>\n"},
      {0, 1741788300, "<p>Polls closed.</p>\n"}};
  const std::string page = render_live(site, event, updates);
  EXPECT_THAT(page, HasSubstr("\"@type\":\"LiveBlogPosting\""));
  EXPECT_THAT(page, HasSubstr("\"coverageStartTime\":\"2025-03-12T14:05:00Z\""));
  EXPECT_THAT(page, HasSubstr("\"dateModified\":\"2025-03-12T14:10:00Z\""));
  EXPECT_THAT(page, HasSubstr("\"liveBlogUpdate\":[{\"@type\":\"BlogPosting\",\"headline\":"
                              "\"North \\u0026 Hills declare\",\"articleBody\":\"North \\u0026 "
                              "Hills declare\",\"datePublished\":\"2025-03-12T14:10:00Z\","
                              "\"url\":\"https://news.example/live/election-live#update-42\"}"));
  EXPECT_THAT(page, HasSubstr("\"url\":\"https://news.example/live/election-live\"}]"));
  EXPECT_THAT(page, HasSubstr("href=\"flashwire://live/election-live\">Open in Flashwire News"));
  EXPECT_THAT(page, HasSubstr("Follow this live event in the Flashwire News app"));
  EXPECT_THAT(page, HasSubstr("<meta property=\"og:title\" content=\"Election night: live\">"));
  EXPECT_THAT(page, HasSubstr("data-share-url=\"https://news.example/live/election-live\""));
}

TEST(Pages, ArticleEndsWithShareAndRelatedStoriesOfItsCategory) {
  Article other = test_article();
  other.id = 100;
  other.slug = "other-story";
  other.headline = "Metro reopens";
  const Article related[] = {test_article(), other};
  const std::string page = render_article(test_site(), test_article(), "<p>Body</p>\n", related);
  EXPECT_THAT(page, HasSubstr("<div class=\"share\" data-share "
                              "data-share-url=\"https://news.example/articles/storm-hits-lisbon\" "
                              "data-share-title=\"Storm hits Lisbon\">"));
  EXPECT_THAT(page, HasSubstr("data-share-native hidden>Share</button>"));
  EXPECT_THAT(page, HasSubstr("data-share-copy>Copy link</button>"));
  EXPECT_THAT(page, HasSubstr("<h2 class=\"section-title\" id=\"related-title\">More breaking "
                              "news</h2>"));
  EXPECT_THAT(page, HasSubstr("<a href=\"/articles/other-story\">Metro reopens</a>"));
  EXPECT_EQ(count(page, "href=\"/articles/storm-hits-lisbon\""), 0u)
      << "the article is not related to itself";
  EXPECT_GT(page.find("related-title"), page.find("story-body"));
  EXPECT_THAT(render_article(test_site(), test_article(), "", {}), Not(HasSubstr("related")));
}

TEST(Pages, SearchShowsMarkedResultsEscaped) {
  Article found = test_article();
  found.headline = "<b>Storm</b> hits";
  const SearchResult results[] = {
      {found, "<b>\x02Storm\x03</b> hits", "Rain \x02storm\x03 & \x03wind\x02 \x02open"},
      {live_event(), "", ""}};
  const std::string page = render_search(test_site(), "storm <x>", results);
  EXPECT_THAT(page, HasSubstr("<title>Search: storm &lt;x&gt; — Flashwire</title>"));
  EXPECT_THAT(page, HasSubstr("value=\"storm &lt;x&gt;\""));
  EXPECT_THAT(page, HasSubstr("2 results for “storm &lt;x&gt;”"));
  EXPECT_THAT(page, HasSubstr("&lt;b&gt;<mark>Storm</mark>&lt;/b&gt; hits"));
  // Stray markers never unbalance the markup.
  EXPECT_THAT(page, HasSubstr("Rain <mark>storm</mark> &amp; wind<mark> open</mark></p>"));
  EXPECT_THAT(page, HasSubstr("<a href=\"/live/election-live\">Election night: live</a>"));
  EXPECT_EQ(count(page, "<mark>"), count(page, "</mark>"));
  EXPECT_THAT(page, HasSubstr("<form class=\"search-form\" role=\"search\" action=\"/search\""));
  EXPECT_THAT(page, HasSubstr("<label for=\"search-q\">Search stories</label>"));
}

TEST(Pages, SearchWithoutResultsOrQuery) {
  const std::string none = render_search(test_site(), "volcano", {});
  EXPECT_THAT(none, HasSubstr("No results for “volcano”"));
  EXPECT_THAT(none, HasSubstr("data-search-empty"));
  const std::string empty = render_search(test_site(), "", {});
  EXPECT_THAT(empty, Not(HasSubstr("results for")));
  EXPECT_THAT(empty, HasSubstr("<h1 class=\"page-title\">Search</h1>"));
  EXPECT_THAT(empty, HasSubstr("href=\"/search\" aria-current=\"page\""));
}

TEST(Pages, ManifestRobotsAndSitemaps) {
  const std::string manifest = render_manifest(test_site());
  EXPECT_THAT(manifest, HasSubstr("\"name\":\"Flashwire\""));
  EXPECT_THAT(manifest, HasSubstr("\"display\":\"standalone\""));
  EXPECT_THAT(manifest, HasSubstr("\"theme_color\":\"#a3101d\""));
  EXPECT_THAT(manifest, HasSubstr("\"src\":\"/assets/icon-192.png\",\"sizes\":\"192x192\""));
  EXPECT_THAT(manifest, HasSubstr("\"src\":\"/assets/icon.svg\""));
  EXPECT_THAT(render_manifest(evil_site()), Not(HasSubstr("<")));

  const std::string robots = render_robots(test_site());
  EXPECT_THAT(robots, HasSubstr("Disallow: /newsroom\n"));
  EXPECT_THAT(robots, HasSubstr("Sitemap: https://news.example/sitemap.xml\n"));
  EXPECT_THAT(robots, HasSubstr("Sitemap: https://news.example/news-sitemap.xml\n"));

  Article old = test_article();
  old.slug = "old";
  old.published_at -= 49 * 3600;
  old.updated_at = old.published_at;
  const Article articles[] = {test_article(), live_event(), old};
  const std::string sitemap = render_sitemap(test_site(), articles);
  EXPECT_THAT(sitemap, HasSubstr("<url><loc>https://news.example/</loc><lastmod>"
                                 "2025-03-12T14:05:00Z</lastmod></url>"));
  EXPECT_THAT(sitemap, HasSubstr("<loc>https://news.example/articles/old</loc>"));
  EXPECT_THAT(sitemap, HasSubstr("<loc>https://news.example/live/election-live</loc>"));

  const std::int64_t now = test_article().published_at + 3600;
  const std::string news = render_news_sitemap(test_site(), articles, now);
  EXPECT_THAT(news, HasSubstr("xmlns:news=\"http://www.google.com/schemas/sitemap-news/0.9\""));
  EXPECT_THAT(news, HasSubstr("<loc>https://news.example/articles/storm-hits-lisbon</loc>"));
  EXPECT_THAT(news, HasSubstr("<loc>https://news.example/live/election-live</loc>"));
  EXPECT_THAT(news, HasSubstr("<news:publication_date>2025-03-12T14:05:00Z"));
  EXPECT_THAT(news, HasSubstr("<news:title>Storm hits Lisbon</news:title>"));
  EXPECT_THAT(news, Not(HasSubstr("articles/old"))) << "older than 48 hours";
  EXPECT_EQ(count(news, "<news:news>"), 2u);
  const Article evil[] = {evil_article()};
  EXPECT_THAT(render_news_sitemap(evil_site(), evil, now), Not(HasSubstr(kEvil)));
  EXPECT_THAT(render_sitemap(evil_site(), evil), Not(HasSubstr(kEvil)));
}

}  // namespace
}  // namespace flashwire::site
