#include "site/pages.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>

#include "site/html.h"

namespace flashwire::site {
namespace {

using news::Article;
using news::Category;
using news::kAllCategories;

// ---- time ----

struct CivilTime {
  int year;
  unsigned month;  // 1..12
  unsigned day;
  long hour;
  long minute;
  long second;
};

CivilTime civil_utc(std::int64_t unix_seconds) {
  using namespace std::chrono;
  // Years 1970..9999: a corrupt timestamp shows as a wrong date, never overflows the calendar.
  constexpr std::int64_t kLatest = 253402300799;  // 9999-12-31T23:59:59Z
  const sys_seconds at{seconds{std::clamp<std::int64_t>(unix_seconds, 0, kLatest)}};
  const sys_days day = floor<days>(at);
  const year_month_day ymd{day};
  const hh_mm_ss hms{at - day};
  return {static_cast<int>(ymd.year()),
          static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day()),
          static_cast<long>(hms.hours().count()),
          static_cast<long>(hms.minutes().count()),
          static_cast<long>(hms.seconds().count())};
}

// RFC 3339 / ISO 8601 in UTC, for <time datetime> and Atom: "2025-03-12T14:05:00Z".
std::string iso_time(std::int64_t unix_seconds) {
  const CivilTime t = civil_utc(unix_seconds);
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02ld:%02ld:%02ldZ", t.year, t.month, t.day,
                t.hour, t.minute, t.second);
  return buffer;
}

constexpr std::array<const char*, 12> kMonths = {"January",   "February", "March",    "April",
                                                 "May",       "June",     "July",     "August",
                                                 "September", "October",  "November", "December"};

// What readers see: "12 March 2025, 14:05 UTC".
std::string display_time(std::int64_t unix_seconds) {
  const CivilTime t = civil_utc(unix_seconds);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%u %s %d, %02ld:%02ld UTC", t.day, kMonths[t.month - 1],
                t.year, t.hour, t.minute);
  return buffer;
}

// Live updates are read in quick succession: "12 Mar, 14:05 UTC".
std::string short_display_time(std::int64_t unix_seconds) {
  const CivilTime t = civil_utc(unix_seconds);
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%u %.3s, %02ld:%02ld UTC", t.day, kMonths[t.month - 1],
                t.hour, t.minute);
  return buffer;
}

// ---- small writers ----

// Appends pieces of markup (trusted literals) and escaped values.
class Html {
 public:
  Html& raw(std::string_view markup) {
    out_ += markup;
    return *this;
  }
  Html& text(std::string_view value) {
    append_escaped_html(out_, value);
    return *this;
  }
  // ` name="value"`, value escaped.
  Html& attr(std::string_view name, std::string_view value) {
    out_ += ' ';
    out_ += name;
    out_ += "=\"";
    append_escaped_html(out_, value);
    out_ += '"';
    return *this;
  }
  Html& time(std::int64_t unix_seconds, std::string_view shown) {
    raw("<time").attr("datetime", iso_time(unix_seconds)).raw(">").text(shown).raw("</time>");
    return *this;
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string asset_url(const SiteInfo& site, std::string_view path) {
  std::string url(path);
  if (!site.asset_version.empty()) {
    url += "?v=";
    url += encode_path_segment(site.asset_version);
  }
  return url;
}

bool is_valid_app_scheme(std::string_view scheme) {
  if (scheme.empty()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    const char c = scheme[i];
    const bool letter = c >= 'a' && c <= 'z';
    const bool other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (!letter && !(i > 0 && other)) return false;
  }
  // A deep link must open an app, never run script or load a web page in its place.
  for (std::string_view reserved : {"javascript", "vbscript", "data", "file", "http", "https"}) {
    if (scheme == reserved) return false;
  }
  return true;
}

// The app to offer, if one is configured and usable.
const AppInfo* usable_app(const SiteInfo& site) {
  if (!site.app || site.app->name.empty() || !is_valid_app_scheme(site.app->scheme)) {
    return nullptr;
  }
  return &*site.app;
}

std::string ascii_lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string strip_byline_prefix(std::string_view byline) {
  if (byline.size() > 3 && (byline.substr(0, 3) == "By " || byline.substr(0, 3) == "by ")) {
    byline.remove_prefix(3);
  }
  return std::string(byline);
}

// ---- the document frame ----

enum class PageKind { kHome, kArticle, kLive, kPreferences, kNotFound, kNewsroom };

std::string_view page_kind_name(PageKind kind) {
  switch (kind) {
    case PageKind::kHome:
      return "home";
    case PageKind::kArticle:
      return "article";
    case PageKind::kLive:
      return "live";
    case PageKind::kPreferences:
      return "preferences";
    case PageKind::kNotFound:
      return "not-found";
    case PageKind::kNewsroom:
      return "newsroom";
  }
  return "page";
}

struct Frame {
  PageKind kind = PageKind::kHome;
  std::string title;                 // the whole <title>
  std::string description;           // meta description; empty: the site's
  std::string canonical_path;        // "" for none (404)
  std::string app_deep_link;         // article pages with an app: "<scheme>://article/<slug>"
  const Article* article = nullptr;  // for Open Graph tags
};

void open_document(Html& h, const SiteInfo& site, const Frame& frame) {
  h.raw("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
  h.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
  h.raw("<title>").text(frame.title).raw("</title>\n");
  const std::string& description = frame.description.empty() ? site.description : frame.description;
  if (!description.empty()) {
    h.raw("<meta name=\"description\"").attr("content", description).raw(">\n");
  }
  // The newsroom is for editors: search engines should neither list nor follow it.
  const bool newsroom = frame.kind == PageKind::kNewsroom;
  if (newsroom) h.raw("<meta name=\"robots\" content=\"noindex, nofollow\">\n");
  if (!frame.canonical_path.empty()) {
    h.raw("<link rel=\"canonical\"").attr("href", site.base_url + frame.canonical_path).raw(">\n");
  }
  h.raw("<link rel=\"alternate\" type=\"application/atom+xml\"")
      .attr("title", site.name)
      .raw(" href=\"/feed.atom\">\n");
  h.raw("<link rel=\"icon\" type=\"image/svg+xml\"")
      .attr("href", asset_url(site, "/assets/icon.svg"))
      .raw(">\n");
  h.raw("<link rel=\"stylesheet\"").attr("href", asset_url(site, "/assets/site.css")).raw(">\n");
  if (newsroom) {
    h.raw("<link rel=\"stylesheet\"").attr("href", asset_url(site, "/assets/newsroom.css"));
    h.raw(">\n");
  }
  h.raw("<meta name=\"theme-color\" content=\"#a3101d\">\n");
  h.raw("<meta name=\"referrer\" content=\"strict-origin-when-cross-origin\">\n");
  if (frame.article != nullptr) {
    const Article& a = *frame.article;
    h.raw("<meta property=\"og:type\" content=\"article\">\n");
    h.raw("<meta property=\"og:site_name\"").attr("content", site.name).raw(">\n");
    h.raw("<meta property=\"og:title\"").attr("content", a.headline).raw(">\n");
    if (!a.standfirst.empty()) {
      h.raw("<meta property=\"og:description\"").attr("content", a.standfirst).raw(">\n");
    }
    h.raw("<meta property=\"og:url\"").attr("content", site.base_url + frame.canonical_path);
    h.raw(">\n");
    if (!a.image_url.empty() && is_safe_url(a.image_url)) {
      h.raw("<meta property=\"og:image\"").attr("content", a.image_url).raw(">\n");
    }
  }
  if (const AppInfo* app = usable_app(site);
      app != nullptr && !app->ios_app_id.empty() && !newsroom) {
    std::string content = "app-id=" + app->ios_app_id;
    if (!frame.app_deep_link.empty()) content += ", app-argument=" + frame.app_deep_link;
    h.raw("<meta name=\"apple-itunes-app\"").attr("content", content).raw(">\n");
  }
  // The newsroom runs its own script; the readers' one (opt-in, app sheet) has no place there.
  h.raw("<script")
      .attr("src", asset_url(site, newsroom ? "/assets/newsroom.js" : "/assets/site.js"))
      .raw(" defer></script>\n");
  h.raw("</head>\n<body");
  h.attr("class", std::string("page-") + std::string(page_kind_name(frame.kind)));
  if (!site.vapid_public_key.empty() && !newsroom) {
    h.attr("data-vapid-public-key", site.vapid_public_key);
  }
  h.raw(">\n");

  h.raw("<a class=\"skip-link\" href=\"#main\">Skip to main content</a>\n");
  h.raw("<header class=\"masthead\">\n<div class=\"wrap masthead-inner\">\n");
  h.raw("<a class=\"brand\" href=\"/\">").text(site.name).raw("</a>\n");
  h.raw("<nav class=\"site-nav\" aria-label=\"Sections\">\n<ul>\n");
  // Short labels, so the row fits a phone's width.
  for (std::string_view section : {"Breaking", "Live", "Exclusive"}) {
    h.raw("<li><a").attr("href", "/#" + ascii_lowercase(section)).raw(">").text(section);
    h.raw("</a></li>\n");
  }
  h.raw("<li><a class=\"nav-alerts\" href=\"/preferences\"");
  if (frame.kind == PageKind::kPreferences) h.raw(" aria-current=\"page\"");
  h.raw(">Notifications</a></li>\n</ul>\n</nav>\n</div>\n</header>\n");
  h.raw("<main id=\"main\" tabindex=\"-1\">\n");
}

void close_document(Html& h, const SiteInfo& site, const Frame& frame) {
  h.raw("</main>\n");
  h.raw("<footer class=\"site-footer\">\n<div class=\"wrap footer-inner\">\n");
  h.raw("<p class=\"footer-brand\">").text(site.name).raw("</p>\n");
  h.raw("<ul class=\"footer-links\">\n");
  h.raw("<li><a href=\"/preferences\">Notification settings</a></li>\n");
  h.raw("<li><a href=\"/feed.atom\">Atom feed</a></li>\n");
  h.raw("<li><a href=\"/newsroom\" rel=\"nofollow\"");
  if (frame.kind == PageKind::kNewsroom) h.raw(" aria-current=\"page\"");
  h.raw(">Newsroom</a></li>\n</ul>\n");
  h.raw(
      "<p class=\"footer-note\">This site loads no third-party scripts, fonts or trackers.</p>\n");
  h.raw("</div>\n</footer>\n");

  const AppInfo* app = usable_app(site);
  if (app != nullptr && !frame.app_deep_link.empty()) {
    h.raw("<aside class=\"app-sheet\" data-app-sheet hidden aria-labelledby=\"app-sheet-title\"");
    if (!app->ios_store_url.empty() && is_safe_url(app->ios_store_url)) {
      h.attr("data-ios-store-url", app->ios_store_url);
    }
    if (!app->android_package.empty()) h.attr("data-android-package", app->android_package);
    if (!app->android_store_url.empty() && is_safe_url(app->android_store_url)) {
      h.attr("data-android-store-url", app->android_store_url);
    }
    h.raw(">\n<div class=\"app-sheet-inner\">\n");
    h.raw("<p class=\"app-sheet-title\" id=\"app-sheet-title\">Read this story in the ")
        .text(app->name)
        .raw(" app</p>\n");
    h.raw("<div class=\"actions\">\n<a class=\"button button-primary\" data-app-open")
        .attr("href", frame.app_deep_link)
        .raw(">Open in ")
        .text(app->name)
        .raw("</a>\n");
    h.raw("<button type=\"button\" class=\"button button-secondary\" data-app-continue>")
        .raw("Continue in browser</button>\n</div>\n</div>\n</aside>\n");
  }
  h.raw("</body>\n</html>\n");
}

// ---- shared blocks ----

void category_checkboxes(Html& h, std::string_view id_prefix) {
  for (Category category : kAllCategories) {
    const std::string id = std::string(id_prefix) + "-" + std::string(category_slug(category));
    h.raw("<div class=\"choice\"><input type=\"checkbox\" name=\"category\"")
        .attr("id", id)
        .attr("value", category_slug(category))
        .raw(" checked><label")
        .attr("for", id)
        .raw(">")
        .text(category_label(category))
        .raw("</label></div>\n");
  }
}

// The opt-in card. Hidden until site.js has checked support, permission and the reader's
// "Not now" back-off; without JavaScript it never shows (it could not work).
void optin_card(Html& h, const SiteInfo& site) {
  if (site.vapid_public_key.empty()) return;
  h.raw("<aside class=\"optin\" data-optin hidden aria-labelledby=\"optin-title\">\n");
  h.raw("<h2 class=\"optin-title\" id=\"optin-title\">Be the first to know</h2>\n");
  h.raw(
      "<p class=\"optin-text\">Get browser notifications for breaking news, live events, and "
      "exclusive reporting.</p>\n");
  h.raw("<form class=\"optin-form\" data-optin-form>\n");
  h.raw(
      "<fieldset class=\"choices\">\n<legend class=\"visually-hidden\">Send notifications "
      "for</legend>\n");
  category_checkboxes(h, "optin");
  h.raw("</fieldset>\n<div class=\"actions\">\n");
  h.raw(
      "<button type=\"submit\" class=\"button button-primary\" data-optin-enable>Turn on "
      "notifications</button>\n");
  h.raw(
      "<button type=\"button\" class=\"button button-secondary\" data-optin-later>Not "
      "now</button>\n</div>\n");
  h.raw("<p class=\"status\" data-status role=\"status\" aria-live=\"polite\"></p>\n");
  h.raw("</form>\n</aside>\n");
}

void category_kicker(Html& h, Category category) {
  h.raw("<p").attr("class", "kicker kicker-" + std::string(category_slug(category))).raw(">");
  h.raw("<a").attr("href", "/#" + std::string(category_slug(category))).raw(">");
  h.text(category_label(category)).raw("</a></p>\n");
}

void article_image(Html& h, const Article& article, std::string_view css_class,
                   std::string_view loading) {
  if (article.image_url.empty() || !is_safe_url(article.image_url)) return;
  h.raw("<img").attr("class", css_class).attr("src", article.image_url);
  h.attr("alt", article.image_alt).attr("loading", loading).raw(" decoding=\"async\">");
}

void story_card(Html& h, const Article& article, bool lead) {
  const std::string path = article_path(article.slug);
  h.raw(lead ? "<article class=\"story story-lead\">\n" : "<article class=\"story\">\n");
  if (lead) {
    article_image(h, article, "story-image", "lazy");
    h.raw("\n");
  }
  h.raw("<h3 class=\"story-headline\"><a").attr("href", path).raw(">").text(article.headline);
  h.raw("</a></h3>\n");
  if (lead && !article.standfirst.empty()) {
    h.raw("<p class=\"story-standfirst\">").text(article.standfirst).raw("</p>\n");
  }
  h.raw("<p class=\"story-meta\">");
  if (!article.dateline.empty()) {
    h.raw("<span class=\"dateline\">").text(article.dateline).raw("</span> ");
  }
  h.time(article.published_at, display_time(article.published_at)).raw("</p>\n</article>\n");
}

}  // namespace

// ---- public API ----

std::string_view category_slug(Category category) { return news::category_name(category); }

std::string_view category_label(Category category) {
  switch (category) {
    case Category::kBreaking:
      return "Breaking news";
    case Category::kLive:
      return "Live events";
    case Category::kExclusive:
      return "Exclusive reporting";
  }
  return "News";
}

std::string render_home(const SiteInfo& site, std::span<const CategorySection> sections) {
  Html h;
  Frame frame;
  frame.kind = PageKind::kHome;
  frame.title = site.name + " — Latest news";
  frame.canonical_path = "/";
  open_document(h, site, frame);
  h.raw("<div class=\"wrap\">\n<h1 class=\"visually-hidden\">").text(site.name);
  h.raw(": latest news</h1>\n");
  for (const CategorySection& section : sections) {
    const std::string slug(category_slug(section.category));
    h.raw("<section").attr("class", "section section-" + slug).attr("id", slug);
    h.attr("aria-labelledby", slug + "-title").raw(">\n");
    h.raw("<h2 class=\"section-title\"").attr("id", slug + "-title").raw(">");
    h.text(category_label(section.category)).raw("</h2>\n");
    if (section.articles.empty()) {
      h.raw("<p class=\"section-empty\">No stories yet.</p>\n</section>\n");
      continue;
    }
    h.raw("<div class=\"section-grid\">\n");
    story_card(h, section.articles.front(), /*lead=*/true);
    if (section.articles.size() > 1) {
      h.raw("<ul class=\"story-list\">\n");
      for (std::size_t i = 1; i < section.articles.size(); ++i) {
        h.raw("<li>");
        story_card(h, section.articles[i], /*lead=*/false);
        h.raw("</li>\n");
      }
      h.raw("</ul>\n");
    }
    h.raw("</div>\n</section>\n");
  }
  h.raw("</div>\n");
  close_document(h, site, frame);
  return h.take();
}

std::string render_article(const SiteInfo& site, const Article& article,
                           std::string_view body_html) {
  Html h;
  Frame frame;
  frame.kind = PageKind::kArticle;
  frame.title = article.headline + " — " + site.name;
  frame.description = article.standfirst;
  frame.canonical_path = article_path(article.slug);
  frame.article = &article;
  if (const AppInfo* app = usable_app(site)) {
    frame.app_deep_link = app->scheme + "://article/" + encode_path_segment(article.slug);
  }
  open_document(h, site, frame);

  h.raw("<article class=\"wrap-narrow story-page\">\n<header class=\"story-header\">\n");
  category_kicker(h, article.category);
  h.raw("<h1 class=\"headline\">").text(article.headline).raw("</h1>\n");
  if (!article.standfirst.empty()) {
    h.raw("<p class=\"standfirst\">").text(article.standfirst).raw("</p>\n");
  }
  h.raw("<div class=\"story-meta\">\n");
  if (!article.byline.empty()) {
    h.raw("<p class=\"byline\">").text(article.byline).raw("</p>\n");
  }
  h.raw("<p class=\"published\">");
  if (!article.dateline.empty()) {
    h.raw("<span class=\"dateline\">").text(article.dateline).raw("</span> ");
  }
  h.time(article.published_at, display_time(article.published_at));
  // Small corrections within a minute of publishing are not worth an "Updated" line.
  if (article.updated_at > article.published_at + 60) {
    h.raw(" <span class=\"updated\">Updated ");
    h.time(article.updated_at, display_time(article.updated_at)).raw("</span>");
  }
  h.raw("</p>\n</div>\n</header>\n");
  if (!article.image_url.empty() && is_safe_url(article.image_url)) {
    h.raw("<figure class=\"story-figure\">");
    article_image(h, article, "story-figure-image", "eager");
    h.raw("</figure>\n");
  }
  if (article.category == Category::kLive) {
    h.raw("<p class=\"live-link\"><a").attr("href", live_path(article.slug));
    h.raw("><span class=\"live-dot\" aria-hidden=\"true\"></span>Follow live updates</a></p>\n");
  }
  h.raw("<div class=\"story-body\">\n").raw(body_html).raw("</div>\n</article>\n");
  h.raw("<div class=\"wrap-narrow\">\n");
  optin_card(h, site);
  h.raw("</div>\n");
  close_document(h, site, frame);
  return h.take();
}

std::string render_preferences(const SiteInfo& site) {
  Html h;
  Frame frame;
  frame.kind = PageKind::kPreferences;
  frame.title = "Notification settings — " + site.name;
  frame.description = "Choose which browser notifications " + site.name + " sends you.";
  frame.canonical_path = "/preferences";
  open_document(h, site, frame);
  h.raw(
      "<div class=\"wrap-narrow prefs-page\">\n<h1 class=\"page-title\">Notification "
      "settings</h1>\n");
  h.raw(
      "<p class=\"lede\">Choose which alerts this browser receives. Settings apply to this "
      "browser on this device only.</p>\n");
  h.raw(
      "<noscript><p class=\"notice\">Notification settings need JavaScript. Turn it on for "
      "this site to change them.</p></noscript>\n");
  h.raw("<section class=\"prefs\" data-prefs hidden aria-labelledby=\"prefs-title\">\n");
  h.raw("<h2 class=\"visually-hidden\" id=\"prefs-title\">Your alerts</h2>\n");
  h.raw("<p class=\"prefs-state\" data-prefs-state></p>\n");
  h.raw("<form class=\"prefs-form\" data-prefs-form>\n");
  h.raw("<fieldset class=\"choices\">\n<legend>Send me notifications for</legend>\n");
  category_checkboxes(h, "prefs");
  h.raw("</fieldset>\n<div class=\"actions\">\n");
  h.raw(
      "<button type=\"submit\" class=\"button button-primary\" data-prefs-save>Save "
      "choices</button>\n");
  h.raw(
      "<button type=\"button\" class=\"button button-secondary\" data-prefs-unsubscribe "
      "hidden>Turn off notifications</button>\n</div>\n");
  h.raw("<p class=\"status\" data-status role=\"status\" aria-live=\"polite\"></p>\n");
  h.raw("</form>\n</section>\n</div>\n");
  close_document(h, site, frame);
  return h.take();
}

std::string render_live(const SiteInfo& site, std::string_view slug, std::string_view title,
                        std::span<const LiveUpdate> updates) {
  Html h;
  Frame frame;
  frame.kind = PageKind::kLive;
  frame.title = "Live: " + std::string(title) + " — " + site.name;
  frame.canonical_path = live_path(slug);
  open_document(h, site, frame);
  h.raw("<article class=\"wrap-narrow live-page\" data-live")
      .attr("data-events-url", live_path(slug) + "/events")
      .raw(">\n<header class=\"story-header\">\n");
  h.raw(
      "<p class=\"kicker kicker-live\"><span class=\"live-dot\" aria-hidden=\"true\"></span>"
      "Live</p>\n");
  h.raw("<h1 class=\"headline\">").text(title).raw("</h1>\n");
  h.raw(
      "<p class=\"live-status\" data-live-status role=\"status\" aria-live=\"polite\">"
      "Newest updates first.</p>\n</header>\n");
  h.raw("<ol class=\"live-updates\" data-live-updates>\n");
  for (const LiveUpdate& update : updates) {
    const std::string id = std::to_string(update.id);
    h.raw("<li class=\"live-update\"").attr("id", "update-" + id).attr("data-update-id", id);
    h.raw(">\n");
    h.time(update.time, short_display_time(update.time));
    h.raw("\n<div class=\"live-update-body\">").raw(update.text_html).raw("</div>\n</li>\n");
  }
  h.raw("</ol>\n");
  if (updates.empty()) {
    h.raw(
        "<p class=\"section-empty\" data-live-empty>No updates yet. New ones appear here "
        "automatically.</p>\n");
  }
  h.raw("</article>\n<div class=\"wrap-narrow\">\n");
  optin_card(h, site);
  h.raw("</div>\n");
  close_document(h, site, frame);
  return h.take();
}

std::string render_not_found(const SiteInfo& site) {
  Html h;
  Frame frame;
  frame.kind = PageKind::kNotFound;
  frame.title = "Page not found — " + site.name;
  open_document(h, site, frame);
  h.raw("<div class=\"wrap-narrow not-found\">\n<h1 class=\"page-title\">Page not found</h1>\n");
  h.raw(
      "<p class=\"lede\">There is no page at this address. It may have moved, or the link may "
      "be mistyped.</p>\n");
  h.raw("<p><a class=\"button button-primary\" href=\"/\">Go to the latest news</a></p>\n");
  h.raw("</div>\n");
  close_document(h, site, frame);
  return h.take();
}

// ---- the newsroom ----

namespace {

// One labelled control of a newsroom form. newsroom.js reads the form by the controls' names,
// which are the JSON API's field names, and shows the API's message for a field in its error
// line. Ids: "nr-<form>-<field>" for the control, "…-hint" and "…-error".
struct NewsroomField {
  std::string_view form;   // "signin", "article", "alert"
  std::string_view field;  // the API's name: "slug", "ttl_seconds"
  std::string_view label;
  std::string_view hint;  // "" for none
  bool required = false;
};

std::string field_id(const NewsroomField& f) {
  std::string id = "nr-" + std::string(f.form) + "-" + std::string(f.field);
  std::replace(id.begin(), id.end(), '_', '-');
  return id;
}

void begin_field(Html& h, const NewsroomField& f, bool hidden = false) {
  h.raw("<div class=\"field\"").attr("data-field", f.field);
  if (hidden) h.raw(" hidden");
  h.raw(">\n<label").attr("for", field_id(f)).raw(">").text(f.label);
  if (f.required) h.raw(" <span class=\"field-required\">(required)</span>");
  h.raw("</label>\n");
}

// id, name, aria-describedby and required, for the control's start tag.
void control_attributes(Html& h, const NewsroomField& f) {
  const std::string id = field_id(f);
  h.attr("id", id).attr("name", f.field);
  h.attr("aria-describedby", f.hint.empty() ? id + "-error" : id + "-hint " + id + "-error");
  if (f.required) h.raw(" required");
}

void end_field(Html& h, const NewsroomField& f) {
  const std::string id = field_id(f);
  if (!f.hint.empty()) {
    h.raw("<p class=\"hint\"").attr("id", id + "-hint").raw(">").text(f.hint).raw("</p>\n");
  }
  h.raw("<p class=\"field-error\"").attr("id", id + "-error").raw(" hidden></p>\n</div>\n");
}

// `extra`: further attributes, trusted markup (" maxlength=\"120\"").
void text_field(Html& h, const NewsroomField& f, std::string_view extra = "", bool hidden = false) {
  begin_field(h, f, hidden);
  h.raw("<input type=\"text\"");
  control_attributes(h, f);
  h.raw(extra).raw(">\n");
  end_field(h, f);
}

void textarea_field(Html& h, const NewsroomField& f, int rows, std::string_view extra = "") {
  begin_field(h, f);
  h.raw("<textarea");
  control_attributes(h, f);
  h.attr("rows", std::to_string(rows)).raw(extra).raw("></textarea>\n");
  end_field(h, f);
}

struct Option {
  std::string_view value;
  std::string_view label;
};

void select_field(Html& h, const NewsroomField& f, std::span<const Option> options,
                  std::string_view selected) {
  begin_field(h, f);
  h.raw("<select");
  control_attributes(h, f);
  h.raw(">\n");
  for (const Option& option : options) {
    h.raw("<option").attr("value", option.value);
    if (option.value == selected) h.raw(" selected");
    h.raw(">").text(option.label).raw("</option>\n");
  }
  h.raw("</select>\n");
  end_field(h, f);
}

std::vector<Option> category_options() {
  std::vector<Option> options;
  for (Category category : kAllCategories) {
    options.push_back({category_slug(category), category_label(category)});
  }
  return options;
}

// RFC 8030 urgency: when a device accepts the message (the API's names as values).
constexpr std::array<Option, 4> kUrgencies = {{
    {"high", "High: at once, even on low battery"},
    {"normal", "Normal: unless the battery is low"},
    {"low", "Low: only on power or Wi-Fi"},
    {"very-low", "Very low: only on power and Wi-Fi"},
}};

// How long push services keep an alert for a device that is offline (ttl_seconds).
constexpr std::array<Option, 9> kTtls = {{
    {"0", "Now or never"},
    {"300", "5 minutes"},
    {"900", "15 minutes"},
    {"3600", "1 hour"},
    {"21600", "6 hours"},
    {"86400", "1 day"},
    {"259200", "3 days"},
    {"604800", "1 week"},
    {"2419200", "28 days"},
}};

void newsroom_signin(Html& h) {
  h.raw("<section class=\"panel nr-signin\" data-nr-signin hidden ")
      .raw("aria-labelledby=\"nr-signin-title\">\n");
  h.raw("<h2 class=\"panel-title\" id=\"nr-signin-title\">Sign in</h2>\n");
  h.raw("<form class=\"nr-form\" data-nr-signin-form novalidate>\n");
  const NewsroomField token{"signin", "token", "Editor token",
                            "Starts with fw_. It is kept only in this browser tab and forgotten "
                            "when you sign out or close the tab.",
                            true};
  begin_field(h, token);
  h.raw("<input type=\"password\"");
  control_attributes(h, token);
  h.raw(" autocomplete=\"off\" spellcheck=\"false\" autocapitalize=\"off\">\n");
  end_field(h, token);
  h.raw("<div class=\"actions\">\n<button type=\"submit\" class=\"button button-primary\">")
      .raw("Sign in</button>\n</div>\n");
  h.raw("<p class=\"status\" data-nr-form-status role=\"status\" aria-live=\"polite\" ")
      .raw("tabindex=\"-1\"></p>\n");
  h.raw("</form>\n");
  h.raw(
      "<p class=\"hint\">No token? Ask whoever runs the site for one: <code>flashwire token "
      "create --name NAME --scope articles:write --scope alerts:send</code>.</p>\n");
  h.raw("</section>\n");
}

void newsroom_articles(Html& h) {
  h.raw("<section class=\"panel\" data-nr-articles-panel aria-labelledby=\"nr-articles-title\">\n");
  h.raw("<div class=\"panel-head\">\n<h2 class=\"panel-title\" id=\"nr-articles-title\">")
      .raw("Articles</h2>\n");
  h.raw("<button type=\"button\" class=\"button button-secondary button-small\" ")
      .raw("data-nr-new-article>New article</button>\n</div>\n");
  h.raw("<p class=\"status\" data-nr-panel-status role=\"status\" aria-live=\"polite\"></p>\n");
  h.raw("<ul class=\"nr-list\" data-nr-articles></ul>\n</section>\n");

  h.raw("<section class=\"panel\" data-nr-editor-panel aria-labelledby=\"nr-editor-title\">\n");
  h.raw("<h2 class=\"panel-title\" id=\"nr-editor-title\" tabindex=\"-1\" data-nr-editor-title>")
      .raw("New article</h2>\n");
  h.raw(
       "<form class=\"nr-form\" data-nr-article-form novalidate>\n<fieldset class=\"nr-fieldset\">")
      .raw("\n<legend class=\"visually-hidden\">Article</legend>\n");
  text_field(h, {"article", "headline", "Headline", "Up to 200 characters.", true},
             " maxlength=\"200\"");
  text_field(h,
             {"article", "slug", "Slug",
              "The address: /articles/slug. Lower-case letters, digits and hyphens.", true},
             " maxlength=\"120\" spellcheck=\"false\" autocapitalize=\"off\"");
  textarea_field(
      h, {"article", "standfirst", "Standfirst", "One or two sentences; also an alert's text."}, 2,
      " maxlength=\"600\"");
  text_field(h, {"article", "byline", "Byline", "For example: By Mara Okafor"},
             " maxlength=\"120\"");
  text_field(h, {"article", "dateline", "Dateline", "Where the story is from, e.g. PORT ELLIN"},
             " maxlength=\"80\"");
  const std::vector<Option> categories = category_options();
  select_field(h, {"article", "category", "Category", ""}, categories, "breaking");
  text_field(h,
             {"article", "image_url", "Image URL",
              "Optional: an https:// address or a path on this site."},
             " inputmode=\"url\" spellcheck=\"false\" autocapitalize=\"off\"");
  text_field(h,
             {"article", "image_alt", "Image description (alt text)",
              "Required with an image: what the picture shows, for readers who cannot see it."},
             " maxlength=\"300\"");
  textarea_field(h,
                 {"article", "body_markdown", "Body (Markdown)",
                  "Markdown: **bold**, *italic*, [link](/articles/slug), ## Subheading, - list. "
                  "Raw HTML is dropped.",
                  true},
                 14, " class=\"mono\" spellcheck=\"true\"");
  h.raw("</fieldset>\n<div class=\"actions\">\n");
  // Enter in a text field presses the first submit button: saving, never publishing.
  h.raw("<button type=\"submit\" class=\"button button-secondary\" value=\"save\" ")
      .raw("data-nr-save>Save draft</button>\n");
  h.raw("<button type=\"submit\" class=\"button button-primary\" value=\"publish\" ")
      .raw("data-nr-publish>Publish</button>\n</div>\n");
  h.raw("<p class=\"status\" data-nr-form-status role=\"status\" aria-live=\"polite\" ")
      .raw("tabindex=\"-1\"></p>\n");
  h.raw("</form>\n</section>\n");
}

void newsroom_alerts(Html& h) {
  h.raw("<section class=\"panel\" data-nr-compose-panel aria-labelledby=\"nr-compose-title\">\n");
  h.raw("<h2 class=\"panel-title\" id=\"nr-compose-title\" tabindex=\"-1\">")
      .raw("Compose an alert</h2>\n");
  h.raw("<p class=\"hint\" data-nr-compose-source>Choose “Compose alert” on a published article ")
      .raw("to start from it, or write one here.</p>\n");
  h.raw("<form class=\"nr-form\" data-nr-alert-form novalidate>\n<fieldset class=\"nr-fieldset\">")
      .raw("\n<legend class=\"visually-hidden\">Alert</legend>\n");
  text_field(h, {"alert", "title", "Title", "Up to 120 characters.", true}, " maxlength=\"120\"");
  textarea_field(h, {"alert", "body", "Text", "Up to 240 characters."}, 3, " maxlength=\"240\"");
  text_field(
      h, {"alert", "url", "Link", "Where a click leads: the article's address on this site.", true},
      " inputmode=\"url\" spellcheck=\"false\" autocapitalize=\"off\"");
  const std::vector<Option> categories = category_options();
  select_field(h, {"alert", "category", "Category", "Who gets it: readers who chose this kind."},
               categories, "breaking");
  select_field(h, {"alert", "urgency", "Urgency", "When devices accept it."}, kUrgencies, "high");
  select_field(h,
               {"alert", "ttl_seconds", "Expires after",
                "How long push services keep it for devices that are offline. Defaults: 1 hour "
                "for breaking news, 15 minutes for live events, 1 day for exclusives."},
               kTtls, "3600");
  text_field(h,
             {"alert", "topic", "Topic",
              "Live events: a newer alert with the same topic replaces an undelivered older "
              "one. Up to 32 of A-Z, a-z, 0-9, - and _."},
             " maxlength=\"32\" spellcheck=\"false\" autocapitalize=\"off\"", /*hidden=*/true);
  h.raw("</fieldset>\n");
  h.raw("<p class=\"nr-audience\" data-nr-audience aria-live=\"polite\"></p>\n");
  h.raw("<div class=\"actions\">\n<button type=\"submit\" class=\"button button-primary\" ")
      .raw("data-nr-compose>Compose</button>\n");
  h.raw("<button type=\"button\" class=\"button button-secondary\" data-nr-compose-clear>")
      .raw("Clear</button>\n</div>\n");
  h.raw("<p class=\"status\" data-nr-form-status role=\"status\" aria-live=\"polite\" ")
      .raw("tabindex=\"-1\"></p>\n");
  h.raw("</form>\n");
  // The second step: nothing is sent until the editor confirms here.
  h.raw("<div class=\"nr-confirm\" data-nr-confirm hidden role=\"group\" ")
      .raw("aria-labelledby=\"nr-confirm-title\">\n");
  h.raw("<h3 class=\"nr-confirm-title\" id=\"nr-confirm-title\" tabindex=\"-1\" ")
      .raw("data-nr-confirm-title></h3>\n");
  h.raw("<dl class=\"nr-summary\" data-nr-confirm-summary></dl>\n");
  h.raw("<p class=\"hint\">Nothing has been sent yet. Once confirmed, an alert cannot be ")
      .raw("recalled.</p>\n");
  h.raw("<div class=\"actions\">\n<button type=\"button\" class=\"button button-primary\" ")
      .raw("data-nr-confirm-send>Confirm</button>\n");
  h.raw("<button type=\"button\" class=\"button button-secondary\" data-nr-confirm-cancel>")
      .raw("Cancel</button>\n</div>\n</div>\n</section>\n");

  h.raw("<section class=\"panel\" data-nr-alerts-panel aria-labelledby=\"nr-alerts-title\">\n");
  h.raw("<div class=\"panel-head\">\n<h2 class=\"panel-title\" id=\"nr-alerts-title\">")
      .raw("Alerts</h2>\n");
  h.raw("<button type=\"button\" class=\"button button-secondary button-small\" ")
      .raw("data-nr-refresh-alerts>Refresh</button>\n</div>\n");
  h.raw("<p class=\"hint\" data-nr-polling hidden>While an alert is sending, this list ")
      .raw("refreshes every few seconds.</p>\n");
  h.raw("<p class=\"status\" data-nr-panel-status role=\"status\" aria-live=\"polite\"></p>\n");
  h.raw("<ul class=\"nr-list\" data-nr-alerts></ul>\n</section>\n");
}

}  // namespace

std::string render_newsroom(const SiteInfo& site) {
  Html h;
  Frame frame;
  frame.kind = PageKind::kNewsroom;
  frame.title = "Newsroom — " + site.name;
  frame.description = "The newsroom of " + site.name + ": write stories and send alerts.";
  open_document(h, site, frame);
  h.raw("<div class=\"wrap newsroom\" data-newsroom").attr("data-base-url", site.base_url);
  h.raw(">\n<div class=\"newsroom-head\">\n<h1 class=\"page-title\">Newsroom</h1>\n");
  h.raw("<p class=\"lede\">Write and publish stories, and alert readers.</p>\n</div>\n");
  h.raw(
      "<noscript><p class=\"notice\">The newsroom needs JavaScript. Turn it on for this site "
      "to use it.</p></noscript>\n");
  // Announcements that belong to no one form: signing in and out, alerts finishing.
  h.raw("<p class=\"status nr-announce\" data-nr-announce role=\"status\" ")
      .raw("aria-live=\"polite\"></p>\n");
  newsroom_signin(h);
  h.raw("<div class=\"nr-desk\" data-nr-desk hidden>\n<div class=\"nr-session\">\n");
  h.raw("<p class=\"nr-session-text\" data-nr-session tabindex=\"-1\"></p>\n");
  h.raw("<button type=\"button\" class=\"button button-secondary button-small\" ")
      .raw("data-nr-signout>Sign out</button>\n</div>\n");
  h.raw("<div class=\"nr-columns\">\n<div class=\"nr-column\">\n");
  newsroom_articles(h);
  h.raw("</div>\n<div class=\"nr-column\">\n");
  newsroom_alerts(h);
  h.raw("</div>\n</div>\n</div>\n</div>\n");
  close_document(h, site, frame);
  return h.take();
}

std::string render_atom_feed(const SiteInfo& site, std::span<const Article> articles,
                             std::int64_t updated_at) {
  std::string out;
  const auto text = [&out](std::string_view value) { append_escaped_xml(out, value); };
  out += "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
  out += "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n";
  out += "<title>";
  text(site.name);
  out += "</title>\n";
  if (!site.description.empty()) {
    out += "<subtitle>";
    text(site.description);
    out += "</subtitle>\n";
  }
  out += "<id>";
  text(site.base_url + "/");
  out += "</id>\n<link rel=\"alternate\" type=\"text/html\" href=\"";
  text(site.base_url + "/");
  out += "\"/>\n<link rel=\"self\" type=\"application/atom+xml\" href=\"";
  text(site.base_url + "/feed.atom");
  out += "\"/>\n<updated>" + iso_time(updated_at) + "</updated>\n";
  // A feed-level author covers entries without a byline (RFC 4287 §4.1.1).
  out += "<author><name>";
  text(site.name);
  out += "</name></author>\n";
  for (const Article& article : articles) {
    const std::string url = site.base_url + article_path(article.slug);
    out += "<entry>\n<title type=\"text\">";
    text(article.headline);
    out += "</title>\n<link rel=\"alternate\" type=\"text/html\" href=\"";
    text(url);
    out += "\"/>\n<id>";
    text(url);
    out += "</id>\n<published>" + iso_time(article.published_at) + "</published>\n";
    out +=
        "<updated>" + iso_time(std::max(article.updated_at, article.published_at)) + "</updated>\n";
    if (const std::string author = strip_byline_prefix(article.byline); !author.empty()) {
      out += "<author><name>";
      text(author);
      out += "</name></author>\n";
    }
    out += "<category term=\"";
    text(category_slug(article.category));
    out += "\" label=\"";
    text(category_label(article.category));
    out += "\"/>\n";
    if (!article.standfirst.empty()) {
      out += "<summary type=\"text\">";
      text(article.standfirst);
      out += "</summary>\n";
    }
    out += "</entry>\n";
  }
  out += "</feed>\n";
  return out;
}

}  // namespace flashwire::site
