// Alert categories: what a reader opts into and what every article and alert belongs to.
//
// Contract: the names ("breaking", "live", "exclusive") are the ones used in URLs, JSON, the
// browser scripts and the store's schema; the numeric values are bits of a CategorySet and are
// stored as such, so neither may change. Pure values and functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace flashwire::news {

enum class Category : std::uint8_t { kBreaking = 1, kLive = 2, kExclusive = 4 };
using CategorySet = std::uint8_t;  // OR of Category values; 0 is "none"

// Every category, in the order pages and forms list them.
inline constexpr std::array<Category, 3> kAllCategories = {Category::kBreaking, Category::kLive,
                                                           Category::kExclusive};

// "breaking" | "live" | "exclusive" → the category; nullopt for anything else.
std::optional<Category> parse_category(std::string_view name);
// The category's name, as parse_category reads it.
std::string_view category_name(Category category);

}  // namespace flashwire::news
