// The data-URI prefix the REST API accepts ("data:image/png;base64,...").
// The base64 payload itself is decoded by common/base64.h.
#pragma once

#include <string_view>

#include "common/status.h"

namespace clipserve::server {

// Returns the payload of a data URI ("data:<mime>;base64,<payload>"), or the
// text unchanged when it is not a data URI. A data URI without ";base64" is
// InvalidArgument.
StatusOr<std::string_view> StripDataUri(std::string_view text);

}  // namespace clipserve::server
