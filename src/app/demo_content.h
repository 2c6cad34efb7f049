// Demo articles for a first start of `flashwire serve` (skipped with --no-demo): a handful of
// fictional stories written for Flashwire, covering all three alert categories, so a new
// installation shows a working site at once.
#pragma once

#include <cstdint>
#include <vector>

#include "store/site_store.h"

namespace flashwire::app {

// The demo articles, published at `now` minus a few hours each (newest first).
std::vector<store::Article> demo_articles(std::int64_t now);

}  // namespace flashwire::app
