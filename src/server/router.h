// Router: matches a request path against a route table by segments, with no
// regular expressions (a long or hostile path costs one linear scan).
//
// Patterns are literal segments with `{}` standing for exactly one segment:
// "/v2/models/{}/versions/{}/infer". A matched `{}` is a path parameter,
// numbered from 1 in pattern order (like regex captures were). Paths are
// percent-decoded once, segment by segment, before matching; a decoded
// segment may hold any byte but '\0' ("%2F" stays inside its segment).
//
// Pure and single-threaded to build; Match is const and thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace clipserve::server {

struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed };
  Kind kind = Kind::kNotFound;
  int route_index = -1;             // kFound: index given to Add
  std::vector<std::string> params;  // kFound: decoded `{}` segments, in order
};

class Router {
 public:
  // InvalidArgument for a pattern that does not start with '/' or has an
  // empty segment. `index` is returned by Match.
  Status Add(std::string_view method, std::string_view pattern, int index);

  // `path` is the decoded path, split by DecodePath. The first route (in Add
  // order) whose method and segments match wins. kMethodNotAllowed when some
  // route's segments match but none with this method.
  RouteMatch Match(std::string_view method, const std::vector<std::string>& segments) const;

 private:
  struct Entry {
    std::string method;
    std::vector<std::string> segments;  // "{}" = parameter
    int index;
  };
  std::vector<Entry> entries_;
};

struct DecodedPath {
  std::string path;                   // decoded, for logs and handlers ("/v2/models/a b")
  std::vector<std::string> segments;  // decoded segments, "/a//b/" -> {"a", "", "b", ""}
};

struct PathLimits {
  std::size_t max_segment_bytes = 1024;  // one decoded segment (a model name)
  std::size_t max_segments = 32;
};

// Splits the request target at '?' (the query is ignored), checks it is an
// origin-form path ("/..."), and percent-decodes each segment once.
// InvalidArgument for a bad escape ("%G1", "%4"), a decoded NUL, or a
// target that is not a path; OutOfRange when a segment or the segment count
// is over `limits` (the caller answers 414).
StatusOr<DecodedPath> DecodePath(std::string_view target, const PathLimits& limits = {});

}  // namespace clipserve::server
