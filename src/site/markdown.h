// Article bodies: GitHub-flavoured Markdown to a safe HTML fragment, with cmark-gfm.
//
// What comes out:
// - CommonMark plus the GFM tables, strikethrough (~~x~~) and autolink (www.example.com,
//   https://…) extensions; smart punctuation ("quotes" become “quotes”, -- an en dash,
//   --- an em dash, ... an ellipsis).
// - Headings move down so that the page's headline is its only <h1> and no level is skipped:
//   the outermost headings become <h2>, each nested one a level below its parent, capped at
//   <h6> ("# A", "## B" → h2, h3; "## A", "#### B", "## C" → h2, h3, h2).
// Safety (the body is editor input, but an editor's account can be stolen):
// - Raw HTML is never passed through: HTML blocks and inline tags are dropped (text between
//   inline tags stays, escaped), so `<script>` cannot reach the page.
// - A link or image whose URL is not safe by site::is_safe_url (javascript:, vbscript:, data:,
//   file:, any scheme but http, https, mailto, tel) loses its URL: a link becomes its plain
//   text, an image its alt text. cmark-gfm's own safe mode alone would still let
//   data:image/png… through as an image source.
// - Invalid UTF-8 becomes U+FFFD.
// - Every <img> has an alt attribute (empty when the Markdown gives none).
// Never fails: any input renders to something (allocation failure aborts, as in cmark).
//
// Thread safety: safe to call from any number of threads. cmark-gfm's extension registry is
// filled once, under std::call_once. Parsing itself is serialised by a mutex: cmark-gfm
// 0.29.0.gfm.6 (Debian 12) adds and removes each extension's special characters in a global
// table at every parse (blocks.c, finalize_document), so two concurrent parses race and one can
// miss ~~strikethrough~~ or autolinks. Rendering an article takes tens of microseconds; a server
// should still render a body once per article version and cache it, not once per request.
#pragma once

#include <string>
#include <string_view>

namespace flashwire::site {

std::string render_markdown(std::string_view markdown);

}  // namespace flashwire::site
