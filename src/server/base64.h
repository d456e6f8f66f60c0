// Base64 (RFC 4648, standard alphabet) decoding for request bodies, and the
// data-URI prefix the REST API accepts ("data:image/png;base64,...").
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace clipserve::server {

// Decodes standard base64. Padding is optional; ASCII whitespace (line
// breaks from encoders that wrap) is skipped. Any other character, or a
// length that cannot be base64, is InvalidArgument naming the offset.
StatusOr<std::vector<std::uint8_t>> DecodeBase64(std::string_view text);

// Returns the payload of a data URI ("data:<mime>;base64,<payload>"), or the
// text unchanged when it is not a data URI. A data URI without ";base64" is
// InvalidArgument.
StatusOr<std::string_view> StripDataUri(std::string_view text);

}  // namespace clipserve::server
