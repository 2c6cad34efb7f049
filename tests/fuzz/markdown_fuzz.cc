// render_markdown on any text, and is_safe_url on any URL. The property is the one the site
// relies on for editor input: the HTML that comes out has no raw tag (only the elements and
// attributes the renderer itself writes) and no href or src a browser would run as
// javascript:, data:, vbscript: or any scheme but http, https, mailto and tel. Each URL is read
// the way a browser does: character references decoded, leading C0 controls and spaces dropped,
// tabs and newlines removed, scheme case-insensitive — written here independently of
// site::is_safe_url, which is also checked against it directly.
#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "site/html.h"
#include "site/markdown.h"

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The scheme a browser finds in `url` (lower case), or "" for a relative URL.
std::string browser_scheme(std::string_view url) {
  std::string cleaned;
  std::size_t start = 0;
  while (start < url.size() && static_cast<unsigned char>(url[start]) <= 0x20) ++start;
  for (std::size_t i = start; i < url.size(); ++i)
    if (url[i] != '\t' && url[i] != '\n' && url[i] != '\r') cleaned += url[i];
  if (cleaned.empty() || !is_alpha(cleaned[0])) return "";
  std::string scheme;
  for (const char c : cleaned) {
    if (c == ':') return scheme;
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return "";
    scheme += static_cast<char>(c | 0x20);
  }
  return "";  // no ':'
}

bool browser_would_follow_safely(std::string_view url) {
  const std::string scheme = browser_scheme(url);
  return scheme.empty() || scheme == "http" || scheme == "https" || scheme == "mailto" ||
         scheme == "tel";
}

std::uint32_t number(std::string_view digits, int base) {
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  FUZZ_CHECK(ec == std::errc() && end == digits.data() + digits.size(),
             "numeric character references are well-formed");
  return value;
}

// An attribute value as the browser reads it: character references decoded.
std::string decode_references(std::string_view value) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '&') {
      out += value[i];
      continue;
    }
    const auto semicolon = value.find(';', i);
    FUZZ_CHECK(semicolon != std::string_view::npos, "every '&' in an attribute is a reference");
    const std::string_view name = value.substr(i + 1, semicolon - i - 1);
    std::uint32_t code = 0;
    if (name == "amp")
      code = '&';
    else if (name == "lt")
      code = '<';
    else if (name == "gt")
      code = '>';
    else if (name == "quot")
      code = '"';
    else if (name == "#39")
      code = '\'';
    else if (name.starts_with("#x") || name.starts_with("#X"))
      code = number(name.substr(2), 16);
    else if (name.starts_with("#"))
      code = number(name.substr(1), 10);
    else
      FUZZ_CHECK(false, "only known character references in attributes");
    out += code < 0x80 ? static_cast<char>(code) : '?';
    i = semicolon;
  }
  return out;
}

struct Element {
  std::string_view name;
  std::array<std::string_view, 3> attributes;
};
// What cmark-gfm's HTML renderer writes, with the table, strikethrough and autolink extensions.
constexpr std::array<Element, 27> kElements{{
    {"p", {}},
    {"h1", {}},
    {"h2", {}},
    {"h3", {}},
    {"h4", {}},
    {"h5", {}},
    {"h6", {}},
    {"blockquote", {}},
    {"ul", {}},
    {"ol", {"start"}},
    {"li", {}},
    {"pre", {"lang"}},
    {"code", {"class"}},
    {"hr", {}},
    {"br", {}},
    {"em", {}},
    {"strong", {}},
    {"del", {}},
    {"a", {"href", "title"}},
    {"img", {"src", "alt", "title"}},
    {"table", {}},
    {"thead", {}},
    {"tbody", {}},
    {"tr", {}},
    {"th", {"align"}},
    {"td", {"align"}},
    {"sup", {}},
}};

void check_html(std::string_view html) {
  for (std::size_t i = html.find('<'); i != std::string_view::npos; i = html.find('<', i + 1)) {
    const auto end = html.find('>', i);
    FUZZ_CHECK(end != std::string_view::npos, "every '<' starts a complete tag");
    std::string_view tag = html.substr(i + 1, end - i - 1);
    if (tag.starts_with('/')) tag.remove_prefix(1);
    if (tag.ends_with('/')) tag.remove_suffix(1);
    std::size_t name_end = 0;
    while (name_end < tag.size() && (is_alpha(tag[name_end]) || is_digit(tag[name_end])))
      ++name_end;
    const std::string_view name = tag.substr(0, name_end);
    const auto element = std::find_if(kElements.begin(), kElements.end(),
                                      [&](const Element& e) { return e.name == name; });
    if (element == kElements.end()) {
      std::fprintf(stderr, "raw tag in output: <%.*s>\n", static_cast<int>(tag.size()), tag.data());
      FUZZ_CHECK(false, "only elements the renderer writes");
    }
    // Attributes: ` name="value"`, values escaped (no '"' inside).
    std::string_view rest = tag.substr(name_end);
    while (!rest.empty()) {
      while (rest.starts_with(' ')) rest.remove_prefix(1);
      if (rest.empty()) break;
      const auto eq = rest.find("=\"");
      FUZZ_CHECK(eq != std::string_view::npos, "attributes are name=\"value\"");
      const std::string_view attribute = rest.substr(0, eq);
      const auto close = rest.find('"', eq + 2);
      FUZZ_CHECK(close != std::string_view::npos, "attribute values are quoted");
      const std::string_view value = rest.substr(eq + 2, close - eq - 2);
      if (std::find(element->attributes.begin(), element->attributes.end(), attribute) ==
          element->attributes.end()) {
        std::fprintf(stderr, "unexpected attribute %.*s on <%.*s>\n",
                     static_cast<int>(attribute.size()), attribute.data(),
                     static_cast<int>(name.size()), name.data());
        FUZZ_CHECK(false, "only attributes the renderer writes");
      }
      if (attribute == "href" || attribute == "src") {
        const std::string url = decode_references(value);
        if (!browser_would_follow_safely(url))
          std::fprintf(stderr, "unsafe %s: %s\n", std::string(attribute).c_str(), url.c_str());
        FUZZ_CHECK(browser_would_follow_safely(url), "no unsafe href or src in the output");
      }
      rest = rest.substr(close + 1);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  FUZZ_CHECK(flashwire::site::is_safe_url(text) == browser_would_follow_safely(text),
             "is_safe_url agrees with a browser's reading of the scheme");
  if (size > 64 * 1024) return 0;  // article bodies are capped at 100 KB; keep runs fast
  check_html(flashwire::site::render_markdown(text));
  return 0;
}
