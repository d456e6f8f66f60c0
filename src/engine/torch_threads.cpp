#include "engine/torch_threads.h"

#include <ATen/Parallel.h>

namespace clipserve::engine {

void UseIntraOpThreads(int threads) {
  if (threads < 1) threads = 1;
  thread_local int applied = 0;
  if (applied == threads) return;
  if (applied == 0) {
    // ATen initializes each thread's count lazily from its process-wide
    // setting on first use; trigger that now so it cannot later overwrite
    // the per-thread value set below.
    (void)at::get_num_threads();
  }
  // With the OpenMP backend this is omp_set_num_threads() for this thread
  // (it also records a process-wide default, read only by new threads'
  // lazy initialization, which each engine call overrides here).
  at::set_num_threads(threads);
  applied = threads;
}

}  // namespace clipserve::engine
