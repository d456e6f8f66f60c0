// multipart/form-data bodies (RFC 7578), parsed in place: every part's
// content is a view of the request body, never a copy.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace clipserve::server {

struct MultipartPart {
  std::string name;          // the form field (Content-Disposition name=)
  std::string filename;      // empty when the part has none
  std::string content_type;  // empty when the part has none
  std::string_view content;  // view of the body passed to ParseMultipart
};

// The boundary parameter of a multipart/form-data Content-Type, unquoted.
// InvalidArgument when the type is not multipart/form-data or the boundary
// is missing, empty or longer than RFC 2046's 70 characters.
StatusOr<std::string> MultipartBoundary(std::string_view content_type);

// Splits `body` at `boundary`. InvalidArgument naming what is wrong for a
// body that does not start with the boundary, a part without the closing
// delimiter, a part header that is not terminated, or more than `max_parts`
// parts. A part without a name is kept with an empty name.
StatusOr<std::vector<MultipartPart>> ParseMultipart(std::string_view body, std::string_view boundary,
                                                    std::size_t max_parts = 4096);

}  // namespace clipserve::server
