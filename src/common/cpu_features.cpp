#include "common/cpu_features.h"

#include <cpuid.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace clipserve {
namespace {

struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Regs Cpuid(unsigned leaf, unsigned sub) {
  Regs r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) r = Regs{};
  return r;
}

bool Bit(unsigned v, int i) { return (v >> i) & 1u; }

// XCR0: which register states the OS saves on a context switch. A CPU may
// have AVX-512 while the OS (or hypervisor) does not enable it.
std::uint64_t Xcr0() {
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (std::uint64_t(hi) << 32) | lo;
}

std::string BrandString() {
  if (Cpuid(0x80000000u, 0).a < 0x80000004u) return "";
  char brand[49] = {};
  for (unsigned i = 0; i < 3; ++i) {
    const Regs r = Cpuid(0x80000002u + i, 0);
    std::memcpy(brand + 16 * i, &r, 16);
  }
  std::string s(brand);
  const auto first = s.find_first_not_of(' ');
  const auto last = s.find_last_not_of(' ');
  return first == std::string::npos ? "" : s.substr(first, last - first + 1);
}

std::string Upper(std::string_view s) {
  std::string u(s);
  for (char& ch : u) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  return u;
}

}  // namespace

std::string_view CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kBaseline: return "baseline";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
    case CpuIsa::kAvx512Bf16: return "avx512_bf16";
    case CpuIsa::kAmx: return "amx";
  }
  return "baseline";
}

StatusOr<CpuIsa> ParseCpuIsa(std::string_view name) {
  const std::string u = Upper(name);
  if (u == "BASELINE" || u == "SSE2" || u == "SSE41" || u == "AVX") return CpuIsa::kBaseline;
  if (u == "AVX2" || u == "AVX2_VNNI" || u == "AVX2_VNNI_2") return CpuIsa::kAvx2;
  if (u == "AVX512" || u == "AVX512_CORE" || u == "AVX512_CORE_VNNI") return CpuIsa::kAvx512;
  if (u == "AVX512_BF16" || u == "AVX512_CORE_BF16" || u == "AVX512_CORE_FP16" || u == "AVX10_1_512") {
    return CpuIsa::kAvx512Bf16;
  }
  if (u == "AMX" || u == "AVX512_CORE_AMX" || u == "AVX512_CORE_AMX_FP16" || u == "ALL") return CpuIsa::kAmx;
  return InvalidArgumentError("unknown CPU ISA '" + std::string(name) +
                              "' (expected baseline, avx2, avx512, avx512_bf16 or amx)");
}

CpuIsa CpuFeatures::Isa() const {
  if (!(avx2 && fma)) return CpuIsa::kBaseline;
  if (!(avx512f && avx512bw && avx512vl && avx512dq)) return CpuIsa::kAvx2;
  if (amx_tile && amx_bf16) return CpuIsa::kAmx;
  if (avx512_bf16) return CpuIsa::kAvx512Bf16;
  return CpuIsa::kAvx512;
}

std::string CpuFeatures::Describe() const {
  std::string s;
  switch (Isa()) {
    case CpuIsa::kBaseline: s = "baseline"; break;
    case CpuIsa::kAvx2: s = "avx2+fma"; break;
    default: s = "avx512"; break;
  }
  if (avx512_bf16) s += "+bf16";
  if (amx_tile) s += "+amx";
  if (avx512_vnni) s += "+vnni";
  else if (avx_vnni) s += "+avx_vnni";
  if (cap) s += " (capped at " + std::string(CpuIsaName(*cap)) + ")";
  return s;
}

CpuFeatures DetectCpuFeatures() {
  CpuFeatures f;
  f.model_name = BrandString();
  const unsigned max_leaf = Cpuid(0, 0).a;
  const Regs l1 = Cpuid(1, 0);
  const bool osxsave = Bit(l1.c, 27);
  const std::uint64_t xcr0 = osxsave ? Xcr0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;         // XMM + YMM state
  const bool os_avx512 = (xcr0 & 0xE6) == 0xE6;    // + opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000; // XTILECFG + XTILEDATA
  const bool avx = Bit(l1.c, 28) && os_avx;
  f.fma = avx && Bit(l1.c, 12);
  f.f16c = avx && Bit(l1.c, 29);
  if (max_leaf >= 7) {
    const Regs l7 = Cpuid(7, 0);
    f.avx2 = avx && Bit(l7.b, 5);
    f.avx512f = os_avx512 && Bit(l7.b, 16);
    f.avx512dq = f.avx512f && Bit(l7.b, 17);
    f.avx512bw = f.avx512f && Bit(l7.b, 30);
    f.avx512vl = f.avx512f && Bit(l7.b, 31);
    f.avx512_vnni = f.avx512f && Bit(l7.c, 11);
    f.amx_bf16 = os_amx && Bit(l7.d, 22);
    f.amx_tile = os_amx && Bit(l7.d, 24);
    f.amx_int8 = os_amx && Bit(l7.d, 25);
    if (l7.a >= 1) {
      const Regs l71 = Cpuid(7, 1);
      f.avx_vnni = avx && Bit(l71.a, 4);
      f.avx512_bf16 = f.avx512f && Bit(l71.a, 5);
    }
  }
  return f;
}

CpuFeatures CapCpuFeatures(CpuFeatures f, CpuIsa cap) {
  f.cap = f.cap ? std::min(*f.cap, cap) : cap;
  if (cap < CpuIsa::kAmx) f.amx_tile = f.amx_bf16 = f.amx_int8 = false;
  if (cap < CpuIsa::kAvx512Bf16) f.avx512_bf16 = false;
  if (cap < CpuIsa::kAvx512) f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512_vnni = false;
  if (cap < CpuIsa::kAvx2) f.avx2 = f.fma = f.f16c = f.avx_vnni = false;
  return f;
}

StatusOr<std::optional<CpuIsa>> CpuIsaCapFromEnv() {
  std::optional<CpuIsa> cap;
  for (const char* var : {"CLIPSERVE_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {
    const char* v = std::getenv(var);
    if (v == nullptr || *v == '\0') continue;
    StatusOr<CpuIsa> isa = ParseCpuIsa(v);
    if (!isa.ok()) return isa.status().WithPrefix(var);
    cap = cap ? std::min(*cap, *isa) : *isa;
  }
  return cap;
}

const CpuFeatures& HostCpuFeatures() {
  static const CpuFeatures host = [] {
    CpuFeatures f = DetectCpuFeatures();
    StatusOr<std::optional<CpuIsa>> cap = CpuIsaCapFromEnv();
    if (!cap.ok()) {
      std::fprintf(stderr, "warning: %s; ignoring the cap\n", cap.status().message().c_str());
    } else if (cap->has_value() && **cap < f.Isa()) {
      f = CapCpuFeatures(f, **cap);
    }
    return f;
  }();
  return host;
}

}  // namespace clipserve
