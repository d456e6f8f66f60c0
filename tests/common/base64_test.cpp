#include "common/base64.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace clipserve {
namespace {

std::string Decoded(std::string_view text) {
  auto r = DecodeBase64(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
  return r.ok() ? std::string(r->begin(), r->end()) : std::string();
}

std::string ErrorOf(std::string_view text) {
  auto r = DecodeBase64(text);
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? std::string() : r.status().message();
}

TEST(Base64, Rfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},           {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(EncodeBase64(plain), encoded);
    EXPECT_EQ(Decoded(encoded), plain);
  }
}

TEST(Base64, RoundTripsEveryByteAndLength) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); ++n) {
    const std::string s = all.substr(all.size() - n);  // each length, each tail byte
    const std::string e = EncodeBase64(s);
    EXPECT_EQ(e.size(), (n + 2) / 3 * 4);
    EXPECT_EQ(Decoded(e), s) << n;
  }
  // The span overload encodes the same bytes.
  const std::vector<std::uint8_t> bytes = {0x00, 0xff, 0x10, 0xfb};
  EXPECT_EQ(EncodeBase64(bytes), "AP8Q+w==");
  EXPECT_EQ(EncodeBase64(std::string_view("\xfb\xff\xbf", 3)), "+/+/");
}

TEST(Base64, EmptyInputDecodesToNothing) {
  EXPECT_EQ(Decoded(""), "");
  EXPECT_EQ(Decoded(" \n\r\t"), "");  // whitespace only
}

TEST(Base64, PaddingIsOptionalButMustCompleteTheQuantum) {
  EXPECT_EQ(Decoded("YQ"), "a");
  EXPECT_EQ(Decoded("YQ=="), "a");
  EXPECT_EQ(Decoded("YWI"), "ab");
  EXPECT_EQ(Decoded("YWI="), "ab");
  EXPECT_EQ(ErrorOf("YQ="), "invalid base64: bad padding");
  EXPECT_EQ(ErrorOf("YWI=="), "invalid base64: bad padding");
  EXPECT_EQ(ErrorOf("YWJj="), "invalid base64: bad padding");
  EXPECT_EQ(ErrorOf("YQ==="), "invalid base64: truncated input");
  EXPECT_EQ(ErrorOf("YWJjZ"), "invalid base64: truncated input");  // 4k+1 sextets
  EXPECT_EQ(ErrorOf("Y"), "invalid base64: truncated input");
  EXPECT_EQ(ErrorOf("YQ==YQ=="), "invalid base64: unexpected character at offset 4");  // data after padding
}

TEST(Base64, SkipsAsciiWhitespaceAnywhere) {
  EXPECT_EQ(Decoded("YWJj\nZA"), "abcd");
  EXPECT_EQ(Decoded("Y W\tJ j\r\nZ A = ="), "abcd");
  EXPECT_EQ(Decoded("Zm9v\r\nYmFy\r\n"), "foobar");
}

TEST(Base64, InvalidCharactersNameTheirOffset) {
  EXPECT_EQ(ErrorOf("YW*j"), "invalid base64: unexpected character at offset 2");
  EXPECT_EQ(ErrorOf("%%%"), "invalid base64: unexpected character at offset 0");
  EXPECT_EQ(ErrorOf("YWJj-_"), "invalid base64: unexpected character at offset 4");  // URL-safe alphabet
  EXPECT_EQ(ErrorOf(std::string_view("YW\0j", 4)), "invalid base64: unexpected character at offset 2");
  EXPECT_EQ(ErrorOf("YWJj\xc3\xa9"), "invalid base64: unexpected character at offset 4");
  EXPECT_EQ(ErrorOf("YWJj\v"), "invalid base64: unexpected character at offset 4");  // not whitespace here
}

}  // namespace
}  // namespace clipserve
