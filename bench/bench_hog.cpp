// HOG throughput on synthetic chips: sarscale::features::hog_batch at 1 and 2 threads and, when
// OpenCV was found at configure time, cv::HOGDescriptor with the same cells, blocks (stride one
// cell) and bins on the same chips (converted to 8 bits beforehand, as OpenCV's HOG requires;
// the conversion is not timed). Best of --repeat runs.
// Usage: bench_hog [--chips 2000] [--size 128] [--block 2] [--repeat 3] [--sqrt 0|1]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "sarscale/features/hog.hpp"

#ifdef SARSCALE_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>
#endif

namespace {

struct Options {
  int chips = 2000;
  int size = 128;
  int block = 2;
  int repeat = 3;
  bool sqrt = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
    const int v = std::stoi(argv[++i]);
    if (a == "--chips")
      o.chips = v;
    else if (a == "--size")
      o.size = v;
    else if (a == "--block")
      o.block = v;
    else if (a == "--repeat")
      o.repeat = v;
    else if (a == "--sqrt")
      o.sqrt = v != 0;
    else
      throw std::runtime_error("unknown option " + a);
  }
  if (o.chips < 1 || o.size < 16 || o.block < 1 || o.repeat < 1) throw std::runtime_error("bad option value");
  return o;
}

// SAR-like chips: gamma speckle over a smooth background and a bright rectangular target.
std::vector<float> make_chips(int count, int size) {
  std::vector<float> chips(static_cast<std::size_t>(count) * size * size);
  std::mt19937 rng(42);
  std::gamma_distribution<float> speckle(1.0f, 1.0f);
  for (int k = 0; k < count; ++k) {
    float* chip = chips.data() + static_cast<std::size_t>(k) * size * size;
    const int t0 = size / 3 + k % 7, t1 = 2 * size / 3 - k % 5;
    for (int r = 0; r < size; ++r)
      for (int c = 0; c < size; ++c) {
        const bool target = r > t0 && r < t1 && c > t0 + 5 && c < t1 - 5;
        chip[r * size + c] = (0.05f + 0.02f * std::sin(0.07f * (r + k)) + (target ? 0.6f : 0.0f)) * speckle(rng);
      }
  }
  return chips;
}

// Best wall time of `repeat` runs, in seconds.
double best_time(int repeat, const std::function<void()>& run) {
  double best = 1e300;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

int run(const Options& o) {
  namespace sf = sarscale::features;
  sf::HogParams params;
  params.block_rows = params.block_cols = o.block;
  params.transform_sqrt = o.sqrt;
  const std::size_t length = sf::hog_length(params, o.size, o.size);
  const auto chips = make_chips(o.chips, o.size);
  std::vector<float> features(length * o.chips);
  std::printf("%d chips of %dx%d, %s, %zu features per chip\n", o.chips, o.size, o.size, params.describe().c_str(),
              length);

  double ours[3] = {0, 0, 0};
  for (int threads : {1, 2}) {
    sf::hog_batch(params, chips.data(), o.chips, o.size, o.size, features.data(), threads);  // warm-up
    const double t = best_time(
        o.repeat, [&] { sf::hog_batch(params, chips.data(), o.chips, o.size, o.size, features.data(), threads); });
    ours[threads] = o.chips / t;
    std::printf("sarscale hog, %d thread%s: %10.0f chips/s (%.1f us/chip)\n", threads, threads > 1 ? "s" : " ",
                ours[threads], 1e6 / ours[threads]);
  }
  std::printf("sarscale speed-up 1 -> 2 threads: %.2fx\n", ours[2] / ours[1]);

#ifdef SARSCALE_HAVE_OPENCV
  // Same geometry: window = chip, cells 8x8, blocks of o.block cells, stride one cell, 9 bins,
  // L2-Hys (OpenCV's only norm). OpenCV additionally interpolates votes between bins and applies
  // a Gaussian block window: it does more work per pixel, but it is the usual yardstick.
  const cv::Size cell(params.cell_cols, params.cell_rows);
  const cv::Size block(cell.width * o.block, cell.height * o.block);
  std::vector<cv::Mat> images;
  images.reserve(o.chips);
  for (int k = 0; k < o.chips; ++k) {
    cv::Mat f(o.size, o.size, CV_32F, const_cast<float*>(chips.data()) + static_cast<std::size_t>(k) * o.size * o.size);
    cv::Mat u8;
    f.convertTo(u8, CV_8U, 255.0);  // saturating
    images.push_back(u8);
  }
  double cv_rate[3] = {0, 0, 0};
  std::size_t cv_length = 0;
  for (int threads : {1, 2}) {
    cv::setNumThreads(1);  // parallelism over chips, as ours, not inside OpenCV
    const auto run_cv = [&] {
#pragma omp parallel num_threads(threads)  // thread count: this loop's `threads`
      {
        cv::HOGDescriptor hog(cv::Size(o.size, o.size), block, cell, cell, params.orientations);
        std::vector<float> descriptor;
#pragma omp for schedule(static)
        for (int k = 0; k < o.chips; ++k) hog.compute(images[k], descriptor);
#pragma omp single
        cv_length = descriptor.size();
      }
    };
    run_cv();  // warm-up
    cv_rate[threads] = o.chips / best_time(o.repeat, run_cv);
    std::printf("OpenCV %s HOGDescriptor, %d thread%s: %10.0f chips/s (%.1f us/chip, %zu features)\n", CV_VERSION,
                threads, threads > 1 ? "s" : " ", cv_rate[threads], 1e6 / cv_rate[threads], cv_length);
  }
  std::printf("sarscale / OpenCV: %.2fx at 1 thread, %.2fx at 2 threads\n", ours[1] / cv_rate[1], ours[2] / cv_rate[2]);
#else
  std::printf("OpenCV not found at configure time: no comparison\n");
#endif
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_hog: %s\n", e.what());
    return 1;
  }
}
