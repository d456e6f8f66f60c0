#include "output_writer.h"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "common/json_string.h"

namespace clipserve::apps {
namespace {

// Room for any realistic shape: 128 bytes total, as numpy itself uses for
// small arrays (10-byte preamble + 118-byte dict, 64-byte aligned).
constexpr std::size_t kNpyHeaderBytes = 128;

Status IoError(const std::string& what, const std::string& path) {
  return InternalError(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

StatusOr<std::string> NpyHeader(const std::vector<std::int64_t>& shape, std::size_t total_bytes) {
  std::string dims;
  for (std::int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // (N, D); a 1-tuple keeps "N,"
  else if (!shape.empty()) dims.resize(dims.size() - 1);
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  const std::size_t preamble = 10;  // magic(6) + version(2) + header_len(2)
  std::size_t total = total_bytes;
  if (total == 0) total = (preamble + dict.size() + 1 + 63) / 64 * 64;
  if (preamble + dict.size() + 1 > total || total - preamble > 0xffff) {
    return InternalError("npy header does not fit in " + std::to_string(total) + " bytes");
  }
  dict.append(total - preamble - dict.size() - 1, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict;
}

OutputWriter::OutputWriter(std::string path, OutputFormat format, std::vector<std::int64_t> row_shape,
                           std::FILE* file)
    : path_(std::move(path)), partial_path_(path_ + ".partial"), format_(format),
      row_shape_(std::move(row_shape)), file_(file) {}

OutputWriter::~OutputWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!finished_) std::remove(partial_path_.c_str());
}

std::int64_t OutputWriter::row_floats() const {
  std::int64_t n = 1;
  for (std::int64_t d : row_shape_) n *= d;
  return n;
}

StatusOr<std::unique_ptr<OutputWriter>> OutputWriter::Open(const std::string& path, OutputFormat format,
                                                           std::vector<std::int64_t> row_shape) {
  const std::string partial = path + ".partial";
  std::FILE* file = std::fopen(partial.c_str(), "wb");
  if (file == nullptr) return IoError("cannot create", partial);
  std::unique_ptr<OutputWriter> w(new OutputWriter(path, format, std::move(row_shape), file));
  if (format == OutputFormat::kNpy) RETURN_IF_ERROR(w->WriteNpyHeader());
  return w;
}

Status OutputWriter::WriteNpyHeader() {
  std::vector<std::int64_t> shape = {rows_};
  shape.insert(shape.end(), row_shape_.begin(), row_shape_.end());
  ASSIGN_OR_RETURN(std::string header, NpyHeader(shape, kNpyHeaderBytes));
  if (std::fseek(file_, 0, SEEK_SET) != 0 || std::fwrite(header.data(), 1, header.size(), file_) != header.size()) {
    return IoError("cannot write", partial_path_);
  }
  return std::fseek(file_, 0, SEEK_END) == 0 ? Status() : IoError("cannot seek", partial_path_);
}

Status OutputWriter::Append(const std::string& source, std::span<const float> row) {
  if (static_cast<std::int64_t>(row.size()) != row_floats()) {
    return InternalError("row has " + std::to_string(row.size()) + " values, expected " +
                         std::to_string(row_floats()));
  }
  if (format_ == OutputFormat::kNpy) {
    static_assert(std::endian::native == std::endian::little, "npy '<f4' is written natively");
    if (std::fwrite(row.data(), sizeof(float), row.size(), file_) != row.size()) {
      return IoError("cannot write", partial_path_);
    }
  } else {
    std::string line = "{\"path\": " + JsonQuote(source) + ", \"embedding\": [";
    char buf[32];
    for (std::size_t i = 0; i < row.size(); ++i) {
      // %.9g round-trips a float exactly; JSON has no NaN/Inf, so they are null.
      if (std::isfinite(row[i])) std::snprintf(buf, sizeof buf, "%s%.9g", i ? ", " : "", row[i]);
      else std::snprintf(buf, sizeof buf, "%snull", i ? ", " : "");
      line += buf;
    }
    line += "]}\n";
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) return IoError("cannot write", partial_path_);
  }
  ++rows_;
  return {};
}

Status OutputWriter::Finish() {
  if (format_ == OutputFormat::kNpy) RETURN_IF_ERROR(WriteNpyHeader());
  const bool ok = std::fflush(file_) == 0;
  const int close_rc = std::fclose(file_);
  file_ = nullptr;
  if (!ok || close_rc != 0) return IoError("cannot write", partial_path_);
  if (std::rename(partial_path_.c_str(), path_.c_str()) != 0) return IoError("cannot rename to", path_);
  finished_ = true;
  return {};
}

}  // namespace clipserve::apps
