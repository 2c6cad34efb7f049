// Demo articles for a first start of `flashwire serve` (skipped with --no-demo): a handful of
// fictional stories written for Flashwire, covering all three alert categories, so a new
// installation shows a working site at once.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "store/site_store.h"

namespace flashwire::app {

// The widths of the WebP renditions each demo drawing ships in
// (web/assets/demo/<name>-<width>.webp, made by scripts/make-demo-images.sh): a phone's screen, a
// tablet's or a 2x phone's, a desktop's at 2x.
inline constexpr std::array<int, 3> kDemoImageWidths = {480, 960, 1440};

// The demo articles, published at `now` minus a few hours each (newest first). Each has a lead
// image (the drawing, an SVG) with its renditions at kDemoImageWidths.
std::vector<store::Article> demo_articles(std::int64_t now);

}  // namespace flashwire::app
