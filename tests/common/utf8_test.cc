// Well-formed UTF-8, as XML output and WebSocket text frames require it.
#include "common/utf8.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace flashwire {
namespace {

TEST(Utf8Test, AcceptsWellFormedAndRefusesTheRest) {
  struct Case {
    std::string text;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"", true},
      {"plain ASCII, longer than eight bytes", true},
      {"caf\xC3\xA9", true},                   // é
      {"\xE2\x82\xAC", true},                  // €
      {"\xF0\x9F\x93\xB0 breaking", true},     // 📰
      {"\xF4\x8F\xBF\xBF", true},              // U+10FFFF
      {"\xC3", false},                         // truncated
      {"\xC0\xAF", false},                     // overlong '/'
      {"\xE0\x80\xAF", false},                 // overlong
      {"\xED\xA0\x80", false},                 // surrogate
      {"\xF4\x90\x80\x80", false},             // past U+10FFFF
      {"\xFF", false},                         //
      {"abcdefgh\x80", false},                 // stray continuation after the fast path
      {std::string("nul\0inside", 10), true},  // NUL is valid UTF-8
  };
  for (const auto& c : cases) EXPECT_EQ(is_valid_utf8(c.text), c.valid) << c.text;
}

TEST(Utf8Test, SequenceLengthsSayWhereTheNextCharacterStarts) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x93\xB0\x80";
  EXPECT_EQ(utf8_sequence_length(text, 0), 1u);   // a
  EXPECT_EQ(utf8_sequence_length(text, 1), 2u);   // é
  EXPECT_EQ(utf8_sequence_length(text, 3), 3u);   // €
  EXPECT_EQ(utf8_sequence_length(text, 6), 4u);   // 📰
  EXPECT_EQ(utf8_sequence_length(text, 10), 0u);  // a stray continuation byte
  EXPECT_EQ(utf8_sequence_length(std::string_view(text).substr(0, 8), 6), 0u);  // cut short
}

}  // namespace
}  // namespace flashwire
