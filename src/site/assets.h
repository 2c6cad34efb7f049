// The site's static files (web/: service worker, script, style sheet, icon), compiled into the
// binary so a deployment is one file and an asset can never be out of step with the pages that
// reference it.
//
// The table is generated at build time by flashwire_embed_assets (cmake/EmbedAssets.cmake) from
// the files under web/; a file's URL path is its path under web/ ("web/sw.js" is "/sw.js",
// "web/assets/site.css" is "/assets/site.css"). Editing a file rebuilds the table.
//
// Contract: the views point into static storage and stay valid for the life of the process.
// Paths are unique and sorted. Thread-safe (immutable data).
#pragma once

#include <span>
#include <string_view>

namespace flashwire::site {

struct Asset {
  std::string_view path;          // URL path, e.g. "/assets/site.css"
  std::string_view content_type;  // full Content-Type value, e.g. "text/css; charset=utf-8"
  std::string_view body;          // the file's bytes, unchanged
};

// Every embedded asset. Defined in the generated source.
std::span<const Asset> assets();

// The asset served at `path`, or nullptr. A linear scan: there are a handful of assets.
inline const Asset* find_asset(std::string_view path) {
  for (const Asset& asset : assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace flashwire::site
