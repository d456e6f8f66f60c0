#include "server/multipart.h"

#include <algorithm>
#include <cctype>

namespace clipserve::server {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Reads `key=value` parameters after the first ';' of a header value, the
// value quoted or not. Returns the value of `key` (case-insensitive), or
// nullopt-as-empty with found=false.
bool HeaderParam(std::string_view value, std::string_view key, std::string& out) {
  std::size_t pos = value.find(';');
  while (pos != std::string_view::npos) {
    ++pos;
    while (pos < value.size() && (value[pos] == ' ' || value[pos] == '\t')) ++pos;
    const std::size_t eq = value.find('=', pos);
    if (eq == std::string_view::npos) return false;
    const std::string_view name = Trim(value.substr(pos, eq - pos));
    std::size_t i = eq + 1;
    std::string parsed;
    if (i < value.size() && value[i] == '"') {
      ++i;
      while (i < value.size() && value[i] != '"') {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        parsed += value[i++];
      }
      if (i < value.size()) ++i;  // closing quote
      pos = value.find(';', i);
    } else {
      const std::size_t end = value.find(';', i);
      parsed = std::string(Trim(value.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i)));
      pos = end;
    }
    if (IEquals(name, key)) {
      out = std::move(parsed);
      return true;
    }
  }
  return false;
}

}  // namespace

StatusOr<std::string> MultipartBoundary(std::string_view content_type) {
  const std::string_view type = Trim(content_type.substr(0, content_type.find(';')));
  if (!IEquals(type, "multipart/form-data")) return InvalidArgumentError("not a multipart/form-data body");
  std::string boundary;
  if (!HeaderParam(content_type, "boundary", boundary) || boundary.empty()) {
    return InvalidArgumentError("multipart/form-data without a boundary");
  }
  if (boundary.size() > 70) return InvalidArgumentError("multipart boundary longer than 70 characters");
  return boundary;
}

StatusOr<std::vector<MultipartPart>> ParseMultipart(std::string_view body, std::string_view boundary,
                                                    std::size_t max_parts) {
  const std::string dash = "--" + std::string(boundary);
  const std::string delimiter = "\r\n" + dash;
  // The first delimiter may be preceded by a preamble; it then needs CRLF.
  std::size_t pos;
  if (body.substr(0, dash.size()) == dash) {
    pos = dash.size();
  } else {
    const std::size_t first = body.find(delimiter);
    if (first == std::string_view::npos) return InvalidArgumentError("multipart body has no boundary line");
    pos = first + delimiter.size();
  }
  std::vector<MultipartPart> parts;
  while (true) {
    // After a delimiter: "--" closes the body; otherwise optional
    // whitespace, then CRLF and the part's headers.
    if (body.substr(pos, 2) == "--") return parts;
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") return InvalidArgumentError("multipart boundary line is not terminated");
    pos += 2;
    if (parts.size() >= max_parts) {
      return InvalidArgumentError("multipart body has more than " + std::to_string(max_parts) + " parts");
    }
    const std::size_t headers_end = body.find("\r\n\r\n", pos);
    // A part with no headers at all starts with the blank line directly.
    std::string_view headers;
    std::size_t content_start;
    if (body.substr(pos, 2) == "\r\n") {
      content_start = pos + 2;
    } else {
      if (headers_end == std::string_view::npos) return InvalidArgumentError("multipart part headers are not terminated");
      headers = body.substr(pos, headers_end - pos);
      content_start = headers_end + 4;
    }
    MultipartPart part;
    std::size_t line_start = 0;
    while (line_start < headers.size()) {
      std::size_t line_end = headers.find("\r\n", line_start);
      if (line_end == std::string_view::npos) line_end = headers.size();
      const std::string_view line = headers.substr(line_start, line_end - line_start);
      line_start = line_end + 2;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) return InvalidArgumentError("multipart part header without ':'");
      const std::string_view name = Trim(line.substr(0, colon));
      const std::string_view value = Trim(line.substr(colon + 1));
      if (IEquals(name, "Content-Disposition")) {
        HeaderParam(value, "name", part.name);
        HeaderParam(value, "filename", part.filename);
      } else if (IEquals(name, "Content-Type")) {
        part.content_type = std::string(value);
      }
    }
    const std::size_t end = body.find(delimiter, content_start);
    if (end == std::string_view::npos) return InvalidArgumentError("multipart part is not closed by the boundary");
    part.content = body.substr(content_start, end - content_start);
    parts.push_back(std::move(part));
    pos = end + delimiter.size();
  }
}

}  // namespace clipserve::server
