#include "engine/engine.h"

namespace clipserve::engine {

std::string_view PrecisionName(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
  }
  return "fp32";
}

StatusOr<Precision> ParsePrecision(std::string_view s) {
  if (s == "fp32" || s == "float32") return Precision::kFp32;
  if (s == "bf16" || s == "bfloat16") return Precision::kBf16;
  if (s == "fp16" || s == "float16" || s == "half") return Precision::kFp16;
  return InvalidArgumentError("unknown precision '" + std::string(s) + "' (expected fp32, bf16 or fp16)");
}

std::string_view DeviceKindName(DeviceKind d) { return d == DeviceKind::kCuda ? "cuda" : "cpu"; }

StatusOr<DeviceKind> ParseDeviceKind(std::string_view s) {
  if (s == "cpu") return DeviceKind::kCpu;
  if (s == "cuda" || s == "gpu") return DeviceKind::kCuda;
  return InvalidArgumentError("unknown device '" + std::string(s) + "' (expected cpu or cuda)");
}

}  // namespace clipserve::engine
