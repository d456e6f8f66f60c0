#include "server/data_uri.h"

#include <cctype>
#include <string>

namespace clipserve::server {

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
