#include "server/router.h"

namespace clipserve::server {
namespace {

std::vector<std::string> SplitSegments(std::string_view path) {
  std::vector<std::string> out;
  // path starts with '/': every '/' opens a segment.
  std::size_t start = 1;
  while (true) {
    const std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.emplace_back(path.substr(start));
      break;
    }
    out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Status Router::Add(std::string_view method, std::string_view pattern, int index) {
  if (pattern.empty() || pattern.front() != '/') {
    return InvalidArgumentError("route pattern must start with '/': " + std::string(pattern));
  }
  Entry e{std::string(method), SplitSegments(pattern), index};
  for (const auto& s : e.segments) {
    if (s.empty()) return InvalidArgumentError("route pattern has an empty segment: " + std::string(pattern));
  }
  entries_.push_back(std::move(e));
  return Status::Ok();
}

RouteMatch Router::Match(std::string_view method, const std::vector<std::string>& segments) const {
  RouteMatch result;
  for (const auto& e : entries_) {
    if (e.segments.size() != segments.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      match = e.segments[i] == "{}" ? !segments[i].empty() : e.segments[i] == segments[i];
    }
    if (!match) continue;
    if (e.method != method) {
      result.kind = RouteMatch::Kind::kMethodNotAllowed;
      continue;
    }
    result.kind = RouteMatch::Kind::kFound;
    result.route_index = e.index;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (e.segments[i] == "{}") result.params.push_back(segments[i]);
    }
    return result;
  }
  return result;
}

StatusOr<DecodedPath> DecodePath(std::string_view target, const PathLimits& limits) {
  const std::size_t q = target.find_first_of("?#");
  std::string_view raw = target.substr(0, q);
  if (raw.empty() || raw.front() != '/') return InvalidArgumentError("request target is not a path");
  DecodedPath out;
  out.path.reserve(raw.size());
  std::string segment;
  auto finish_segment = [&]() -> Status {
    if (out.segments.size() >= limits.max_segments) {
      return OutOfRangeError("path has more than " + std::to_string(limits.max_segments) + " segments");
    }
    out.segments.push_back(std::move(segment));
    segment.clear();
    return Status::Ok();
  };
  for (std::size_t i = 1; i <= raw.size(); ++i) {
    if (i == raw.size() || raw[i] == '/') {
      RETURN_IF_ERROR(finish_segment());
      out.path += '/';
      out.path += out.segments.back();
      continue;
    }
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= raw.size()) return InvalidArgumentError("bad percent-escape in path");
      const int h = HexValue(raw[i + 1]);
      const int l = HexValue(raw[i + 2]);
      if (h < 0 || l < 0) return InvalidArgumentError("bad percent-escape in path");
      c = static_cast<char>(h * 16 + l);
      i += 2;
    }
    // Escaped or not: a raw NUL in the target is refused like "%00".
    if (c == '\0') return InvalidArgumentError("path contains a NUL byte");
    segment += c;
    if (segment.size() > limits.max_segment_bytes) {
      return OutOfRangeError("path segment is over the limit of " + std::to_string(limits.max_segment_bytes) +
                             " bytes");
    }
  }
  return out;
}

}  // namespace clipserve::server
