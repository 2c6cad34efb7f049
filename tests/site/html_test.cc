#include "site/html.h"

#include <gtest/gtest.h>

namespace flashwire::site {
namespace {

struct Case {
  std::string_view in;
  std::string_view out;
};

TEST(EscapeHtml, EscapesTheFiveSpecialCharacters) {
  const Case cases[] = {
      {"", ""},
      {"plain text", "plain text"},
      {"<script>", "&lt;script&gt;"},
      {"a & b", "a &amp; b"},
      {"\"quoted\"", "&quot;quoted&quot;"},
      {"it's", "it&#39;s"},
      {"&amp;", "&amp;amp;"},  // already-escaped text is escaped again: input is text, not HTML
      {"<script>\"&'", "&lt;script&gt;&quot;&amp;&#39;"},
      {"Café — Zürich", "Café — Zürich"},  // UTF-8 passes through
  };
  for (const auto& c : cases) EXPECT_EQ(escape_html(c.in), c.out) << c.in;
}

TEST(EscapeHtml, AppendsToExistingOutput) {
  std::string out = "<p>";
  append_escaped_html(out, "1 < 2");
  EXPECT_EQ(out, "<p>1 &lt; 2");
}

TEST(EscapeXml, EscapesLikeHtml) {
  EXPECT_EQ(escape_xml("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
}

TEST(EscapeXml, DropsControlCharactersXmlForbids) {
  EXPECT_EQ(escape_xml(std::string_view("a\x01"
                                        "b\x1f"
                                        "c\x00"
                                        "d",
                                        7)),
            "abcd");
  EXPECT_EQ(escape_xml("tab\tnewline\ncr\r"), "tab\tnewline\ncr\r");
}

TEST(EscapeXml, ReplacesInvalidUtf8AndKeepsValidSequences) {
  const Case cases[] = {
      {"Café", "Café"},
      {"\xF0\x9F\x93\xB0 news", "\xF0\x9F\x93\xB0 news"},  // U+1F4F0, four bytes
      {"a\xFF"
       "b",
       "a\xEF\xBF\xBD"
       "b"},                                                     // never valid
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                  // overlong '/'
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // UTF-16 surrogate
      {"\xE2\x82", "\xEF\xBF\xBD\xEF\xBF\xBD"},                  // truncated
  };
  for (const auto& c : cases) EXPECT_EQ(escape_xml(c.in), c.out) << c.in;
}

TEST(EncodePathSegment, KeepsUnreservedAndEncodesTheRest) {
  const Case cases[] = {
      {"storm-hits-lisbon-2025", "storm-hits-lisbon-2025"},
      {"A.b_c~d", "A.b_c~d"},
      {"a/b", "a%2Fb"},
      {"../etc", "..%2Fetc"},
      {"a b?c#d", "a%20b%3Fc%23d"},
      {"\"><script>", "%22%3E%3Cscript%3E"},
      {"é", "%C3%A9"},
  };
  for (const auto& c : cases) EXPECT_EQ(encode_path_segment(c.in), c.out) << c.in;
}

TEST(IsSafeUrl, AcceptsRelativeAndWebSchemes) {
  for (std::string_view url :
       {"", "/articles/x", "articles/x", "#section", "?q=1", "//cdn.example/a.png",
        "https://example.com/", "HTTP://example.com", "mailto:desk@news.example", "tel:+351000",
        "path/with:colon", "a/b:c", ":relative"}) {
    EXPECT_TRUE(is_safe_url(url)) << url;
  }
}

TEST(IsSafeUrl, RejectsScriptDataAndOtherSchemes) {
  for (std::string_view url :
       {"javascript:alert(1)", "JavaScript:alert(1)", "  javascript:alert(1)",
        "\x01javascript:alert(1)", "java\tscript:alert(1)", "java\nscript:alert(1)",
        "vbscript:msgbox(1)", "data:text/html,<script>alert(1)</script>",
        "data:image/png;base64,iVBORw0KGgo=", "file:///etc/passwd", "ftp://example.com/",
        "chrome://settings"}) {
    EXPECT_FALSE(is_safe_url(url)) << url;
  }
}

}  // namespace
}  // namespace flashwire::site
