#include "site/pages.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

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
  // `local`: how site.js shows the time in the reader's zone: "full" (date and time), "short"
  // (day, month and time) or "relative" ("5 min ago").
  Html& time(std::int64_t unix_seconds, std::string_view shown, std::string_view local = "full") {
    raw("<time").attr("datetime", iso_time(unix_seconds)).attr("data-local", local).raw(">");
    return text(shown).raw("</time>");
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

// ---- JSON (JSON-LD, the manifest) ----

// A JSON string literal. "<", ">" and "&" become \u escapes, so the text can sit inside a
// <script type="application/ld+json"> element without ever ending it.
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      out += escaped;
    } else {
      out += ch;
    }
  }
  out += '"';
}

// Writes JSON in document order; commas are placed automatically.
class Json {
 public:
  Json& key(std::string_view name) {
    separate();
    append_json_string(out_, name);
    out_ += ':';
    fresh_ = true;
    return *this;
  }
  Json& str(std::string_view value) {
    separate();
    append_json_string(out_, value);
    return *this;
  }
  Json& number(std::int64_t value) {
    separate();
    out_ += std::to_string(value);
    return *this;
  }
  Json& boolean(bool value) {
    separate();
    out_ += value ? "true" : "false";
    return *this;
  }
  Json& field(std::string_view name, std::string_view value) { return key(name).str(value); }
  Json& object() { return open('{'); }
  Json& end_object() { return close('}'); }
  Json& array() { return open('['); }
  Json& end_array() { return close(']'); }
  std::string take() { return std::move(out_); }

 private:
  void separate() {
    if (!fresh_) out_ += ',';
    fresh_ = false;
  }
  Json& open(char c) {
    separate();
    out_ += c;
    fresh_ = true;
    return *this;
  }
  Json& close(char c) {
    out_ += c;
    fresh_ = false;
    return *this;
  }
  std::string out_;
  bool fresh_ = true;
};

// The text of an HTML fragment from render_markdown: tags removed, the entities cmark writes
// decoded, runs of white space made one space. For structured data and the ticker.
std::string html_to_text(std::string_view html) {
  std::string out;
  bool space = false;
  for (std::size_t i = 0; i < html.size(); ++i) {
    const char c = html[i];
    if (c == '<') {
      const std::size_t end = html.find('>', i);
      if (end == std::string_view::npos) break;
      i = end;
      space = true;  // block ends and <br> separate words
      continue;
    }
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    if (c == '&') {
      static constexpr std::pair<std::string_view, char> kEntities[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
      bool decoded = false;
      for (const auto& [entity, value] : kEntities) {
        if (html.substr(i, entity.size()) == entity) {
          out += value;
          i += entity.size() - 1;
          decoded = true;
          break;
        }
      }
      if (decoded) continue;
    }
    out += c;
  }
  return out;
}

// At most `max_bytes` of `text`, cut at a space (or else a UTF-8 character boundary), with "…"
// when something was cut.
std::string shorten(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
  if (const std::size_t space = text.rfind(' ', cut);
      space != std::string_view::npos && space > max_bytes / 2) {
    cut = space;
  }
  std::string out(text.substr(0, cut));
  while (!out.empty() && (out.back() == ' ' || out.back() == ',' || out.back() == ':')) {
    out.pop_back();
  }
  return out + "…";
}

// Search engines and link previews need absolute URLs: a path on this site gets the base URL.
std::string absolute_url(const SiteInfo& site, std::string_view url) {
  if (url.starts_with("/") && !url.starts_with("//")) return site.base_url + std::string(url);
  return std::string(url);
}

// The lead image's rendering size: stories carry no dimensions, so every lead image is laid
// out 16:9 (object-fit: cover in site.css), which reserves its room before it loads.
constexpr int kImageWidth = 1200;
constexpr int kImageHeight = 675;

bool has_image(const Article& article) {
  return !article.image_url.empty() && is_safe_url(article.image_url);
}

// The renditions a page may list for the lead image: those with a safe URL, narrowest first,
// one per width (a srcset with two candidates of one width is invalid).
std::vector<news::ImageRendition> usable_renditions(const Article& article) {
  std::vector<news::ImageRendition> out;
  if (!has_image(article)) return out;
  for (const news::ImageRendition& r : article.image_renditions) {
    if (r.width > 0 && is_safe_url(r.url)) out.push_back(r);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.width < b.width; });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const auto& a, const auto& b) { return a.width == b.width; }),
            out.end());
  return out;
}

// The image link previews and structured data name, with its size: the widest rendition (a
// stored raster size, which every preview reader takes; image_url may be an SVG, which most do
// not), else image_url at the layout size. Only for articles that has_image.
struct ShareImage {
  std::string url;
  int width = kImageWidth;
  int height = kImageHeight;
};
ShareImage share_image(const Article& article) {
  const std::vector<news::ImageRendition> renditions = usable_renditions(article);
  if (renditions.empty()) return {article.image_url};
  const news::ImageRendition& widest = renditions.back();
  return {widest.url, widest.width, widest.width * kImageHeight / kImageWidth};
}

// ---- the document frame ----

enum class PageKind { kHome, kArticle, kLive, kPreferences, kNotFound, kNewsroom, kSearch };

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
    case PageKind::kSearch:
      return "search";
  }
  return "page";
}

struct Frame {
  PageKind kind = PageKind::kHome;
  std::string title;                 // the whole <title>
  std::string description;           // meta description; empty: the site's
  std::string canonical_path;        // "" for none (404)
  std::string app_deep_link;         // article and live pages with an app: "<scheme>://…"
  const Article* article = nullptr;  // for Open Graph and Twitter card tags
  std::string og_type = "article";   // with `article`: "article"; home: "website"
  std::string json_ld;               // a JSON-LD object, "" for none
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
  h.raw("<link rel=\"apple-touch-icon\"")
      .attr("href", asset_url(site, "/assets/icon-180.png"))
      .raw(">\n");
  h.raw("<link rel=\"manifest\" href=\"/manifest.webmanifest\">\n");
  h.raw("<link rel=\"stylesheet\"").attr("href", asset_url(site, "/assets/site.css")).raw(">\n");
  if (newsroom) {
    h.raw("<link rel=\"stylesheet\"").attr("href", asset_url(site, "/assets/newsroom.css"));
    h.raw(">\n");
  }
  h.raw("<meta name=\"theme-color\" content=\"#a3101d\">\n");
  h.raw("<meta name=\"referrer\" content=\"strict-origin-when-cross-origin\">\n");
  if (frame.article != nullptr || frame.kind == PageKind::kHome) {
    // Link previews (Open Graph; Twitter/X reads the og: tags for what its own lack).
    const Article* a = frame.article;
    const std::string& title = a != nullptr ? a->headline : site.name;
    const std::string& summary = a != nullptr ? a->standfirst : site.description;
    const bool image = a != nullptr && has_image(*a);
    h.raw("<meta property=\"og:type\"").attr("content", frame.og_type).raw(">\n");
    h.raw("<meta property=\"og:site_name\"").attr("content", site.name).raw(">\n");
    h.raw("<meta property=\"og:title\"").attr("content", title).raw(">\n");
    if (!summary.empty()) {
      h.raw("<meta property=\"og:description\"").attr("content", summary).raw(">\n");
    }
    h.raw("<meta property=\"og:url\"").attr("content", site.base_url + frame.canonical_path);
    h.raw(">\n");
    if (image) {
      const ShareImage shared = share_image(*a);
      h.raw("<meta property=\"og:image\"").attr("content", absolute_url(site, shared.url));
      h.raw(">\n<meta property=\"og:image:width\"").attr("content", std::to_string(shared.width));
      h.raw(">\n<meta property=\"og:image:height\"").attr("content", std::to_string(shared.height));
      h.raw(">\n<meta property=\"og:image:alt\"").attr("content", a->image_alt).raw(">\n");
    }
    if (a != nullptr && a->published_at > 0) {
      h.raw("<meta property=\"article:published_time\"")
          .attr("content", iso_time(a->published_at))
          .raw(">\n");
    }
    h.raw("<meta name=\"twitter:card\"")
        .attr("content", image ? "summary_large_image" : "summary")
        .raw(">\n");
    h.raw("<meta name=\"twitter:title\"").attr("content", title).raw(">\n");
    if (!summary.empty()) {
      h.raw("<meta name=\"twitter:description\"").attr("content", summary).raw(">\n");
    }
  }
  if (!frame.json_ld.empty()) {
    // A data block, never executed: the strict CSP does not apply to it.
    h.raw("<script type=\"application/ld+json\">").raw(frame.json_ld).raw("</script>\n");
  }
  if (const AppInfo* app = usable_app(site);
      app != nullptr && !app->ios_app_id.empty() && !newsroom) {
    std::string content = "app-id=" + app->ios_app_id;
    if (!frame.app_deep_link.empty()) content += ", app-argument=" + frame.app_deep_link;
    h.raw("<meta name=\"apple-itunes-app\"").attr("content", content).raw(">\n");
  }
  // The newsroom runs its own script; the readers' one (opt-in, app sheet) has no place there.
  // Its compose preview comes first: newsroom.js uses it as it starts (both deferred, in order).
  if (newsroom) {
    h.raw("<script")
        .attr("src", asset_url(site, "/assets/newsroom-compose.js"))
        .raw(" defer></script>\n");
  }
  h.raw("<script")
      .attr("src", asset_url(site, newsroom ? "/assets/newsroom.js" : "/assets/site.js"))
      .raw(" defer></script>\n");
  if (newsroom) {
    // The newsroom's parts in their own files, run in order after newsroom.js (defer).
    for (const char* part : {"/assets/newsroom-live.js", "/assets/newsroom-analytics.js"}) {
      h.raw("<script").attr("src", asset_url(site, part)).raw(" defer></script>\n");
    }
  }
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
  // The compact entry to the offer: site.js turns it into "Get alerts" (opens this page's
  // opt-in card) or "Alerts on"; without the script it leads to the settings page.
  h.raw("<li><a class=\"nav-alerts\" href=\"/preferences\" data-alerts-entry");
  if (frame.kind == PageKind::kPreferences) h.raw(" aria-current=\"page\"");
  h.raw(">Notifications</a></li>\n");
  h.raw("<li><a class=\"nav-search\" href=\"/search\"");
  if (frame.kind == PageKind::kSearch) h.raw(" aria-current=\"page\"");
  h.raw("><svg class=\"icon\" viewBox=\"0 0 20 20\" width=\"18\" height=\"18\" ")
      .raw("aria-hidden=\"true\" focusable=\"false\"><circle cx=\"8.5\" cy=\"8.5\" r=\"5.5\" ")
      .raw("fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\"/><path d=\"M13 13l5 5\" ")
      .raw("stroke=\"currentColor\" stroke-width=\"2\" stroke-linecap=\"round\"/></svg>")
      .raw("<span class=\"visually-hidden\">Search</span></a></li>\n");
  h.raw("</ul>\n</nav>\n</div>\n</header>\n");
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
    h.raw("<p class=\"app-sheet-title\" id=\"app-sheet-title\">")
        .raw(frame.kind == PageKind::kLive ? "Follow this live event in the "
                                           : "Read this story in the ")
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
  h.raw("<aside class=\"optin\" id=\"optin\" data-optin hidden aria-labelledby=\"optin-title\">\n");
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

// The lead image, responsive: its width and height reserve the room before it loads (no
// layout shift), srcset and sizes tell the browser how wide it is drawn. `above_fold`: loaded
// at once with high priority (it is likely the page's largest paint); else lazily.
void article_image(Html& h, const Article& article, std::string_view css_class,
                   std::string_view sizes, bool above_fold) {
  if (!has_image(article)) return;
  h.raw("<img").attr("class", css_class).attr("src", article.image_url);
  // Every stored size, so the browser fetches the one its layout and screen need; without any,
  // the one file at the layout width.
  std::string srcset;
  for (const news::ImageRendition& r : usable_renditions(article)) {
    if (!srcset.empty()) srcset += ", ";
    srcset += r.url + " " + std::to_string(r.width) + "w";
  }
  if (srcset.empty()) srcset = article.image_url + " " + std::to_string(kImageWidth) + "w";
  h.attr("srcset", srcset);
  h.attr("sizes", sizes);
  h.attr("width", std::to_string(kImageWidth)).attr("height", std::to_string(kImageHeight));
  h.attr("alt", article.image_alt);
  h.raw(above_fold ? " fetchpriority=\"high\"" : " loading=\"lazy\"");
  h.raw(" decoding=\"async\">");
}

// Watch: the article's video in the browser's own player, above the text. preload="none": no
// bytes are fetched until the reader presses play; the lead image is the poster. HLS plays
// natively where the browser supports it (Safari); elsewhere the link opens the stream.
void watch_video(Html& h, const Article& article, std::string_view css_class) {
  if (article.video_url.empty() || !news::is_video_url(article.video_url)) return;
  h.raw("<figure").attr("class", css_class).raw(" data-watch>\n");
  h.raw("<video controls preload=\"none\" playsinline");
  if (has_image(article)) h.attr("poster", article.image_url);
  h.attr("width", std::to_string(kImageWidth)).attr("height", std::to_string(kImageHeight));
  h.attr("aria-label", "Video: " + article.headline).raw(">\n");
  h.raw("<source").attr("src", article.video_url).attr("type", news::video_type(article.video_url));
  h.raw(">\n</video>\n<figcaption><a").attr("href", article.video_url);
  h.raw(">Watch the video</a> if the player does not start.</figcaption>\n</figure>\n");
}

const LiveSignal* find_signal(std::span<const LiveSignal> signals, std::int64_t article_id) {
  for (const LiveSignal& signal : signals) {
    if (signal.article_id == article_id) return &signal;
  }
  return nullptr;
}

// "LIVE" and "Updated 5 min ago" (site.js makes the time relative; the server writes UTC).
void live_badge(Html& h, const LiveSignal* signal) {
  h.raw("<p class=\"story-live\"><span class=\"badge-live\">Live</span>");
  if (signal != nullptr && signal->updated_at > 0) {
    h.raw(" <span class=\"live-updated\">Updated ");
    h.time(signal->updated_at, short_display_time(signal->updated_at), "relative");
    h.raw("</span>");
  }
  h.raw("</p>\n");
}

// A story in a list: live events link to their live page, with their live signal.
void story_card(Html& h, const Article& article, bool lead, bool above_fold = false,
                const LiveSignal* signal = nullptr) {
  const bool live = article.category == Category::kLive;
  const std::string path = live ? live_path(article.slug) : article_path(article.slug);
  h.raw(lead ? "<article class=\"story story-lead\">\n" : "<article class=\"story\">\n");
  if (lead && has_image(article)) {
    article_image(h, article, "story-image", "(min-width: 760px) 440px, calc(100vw - 32px)",
                  above_fold);
    h.raw("\n");
  }
  if (live) live_badge(h, signal);
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

// The newest update of all live events, as one line above the sections.
void ticker(Html& h, std::span<const CategorySection> sections, std::span<const LiveSignal> live) {
  const LiveSignal* newest = nullptr;
  const Article* event = nullptr;
  for (const CategorySection& section : sections) {
    for (const Article& article : section.articles) {
      const LiveSignal* signal = find_signal(live, article.id);
      if (signal == nullptr || signal->latest_text.empty()) continue;
      if (newest == nullptr || signal->updated_at > newest->updated_at) {
        newest = signal;
        event = &article;
      }
    }
  }
  if (newest == nullptr) return;
  h.raw("<div class=\"ticker\" data-ticker>\n<a class=\"ticker-link\"")
      .attr("href", live_path(event->slug) + "#update-" + std::to_string(newest->update_id))
      .raw(">");
  h.raw("<span class=\"badge-live\">Live</span> <span class=\"ticker-event\">")
      .text(event->headline)
      .raw("</span> <span class=\"ticker-text\">")
      .text(shorten(newest->latest_text, 180))
      .raw("</span> ");
  h.time(newest->updated_at, short_display_time(newest->updated_at), "relative");
  h.raw("</a>\n</div>\n");
}

// Share: the Web Share API where the browser has it, else copying the link. Needs site.js:
// kept invisible (but taking its room, so nothing moves) until the script has set it up.
void share_buttons(Html& h, const SiteInfo& site, std::string_view path, std::string_view title) {
  h.raw("<div class=\"share\" data-share")
      .attr("data-share-url", site.base_url + std::string(path))
      .attr("data-share-title", title)
      .raw(">\n");
  h.raw("<button type=\"button\" class=\"button button-secondary button-small\" ")
      .raw("data-share-native hidden>Share</button>\n");
  h.raw("<button type=\"button\" class=\"button button-secondary button-small\" ")
      .raw("data-share-copy>Copy link</button>\n");
  h.raw("<p class=\"status\" data-share-status role=\"status\" aria-live=\"polite\"></p>\n");
  h.raw("</div>\n");
}

// "More <category>": the caller's pick of related stories, without the article itself.
void related_stories(Html& h, const Article& article, std::span<const Article> related) {
  std::vector<const Article*> shown;
  for (const Article& other : related) {
    if (other.id != article.id && other.slug != article.slug) shown.push_back(&other);
  }
  if (shown.empty()) return;
  h.raw("<aside class=\"related\" aria-labelledby=\"related-title\">\n");
  h.raw("<h2 class=\"section-title\" id=\"related-title\">More ")
      .text(ascii_lowercase(category_label(article.category)))
      .raw("</h2>\n<ul class=\"story-list\">\n");
  for (const Article* other : shown) {
    h.raw("<li>");
    story_card(h, *other, /*lead=*/false);
    h.raw("</li>\n");
  }
  h.raw("</ul>\n</aside>\n");
}

// Search text with kSearchMarkStart/kMarkEnd around matches: escaped, the markers (and only
// they) turned into <mark>. Unbalanced markers cannot unbalance the markup.
void marked_text(Html& h, std::string_view text) {
  bool open = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const bool end = i == text.size();
    if (!end && text[i] != kSearchMarkStart && text[i] != kSearchMarkEnd) continue;
    h.text(text.substr(start, i - start));
    start = i + 1;
    if (end) break;
    if (text[i] == kSearchMarkStart && !open) {
      h.raw("<mark>");
      open = true;
    } else if (text[i] == kSearchMarkEnd && open) {
      h.raw("</mark>");
      open = false;
    }
  }
  if (open) h.raw("</mark>");
}

// schema.org Organization for the publisher of every page.
void publisher_json(Json& j, const SiteInfo& site) {
  j.key("publisher").object().field("@type", "Organization").field("name", site.name);
  j.field("url", site.base_url + "/");
  j.key("logo").object().field("@type", "ImageObject");
  j.field("url", site.base_url + "/assets/icon-512.png");
  j.key("width").number(512).key("height").number(512).end_object();
  j.end_object();
}

void article_common_json(Json& j, const SiteInfo& site, const Article& article,
                         std::string_view url) {
  j.field("headline", shorten(article.headline, 110));
  if (!article.standfirst.empty()) j.field("description", article.standfirst);
  j.field("url", url).field("mainEntityOfPage", url);
  j.field("inLanguage", "en");
  j.field("articleSection", category_label(article.category));
  if (article.published_at > 0) j.field("datePublished", iso_time(article.published_at));
  if (has_image(article)) {
    const ShareImage shared = share_image(article);
    j.key("image").array().object().field("@type", "ImageObject");
    j.field("url", absolute_url(site, shared.url));
    j.key("width").number(shared.width).key("height").number(shared.height);
    j.field("caption", article.image_alt).end_object().end_array();
  }
  if (const std::string author = strip_byline_prefix(article.byline); !author.empty()) {
    j.key("author").array().object().field("@type", "Person").field("name", author);
    j.end_object().end_array();
  } else {
    j.key("author").array().object().field("@type", "Organization").field("name", site.name);
    j.end_object().end_array();
  }
  publisher_json(j, site);
}

std::string news_article_json_ld(const SiteInfo& site, const Article& article) {
  Json j;
  j.object().field("@context", "https://schema.org").field("@type", "NewsArticle");
  article_common_json(j, site, article, site.base_url + article_path(article.slug));
  j.field("dateModified", iso_time(std::max(article.updated_at, article.published_at)));
  if (!article.dateline.empty()) j.field("locationCreated", article.dateline);
  j.end_object();
  return j.take();
}

// At most this many updates go into liveBlogUpdate: the newest ones.
constexpr std::size_t kMaxJsonLdUpdates = 20;

std::string live_blog_json_ld(const SiteInfo& site, const Article& event,
                              std::span<const LiveUpdate> updates) {
  const std::string url = site.base_url + live_path(event.slug);
  std::int64_t modified = std::max(event.updated_at, event.published_at);
  for (const LiveUpdate& update : updates)
    modified = std::max({modified, update.time, update.edited_at});
  Json j;
  j.object().field("@context", "https://schema.org").field("@type", "LiveBlogPosting");
  article_common_json(j, site, event, url);
  if (modified > 0) j.field("dateModified", iso_time(modified));
  if (event.published_at > 0) j.field("coverageStartTime", iso_time(event.published_at));
  j.key("liveBlogUpdate").array();
  std::size_t written = 0;
  for (const LiveUpdate& update : updates) {
    if (written++ == kMaxJsonLdUpdates) break;
    const std::string text = html_to_text(update.text_html);
    j.object().field("@type", "BlogPosting");
    j.field("headline", shorten(text.empty() ? event.headline : text, 110));
    if (!text.empty()) j.field("articleBody", text);
    j.field("datePublished", iso_time(update.time));
    if (update.edited_at > 0) j.field("dateModified", iso_time(update.edited_at));
    j.field("url", update.id > 0 ? url + "#update-" + std::to_string(update.id) : url);
    j.end_object();
  }
  j.end_array().end_object();
  return j.take();
}

// An update's time, its "Corrected" line when it was corrected, and its text (the inside of
// one entry of a live page; site.js builds the same from the stream).
void live_update_content(Html& h, const LiveUpdate& update) {
  h.time(update.time, short_display_time(update.time), "short");
  if (update.edited_at > 0) {
    h.raw(" <span class=\"live-update-edited\" data-edited>Corrected ");
    h.time(update.edited_at, short_display_time(update.edited_at), "short").raw("</span>");
  }
  h.raw("\n<div class=\"live-update-body\">").raw(update.text_html).raw("</div>\n");
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

std::string render_home(const SiteInfo& site, std::span<const CategorySection> sections,
                        std::span<const LiveSignal> live) {
  Html h;
  Frame frame;
  frame.kind = PageKind::kHome;
  frame.title = site.name + " — Latest news";
  frame.canonical_path = "/";
  frame.og_type = "website";
  open_document(h, site, frame);
  h.raw("<div class=\"wrap\">\n<h1 class=\"visually-hidden\">").text(site.name);
  h.raw(": latest news</h1>\n");
  ticker(h, sections, live);
  bool first_image = true;
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
    const Article& lead = section.articles.front();
    // Only the first lead image is likely in view on load; the others wait until scrolled to.
    story_card(h, lead, /*lead=*/true, first_image && has_image(lead), find_signal(live, lead.id));
    if (has_image(lead)) first_image = false;
    if (section.articles.size() > 1) {
      h.raw("<ul class=\"story-list\">\n");
      for (std::size_t i = 1; i < section.articles.size(); ++i) {
        h.raw("<li>");
        story_card(h, section.articles[i], /*lead=*/false, false,
                   find_signal(live, section.articles[i].id));
        h.raw("</li>\n");
      }
      h.raw("</ul>\n");
    }
    h.raw("</div>\n</section>\n");
  }
  h.raw("<div class=\"home-optin\">\n");
  optin_card(h, site);
  h.raw("</div>\n</div>\n");
  close_document(h, site, frame);
  return h.take();
}

std::string render_article(const SiteInfo& site, const Article& article, std::string_view body_html,
                           std::span<const Article> related) {
  Html h;
  Frame frame;
  frame.kind = PageKind::kArticle;
  frame.title = article.headline + " — " + site.name;
  frame.description = article.standfirst;
  frame.canonical_path = article_path(article.slug);
  frame.article = &article;
  frame.json_ld = news_article_json_ld(site, article);
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
  if (!article.video_url.empty()) {
    watch_video(h, article, "story-video");
  } else if (has_image(article)) {
    h.raw("<figure class=\"story-figure\">");
    article_image(h, article, "story-figure-image", "(min-width: 760px) 720px, 100vw",
                  /*above_fold=*/true);
    h.raw("</figure>\n");
  }
  if (article.category == Category::kLive) {
    h.raw("<p class=\"live-link\"><a").attr("href", live_path(article.slug));
    h.raw("><span class=\"live-dot\" aria-hidden=\"true\"></span>Follow live updates</a></p>\n");
  }
  h.raw("<div class=\"story-body\">\n").raw(body_html).raw("</div>\n");
  share_buttons(h, site, frame.canonical_path, article.headline);
  h.raw("</article>\n");
  h.raw("<div class=\"wrap-narrow\">\n");
  optin_card(h, site);
  related_stories(h, article, related);
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
  Article event;
  event.slug = std::string(slug);
  event.headline = std::string(title);
  event.category = Category::kLive;
  event.published = true;
  return render_live(site, event, updates);
}

std::string render_live(const SiteInfo& site, const Article& event,
                        std::span<const LiveUpdate> updates) {
  Html h;
  Frame frame;
  frame.kind = PageKind::kLive;
  frame.title = "Live: " + event.headline + " — " + site.name;
  frame.description = event.standfirst;
  frame.canonical_path = live_path(event.slug);
  frame.article = &event;
  frame.json_ld = live_blog_json_ld(site, event, updates);
  if (const AppInfo* app = usable_app(site)) {
    frame.app_deep_link = app->scheme + "://live/" + encode_path_segment(event.slug);
  }
  open_document(h, site, frame);
  h.raw("<article class=\"wrap-narrow live-page\" data-live")
      .attr("data-events-url", live_path(event.slug) + "/events")
      .raw(">\n<header class=\"story-header\">\n");
  h.raw(
      "<p class=\"kicker kicker-live\"><span class=\"live-dot\" aria-hidden=\"true\"></span>"
      "Live</p>\n");
  h.raw("<h1 class=\"headline\">").text(event.headline).raw("</h1>\n");
  h.raw(
      "<p class=\"live-status\" data-live-status role=\"status\" aria-live=\"polite\">"
      "Newest updates first.</p>\n</header>\n");
  watch_video(h, event, "live-video");
  // The pinned update first; site.js fills and empties this block as pins come and go.
  const auto pinned = std::find_if(updates.begin(), updates.end(),
                                   [](const LiveUpdate& u) { return u.pinned && u.id > 0; });
  h.raw("<section class=\"live-pinned\" data-live-pinned aria-labelledby=\"live-pinned-title\"");
  if (pinned == updates.end()) h.raw(" hidden");
  h.raw(">\n<h2 class=\"live-pinned-label\" id=\"live-pinned-title\">Pinned</h2>\n");
  h.raw("<div class=\"live-update live-update-pinned\" data-pinned-update");
  if (pinned != updates.end()) {
    h.attr("data-update-id", std::to_string(pinned->id));
    h.raw(">\n");
    live_update_content(h, *pinned);
  } else {
    h.raw(">\n");
  }
  h.raw("</div>\n</section>\n");
  h.raw("<ol class=\"live-updates\" data-live-updates>\n");
  for (const LiveUpdate& update : updates) {
    const std::string id = std::to_string(update.id);
    h.raw("<li class=\"live-update\"").attr("id", "update-" + id).attr("data-update-id", id);
    if (update.pinned) h.raw(" data-pinned");
    h.raw(">\n");
    live_update_content(h, update);
    h.raw("</li>\n");
  }
  h.raw("</ol>\n");
  if (updates.empty()) {
    h.raw(
        "<p class=\"section-empty\" data-live-empty>No updates yet. New ones appear here "
        "automatically.</p>\n");
  }
  share_buttons(h, site, frame.canonical_path, event.headline);
  h.raw("</article>\n<div class=\"wrap-narrow\">\n");
  optin_card(h, site);
  h.raw("</div>\n");
  close_document(h, site, frame);
  return h.take();
}

std::string render_search(const SiteInfo& site, std::string_view query,
                          std::span<const SearchResult> results) {
  Html h;
  Frame frame;
  frame.kind = PageKind::kSearch;
  frame.title =
      query.empty() ? "Search — " + site.name : "Search: " + std::string(query) + " — " + site.name;
  frame.description = "Search the stories of " + site.name + ".";
  frame.canonical_path = "/search";
  open_document(h, site, frame);
  h.raw("<div class=\"wrap-narrow search-page\">\n<h1 class=\"page-title\">Search</h1>\n");
  h.raw("<form class=\"search-form\" role=\"search\" action=\"/search\" method=\"get\">\n");
  h.raw("<label for=\"search-q\">Search stories</label>\n<div class=\"search-row\">\n");
  h.raw("<input type=\"search\" id=\"search-q\" name=\"q\" maxlength=\"256\"")
      .raw(" autocomplete=\"off\" enterkeyhint=\"search\"")
      .attr("value", query)
      .raw(">\n");
  h.raw("<button type=\"submit\" class=\"button button-primary\">Search</button>\n");
  h.raw("</div>\n</form>\n");
  if (!query.empty()) {
    h.raw("<section class=\"search-results\" aria-labelledby=\"search-results-title\">\n");
    h.raw("<h2 class=\"section-title\" id=\"search-results-title\">");
    if (results.empty()) {
      h.raw("No results for “").text(query).raw("”</h2>\n");
      h.raw(
          "<p class=\"section-empty\" data-search-empty>No story matches every word. Try fewer "
          "or other words, or check the spelling.</p>\n");
      h.raw("<p><a href=\"/\">Go to the latest news</a></p>\n");
    } else {
      h.text(std::to_string(results.size()))
          .raw(results.size() == 1 ? " result for “" : " results for “")
          .text(query)
          .raw("”</h2>\n");
      h.raw("<ol class=\"search-list\">\n");
      for (const SearchResult& result : results) {
        const Article& a = result.article;
        const std::string path =
            a.category == Category::kLive ? live_path(a.slug) : article_path(a.slug);
        h.raw("<li class=\"search-result\">\n<h3 class=\"story-headline\"><a")
            .attr("href", path)
            .raw(">");
        marked_text(h, result.headline.empty() ? a.headline : result.headline);
        h.raw("</a></h3>\n");
        if (!result.snippet.empty()) {
          h.raw("<p class=\"search-snippet\">");
          marked_text(h, result.snippet);
          h.raw("</p>\n");
        }
        h.raw("<p class=\"story-meta\">").text(category_label(a.category)).raw(" · ");
        h.time(a.published_at, display_time(a.published_at)).raw("</p>\n</li>\n");
      }
      h.raw("</ol>\n");
    }
    h.raw("</section>\n");
  }
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
  text_field(h,
             {"article", "video_url", "Video URL (Watch)",
              "Optional: an https:// address or a path on this site of an .mp4, .webm or .m3u8 "
              "(HLS) video. Readers get a player above the text; the image is its poster."},
             " inputmode=\"url\" spellcheck=\"false\" autocapitalize=\"off\"");
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

// The live desk (newsroom-live.js): choose a live event, write an update with a preview, and
// see the event as readers do, each update with Edit, Delete, Pin and "Alert readers".
void newsroom_live(Html& h) {
  h.raw("<section class=\"panel nr-live\" data-nr-live-panel aria-labelledby=\"nr-live-title\">\n");
  h.raw("<div class=\"panel-head\">\n<h2 class=\"panel-title\" id=\"nr-live-title\">")
      .raw("Live desk</h2>\n");
  h.raw("<a class=\"button button-secondary button-small\" data-nr-live-open hidden>")
      .raw("Open the live page</a>\n</div>\n");
  h.raw("<div class=\"field nr-live-choose\">\n<label for=\"nr-live-event\">Live event</label>\n");
  h.raw("<select id=\"nr-live-event\" data-nr-live-event ")
      .raw("aria-describedby=\"nr-live-event-hint nr-live-event-error\">")
      .raw("\n<option value=\"\">Choose a live event…</option>\n</select>\n");
  h.raw("<p class=\"hint\" id=\"nr-live-event-hint\">Published articles in the Live events ")
      .raw("category. Publish one to start.</p>\n");
  h.raw("<p class=\"field-error\" id=\"nr-live-event-error\" hidden></p>\n</div>\n");
  h.raw("<p class=\"status\" data-nr-panel-status role=\"status\" aria-live=\"polite\"></p>\n");
  h.raw("<div class=\"nr-live-work\" data-nr-live-work hidden>\n<div class=\"nr-live-write\">\n");
  h.raw("<form class=\"nr-form\" data-nr-live-form novalidate>\n<fieldset class=\"nr-fieldset\">")
      .raw("\n<legend class=\"visually-hidden\">New update</legend>\n");
  textarea_field(
      h,
      {"live", "body_markdown", "New update (Markdown)",
       "Markdown: **bold**, *italic*, [link](/articles/slug), - list. Up to 20 KB.", true},
      6, " class=\"mono\" spellcheck=\"true\"");
  h.raw("</fieldset>\n<div class=\"actions\">\n");
  h.raw("<button type=\"submit\" class=\"button button-primary\" data-nr-live-post>")
      .raw("Post update</button>\n");
  h.raw("<button type=\"button\" class=\"button button-secondary\" data-nr-live-preview-button>")
      .raw("Preview</button>\n</div>\n");
  h.raw("<p class=\"status\" data-nr-form-status role=\"status\" aria-live=\"polite\" ")
      .raw("tabindex=\"-1\"></p>\n</form>\n");
  h.raw("<div class=\"nr-live-preview\" data-nr-live-preview hidden>\n")
      .raw("<h3 class=\"nr-live-subtitle\">Preview</h3>\n")
      .raw("<div class=\"live-update\"><div class=\"live-update-body\" data-nr-live-preview-body>")
      .raw("</div></div>\n</div>\n</div>\n");
  h.raw("<div class=\"nr-live-stream\">\n<h3 class=\"nr-live-subtitle\">As readers see it</h3>\n");
  h.raw("<section class=\"live-pinned\" data-nr-live-pinned hidden aria-label=\"Pinned update\">")
      .raw("\n<p class=\"live-pinned-label\">Pinned</p>\n")
      .raw("<div class=\"live-update live-update-pinned\" data-nr-live-pinned-body></div>\n")
      .raw("</section>\n");
  h.raw("<p class=\"hint\" data-nr-live-empty hidden>No updates yet.</p>\n");
  h.raw("<ol class=\"live-updates nr-live-updates\" data-nr-live-updates></ol>\n</div>\n");
  h.raw("</div>\n</section>\n");
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
  h.raw("</div>\n</div>\n");
  newsroom_live(h);
  h.raw("</div>\n</div>\n");
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

std::string plain_text(std::string_view html) { return html_to_text(html); }

std::string render_manifest(const SiteInfo& site) {
  Json j;
  j.object().field("name", site.name).field("short_name", site.name);
  if (!site.description.empty()) j.field("description", site.description);
  j.field("id", "/").field("start_url", "/").field("scope", "/");
  j.field("display", "standalone").field("orientation", "any");
  j.field("lang", "en").field("dir", "ltr");
  j.field("theme_color", "#a3101d").field("background_color", "#ffffff");
  j.key("categories").array().str("news").end_array();
  j.key("icons").array();
  j.object().field("src", asset_url(site, "/assets/icon.svg")).field("sizes", "any");
  j.field("type", "image/svg+xml").field("purpose", "any").end_object();
  for (const char* size : {"192", "512"}) {
    j.object().field("src", asset_url(site, std::string("/assets/icon-") + size + ".png"));
    j.field("sizes", std::string(size) + "x" + size).field("type", "image/png");
    j.field("purpose", "any").end_object();
  }
  j.object().field("src", asset_url(site, "/assets/icon-maskable-512.png"));
  j.field("sizes", "512x512").field("type", "image/png").field("purpose", "maskable");
  j.end_object();
  j.end_array().end_object();
  return j.take() + "\n";
}

std::string render_robots(const SiteInfo& site) {
  std::string out =
      "User-agent: *\n"
      "Disallow: /newsroom\n"
      "Disallow: /api/\n"
      "Allow: /\n\n";
  out += "Sitemap: " + site.base_url + "/sitemap.xml\n";
  out += "Sitemap: " + site.base_url + "/news-sitemap.xml\n";
  return out;
}

namespace {

void sitemap_url(std::string& out, std::string_view loc, std::int64_t lastmod) {
  out += "<url><loc>";
  append_escaped_xml(out, loc);
  out += "</loc>";
  if (lastmod > 0) out += "<lastmod>" + iso_time(lastmod) + "</lastmod>";
  out += "</url>\n";
}

// Google News keeps articles of the last two days; older ones must not be listed.
constexpr std::int64_t kNewsSitemapWindow = 48 * 3600;

}  // namespace

std::string render_sitemap(const SiteInfo& site, std::span<const Article> articles) {
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";
  std::int64_t newest = 0;
  for (const Article& a : articles) newest = std::max({newest, a.published_at, a.updated_at});
  sitemap_url(out, site.base_url + "/", newest);
  for (const Article& a : articles) {
    const std::int64_t modified = std::max(a.published_at, a.updated_at);
    sitemap_url(out, site.base_url + article_path(a.slug), modified);
    if (a.category == Category::kLive) {
      sitemap_url(out, site.base_url + live_path(a.slug), modified);
    }
  }
  out += "</urlset>\n";
  return out;
}

std::string render_news_sitemap(const SiteInfo& site, std::span<const Article> articles,
                                std::int64_t now) {
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" "
      "xmlns:news=\"http://www.google.com/schemas/sitemap-news/0.9\">\n";
  for (const Article& a : articles) {
    if (!a.published || a.published_at <= 0 || a.published_at < now - kNewsSitemapWindow) {
      continue;
    }
    const std::string path =
        a.category == Category::kLive ? live_path(a.slug) : article_path(a.slug);
    out += "<url><loc>";
    append_escaped_xml(out, site.base_url + path);
    out += "</loc>\n<news:news><news:publication><news:name>";
    append_escaped_xml(out, site.name);
    out += "</news:name><news:language>en</news:language></news:publication>\n";
    out += "<news:publication_date>" + iso_time(a.published_at) + "</news:publication_date>\n";
    out += "<news:title>";
    append_escaped_xml(out, a.headline);
    out += "</news:title></news:news></url>\n";
  }
  out += "</urlset>\n";
  return out;
}

}  // namespace flashwire::site
