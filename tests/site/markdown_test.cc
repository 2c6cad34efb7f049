#include "site/markdown.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <thread>
#include <vector>

namespace flashwire::site {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

TEST(RenderMarkdown, EmptyInputGivesEmptyOutput) { EXPECT_EQ(render_markdown(""), ""); }

TEST(RenderMarkdown, HeadingsMoveDownOneLevel) {
  EXPECT_EQ(render_markdown("# Top\n\n## Next\n\n### Third\n\n#### Fourth\n\n##### Fifth\n"),
            "<h2>Top</h2>\n<h3>Next</h3>\n<h4>Third</h4>\n<h5>Fourth</h5>\n<h6>Fifth</h6>\n");
  EXPECT_EQ(render_markdown("# A\n\n## B\n\n### C\n\n#### D\n\n##### E\n\n###### F\n"),
            "<h2>A</h2>\n<h3>B</h3>\n<h4>C</h4>\n<h5>D</h5>\n<h6>E</h6>\n<h6>F</h6>\n");
}

// The headline is the page's <h1>: no body heading may skip a level below it or below the
// heading before it (Lighthouse's heading-order audit; screen readers' outline).
TEST(RenderMarkdown, HeadingsNeverSkipALevel) {
  EXPECT_EQ(render_markdown("## What we know\n\n#### Detail\n\n## Next\n"),
            "<h2>What we know</h2>\n<h3>Detail</h3>\n<h2>Next</h2>\n");
  EXPECT_EQ(render_markdown("### Deep start\n"), "<h2>Deep start</h2>\n");
}

TEST(RenderMarkdown, ParagraphsAndEmphasis) {
  EXPECT_EQ(render_markdown("Some *emphasis* and **strong** text.\n\nSecond."),
            "<p>Some <em>emphasis</em> and <strong>strong</strong> text.</p>\n<p>Second.</p>\n");
}

TEST(RenderMarkdown, Lists) {
  EXPECT_EQ(render_markdown("- one\n- two\n"), "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n");
  EXPECT_EQ(render_markdown("1. first\n2. second\n"),
            "<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n");
}

TEST(RenderMarkdown, Tables) {
  const std::string html = render_markdown(
      "| City | Rain (mm) |\n"
      "|------|----------:|\n"
      "| Lisbon | 120 |\n"
      "| Porto | 85 |\n");
  EXPECT_THAT(html, HasSubstr("<table>"));
  EXPECT_THAT(html, HasSubstr("<th>City</th>"));
  EXPECT_THAT(html, HasSubstr("<th align=\"right\">Rain (mm)</th>"));
  EXPECT_THAT(html, HasSubstr("<td>Lisbon</td>"));
  EXPECT_THAT(html, HasSubstr("<td align=\"right\">85</td>"));
}

TEST(RenderMarkdown, StrikethroughAndAutolinks) {
  EXPECT_EQ(render_markdown("~~wrong~~ right"), "<p><del>wrong</del> right</p>\n");
  EXPECT_EQ(render_markdown("See www.example.com now"),
            "<p>See <a href=\"http://www.example.com\">www.example.com</a> now</p>\n");
  EXPECT_EQ(render_markdown("Read https://example.com/report."),
            "<p>Read <a href=\"https://example.com/report\">https://example.com/report</a>.</p>\n");
}

TEST(RenderMarkdown, Links) {
  EXPECT_EQ(
      render_markdown("[the report](https://example.com/r?a=1&b=2 \"Title\")"),
      "<p><a href=\"https://example.com/r?a=1&amp;b=2\" title=\"Title\">the report</a></p>\n");
  EXPECT_EQ(render_markdown("[earlier](/articles/earlier-story)"),
            "<p><a href=\"/articles/earlier-story\">earlier</a></p>\n");
  EXPECT_EQ(render_markdown("[desk](mailto:desk@news.example)"),
            "<p><a href=\"mailto:desk@news.example\">desk</a></p>\n");
}

TEST(RenderMarkdown, SmartPunctuation) {
  EXPECT_EQ(render_markdown("\"Quoted\" -- it's 9--5... ---done"),
            "<p>\xE2\x80\x9CQuoted\xE2\x80\x9D \xE2\x80\x93 it\xE2\x80\x99s 9\xE2\x80\x93"
            "5\xE2\x80\xA6 \xE2\x80\x94"
            "done</p>\n");
}

TEST(RenderMarkdown, CodeIsEscaped) {
  EXPECT_EQ(render_markdown("`<b>`"), "<p><code>&lt;b&gt;</code></p>\n");
  EXPECT_EQ(render_markdown("```\n<script>x</script>\n```\n"),
            "<pre><code>&lt;script&gt;x&lt;/script&gt;\n</code></pre>\n");
}

TEST(RenderMarkdown, RawHtmlNeverPassesThrough) {
  const std::string_view inputs[] = {
      "<script>alert(1)</script>",
      "Hello <script>alert(1)</script> world",
      "<div onclick=\"alert(1)\">block</div>",
      "Inline <img src=x onerror=alert(1)> image",
      "<iframe src=\"https://evil.example\"></iframe>",
      "<a href=\"javascript:alert(1)\">raw link</a>",
      "<style>body{display:none}</style>",
      "<!-- comment --> text",
  };
  for (std::string_view input : inputs) {
    const std::string html = lower(render_markdown(input));
    EXPECT_THAT(html, Not(HasSubstr("<script"))) << input;
    EXPECT_THAT(html, Not(HasSubstr("<div"))) << input;
    EXPECT_THAT(html, Not(HasSubstr("<img"))) << input;
    EXPECT_THAT(html, Not(HasSubstr("<iframe"))) << input;
    EXPECT_THAT(html, Not(HasSubstr("<style"))) << input;
    EXPECT_THAT(html, Not(HasSubstr("<!--"))) << input;
    EXPECT_THAT(html, Not(HasSubstr("onerror"))) << input;
    EXPECT_THAT(html, Not(HasSubstr("javascript:"))) << input;
  }
  // Text between inline tags stays, as text.
  EXPECT_EQ(render_markdown("Hello <b>bold</b> world"), "<p>Hello bold world</p>\n");
}

TEST(RenderMarkdown, UnsafeLinkUrlsAreDroppedAndTheTextKept) {
  const std::string_view inputs[] = {
      "[x](javascript:alert(1))",
      "[x](JAVASCRIPT:alert(1))",
      "[x](javascript&#58;alert(1))",  // entity-encoded colon decodes to javascript:
      "[x](<java\tscript:alert(1)>)",  // browsers ignore the tab
      "[x](vbscript:msgbox(1))",
      "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
      "[x](file:///etc/passwd)",
      "[x][ref]\n\n[ref]: javascript:alert(1)",
  };
  for (std::string_view input : inputs) {
    const std::string html = render_markdown(input);
    EXPECT_EQ(html, "<p>x</p>\n") << input;
  }
  // A CommonMark autolink with a script scheme keeps its text but is no link.
  const std::string autolink = render_markdown("<javascript:alert(1)>");
  EXPECT_THAT(autolink, Not(HasSubstr("href")));
}

TEST(RenderMarkdown, ImagesKeepAltTextAndLoseUnsafeUrls) {
  EXPECT_EQ(render_markdown("![Harbour at dawn](https://img.example/harbour.jpg)"),
            "<p><img src=\"https://img.example/harbour.jpg\" alt=\"Harbour at dawn\" /></p>\n");
  // No alt text given: the attribute is still there, empty (a decorative image).
  EXPECT_EQ(render_markdown("![](/media/rule.png)"),
            "<p><img src=\"/media/rule.png\" alt=\"\" /></p>\n");
  // cmark-gfm's safe mode alone lets data:image/png through; we do not.
  EXPECT_EQ(render_markdown("![A chart](data:image/png;base64,iVBORw0KGgo=)"), "<p>A chart</p>\n");
  EXPECT_EQ(render_markdown("![A chart](javascript:alert(1))"), "<p>A chart</p>\n");
}

TEST(RenderMarkdown, EveryImageHasAnAltAttribute) {
  const std::string html =
      render_markdown("![one](a.png) ![](b.png) ![**bold** alt](c.png)\n\n[![linked](d.png)](/x)");
  std::size_t images = 0;
  for (std::size_t at = html.find("<img"); at != std::string::npos;
       at = html.find("<img", at + 1)) {
    ++images;
    const std::size_t end = html.find('>', at);
    EXPECT_THAT(html.substr(at, end - at), HasSubstr(" alt=\"")) << html;
  }
  EXPECT_EQ(images, 4u);
  EXPECT_THAT(html, HasSubstr("alt=\"bold alt\""));
}

TEST(RenderMarkdown, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(render_markdown("bad \xFF byte"), "<p>bad \xEF\xBF\xBD byte</p>\n");
}

// cmark-gfm 0.29.0.gfm.6 mutates a global table while parsing; without the lock, concurrent
// renders drop strikethrough and autolinks now and then.
TEST(RenderMarkdown, ConcurrentRendersMatchSequentialOnes) {
  const std::string input =
      "# Title\n\n~~struck~~ and www.example.com and https://example.com/x\n\n"
      "| a | b |\n|---|---|\n| 1 | ~~2~~ |\n";
  const std::string expected = render_markdown(input);
  ASSERT_THAT(expected, HasSubstr("<del>struck</del>"));
  std::vector<std::string> mismatches(8);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        std::string html = render_markdown(input);
        if (html != expected) {
          mismatches[t] = std::move(html);
          return;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const std::string& mismatch : mismatches) EXPECT_EQ(mismatch, "");
}

}  // namespace
}  // namespace flashwire::site
