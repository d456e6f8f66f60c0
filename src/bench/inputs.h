// Benchmark inputs, built before any timing: deterministic synthetic images
// (seeded noise, S x S JPEG, quality q — like the original script) or the
// files of --images DIR; plus a fixed set of parity probe images. Every
// image also carries the [0,1] CHW tensor the server would derive from its
// bytes (image::DecodeAndPrepare + ToUnitChw), for the tensor protocols.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "bench/config.h"
#include "bench/runner.h"
#include "common/status.h"

namespace clipserve::bench {

// FNV-1a 64 of the bytes, hex: identifies probe images across runs.
std::string ContentId(std::span<const std::uint8_t> bytes);

StatusOr<InputImage> MakeSyntheticImage(std::uint64_t seed, int size, int quality);
StatusOr<InputImage> LoadImageFile(const std::string& path, int size);

// Pool (config.image_pool images) + probes (config.probe_images). Probes
// are synthetic with a fixed seed unless --images is given (then its first
// files), so runs with different --seed still compare for parity.
StatusOr<RunInputs> MakeRunInputs(const BenchConfig& config, std::string* description);

}  // namespace clipserve::bench
