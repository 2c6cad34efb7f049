#include "site/markdown.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm-extension_api.h>
#include <cmark-gfm.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "site/html.h"

namespace flashwire::site {
namespace {

// Safe mode is cmark-gfm's default (no CMARK_OPT_UNSAFE); the tree walk below goes further.
constexpr int kOptions = CMARK_OPT_SMART | CMARK_OPT_VALIDATE_UTF8;

constexpr std::array<const char*, 3> kExtensionNames = {"table", "strikethrough", "autolink"};

struct Extensions {
  std::array<cmark_syntax_extension*, kExtensionNames.size()> list{};
};

const Extensions& extensions() {
  static std::once_flag once;
  static Extensions found;
  std::call_once(once, [] {
    cmark_gfm_core_extensions_ensure_registered();
    for (std::size_t i = 0; i < kExtensionNames.size(); ++i) {
      found.list[i] = cmark_find_syntax_extension(kExtensionNames[i]);
      if (found.list[i] == nullptr) {
        std::fprintf(stderr, "flashwire: cmark-gfm has no '%s' extension\n", kExtensionNames[i]);
        std::abort();
      }
    }
  });
  return found;
}

// See markdown.h: cmark-gfm 0.29.0.gfm.6 mutates a global table while parsing.
std::mutex& parse_mutex() {
  static std::mutex mutex;
  return mutex;
}

struct ParserDeleter {
  void operator()(cmark_parser* parser) const { cmark_parser_free(parser); }
};
struct NodeDeleter {
  void operator()(cmark_node* node) const { cmark_node_free(node); }
};
struct IterDeleter {
  void operator()(cmark_iter* iter) const { cmark_iter_free(iter); }
};
struct CmarkStringDeleter {
  void operator()(char* text) const { cmark_get_default_mem_allocator()->free(text); }
};

// Moves `node`'s children to just before it, then removes it: a link becomes its text.
void unwrap(cmark_node* node) {
  while (cmark_node* child = cmark_node_first_child(node)) {
    cmark_node_insert_before(node, child);  // also unlinks child from node
  }
  cmark_node_unlink(node);
  cmark_node_free(node);
}

// Applies the safety and heading rules of markdown.h to the parsed tree.
void sanitise(cmark_node* document) {
  std::vector<cmark_node*> to_unwrap;
  std::vector<cmark_node*> to_drop;
  // Open headings: (Markdown level, HTML level). A heading's HTML level is one below the
  // nearest open heading of a smaller Markdown level, or <h2> under the page's <h1> headline.
  std::vector<std::pair<int, int>> open_headings;
  {
    std::unique_ptr<cmark_iter, IterDeleter> iter(cmark_iter_new(document));
    cmark_event_type event;
    while ((event = cmark_iter_next(iter.get())) != CMARK_EVENT_DONE) {
      if (event != CMARK_EVENT_ENTER) continue;
      cmark_node* node = cmark_iter_get_node(iter.get());
      switch (cmark_node_get_type(node)) {
        case CMARK_NODE_LINK:
        case CMARK_NODE_IMAGE: {
          const char* url = cmark_node_get_url(node);
          if (url != nullptr && !is_safe_url(url)) to_unwrap.push_back(node);
          break;
        }
        case CMARK_NODE_HTML_BLOCK:
        case CMARK_NODE_HTML_INLINE:
          to_drop.push_back(node);
          break;
        case CMARK_NODE_HEADING: {
          // Nested as written, but never a skipped level: "## A", "#### B", "## C" become
          // h2, h3, h2, so screen readers (and Lighthouse) see h1 → h2 → h3.
          const int level = cmark_node_get_heading_level(node);
          while (!open_headings.empty() && open_headings.back().first >= level) {
            open_headings.pop_back();
          }
          const int html_level =
              std::min(open_headings.empty() ? 2 : open_headings.back().second + 1, 6);
          cmark_node_set_heading_level(node, html_level);
          open_headings.emplace_back(level, html_level);
          break;
        }
        default:
          break;
      }
    }
  }
  // Mutate only after the walk: the iterator must not see nodes disappear under it. Unwrapping
  // innermost-first is not needed: a dropped link's children are moved, never freed.
  for (cmark_node* node : to_drop) {
    cmark_node_unlink(node);
    cmark_node_free(node);
  }
  for (cmark_node* node : to_unwrap) unwrap(node);
}

}  // namespace

std::string render_markdown(std::string_view markdown) {
  const Extensions& ext = extensions();

  std::lock_guard lock(parse_mutex());
  std::unique_ptr<cmark_parser, ParserDeleter> parser(cmark_parser_new(kOptions));
  for (cmark_syntax_extension* extension : ext.list) {
    cmark_parser_attach_syntax_extension(parser.get(), extension);
  }
  cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
  std::unique_ptr<cmark_node, NodeDeleter> document(cmark_parser_finish(parser.get()));

  sanitise(document.get());

  std::unique_ptr<char, CmarkStringDeleter> html(cmark_render_html(
      document.get(), kOptions, cmark_parser_get_syntax_extensions(parser.get())));
  return std::string(html.get());
}

}  // namespace flashwire::site
