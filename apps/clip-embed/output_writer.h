// clip-embed's outputs, written as rows arrive (nothing is held in memory):
//  - .npy v1.0, float32 little-endian ('<f4'), C order, shape [N, row_shape...].
//    The header is written with room for any N and rewritten by Finish().
//  - JSON Lines: {"path": "...", "embedding": [..floats..]} per image.
// Both write to "<path>.partial" and rename on Finish(), so a failed run
// never leaves a file that looks complete.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace clipserve::apps {

enum class OutputFormat { kNpy, kJsonl };

class OutputWriter {
 public:
  // row_shape: shape of one row, e.g. {512} or {3, 224, 224}.
  static StatusOr<std::unique_ptr<OutputWriter>> Open(const std::string& path, OutputFormat format,
                                                      std::vector<std::int64_t> row_shape);
  ~OutputWriter();  // removes the partial file unless Finish() succeeded

  OutputWriter(const OutputWriter&) = delete;
  OutputWriter& operator=(const OutputWriter&) = delete;

  // One row: row_floats() values; `source` is the image path (jsonl).
  Status Append(const std::string& source, std::span<const float> row);
  Status Finish();

  std::int64_t rows() const { return rows_; }
  std::int64_t row_floats() const;

 private:
  OutputWriter(std::string path, OutputFormat format, std::vector<std::int64_t> row_shape, std::FILE* file);
  Status WriteNpyHeader();

  std::string path_;
  std::string partial_path_;
  OutputFormat format_;
  std::vector<std::int64_t> row_shape_;
  std::FILE* file_;
  std::int64_t rows_ = 0;
  bool finished_ = false;
};

// The .npy v1.0 header (magic, version, length, dict, padding) for a float32
// C-order array; `total_bytes` = 0 pads to the next multiple of 64,
// otherwise to exactly that many bytes (error if it does not fit).
StatusOr<std::string> NpyHeader(const std::vector<std::int64_t>& shape, std::size_t total_bytes = 0);

}  // namespace clipserve::apps
