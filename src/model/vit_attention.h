// Fused multi-head self-attention for the oneDNN path: softmax(q k^T) v for
// every (image, head), reading q, k, v in place from the qkv projection rows
// and writing each head's output into its columns of the attention buffer.
// The scale 1/sqrt(head_width) must already be folded into q.
//
// Why a hand-written kernel: with ~50 tokens each head is a 50x64x50 product;
// as library GEMMs these are dominated by call and threading overhead, and
// the scores make a round trip through memory for the softmax. Here one task
// per (image, head) keeps scores, softmax and the output row in L1.
#pragma once

#include <cstdint>

#include "common/cpu_features.h"

namespace clipserve::model::internal {

// qkv: [N*T, 3*W] rows (q | k | v, heads of width D inside each), out:
// [N*T, W]. Arithmetic in float32. Parallel over N*heads with ATen's
// intra-op threads.
// qkv_bias: [3W] added to q, k and v as they are loaded (the GEMM that made
// qkv left it out), or nullptr (already added). The q part must carry the
// same 1/sqrt(D) scale as q.
// isa: the highest kernel level to use (AVX-512, AVX2+FMA, baseline loops).
void AttentionF32(const float* qkv, const float* qkv_bias, int64_t n, int64_t tokens, int64_t width,
                  int64_t head_width, float* out, CpuIsa isa);
// Same, bf16 in and out (bits as uint16), float32 arithmetic inside.
void AttentionBf16(const uint16_t* qkv, const float* qkv_bias, int64_t n, int64_t tokens, int64_t width,
                   int64_t head_width, uint16_t* out, CpuIsa isa);

}  // namespace clipserve::model::internal
