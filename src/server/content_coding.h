// Request Content-Encoding (gzip, deflate, identity), decoded with a hard
// output limit: inflation stops as soon as the decoded size would pass it,
// so a small compressed body can never grow past --max-body-bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace clipserve::server {

enum class ContentCoding { kIdentity, kGzip, kDeflate };

// Parses a Content-Encoding value (case-insensitive, surrounding spaces
// ignored; empty = identity). Unimplemented for any other coding or a list
// of codings (the caller answers 415).
StatusOr<ContentCoding> ParseContentCoding(std::string_view value);

// Decodes `input` into `out` (replaced). ResourceExhausted as soon as the
// output would exceed `max_output_bytes` (413); InvalidArgument for a
// corrupt or truncated stream, or bytes after its end (400). `out` never
// holds more than max_output_bytes + 1 bytes (its capacity stays under twice
// that), and its memory is released on failure.
Status DecodeContent(ContentCoding coding, std::string_view input, std::uint64_t max_output_bytes, std::string& out);

}  // namespace clipserve::server
