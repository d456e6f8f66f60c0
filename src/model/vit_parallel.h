// A parallel for on the OpenMP thread team oneDNN uses.
//
// LibTorch 1.13's at::parallel_for is inline header code: it only runs in
// parallel when the calling file is compiled with -fopenmp (_OPENMP defined),
// and this project's sources are not, so it silently ran the hand-written
// LayerNorm and attention kernels on one thread. ParallelFor calls libgomp's
// GOMP_parallel (what `#pragma omp parallel` lowers to), looked up at run
// time in the libgomp LibTorch has already loaded, so the work runs on the
// same thread team as the oneDNN primitives (no extra threads, same thread
// count ICV as at::get_num_threads()). Without libgomp it falls back to one
// thread.
#pragma once

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

namespace clipserve::model::internal {

using GompParallelFn = void (*)(void (*)(void*), void*, unsigned, unsigned);

inline GompParallelFn GompParallel() {
  static const GompParallelFn fn = [] {
    GompParallelFn f = nullptr;
    void* sym = dlsym(RTLD_DEFAULT, "GOMP_parallel");
    static_assert(sizeof(sym) == sizeof(f));
    std::memcpy(&f, &sym, sizeof(f));
    return f;
  }();
  return fn;
}

// f(b, e) over [begin, end) split into at most get_num_threads() chunks of at
// least `grain` items; chunks are handed out through an atomic counter, so a
// smaller team than asked for (nested region) still covers the range.
template <typename F>
void ParallelFor(int64_t begin, int64_t end, int64_t grain, const F& f) {
  if (end <= begin) return;
  const int64_t threads = at::get_num_threads();
  const GompParallelFn gomp = GompParallel();
  grain = std::max<int64_t>(grain, 1);
  if (gomp == nullptr || threads <= 1 || end - begin <= grain || at::in_parallel_region()) {
    f(begin, end);
    return;
  }
  struct Ctx {
    const F* f;
    int64_t begin, end, step, chunks;
    std::atomic<int64_t> next{0};
  };
  const int64_t chunks = std::min<int64_t>(threads, (end - begin + grain - 1) / grain);
  Ctx ctx{&f, begin, end, (end - begin + chunks - 1) / chunks, chunks};
  gomp(
      [](void* p) {
        Ctx* c = static_cast<Ctx*>(p);
        for (int64_t i = c->next.fetch_add(1); i < c->chunks; i = c->next.fetch_add(1)) {
          const int64_t b = c->begin + i * c->step;
          const int64_t e = std::min(c->end, b + c->step);
          if (b < e) (*c->f)(b, e);
        }
      },
      &ctx, unsigned(chunks), 0);
}

}  // namespace clipserve::model::internal
