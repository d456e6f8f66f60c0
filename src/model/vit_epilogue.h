// The GEMM epilogue of the BLAS CPU forward, which the library GEMM cannot
// fuse: bias + activation over the MLP's hidden rows, one pass, in place.
#pragma once

#include <cstdint>

#include "common/cpu_features.h"

namespace clipserve::model::internal {

// x[r, c] = act(x[r, c] + bias[c]) for r < rows, c < cols; act is exact
// (erf) GELU, or QuickGELU when `quick`. Parallel over rows.
void BiasGeluF32(float* x, int64_t rows, int64_t cols, int64_t stride, const float* bias, bool quick, CpuIsa isa);

}  // namespace clipserve::model::internal
