// Row-wise LayerNorm for the oneDNN path: float32 in, float32 or bf16 out,
// so the residual stream stays float32 while the GEMMs read bf16.
#pragma once

#include <cstdint>

#include "common/cpu_features.h"

namespace clipserve::model::internal {

// y[r, :] = (x[r, :] - mean) / sqrt(var + eps) * gamma + beta for r < rows.
// Strides are in elements. Parallel over rows with ATen's intra-op threads.
// bf16 output rounds to nearest even (the bits are written as uint16).
// `isa`: the highest kernel level to use (AVX-512, AVX2+FMA or baseline
// loops); the caller caps it by the CPU (HostCpuFeatures()).
void LayerNormF32(const float* x, int64_t x_stride, int64_t rows, int64_t width, const float* gamma,
                  const float* beta, float eps, float* y, int64_t y_stride, CpuIsa isa);
void LayerNormBf16(const float* x, int64_t x_stride, int64_t rows, int64_t width, const float* gamma,
                   const float* beta, float eps, uint16_t* y, int64_t y_stride, CpuIsa isa);

// The residual bias the previous GEMM left out, then LayerNorm:
// x[r, :] += add (written back), y[r, :] = LayerNorm(x[r, :]). One pass over x.
void AddLayerNormF32(float* x, int64_t x_stride, int64_t rows, int64_t width, const float* add,
                     const float* gamma, const float* beta, float eps, float* y, int64_t y_stride, CpuIsa isa);

}  // namespace clipserve::model::internal
