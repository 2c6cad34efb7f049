#include "news/article.h"

#include <algorithm>
#include <array>

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

}  // namespace flashwire::news
