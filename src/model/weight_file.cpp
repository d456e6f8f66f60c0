// Format detection for weight files: by content, not by file name.
#include <fstream>

#include "model/weight_readers.h"

namespace clipserve::model {

StatusOr<WeightMap> ReadWeightFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open weight file " + path);
  return UnimplementedError("weight file " + path + ": file readers are not implemented yet");
}

}  // namespace clipserve::model
