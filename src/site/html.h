// Escaping and URL helpers for the reader-facing pages: every value the site interpolates into
// HTML or XML goes through one of these.
//
// Contract:
// - escape_html escapes the five characters that matter in element content and in quoted
//   attribute values (& < > " '), so one function is right in both places; pages always quote
//   attributes with double quotes.
// - escape_xml does the same and also makes the text well-formed XML 1.0: invalid UTF-8
//   becomes U+FFFD and control characters XML forbids are dropped (a feed reader rejects the
//   whole document over one stray byte, a browser does not).
// - encode_path_segment (the domain's, news/article.h) percent-encodes everything but RFC 3986
//   unreserved characters, so the result is one path segment whatever the input ("a/b" becomes
//   "a%2Fb").
// - is_safe_url decides whether a URL may become an href or src: relative URLs and the
//   http, https, mailto and tel schemes pass; javascript:, data:, vbscript:, file: and every
//   other scheme do not. It parses the scheme as browsers do (leading spaces and control
//   characters ignored, tabs and newlines removed, case-insensitive), so "JaVa\tScript:" is
//   caught too.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "news/article.h"

namespace flashwire::site {

std::string escape_html(std::string_view text);
void append_escaped_html(std::string& out, std::string_view text);

std::string escape_xml(std::string_view text);
void append_escaped_xml(std::string& out, std::string_view text);

using news::encode_path_segment;

bool is_safe_url(std::string_view url);

}  // namespace flashwire::site
