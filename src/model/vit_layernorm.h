// Row-wise LayerNorm for the oneDNN path: float32 in, float32 or bf16 out,
// so the residual stream stays float32 while the GEMMs read bf16.
#pragma once

#include <cstdint>

namespace clipserve::model::internal {

// y[r, :] = (x[r, :] - mean) / sqrt(var + eps) * gamma + beta for r < rows.
// Strides are in elements. Parallel over rows with ATen's intra-op threads.
// bf16 output rounds to nearest even (the bits are written as uint16).
void LayerNormF32(const float* x, int64_t x_stride, int64_t rows, int64_t width, const float* gamma,
                  const float* beta, float eps, float* y, int64_t y_stride);
void LayerNormBf16(const float* x, int64_t x_stride, int64_t rows, int64_t width, const float* gamma,
                   const float* beta, float eps, uint16_t* y, int64_t y_stride);

}  // namespace clipserve::model::internal
