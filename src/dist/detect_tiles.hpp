#pragma once
// Internal to the detect stage: what one tile's prescreen produces, how it is computed, and the
// tile logs that make the stage resumable (OUTPUT/tiles/).
//
// Tile logs. Each rank of a run appends one record per finished tile to its own file
// tiles/rank<R>-<run id>.log (never shared, so no locking), flushed and fsynced per record:
//   u32 magic, u64 tile index, u64 payload bytes, payload, u64 FNV-1a hash of the payload.
// A record cut short by a kill, or whose hash does not match, ends that log's readable part; every
// earlier record stands. tiles/key holds the resume key of the run that wrote the logs: a run
// with another key (other scenes, options) starts the folder afresh.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sarscale/detect/cfar.hpp"
#include "sarscale/detect/components.hpp"
#include "sarscale/dist/detect_stage.hpp"
#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::dist::detail {

// One tile's result.
struct TileResult {
  std::string failure;            // the scene could not be read here (its reason); else ""
  std::int64_t tested = 0;        // pixels the CFAR tested
  std::vector<float> quicklook;   // block means of the core (detect::block_means)
  detect::TileComponents components;
};
// Native-layout records for tile logs and for ranks of one job: appended values, and a reader
// that refuses to run past the end of its span (InputError "detect record: truncated").
void put_bytes(std::vector<std::uint8_t>& out, const void* data, std::size_t n);
template <typename T>
void put(std::vector<std::uint8_t>& out, T v) {
  put_bytes(out, &v, sizeof v);
}
struct Reader {
  const std::uint8_t* p;
  std::size_t left;
  void bytes(void* out, std::size_t n);
  template <typename T>
  T get() {
    T v;
    bytes(&v, sizeof v);
    return v;
  }
};

std::vector<std::uint8_t> pack_tile(const TileResult& tile);
TileResult unpack_tile(const std::uint8_t* data, std::size_t size);  // InputError when malformed

// What a scene needs for its tiles: the pixels' meaning and the CFAR with its ring sizes.
struct SceneSetup {
  std::filesystem::path path;
  PixelQuantity quantity = PixelQuantity::amplitude;  // resolved (never automatic)
  float nodata = std::numeric_limits<float>::quiet_NaN();
  detect::CfarParams cfar;  // guard/background in pixels for this scene
  int quicklook_factor = 1;
};

// Reads the tile's window (core + CFAR halo) of `band`, converts it to intensity and runs the
// CFAR, its components and the quick-look blocks. InputError from GDAL becomes a failed tile.
TileResult prescreen_tile(const io::GdalRaster& raster, int band, const SceneSetup& scene, const detect::Cfar& cfar,
                          const SceneTile& tile, std::int64_t scene_rows, std::int64_t scene_cols, int threads);

// Intensity from the band's values, in place: NaN where the value is no data or cannot be one.
void to_intensity(std::vector<float>& values, PixelQuantity quantity, float nodata);

class TileLog {
 public:
  // Opens (creates) tiles/rank<rank>-<run_id>.log for appending.
  TileLog(const std::filesystem::path& folder, int rank, const std::string& run_id);
  ~TileLog();
  TileLog(const TileLog&) = delete;
  TileLog& operator=(const TileLog&) = delete;
  void append(std::uint64_t tile, const std::vector<std::uint8_t>& payload);  // IoError naming the file

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// Every readable record of every log in `folder` (later records of a tile replace earlier ones).
// `keep` (optional) selects the tiles whose payloads are kept (the others are checked and skipped).
std::map<std::uint64_t, std::vector<std::uint8_t>> read_tile_logs(
    const std::filesystem::path& folder, const std::function<bool(std::uint64_t)>& keep = {});

}  // namespace sarscale::dist::detail
