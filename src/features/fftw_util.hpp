#pragma once
// FFTW helpers shared by the layer's FFT users (Gabor filtering, speckle re-draws). Private to
// the layer: not installed.
#include <fftw3.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <new>

namespace sarscale::features::detail {

// FFTW's planner (plan creation and destruction) is not thread-safe; executing a plan is. One
// mutex for the whole process (an inline function's static), whichever code plans.
inline std::mutex& fftw_planner_mutex() {
  static std::mutex mutex;
  return mutex;
}

struct FftwFree {
  void operator()(void* p) const { fftw_free(p); }
};
using ComplexBuffer = std::unique_ptr<fftw_complex[], FftwFree>;
using RealBuffer = std::unique_ptr<double[], FftwFree>;

// SIMD-aligned buffers (fftw_malloc), so plans executed on them with fftw_execute_dft use the
// same codelets as the buffers they were planned on.
inline ComplexBuffer allocate_complex(std::size_t n) {
  auto* p = static_cast<fftw_complex*>(fftw_malloc(sizeof(fftw_complex) * std::max<std::size_t>(n, 1)));
  if (!p) throw std::bad_alloc();
  return ComplexBuffer(p);
}

inline RealBuffer allocate_real(std::size_t n) {
  auto* p = static_cast<double*>(fftw_malloc(sizeof(double) * std::max<std::size_t>(n, 1)));
  if (!p) throw std::bad_alloc();
  return RealBuffer(p);
}

}  // namespace sarscale::features::detail
