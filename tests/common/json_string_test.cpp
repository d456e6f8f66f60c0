#include "common/json_string.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace clipserve {
namespace {

const std::string kReplacement = "\xef\xbf\xbd";  // U+FFFD as UTF-8

TEST(JsonQuote, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("plain /path?x=1"), "\"plain /path?x=1\"");
  EXPECT_EQ(JsonQuote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(JsonQuote("\r\t"), "\"\\r\\t\"");
  EXPECT_EQ(JsonQuote(std::string("\x00\x01\x08\x0c\x1f\x7f", 6)),
            "\"\\u0000\\u0001\\u0008\\u000c\\u001f\x7f\"");
}

TEST(JsonQuote, KeepsValidUtf8) {
  const std::string s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf";
  EXPECT_EQ(JsonQuote(s), "\"" + s + "\"");
}

TEST(JsonQuote, ReplacesEachInvalidByteWithTheReplacementCharacter) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/nope\xff", "/nope" + kReplacement},
      {"\x80x", kReplacement + "x"},                                 // stray continuation byte
      {"\xc0\xaf", kReplacement + kReplacement},                     // overlong '/'
      {"\xed\xa0\x80", kReplacement + kReplacement + kReplacement},  // surrogate U+D800
      {"\xe2\x82", kReplacement + kReplacement},                     // truncated
      {"\xf4\x90\x80\x80", kReplacement + kReplacement + kReplacement + kReplacement},  // above U+10FFFF
      {"\xe2\x82\xac\xe2", "\xe2\x82\xac" + kReplacement},  // valid, then truncated
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(JsonQuote(in), "\"" + want + "\"") << in;
}

TEST(JsonQuote, AppendAddsToTheEnd) {
  std::string out = "{\"k\":";
  AppendJsonQuoted(out, "v\"");
  EXPECT_EQ(out, "{\"k\":\"v\\\"\"");
}

// nlohmann as the oracle: every output is strict, valid UTF-8 JSON, and
// input that is valid UTF-8 comes back unchanged.
TEST(JsonQuote, RandomBytesAlwaysGiveValidJson) {
  std::mt19937 rng(7);
  const std::string pieces[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\"", "\\", "\n", "a"};
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 10);
    for (int k = 0; k < n; ++k) {
      if (rng() % 2) s += static_cast<char>(rng() & 0xFF);
      else s += pieces[rng() % std::size(pieces)];
    }
    const std::string q = JsonQuote(s);
    const auto parsed = nlohmann::json::parse(q, nullptr, false);
    ASSERT_TRUE(parsed.is_string()) << q;
    ASSERT_NO_THROW((void)parsed.dump()) << q;  // strict dump: valid UTF-8
    bool valid_utf8 = true;
    try {
      (void)nlohmann::json(s).dump();
    } catch (const nlohmann::json::exception&) {
      valid_utf8 = false;
    }
    if (valid_utf8) EXPECT_EQ(parsed.get<std::string>(), s);
    else EXPECT_NE(q.find(kReplacement), std::string::npos) << q;
  }
}

}  // namespace
}  // namespace clipserve
