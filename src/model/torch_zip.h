// Reader for torch.save zip archives (open_clip_pytorch_model.bin, *.pt).
//
// Why not torch::pickle_load: LibTorch's unpickler (1.13 up to at least 2.5)
// turns collections.OrderedDict into None, so it cannot read what
// torch.save(model.state_dict()) writes (pytorch/pytorch#100741). This reader
// interprets the pickle itself (model/pickle.h, torch-free), restricted to
// what state dicts contain: it never executes anything; unknown classes
// become opaque values, which is fine wherever they sit outside the tensors
// we need.
//
// The archive is read with LibTorch's own zip reader
// (caffe2::serialize::PyTorchStreamReader); each tensor storage record is
// read once into memory (one copy, then handed to the engine).
#pragma once

#include <string>

#include "common/status.h"
#include "model/safetensors.h"  // RawTensors

namespace clipserve::model {

// Accepts a state dict ({name: tensor}, plain dict or OrderedDict) or a
// checkpoint wrapping one under "state_dict". Errors name the path.
StatusOr<RawTensors> ReadTorchZip(const std::string& path);

}  // namespace clipserve::model
