// Throughput of the Gabor feature bank: chips/s for direct spatial convolution, FFT convolution
// and the automatic per-filter choice, at 1 and 2 threads (or --threads), plus the per-kernel-size
// comparison used to set the crossover of the automatic choice (kFftCostPerPointLog in gabor.cpp).
// Usage: bench_gabor [--rows 128] [--cols 128] [--chips 64] [--threads 1,2]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sarscale/features/gabor.hpp"

namespace {

namespace sf = sarscale::features;

struct Options {
  int rows = 128;
  int cols = 128;
  int chips = 64;
  std::vector<int> threads{1, 2};
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
    const std::string v = argv[++i];
    if (a == "--rows") {
      o.rows = std::stoi(v);
    } else if (a == "--cols") {
      o.cols = std::stoi(v);
    } else if (a == "--chips") {
      o.chips = std::stoi(v);
    } else if (a == "--threads") {
      o.threads.clear();
      std::stringstream list(v);
      for (std::string item; std::getline(list, item, ',');) o.threads.push_back(std::stoi(item));
    } else {
      throw std::runtime_error("unknown option " + a);
    }
  }
  if (o.rows <= 0 || o.cols <= 0 || o.chips <= 0 || o.threads.empty())
    throw std::runtime_error("sizes, chips and threads must be positive");
  return o;
}

const char* name(sf::Convolution m) {
  switch (m) {
    case sf::Convolution::kDirect:
      return "direct";
    case sf::Convolution::kFft:
      return "fft";
    default:
      return "auto";
  }
}

// Best of three runs of features_batch over all chips, in chips per second.
double chips_per_second(const sf::GaborBank& bank, const std::vector<float>& chips, int count, int threads) {
  std::vector<float> out(static_cast<std::size_t>(count) * bank.feature_length());
  bank.features_batch(chips.data(), 1, out.data(), threads);  // warm-up: workspaces, caches
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    const auto t0 = std::chrono::steady_clock::now();
    bank.features_batch(chips.data(), count, out.data(), threads);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, count / s);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    std::mt19937 rng(1);
    std::gamma_distribution<float> speckle(1.0f, 1.0f);
    std::vector<float> chips(static_cast<std::size_t>(o.rows) * o.cols * o.chips);
    for (auto& v : chips) v = speckle(rng);

    std::printf("Gabor bank, 4 orientations x 3 frequencies {0.1, 0.2, 0.4}, %dx%d chips, %d chips, grid 2\n", o.rows,
                o.cols, o.chips);
    const auto params = sf::gabor_bank_params({0.1, 0.2, 0.4}, 4);
    for (auto method : {sf::Convolution::kDirect, sf::Convolution::kFft, sf::Convolution::kAuto}) {
      const sf::GaborBank bank(params, o.rows, o.cols, {.grid = 2, .method = method});
      std::string chosen;
      for (std::size_t f = 0; f < bank.filter_count(); ++f)
        chosen += bank.method(f) == sf::Convolution::kFft ? 'F' : 'D';
      for (int t : o.threads)
        std::printf("  %-6s threads=%d  %9.1f chips/s   (per filter: %s)\n", name(method), t,
                    chips_per_second(bank, chips, o.chips, t), chosen.c_str());
    }

    std::printf("Crossover: one frequency x 4 orientations, 1 thread, ms per chip\n");
    for (double f : {0.6, 0.45, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1}) {
      const auto p = sf::gabor_bank_params({f}, 4);
      const sf::GaborBank direct(p, o.rows, o.cols, {.grid = 2, .method = sf::Convolution::kDirect});
      const sf::GaborBank fft(p, o.rows, o.cols, {.grid = 2, .method = sf::Convolution::kFft});
      const sf::GaborBank automatic(p, o.rows, o.cols, {.grid = 2});
      const int widest = std::max(direct.kernel(0).cols, direct.kernel(1).cols);
      std::printf("  f=%.2f kernel<=%2dx%-2d  direct %7.3f  fft %7.3f  auto picks %s\n", f, widest, widest,
                  1e3 / chips_per_second(direct, chips, o.chips, 1), 1e3 / chips_per_second(fft, chips, o.chips, 1),
                  name(automatic.method(0)));
    }
    std::printf("Crossover, small kernels: f=0.3, sigma_x=sigma_y=s, n_stds=1, 4 orientations, ms per chip\n");
    for (double sigma : {0.8, 1.5, 2.5, 3.5, 4.5}) {
      auto p = sf::gabor_bank_params({0.3}, 4);
      for (auto& q : p) {
        q.sigma_x = q.sigma_y = sigma;
        q.n_stds = 1;
      }
      const sf::GaborBank direct(p, o.rows, o.cols, {.grid = 2, .method = sf::Convolution::kDirect});
      const sf::GaborBank fft(p, o.rows, o.cols, {.grid = 2, .method = sf::Convolution::kFft});
      const sf::GaborBank automatic(p, o.rows, o.cols, {.grid = 2});
      std::printf("  s=%.1f kernel %2dx%-2d  direct %7.3f  fft %7.3f  auto picks %s\n", sigma, direct.kernel(0).rows,
                  direct.kernel(0).cols, 1e3 / chips_per_second(direct, chips, o.chips, 1),
                  1e3 / chips_per_second(fft, chips, o.chips, 1), name(automatic.method(0)));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gabor: %s\n", e.what());
    return 1;
  }
}
