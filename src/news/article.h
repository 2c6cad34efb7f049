// Articles and live-event updates, and the rules for their slugs and addresses: the one copy
// the newsroom (what editors may send), the site (the links it renders and the paths it serves)
// and the store (what its schema holds) all follow.
//
// Addresses:
//   /articles/<slug>   an article (any category)
//   /live/<slug>       a live event: a published live-category article and its updates
// Pure values and functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "news/category.h"

namespace flashwire::news {

// One stored size of an article's lead image: a file of `width` pixels across, which pages list
// in the image's srcset so that each reader's browser fetches the size its screen needs.
struct ImageRendition {
  std::string url;  // is_image_url
  int width = 0;    // pixels, 1..kMaxImageWidth

  bool operator==(const ImageRendition&) const = default;
};
inline constexpr std::size_t kMaxImageRenditions = 8;
inline constexpr int kMaxImageWidth = 10000;

struct Article {
  std::int64_t id = 0;  // assigned by the store
  std::string slug;     // unique, URL-safe: is_slug
  std::string headline;
  std::string standfirst;  // one-paragraph summary under the headline
  std::string byline;      // "By Ana Ruiz"
  std::string dateline;    // "LISBON"
  Category category = Category::kBreaking;
  std::string image_url;  // may be empty
  std::string image_alt;  // required when image_url is set
  // Sizes of the lead image (only with image_url), at most kMaxImageRenditions, each of its own
  // width; may be empty (pages then list image_url alone).
  std::vector<ImageRendition> image_renditions;
  // May be empty: a video readers can watch on the page ("Watch"), an https:// URL or a path on
  // this site of an MP4, WebM or HLS (.m3u8) file: is_video_url.
  std::string video_url;
  std::string body_markdown;
  bool published = false;
  std::int64_t published_at = 0;  // Unix seconds; 0 while a draft
  std::int64_t updated_at = 0;
  std::string created_by;  // the editor token's name that created it; set once, on create
};

// One entry of a live event (a published live-category article), shown newest first on its page
// and streamed to readers as it is posted. Ids grow with every update and are never reused, so
// they double as Server-Sent Events ids ("give me what came after N").
struct LiveUpdate {
  std::int64_t id = 0;          // assigned by the store
  std::int64_t article_id = 0;  // the live event
  std::string body_markdown;    // not empty
  std::int64_t created_at = 0;  // Unix seconds
  std::string created_by;       // API token name
  // The live desk's changes. A deleted update stays stored (its id is never reused) but is
  // shown nowhere; at most one update of an event is pinned (shown first on its page).
  std::int64_t edited_at = 0;  // Unix seconds of the last correction; 0 if never corrected
  bool deleted = false;
  bool pinned = false;
  // Grows with every change to the event's updates (posted, corrected, deleted, pinned or
  // unpinned): each update touched gets a revision above every earlier one of its event, so a
  // reader of the store catches up with "what changed after revision N".
  std::int64_t revision = 0;
};

inline constexpr std::size_t kMaxSlugSize = 120;

// A slug is 1 to kMaxSlugSize characters of a-z, 0-9 and '-': one path segment as it is.
bool is_slug(std::string_view slug);

// Percent-encodes everything but RFC 3986 unreserved characters, so the result is one path
// segment whatever the input ("a/b" becomes "a%2Fb").
std::string encode_path_segment(std::string_view segment);

// "/articles/<slug>" and "/live/<slug>", the slug encoded as one path segment (a valid slug is
// left as it is).
std::string article_path(std::string_view slug);
std::string live_path(std::string_view slug);
// Where readers follow `article`: live_path for the live category, else article_path.
std::string reader_path(const Article& article);

// A video address an article may carry: at most 2048 bytes, "https://" with a host of letters,
// digits, dots and hyphens (and an optional port) or a site path (is_site_path), no spaces,
// control characters, quotes or angle brackets, and a path (before any ?query or #fragment)
// ending in .mp4, .webm or .m3u8 (case-insensitive).
bool is_video_url(std::string_view url);
// The origin of an https:// video URL ("https://video.example" or "https://host:8443"), which
// a page's Content-Security-Policy must allow as a media source; "" for a path on this site.
// For URLs that pass is_video_url only.
std::string video_origin(std::string_view url);
// The MIME type a <source> announces for the video: video/mp4, video/webm or
// application/vnd.apple.mpegurl (HLS).
std::string_view video_type(std::string_view url);

// An image address an article may carry (image_url, a rendition's url): at most 2048 bytes, an
// "https://" URL or a site path (is_site_path), without spaces, control characters, quotes,
// angle brackets, backslashes or commas (srcset separates its candidates with commas).
bool is_image_url(std::string_view url);

// A path on this site: "/..." but not "//host" (scheme-relative), without a backslash (which
// some browsers read as "/"), spaces or control characters.
bool is_site_path(std::string_view url);
// A path on this site, or an absolute URL on exactly `origin` ("https://news.example", no
// trailing slash) followed by nothing or by such a path. An empty origin admits paths only.
bool is_url_on_site(std::string_view url, std::string_view origin);

}  // namespace flashwire::news
