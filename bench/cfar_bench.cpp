// CA-CFAR plus connected components (sarscale::detect) on a float32 intensity scene held in a
// .npy file, the same scene and parameters as scripts/cfar_reference.py (OpenCV boxFilter), so
// that scripts/bench_cfar.sh can check identical detections and time both side by side.
//   cfar_bench make --size 8192 --seed 1 --output scene.npy
//       exponential (single-look) clutter, a bright 6x10 target and a 1-pixel discrete in every
//       256 x 256 block, a NaN hole: what a prescreener sees
//   cfar_bench run --input scene.npy [--guard 4] [--background 8] [--pfa 1e-6] [--threads 1]
//                  [--repeat 1] [--detections flags.npy]
//       times Cfar::run + candidates() (not the file read) per repeat; prints the median in
//       Mpixel/s; --detections writes the detected pixels' flat indices (int64, row-major).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "sarscale/detect/components.hpp"

namespace {

using sarscale::detect::Cfar;
using sarscale::detect::CfarParams;

std::map<std::string, std::string> parse(int argc, char** argv, int first) {
  std::map<std::string, std::string> o;
  for (int i = first; i < argc; i += 2) {
    const std::string key = argv[i];
    if (key.rfind("--", 0) != 0 || i + 1 >= argc) throw std::runtime_error("expected --option value at " + key);
    o[key.substr(2)] = argv[i + 1];
  }
  return o;
}

std::string get(const std::map<std::string, std::string>& o, const std::string& key, const std::string& fallback) {
  const auto it = o.find(key);
  return it == o.end() ? fallback : it->second;
}

void write_npy(const std::string& path, const char* descr, const void* data, std::size_t bytes,
               const std::string& shape) {
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  const auto len = static_cast<std::uint16_t>(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.put(static_cast<char>(len & 0xff)).put(static_cast<char>(len >> 8));
  f << header;
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!f) throw std::runtime_error("cannot write " + path);
}

struct Scene {
  std::int64_t rows = 0, cols = 0;
  std::vector<float> pixels;
};

Scene read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[10];
  if (!f.read(magic, 10) || std::string(magic, 6) != "\x93NUMPY") throw std::runtime_error(path + ": not a .npy file");
  const std::size_t len = static_cast<unsigned char>(magic[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(magic[9])) << 8);
  std::string header(len, ' ');
  f.read(header.data(), static_cast<std::streamsize>(len));
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path + ": expected a C-ordered float32 array");
  Scene s;
  if (std::sscanf(header.c_str() + header.find("'shape': (") + 10, "%ld, %ld", &s.rows, &s.cols) != 2)
    throw std::runtime_error(path + ": expected a 2-D array");
  s.pixels.resize(static_cast<std::size_t>(s.rows * s.cols));
  if (!f.read(reinterpret_cast<char*>(s.pixels.data()), static_cast<std::streamsize>(s.pixels.size() * 4)))
    throw std::runtime_error(path + ": ends early");
  return s;
}

// splitmix64: a fast reproducible generator, the same on every platform.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void make(const std::map<std::string, std::string>& o) {
  const std::int64_t n = std::stol(get(o, "size", "8192"));
  const std::uint64_t seed = std::stoull(get(o, "seed", "1"));
  Scene s{n, n, std::vector<float>(static_cast<std::size_t>(n * n))};
  for (std::int64_t i = 0; i < n * n; ++i) {  // exponential intensity of mean 1
    const double u = (static_cast<double>(mix(seed * 0x100000000ULL + static_cast<std::uint64_t>(i)) >> 11) + 0.5) * 0x1p-53;
    s.pixels[static_cast<std::size_t>(i)] = static_cast<float>(-std::log(u));
  }
  for (std::int64_t br = 0; br + 256 <= n; br += 256)
    for (std::int64_t bc = 0; bc + 256 <= n; bc += 256) {
      const std::uint64_t h = mix(seed ^ static_cast<std::uint64_t>(br * n + bc));
      const std::int64_t r = br + 20 + static_cast<std::int64_t>(h % 200), c = bc + 20 + static_cast<std::int64_t>((h >> 20) % 200);
      for (std::int64_t i = 0; i < 6; ++i)
        for (std::int64_t j = 0; j < 10; ++j) s.pixels[static_cast<std::size_t>((r + i) * n + c + j)] *= 60.0f;
      s.pixels[static_cast<std::size_t>((br + 5) * n + bc + 5)] = 400.0f;  // a clutter discrete
    }
  for (std::int64_t r = n / 2; r < n / 2 + 40; ++r)
    for (std::int64_t c = 100; c < 160; ++c) s.pixels[static_cast<std::size_t>(r * n + c)] = std::numeric_limits<float>::quiet_NaN();
  write_npy(get(o, "output", "scene.npy"), "<f4", s.pixels.data(), s.pixels.size() * 4,
            "(" + std::to_string(n) + ", " + std::to_string(n) + ")");
}

void run(const std::map<std::string, std::string>& o) {
  const Scene s = read_npy(get(o, "input", "scene.npy"));
  CfarParams p;
  p.guard = std::stoi(get(o, "guard", "4"));
  p.background = std::stoi(get(o, "background", "8"));
  p.pfa = std::stod(get(o, "pfa", "1e-6"));
  const int threads = std::stoi(get(o, "threads", "1")), repeat = std::stoi(get(o, "repeat", "1"));
  const Cfar cfar(p);
  const sarscale::detect::SceneWindow w{s.pixels.data(), 0, 0, s.rows, s.cols, s.cols, s.rows, s.cols};
  std::vector<double> seconds, cpu_seconds;
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  sarscale::detect::CfarTile tile;
  std::size_t found = 0;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_now();
    tile = cfar.run(w, {0, 0, s.rows, s.cols}, threads);
    found = sarscale::detect::candidates(tile).size();
    cpu_seconds.push_back(cpu_now() - c0);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  std::sort(cpu_seconds.begin(), cpu_seconds.end());
  const double median = seconds[seconds.size() / 2], cpu = cpu_seconds[cpu_seconds.size() / 2];
  const double mpix = static_cast<double>(s.rows * s.cols) / 1e6;
  std::printf("sarscale CA-CFAR+components: %ldx%ld, guard %d, background %d, pfa %g, %d thread(s): %zu detections, "
              "%zu candidates; median of %d: %.4f s wall (%.1f Mpixel/s), %.4f s CPU (%.1f Mpixel per CPU second)\n",
              s.rows, s.cols, p.guard, p.background, p.pfa, threads, tile.detections.size(), found, repeat, median,
              mpix / median, cpu, mpix / cpu);
  const std::string out = get(o, "detections", "");
  if (!out.empty()) {
    std::vector<std::int64_t> flat;
    for (const auto& d : tile.detections) flat.push_back(d.row * s.cols + d.col);
    write_npy(out, "<i8", flat.data(), flat.size() * 8, "(" + std::to_string(flat.size()) + ",)");
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "make") make(parse(argc, argv, 2));
    else if (mode == "run") run(parse(argc, argv, 2));
    else throw std::runtime_error("usage: cfar_bench make|run [--option value]... (see the source's header)");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cfar_bench: %s\n", e.what());
    return 1;
  }
}
