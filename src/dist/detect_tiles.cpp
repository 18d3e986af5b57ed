#include "detect_tiles.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "sarscale/core/error.hpp"
#include "sarscale/core/image.hpp"
#include "sarscale/detect/quicklook.hpp"

namespace sarscale::dist::detail {

namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kRecordMagic = 0x54434453;  // "SDCT"

}  // namespace

void put_bytes(std::vector<std::uint8_t>& out, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), p, p + n);
}

void Reader::bytes(void* out, std::size_t n) {
  if (n > left) throw InputError("detect record: truncated");
  std::memcpy(out, p, n);
  p += n;
  left -= n;
}

namespace {

std::uint64_t fnv1a(const std::uint8_t* p, std::size_t n) {
  std::uint64_t h = 14695981039346656037ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace

std::vector<std::uint8_t> pack_tile(const TileResult& tile) {
  std::vector<std::uint8_t> out;
  put<std::uint64_t>(out, tile.failure.size());
  put_bytes(out, tile.failure.data(), tile.failure.size());
  put<std::int64_t>(out, tile.tested);
  put<std::uint64_t>(out, tile.quicklook.size());
  put_bytes(out, tile.quicklook.data(), tile.quicklook.size() * sizeof(float));
  const std::vector<std::uint8_t> components =
      tile.failure.empty() ? detect::pack_components(tile.components) : std::vector<std::uint8_t>{};
  put<std::uint64_t>(out, components.size());
  put_bytes(out, components.data(), components.size());
  return out;
}

TileResult unpack_tile(const std::uint8_t* data, std::size_t size) {
  Reader r{data, size};
  TileResult t;
  const auto failure = r.get<std::uint64_t>();
  if (failure > r.left) throw InputError("detect tile record: truncated");
  t.failure.resize(failure);
  r.bytes(t.failure.data(), failure);
  t.tested = r.get<std::int64_t>();
  const auto blocks = r.get<std::uint64_t>();
  if (blocks > r.left / sizeof(float)) throw InputError("detect tile record: truncated");
  t.quicklook.resize(blocks);
  r.bytes(t.quicklook.data(), blocks * sizeof(float));
  const auto components = r.get<std::uint64_t>();
  if (components != r.left) throw InputError("detect tile record: components of the wrong size");
  if (t.failure.empty()) t.components = detect::unpack_components(r.p, components);
  return t;
}

void to_intensity(std::vector<float>& values, PixelQuantity quantity, float nodata) {
  const bool has_nodata = !std::isnan(nodata);
  for (float& v : values) {
    if (!std::isfinite(v) || (has_nodata && v == nodata)) {
      v = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    switch (quantity) {
      case PixelQuantity::amplitude:
        v = v < 0 ? std::numeric_limits<float>::quiet_NaN() : v * v;
        break;
      case PixelQuantity::db:
        v = std::pow(10.0f, v / 10.0f);
        break;
      default:  // intensity (automatic is resolved before tiles are read)
        break;
    }
  }
}

TileResult prescreen_tile(const io::GdalRaster& raster, int band, const SceneSetup& scene, const detect::Cfar& cfar,
                          const SceneTile& tile, std::int64_t scene_rows, std::int64_t scene_cols, int threads) {
  const detect::Rect core{tile.row0, tile.col0, tile.rows, tile.cols};
  const detect::Rect window = detect::tile_window(core, cfar.halo(), scene_rows, scene_cols);
  TileResult result;
  Image pixels;
  try {
    raster.read_window(static_cast<int>(window.row0), static_cast<int>(window.col0), static_cast<int>(window.rows),
                       static_cast<int>(window.cols), pixels, band);
  } catch (const InputError& e) {
    result.failure = e.what();  // a product that ends early: the scene is rejected, the run goes on
    return result;
  }
  to_intensity(pixels.magnitude, scene.quantity, scene.nodata);
  const detect::SceneWindow w{pixels.magnitude.data(), window.row0, window.col0, window.rows, window.cols,
                              window.cols,           scene_rows,   scene_cols};
  const detect::CfarTile detected = cfar.run(w, core, threads);
  result.tested = detected.tested;
  result.components = detect::find_components(detected);
  if (scene.quicklook_factor > 0)
    result.quicklook = detect::block_means(w, core, scene.quicklook_factor, std::numeric_limits<float>::quiet_NaN());
  return result;
}

TileLog::TileLog(const fs::path& folder, int rank, const std::string& run_id)
    : path_(folder / ("rank" + std::to_string(rank) + "-" + run_id + ".log")) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError("cannot write " + path_.string() + ": " + std::strerror(errno));
}

TileLog::~TileLog() {
  if (fd_ >= 0) ::close(fd_);
}

void TileLog::append(std::uint64_t tile, const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> record;
  put<std::uint32_t>(record, kRecordMagic);
  put<std::uint64_t>(record, tile);
  put<std::uint64_t>(record, payload.size());
  put_bytes(record, payload.data(), payload.size());
  put<std::uint64_t>(record, fnv1a(payload.data(), payload.size()));
  std::size_t done = 0;
  while (done < record.size()) {
    const ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IoError("writing " + path_.string() + " failed: " + std::strerror(n < 0 ? errno : ENOSPC));
    done += static_cast<std::size_t>(n);
  }
  // A killed job keeps every tile whose record reached the disk.
  if (::fdatasync(fd_) != 0) throw IoError("writing " + path_.string() + " failed: " + std::strerror(errno));
}

std::map<std::uint64_t, std::vector<std::uint8_t>> read_tile_logs(const fs::path& folder,
                                                                   const std::function<bool(std::uint64_t)>& keep) {
  std::vector<fs::path> logs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec))
    if (entry.path().extension() == ".log") logs.push_back(entry.path());
  std::sort(logs.begin(), logs.end());  // the same answer whatever the directory order
  std::map<std::uint64_t, std::vector<std::uint8_t>> records;
  for (const fs::path& log : logs) {
    std::ifstream in(log, std::ios::binary);
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Reader r{bytes.data(), bytes.size()};
    try {
      while (r.left > 0) {
        if (r.get<std::uint32_t>() != kRecordMagic) break;
        const auto tile = r.get<std::uint64_t>();
        const auto size = r.get<std::uint64_t>();
        if (size > r.left) break;
        std::vector<std::uint8_t> payload(r.p, r.p + size);
        r.p += size;
        r.left -= size;
        if (r.get<std::uint64_t>() != fnv1a(payload.data(), payload.size())) break;
        if (!keep || keep(tile)) records[tile] = std::move(payload);
      }
    } catch (const InputError&) {
      // a record cut short by a kill: the log's earlier records stand
    }
  }
  return records;
}

}  // namespace sarscale::dist::detail
