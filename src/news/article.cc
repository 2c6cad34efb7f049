#include "news/article.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace flashwire::news {
namespace {

bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool is_unreserved(char c) {
  return is_lower_or_digit(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; }

}  // namespace

bool is_slug(std::string_view slug) {
  return !slug.empty() && slug.size() <= kMaxSlugSize &&
         std::all_of(slug.begin(), slug.end(),
                     [](char c) { return is_lower_or_digit(c) || c == '-'; });
}

std::string encode_path_segment(std::string_view segment) {
  static constexpr std::array<char, 16> kHex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                '8', '9', 'A', 'B', 'C', 'D', 'E', 'F'};
  std::string out;
  out.reserve(segment.size());
  for (const char c : segment) {
    if (is_unreserved(c)) {
      out += c;
    } else {
      const auto byte = static_cast<std::uint8_t>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    }
  }
  return out;
}

std::string article_path(std::string_view slug) { return "/articles/" + encode_path_segment(slug); }

std::string live_path(std::string_view slug) { return "/live/" + encode_path_segment(slug); }

std::string reader_path(const Article& article) {
  return article.category == Category::kLive ? live_path(article.slug) : article_path(article.slug);
}

bool is_site_path(std::string_view url) {
  return url.starts_with('/') && !url.starts_with("//") &&
         url.find('\\') == std::string_view::npos &&
         std::none_of(url.begin(), url.end(), is_control) &&
         url.find(' ') == std::string_view::npos;
}

bool is_url_on_site(std::string_view url, std::string_view origin) {
  if (is_site_path(url)) return true;
  if (origin.empty() || !url.starts_with(origin)) return false;
  const std::string_view rest = url.substr(origin.size());
  return rest.empty() || (rest.starts_with('/') && is_site_path(rest));
}

namespace {
// "host[:port]" of an https:// URL, or "" when it is not one.
std::string_view https_authority(std::string_view url) {
  constexpr std::string_view kHttps = "https://";
  if (!url.starts_with(kHttps)) return {};
  url.remove_prefix(kHttps.size());
  return url.substr(0, url.find_first_of("/?#"));
}
std::string lower_path(std::string_view url) {
  std::string path(url.substr(0, url.find_first_of("?#")));
  for (char& c : path) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return path;
}
}  // namespace

bool is_video_url(std::string_view url) {
  if (url.empty() || url.size() > 2048) return false;
  const std::string_view authority = https_authority(url);
  if (url.starts_with("https://")) {
    const std::size_t colon = authority.find(':');
    const std::string_view host = authority.substr(0, colon);
    const std::string_view port =
        colon == std::string_view::npos ? std::string_view() : authority.substr(colon + 1);
    const bool host_ok = !host.empty() && host.find_first_not_of(
                                              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789.-") == std::string_view::npos;
    const bool port_ok = colon == std::string_view::npos ||
                         (!port.empty() && port.size() <= 5 &&
                          port.find_first_not_of("0123456789") == std::string_view::npos);
    if (!host_ok || !port_ok) return false;
  } else if (!is_site_path(url)) {
    return false;
  }
  for (const char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\')
      return false;
  }
  const std::string path = lower_path(url);
  return path.ends_with(".mp4") || path.ends_with(".webm") || path.ends_with(".m3u8");
}

bool is_image_url(std::string_view url) {
  if (url.empty() || url.size() > 2048) return false;
  if (!url.starts_with("https://") && !is_site_path(url)) return false;
  if (url.starts_with("https://") && url.size() == 8) return false;
  return std::none_of(url.begin(), url.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
           c == ',';
  });
}

std::string video_origin(std::string_view url) {
  const std::string_view authority = https_authority(url);
  if (authority.empty()) return {};
  std::string origin = "https://";
  for (const char c : authority)
    origin += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return origin;
}

std::string_view video_type(std::string_view url) {
  const std::string path = lower_path(url);
  if (path.ends_with(".webm")) return "video/webm";
  if (path.ends_with(".m3u8")) return "application/vnd.apple.mpegurl";
  return "video/mp4";
}

}  // namespace flashwire::news
