// Intra-op thread control for the LibTorch engine. Torch-free header.
//
// OpenMP keeps the thread count per calling thread (an ICV), and LibTorch
// built with OpenMP reads it back from there; oneDNN and OpenBLAS (OpenMP
// build) do the same. Engines may be called from any thread, and several
// engines may share the machine with different counts, so every call sets
// the count for the thread it runs on (cheap when already set).
#pragma once

namespace clipserve::engine {

// Makes ATen, oneDNN and OpenBLAS use `threads` (>= 1) intra-op threads for
// work issued from the calling thread.
void UseIntraOpThreads(int threads);

}  // namespace clipserve::engine
