#include "site/html.h"

#include <array>
#include <cstdint>

#include "common/utf8.h"

namespace flashwire::site {
namespace {

// Returns the replacement for `c` in HTML/XML text, or an empty view to copy it as is.
std::string_view entity_for(char c) {
  switch (c) {
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '\'':
      return "&#39;";  // &apos; is not an HTML 4 entity; the numeric form works everywhere
    default:
      return {};
  }
}

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

void append_escaped_html(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size());
  for (char c : text) {
    if (auto entity = entity_for(c); !entity.empty()) {
      out += entity;
    } else {
      out += c;
    }
  }
}

std::string escape_html(std::string_view text) {
  std::string out;
  append_escaped_html(out, text);
  return out;
}

void append_escaped_xml(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const auto byte = static_cast<std::uint8_t>(c);
    if (byte < 0x80) {
      // XML 1.0 allows only tab, newline and carriage return below U+0020.
      if (byte < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        ++i;
        continue;
      }
      if (auto entity = entity_for(c); !entity.empty()) {
        out += entity;
      } else {
        out += c;
      }
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
}

std::string escape_xml(std::string_view text) {
  std::string out;
  append_escaped_xml(out, text);
  return out;
}

bool is_safe_url(std::string_view url) {
  // WHATWG URL parsing: strip leading C0 controls and spaces, ignore tabs and newlines
  // anywhere, then a scheme is an ASCII letter followed by letters, digits, '+', '-', '.'
  // up to the first ':'. Anything else before a ':' means there is no scheme: a relative URL.
  std::size_t start = 0;
  while (start < url.size() && static_cast<std::uint8_t>(url[start]) <= 0x20) ++start;
  std::string scheme;
  for (std::size_t i = start; i < url.size(); ++i) {
    const char c = url[i];
    if (c == '\t' || c == '\n' || c == '\r') continue;
    if (c == ':') {
      if (scheme.empty()) return true;  // ":foo" is a relative path
      return scheme == "http" || scheme == "https" || scheme == "mailto" || scheme == "tel";
    }
    const bool scheme_char =
        is_ascii_alpha(c) ||
        (!scheme.empty() && (is_ascii_digit(c) || c == '+' || c == '-' || c == '.'));
    if (!scheme_char) return true;  // no scheme: relative
    scheme += ascii_lower(c);
  }
  return true;  // no ':' at all: relative
}

}  // namespace flashwire::site
