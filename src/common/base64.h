// Base64, RFC 4648 standard alphabet ("A-Za-z0-9+/", '=' padding): the one
// encoder and decoder of the project (request bodies in the server, request
// builders in the benchmark runner and the load tools, test fixtures).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace clipserve {

// Padded encoding ("f" -> "Zg=="), no line breaks.
std::string EncodeBase64(std::span<const std::uint8_t> bytes);
std::string EncodeBase64(std::string_view bytes);

// Strict decoding of standard base64, as the server accepts it:
// - padding is optional, but when present it must complete the last
//   quantum ("YQ" and "YQ==" decode, "YQ=" is "bad padding");
// - ASCII whitespace (' ', '\n', '\r', '\t': encoders that wrap lines) is
//   skipped anywhere, also between padding characters;
// - any other character, or a character after padding, is InvalidArgument
//   "invalid base64: unexpected character at offset N" (N: byte offset in
//   `text`);
// - a length no encoder produces (4k+1 sextets, more than two '=') is
//   "invalid base64: truncated input".
// Bits left over in the last sextet are ignored, as in most decoders.
StatusOr<std::vector<std::uint8_t>> DecodeBase64(std::string_view text);

}  // namespace clipserve
