#include "engine/engine.h"

namespace clipserve::engine {

std::string_view PrecisionName(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
    case Precision::kAuto: return "auto";
  }
  return "fp32";
}

StatusOr<Precision> ParsePrecision(std::string_view s) {
  if (s == "fp32" || s == "float32") return Precision::kFp32;
  if (s == "bf16" || s == "bfloat16") return Precision::kBf16;
  if (s == "fp16" || s == "float16" || s == "half") return Precision::kFp16;
  if (s == "auto") return Precision::kAuto;
  return InvalidArgumentError("unknown precision '" + std::string(s) + "' (expected auto, fp32, bf16 or fp16)");
}

StatusOr<Precision> ResolvePrecision(Precision requested, DeviceKind device, const CpuFeatures& cpu) {
  if (device == DeviceKind::kCuda) return requested == Precision::kAuto ? Precision::kFp16 : requested;
  switch (requested) {
    case Precision::kAuto: return cpu.NativeBf16() ? Precision::kBf16 : Precision::kFp32;
    case Precision::kFp32: return Precision::kFp32;
    case Precision::kFp16:
      return InvalidArgumentError("fp16 is supported on CUDA only; use --precision auto, fp32 or bf16 on the CPU");
    case Precision::kBf16:
      if (cpu.NativeBf16()) return Precision::kBf16;
      return FailedPreconditionError("--precision bf16 needs a CPU with avx512_bf16 or amx_bf16; this CPU has " +
                                     cpu.Describe() + " (bf16 would be emulated, slower than fp32): use "
                                     "--precision fp32 or auto");
  }
  return InvalidArgumentError("unknown precision");
}

std::string_view DeviceKindName(DeviceKind d) { return d == DeviceKind::kCuda ? "cuda" : "cpu"; }

StatusOr<DeviceKind> ParseDeviceKind(std::string_view s) {
  if (s == "cpu") return DeviceKind::kCpu;
  if (s == "cuda" || s == "gpu") return DeviceKind::kCuda;
  return InvalidArgumentError("unknown device '" + std::string(s) + "' (expected cpu or cuda)");
}

}  // namespace clipserve::engine
