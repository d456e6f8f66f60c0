// What this x86-64 CPU can compute: the one place that reads CPUID.
//
// Everything that picks a kernel or a precision asks HostCpuFeatures() (or
// takes a CpuFeatures argument, so tests inject a CPU instead of reading
// this one). The ISA can be capped from the environment, so the paths below
// the machine's best are tested on it:
//   CLIPSERVE_MAX_CPU_ISA=baseline|avx2|avx512|avx512_bf16|amx  (ours)
//   ONEDNN_MAX_CPU_ISA=SSE41|AVX2|AVX512_CORE|AVX512_CORE_BF16|... (oneDNN's;
//   honoured too, so the two layers never disagree about the CPU)
// The lower of the two wins.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace clipserve {

// Kernel levels, in increasing order. Each implies the ones below it.
enum class CpuIsa {
  kBaseline = 0,    // x86-64 SSE2: correct everywhere, fast nowhere
  kAvx2 = 1,        // AVX2 + FMA (Haswell, Zen 1-3)
  kAvx512 = 2,      // AVX-512 F/BW/VL/DQ (Skylake-SP, Zen 4)
  kAvx512Bf16 = 3,  // + AVX512_BF16 (Cooper Lake, Zen 4)
  kAmx = 4,         // + AMX tiles with bf16 (Sapphire Rapids)
};

std::string_view CpuIsaName(CpuIsa isa);  // "baseline" | "avx2" | "avx512" | "avx512_bf16" | "amx"
// Accepts our names (case-insensitive) and oneDNN's (SSE41, AVX2,
// AVX512_CORE, AVX512_CORE_VNNI, AVX512_CORE_BF16, AVX512_CORE_AMX, ALL).
StatusOr<CpuIsa> ParseCpuIsa(std::string_view name);

struct CpuFeatures {
  std::string model_name;  // CPUID brand string, e.g. "AMD EPYC 7B13"
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_bf16 = false, avx512_vnni = false, avx_vnni = false;
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false;
  // The cap that was applied (nullopt: none), for logs.
  std::optional<CpuIsa> cap;

  // The highest kernel level every feature of which is present.
  CpuIsa Isa() const;
  // bf16 arithmetic in hardware (AVX512_BF16 dot products or AMX tiles);
  // without it bf16 is emulated and slower than fp32.
  bool NativeBf16() const { return avx512_bf16 || amx_bf16; }
  bool Vnni() const { return avx512_vnni || avx_vnni; }
  // "avx2+fma", "avx512+bf16+vnni", "baseline" (... " capped at avx2").
  std::string Describe() const;
};

// Reads CPUID and XGETBV (features the OS does not save are absent).
CpuFeatures DetectCpuFeatures();

// Clears every feature above `cap` (the result's Isa() <= cap).
CpuFeatures CapCpuFeatures(CpuFeatures features, CpuIsa cap);

// The cap the environment asks for (the lower of CLIPSERVE_MAX_CPU_ISA and
// ONEDNN_MAX_CPU_ISA); nullopt when neither is set. An unparsable value is
// an InvalidArgument error naming the variable, so programs can refuse it at
// start-up.
StatusOr<std::optional<CpuIsa>> CpuIsaCapFromEnv();

// DetectCpuFeatures() capped by CpuIsaCapFromEnv(), computed once per process
// (an invalid cap is reported on stderr once and ignored; programs check
// CpuIsaCapFromEnv() first to fail instead).
const CpuFeatures& HostCpuFeatures();

}  // namespace clipserve
