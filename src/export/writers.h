// The two model-file writers behind ExportModelRepository. Both take the
// weights as model::internal::PrepareWeights returns them with
// fold_normalization and fold_attention_scale on, so the exported math is the
// engine's (mean/std inside the patch embedding, q pre-scaled by
// 1/sqrt(head_width)). WriteOnnx consumes them (each tensor is released once
// copied into the protobuf, so peak memory stays near one copy).
#pragma once

#include <torch/script.h>

#include <string>

#include "common/status.h"
#include "model/vit_config.h"
#include "model/vit_internal.h"

namespace clipserve::exporter {

// A scripted module: registered parameters (CPU; float16 when `fp16`) and a
// `forward(self, image: Tensor) -> Tensor` compiled from source text, so the
// file needs no Python to write and loads in LibTorch 1.13 and 2.x.
StatusOr<torch::jit::Module> BuildTorchScriptModule(const model::VitConfig& config,
                                                    const model::internal::VitWeights& weights, bool fp16);
Status WriteTorchScript(const model::VitConfig& config, const model::internal::VitWeights& weights, bool fp16,
                        const std::string& path);

// An ONNX model (opset 14, dynamic batch dimension "batch", input `image`,
// output `embedding`), checked with onnx::checker before it is written.
// fp16: weights and compute in float16, Cast at both boundaries; layer norm
// statistics and the final normalization stay in float32.
Status WriteOnnx(const model::VitConfig& config, model::internal::VitWeights weights, bool fp16,
                 const std::string& path);

// onnx::checker::check_model on a file (full check, with the path so
// external data would resolve). For tests and for `clip-export --check`.
Status CheckOnnxFile(const std::string& path);

}  // namespace clipserve::exporter
