// Format detection for weight files: by content, not by file name.
#include <array>
#include <filesystem>
#include <fstream>

#include "model/key_mapping.h"
#include "model/safetensors.h"
#include "model/torch_zip.h"
#include "model/weight_readers.h"

namespace clipserve::model {

StatusOr<WeightMap> ReadWeightFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return InvalidArgumentError("weight file " + path + " is a directory (give the .safetensors or .bin file in it)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open weight file " + path);
  std::array<unsigned char, 9> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  const auto got = static_cast<std::size_t>(in.gcount());
  in.close();

  RawTensors raw;
  if (got >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
    ASSIGN_OR_RETURN(raw, ReadTorchZip(path));
  } else if (got >= 2 && head[0] == 0x80 && head[1] <= 5) {
    return UnimplementedError("weight file " + path +
                              ": legacy (non-zip) torch.save format; re-save it with a current "
                              "torch.save or convert it to safetensors");
  } else if (got == 9 && head[8] == '{') {
    ASSIGN_OR_RETURN(raw, ReadSafetensors(path));
  } else {
    return InvalidArgumentError("weight file " + path +
                                ": unknown file type (expected safetensors or a torch.save zip "
                                "archive, or random:SEED)");
  }
  StatusOr<WeightMap> canonical = ToCanonical(std::move(raw));
  if (!canonical.ok()) return canonical.status().WithPrefix("weight file " + path);
  return canonical;
}

}  // namespace clipserve::model
