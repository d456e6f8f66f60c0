#include "server/base64.h"

#include <array>
#include <cctype>
#include <string>

namespace clipserve::server {
namespace {

constexpr std::uint8_t kInvalid = 0xFF;
constexpr std::uint8_t kSpace = 0xFE;

constexpr std::array<std::uint8_t, 256> MakeTable() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::uint8_t>(i);
  for (char c : {' ', '\n', '\r', '\t'}) t[static_cast<unsigned char>(c)] = kSpace;
  return t;
}
constexpr auto kTable = MakeTable();

}  // namespace

StatusOr<std::vector<std::uint8_t>> DecodeBase64(std::string_view text) {
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 4 * 3 + 3);
  std::uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  size_t sextets = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '=') {
      ++pad;
      continue;
    }
    const std::uint8_t v = kTable[c];
    if (v == kSpace) continue;
    if (v == kInvalid || pad > 0) {
      return InvalidArgumentError("invalid base64: unexpected character at offset " + std::to_string(i));
    }
    acc = (acc << 6) | v;
    bits += 6;
    ++sextets;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
    }
  }
  if (sextets % 4 == 1 || pad > 2) return InvalidArgumentError("invalid base64: truncated input");
  if (pad > 0 && (sextets + pad) % 4 != 0) return InvalidArgumentError("invalid base64: bad padding");
  return out;
}

StatusOr<std::string_view> StripDataUri(std::string_view text) {
  if (text.size() < 5 || text.substr(0, 5) != "data:") return text;
  const size_t comma = text.find(',');
  if (comma == std::string_view::npos) return InvalidArgumentError("invalid data URI: no ',' before the payload");
  const std::string_view meta = text.substr(5, comma - 5);
  if (meta.size() < 7 || meta.substr(meta.size() - 7) != ";base64") {
    return InvalidArgumentError("invalid data URI: only ';base64' payloads are supported");
  }
  // The media type, when given, must be an image (an empty one, as in
  // "data:;base64,...", is accepted: the bytes say what they are).
  const std::string_view type = meta.substr(0, meta.find(';'));
  if (!type.empty()) {
    std::string lower(type);
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (lower.rfind("image/", 0) != 0) {
      return InvalidArgumentError("invalid data URI: media type '" + std::string(type) + "' is not an image/* type");
    }
  }
  return text.substr(comma + 1);
}

}  // namespace clipserve::server
