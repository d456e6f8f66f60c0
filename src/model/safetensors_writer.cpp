#include "model/safetensors_writer.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace clipserve::model {
namespace {

StatusOr<std::string> DtypeTag(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return std::string("F32");
    case torch::kFloat16: return std::string("F16");
    case torch::kBFloat16: return std::string("BF16");
    default: return InvalidArgumentError(std::string("cannot write dtype ") + c10::toString(t));
  }
}

constexpr std::size_t kAlignBytes = 64;

}  // namespace

Status WriteSafetensors(const WeightMap& weights, const std::string& path,
                        const SafetensorsWriteOptions& options) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}, {"writer", "clipserve"}};
  std::vector<torch::Tensor> tensors;
  std::uint64_t offset = 0;
  for (const auto& [name, t0] : weights) {
    torch::Tensor t = t0.to(torch::kCPU, options.dtype.value_or(t0.scalar_type())).contiguous();
    ASSIGN_OR_RETURN(std::string tag, DtypeTag(t.scalar_type()));
    const std::uint64_t nbytes = static_cast<std::uint64_t>(t.numel()) * t.element_size();
    header[options.key_prefix + name] = {{"dtype", tag}, {"shape", t.sizes().vec()},
                                         {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    tensors.push_back(std::move(t));
  }
  std::string text = header.dump();
  while ((8 + text.size()) % kAlignBytes != 0) text += ' ';
  const std::string partial = path + ".partial";
  std::FILE* f = std::fopen(partial.c_str(), "wb");
  if (f == nullptr) return InternalError("cannot create " + partial + ": " + std::strerror(errno));
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((text.size() >> (8 * i)) & 0xff);
  bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const torch::Tensor& t : tensors) {
    const std::size_t nbytes = static_cast<std::size_t>(t.numel()) * t.element_size();
    ok = ok && std::fwrite(t.data_ptr(), 1, nbytes, f) == nbytes;
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(partial.c_str());
    return InternalError("cannot write " + partial + ": " + std::strerror(errno));
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    return InternalError("cannot rename " + partial + " to " + path + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace clipserve::model
