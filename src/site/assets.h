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

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
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

// 64-bit FNV-1a of `data`, continuing from `hash`: the site's fingerprint for ETags and asset
// versions (not a cryptographic hash; it only has to change when the bytes do).
inline constexpr std::uint64_t kFnv1aOffset = 1469598103934665603ull;
inline std::uint64_t fnv1a_64(std::string_view data, std::uint64_t hash = kFnv1aOffset) {
  for (const unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// A short fingerprint of every embedded asset (paths and bytes): pages append it to asset URLs
// ("?v=…") so browsers may cache them as immutable, and a new build's assets get new URLs.
// Computed once; 16 hex digits.
inline const std::string& assets_version() {
  static const std::string version = [] {
    std::uint64_t hash = kFnv1aOffset;
    for (const Asset& asset : assets()) {
      // A separator byte after each part: ("ab", "c") and ("a", "bc") differ.
      hash = fnv1a_64("\xff", fnv1a_64(asset.path, hash));
      hash = fnv1a_64("\xff", fnv1a_64(asset.body, hash));
    }
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
    return std::string(text);
  }();
  return version;
}

}  // namespace flashwire::site
