#include "server/content_coding.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>

namespace clipserve::server {

StatusOr<ContentCoding> ParseContentCoding(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  std::string lower(value);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower.empty() || lower == "identity") return ContentCoding::kIdentity;
  if (lower == "gzip" || lower == "x-gzip") return ContentCoding::kGzip;
  if (lower == "deflate") return ContentCoding::kDeflate;
  return UnimplementedError("unsupported Content-Encoding '" + std::string(value) +
                            "': gzip, deflate and identity are supported");
}

Status DecodeContent(ContentCoding coding, std::string_view input, std::uint64_t max_output_bytes, std::string& out) {
  out.clear();
  if (coding == ContentCoding::kIdentity) {
    if (input.size() > max_output_bytes) return ResourceExhaustedError("body over the limit");
    out.assign(input);
    return Status::Ok();
  }
  z_stream zs{};
  // 16+MAX_WBITS: gzip wrapper only; MAX_WBITS: zlib wrapper. HTTP's
  // "deflate" is the zlib format (RFC 9110 8.4.1.2); raw deflate, which some
  // clients send, is tried when the zlib header does not parse.
  int window = coding == ContentCoding::kGzip ? 16 + MAX_WBITS : MAX_WBITS;
  if (coding == ContentCoding::kDeflate && input.size() >= 2) {
    const unsigned cmf = static_cast<unsigned char>(input[0]);
    const unsigned flg = static_cast<unsigned char>(input[1]);
    if ((cmf & 0x0f) != 8 || ((cmf << 8) | flg) % 31 != 0) window = -MAX_WBITS;
  }
  if (inflateInit2(&zs, window) != Z_OK) return InternalError("inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  zs.avail_in = static_cast<uInt>(input.size());
  constexpr std::size_t kChunk = 256 * 1024;
  int rc = Z_OK;
  Status status = Status::Ok();
  while (rc != Z_STREAM_END) {
    // Room for one byte past the limit: producing it proves the body is
    // over, without ever holding more than limit + 1 decoded bytes.
    const std::size_t room = std::min<std::uint64_t>(kChunk, max_output_bytes + 1 - out.size());
    const std::size_t before = out.size();
    // Geometric growth, asked never past limit + 1 (the allocator may round
    // a request up to twice the old capacity).
    if (out.capacity() < before + room) {
      out.reserve(std::min<std::uint64_t>(max_output_bytes + 1, std::max(before + room, 2 * out.capacity())));
    }
    out.resize(before + room);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    zs.avail_out = static_cast<uInt>(room);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(before + (room - zs.avail_out));
    if (out.size() > max_output_bytes) {
      status = ResourceExhaustedError("decoded body over the limit");
      break;
    }
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      status = InvalidArgumentError("truncated " + std::string(coding == ContentCoding::kGzip ? "gzip" : "deflate") +
                                    " body");
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      status = InvalidArgumentError(std::string("corrupt compressed body: ") + (zs.msg ? zs.msg : "inflate failed"));
      break;
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      status = InvalidArgumentError("truncated compressed body");
      break;
    }
  }
  if (status.ok() && zs.avail_in != 0) status = InvalidArgumentError("bytes after the end of the compressed body");
  inflateEnd(&zs);
  if (!status.ok()) std::string().swap(out);  // give the memory back at once
  return status;
}

}  // namespace clipserve::server
