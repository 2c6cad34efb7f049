#include "news/category.h"

namespace flashwire::news {

std::optional<Category> parse_category(std::string_view name) {
  if (name == "breaking") return Category::kBreaking;
  if (name == "live") return Category::kLive;
  if (name == "exclusive") return Category::kExclusive;
  return std::nullopt;
}

std::string_view category_name(Category category) {
  switch (category) {
    case Category::kBreaking:
      return "breaking";
    case Category::kLive:
      return "live";
    case Category::kExclusive:
      return "exclusive";
  }
  return "breaking";
}

}  // namespace flashwire::news
