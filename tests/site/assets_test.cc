#include "site/assets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "site/pages.h"

namespace flashwire::site {
namespace {

using ::testing::HasSubstr;

std::string read_source_file(const std::string& relative) {
  std::ifstream in(std::string(FLASHWIRE_WEB_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

TEST(Assets, HasTheServiceWorkerScriptStyleSheetAndIcon) {
  struct Expected {
    std::string_view path;
    std::string_view content_type;
    std::string_view source;
  };
  const Expected expected[] = {
      {"/sw.js", "text/javascript; charset=utf-8", "sw.js"},
      {"/assets/site.js", "text/javascript; charset=utf-8", "assets/site.js"},
      {"/assets/site.css", "text/css; charset=utf-8", "assets/site.css"},
      {"/assets/icon.svg", "image/svg+xml", "assets/icon.svg"},
      {"/assets/newsroom.js", "text/javascript; charset=utf-8", "assets/newsroom.js"},
      {"/assets/newsroom.css", "text/css; charset=utf-8", "assets/newsroom.css"},
  };
  for (const auto& e : expected) {
    const Asset* asset = find_asset(e.path);
    ASSERT_NE(asset, nullptr) << e.path;
    EXPECT_EQ(asset->content_type, e.content_type) << e.path;
    EXPECT_FALSE(asset->body.empty()) << e.path;
    // Byte for byte what is in web/.
    EXPECT_EQ(asset->body, read_source_file(std::string(e.source))) << e.path;
  }
  EXPECT_EQ(find_asset("/assets/missing.js"), nullptr);
  EXPECT_EQ(find_asset("sw.js"), nullptr);  // paths are absolute URL paths
}

// The pixel size a WebP file declares (lossy "VP8 ", lossless "VP8L" or extended "VP8X"), or
// {0, 0} when the bytes are no WebP file.
std::pair<int, int> webp_size(std::string_view b) {
  const auto u = [&](std::size_t i) { return static_cast<int>(static_cast<unsigned char>(b[i])); };
  if (b.size() < 30 || b.substr(0, 4) != "RIFF" || b.substr(8, 4) != "WEBP") return {0, 0};
  const std::string_view chunk = b.substr(12, 4);
  if (chunk == "VP8 " && b.substr(23, 3) == "\x9d\x01\x2a") {
    return {(u(26) | u(27) << 8) & 0x3fff, (u(28) | u(29) << 8) & 0x3fff};
  }
  if (chunk == "VP8L" && u(20) == 0x2f) {
    const int bits = u(21) | u(22) << 8 | u(23) << 16 | u(24) << 24;
    return {(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
  }
  if (chunk == "VP8X") {
    return {(u(24) | u(25) << 8 | u(26) << 16) + 1, (u(27) | u(28) << 8 | u(29) << 16) + 1};
  }
  return {0, 0};
}

// Every demo drawing ships WebP renditions at the widths the demo stories list, 16:9 like the
// drawing, so that a srcset's "960w" is a file 960 pixels wide.
TEST(Assets, DemoDrawingsHaveWebpRenditionsOfTheirDeclaredWidths) {
  std::size_t drawings = 0;
  for (const Asset& asset : assets()) {
    if (!asset.path.starts_with("/assets/demo/") || !asset.path.ends_with(".svg")) continue;
    ++drawings;
    const std::string stem(asset.path.substr(0, asset.path.size() - 4));
    for (const int width : {480, 960, 1440}) {
      const std::string path = stem + "-" + std::to_string(width) + ".webp";
      const Asset* rendition = find_asset(path);
      ASSERT_NE(rendition, nullptr) << path;
      EXPECT_EQ(rendition->content_type, "image/webp") << path;
      EXPECT_EQ(webp_size(rendition->body), std::make_pair(width, width * 9 / 16)) << path;
      EXPECT_LT(rendition->body.size(), 32u * 1024) << path << ": small enough for a phone";
    }
  }
  EXPECT_EQ(drawings, 6u);
  EXPECT_EQ(webp_size("RIFF0000WEBPVP8 and then nothing useful"), std::make_pair(0, 0));
}

TEST(Assets, PathsAreUniqueAndSorted) {
  std::set<std::string_view> seen;
  std::string_view previous;
  for (const Asset& asset : assets()) {
    EXPECT_TRUE(seen.insert(asset.path).second) << asset.path;
    EXPECT_LT(previous, asset.path);
    EXPECT_EQ(asset.path.substr(0, 1), "/");
    previous = asset.path;
  }
}

// Nothing is fetched from anywhere else: no third-party scripts, fonts, images or beacons. The
// only absolute URL allowed is the SVG namespace name, an identifier that is never fetched.
// True if `text` has "//host.tld" anywhere (an absolute or scheme-relative URL).
bool contains_host_reference(std::string_view text) {
  for (std::size_t at = text.find("//"); at != std::string_view::npos;
       at = text.find("//", at + 2)) {
    std::size_t end = at + 2;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) ||
                                 text[end] == '.' || text[end] == '-')) {
      ++end;
    }
    const std::string_view host = text.substr(at + 2, end - at - 2);
    const std::size_t dot = host.rfind('.');
    if (dot != std::string_view::npos && host.size() - dot > 2) return true;
  }
  return false;
}

TEST(Assets, VersionIsAStableFingerprint) {
  const std::string& version = assets_version();
  ASSERT_EQ(version.size(), 16u);
  EXPECT_EQ(version.find_first_not_of("0123456789abcdef"), std::string::npos) << version;
  EXPECT_EQ(&assets_version(), &version) << "computed once";
  EXPECT_NE(version, std::string(16, '0'));
}

TEST(Assets, ReferenceNoOtherOrigins) {
  ASSERT_TRUE(contains_host_reference("url(//fonts.example.com/a.woff2)"));  // the check works
  ASSERT_FALSE(contains_host_reference("// a comment\nx = 1; // another"));
  for (const Asset& asset : assets()) {
    std::string body(asset.body);
    const std::string svg_namespace = "http://www.w3.org/2000/svg";
    for (std::size_t at = body.find(svg_namespace); at != std::string::npos;
         at = body.find(svg_namespace)) {
      body.erase(at, svg_namespace.size());
    }
    EXPECT_THAT(body, ::testing::Not(HasSubstr("http://"))) << asset.path;
    EXPECT_THAT(body, ::testing::Not(HasSubstr("https://"))) << asset.path;
    EXPECT_FALSE(contains_host_reference(body)) << asset.path;
    EXPECT_THAT(body, ::testing::Not(HasSubstr("@import"))) << asset.path;
  }
}

TEST(Assets, ScriptsDoWhatThePagesAndServerExpect) {
  const std::string_view sw = find_asset("/sw.js")->body;
  for (std::string_view needle :
       {"'push'", "'notificationclick'", "'notificationclose'", "'pushsubscriptionchange'",
        "showNotification", "'/api/events'", "keepalive: true", "'/api/vapid-public-key'",
        "replaces", "openWindow", "getSubscription()", "auth: keys.auth"}) {
    EXPECT_THAT(sw, HasSubstr(needle)) << needle;
  }
  const std::string_view js = find_asset("/assets/site.js")->body;
  for (std::string_view needle :
       {"userVisibleOnly: true", "'/api/subscriptions'", "method: 'DELETE'", "'/sw.js'",
        "fw_app_sheet=dismissed", "Max-Age=31536000; SameSite=Lax; Path=/", "EventSource",
        "localStorage", "requestPermission", "userAgentData"}) {
    EXPECT_THAT(js, HasSubstr(needle)) << needle;
  }
  // No eval-like constructs a strict CSP would block.
  for (std::string_view forbidden : {"eval(", "new Function", "setTimeout('", "document.write"}) {
    EXPECT_THAT(js, ::testing::Not(HasSubstr(forbidden))) << forbidden;
    EXPECT_THAT(sw, ::testing::Not(HasSubstr(forbidden))) << forbidden;
  }
}

// The newsroom keeps its editor token in this tab only and sends it only to the newsroom API.
TEST(Assets, NewsroomScriptKeepsTheTokenInTheTab) {
  const std::string_view js = find_asset("/assets/newsroom.js")->body;
  for (std::string_view needle :
       {"sessionStorage", "'/api/newsroom/'", "Authorization: `Bearer ${state.token}`",
        "credentials: 'omit'", "'Content-Type'", "{ confirm: true }", "/cancel`", "'audience'",
        "delivery", "textContent"}) {
    EXPECT_THAT(js, HasSubstr(needle)) << needle;
  }
  for (std::string_view forbidden :
       {"localStorage", "document.cookie", "innerHTML", "outerHTML", "insertAdjacentHTML", "eval(",
        "new Function", "document.write", ".style."}) {
    EXPECT_THAT(js, ::testing::Not(HasSubstr(forbidden))) << forbidden;
  }
}

// Every /assets/ URL a page references exists.
TEST(Assets, PagesReferenceOnlyEmbeddedAssets) {
  SiteInfo site;
  site.name = "Flashwire";
  site.vapid_public_key = "key";
  site.asset_version = "abc123";
  news::Article article;
  article.slug = "a";
  article.headline = "A";
  const std::string pages[] = {render_home(site, {}), render_article(site, article, ""),
                               render_preferences(site), render_live(site, "a", "A", {}),
                               render_not_found(site)};
  for (const std::string& page : pages) {
    std::size_t found = 0;
    for (std::size_t at = page.find("=\"/assets/"); at != std::string::npos;
         at = page.find("=\"/assets/", at + 1)) {
      ++found;
      const std::size_t start = at + 2;
      const std::string url = page.substr(start, page.find('"', start) - start);
      const std::string path = url.substr(0, url.find('?'));
      EXPECT_NE(find_asset(path), nullptr) << url;
      EXPECT_EQ(url, path + "?v=abc123") << "no version on " << url;
    }
    EXPECT_EQ(found, 4u);  // icon, touch icon, style sheet, script
  }
  // The manifest's icons, too.
  const std::string manifest = render_manifest(site);
  std::size_t icons = 0;
  for (std::size_t at = manifest.find("\"/assets/"); at != std::string::npos;
       at = manifest.find("\"/assets/", at + 1)) {
    ++icons;
    const std::string url = manifest.substr(at + 1, manifest.find('"', at + 1) - at - 1);
    const Asset* icon = find_asset(url.substr(0, url.find('?')));
    ASSERT_NE(icon, nullptr) << url;
    EXPECT_TRUE(icon->content_type == "image/png" || icon->content_type == "image/svg+xml") << url;
    if (icon->content_type == "image/png") {
      // A real PNG whose IHDR width is the size the manifest states ("sizes":"512x512").
      ASSERT_GT(icon->body.size(), 24u);
      EXPECT_EQ(icon->body.substr(0, 8), std::string_view("\x89PNG\r\n\x1a\n", 8)) << url;
      const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(icon->body[i]); };
      const unsigned width = byte(16) << 24 | byte(17) << 16 | byte(18) << 8 | byte(19);
      const std::size_t sizes = manifest.find("\"sizes\":\"", at);
      EXPECT_EQ(manifest.substr(sizes + 9, manifest.find('x', sizes) - sizes - 9),
                std::to_string(width))
          << url;
    }
  }
  EXPECT_EQ(icons, 4u);  // SVG, 192, 512, maskable 512
  const std::string newsroom = render_newsroom(site);
  std::size_t found = 0;
  for (std::size_t at = newsroom.find("=\"/assets/"); at != std::string::npos;
       at = newsroom.find("=\"/assets/", at + 1)) {
    ++found;
    const std::size_t start = at + 2;
    const std::string url = newsroom.substr(start, newsroom.find('"', start) - start);
    EXPECT_NE(find_asset(url.substr(0, url.find('?'))), nullptr) << url;
  }
  EXPECT_EQ(found, 8u);  // icon, touch icon, the two style sheets, newsroom.js and its three parts
}

}  // namespace
}  // namespace flashwire::site
