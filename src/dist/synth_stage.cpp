#include "sarscale/dist/synth_stage.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <optional>

#include "sarscale/core/error.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/output_policy.hpp"
#include "sarscale/io/crs.hpp"
#include "sarscale/io/raster_writer.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;

json::Value SynthSummary::to_json() const {
  json::Value v = json::Value::object();
  v["files"] = files;
  v["bytes"] = bytes;
  v["seconds"] = seconds;
  v["mb_per_s"] = seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0.0;
  return v;
}

namespace {
double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

SynthSummary synth_chips(const Comm& comm, const fs::path& out_dir, std::int64_t count,
                         const synth::ChipSynthConfig& config) {
  if (count < 0) throw ConfigError("--count must not be negative");
  config.validate();
  const auto t0 = std::chrono::steady_clock::now();
  comm.agree_on([&] {
    if (comm.is_root()) fs::create_directories(out_dir);
  });

  const Range mine = block_range(static_cast<std::size_t>(count), comm.size(), comm.rank());
  std::uint64_t bytes = 0;
  std::exception_ptr first_error;
  // Threads: OMP_NUM_THREADS, else the node's cores shared among its ranks (app/commands.cpp).
  // Chips are independent.
#pragma omp parallel for schedule(dynamic, 8) reduction(+ : bytes)
  for (std::int64_t i = static_cast<std::int64_t>(mine.begin); i < static_cast<std::int64_t>(mine.end); ++i) {
    try {
      bytes += synth::write_synth_chip(out_dir, config, i).bytes;
    } catch (...) {
#pragma omp critical(synth_error)
      if (!first_error) first_error = std::current_exception();
    }
  }
  // Agree on failure so that every rank reports it rather than one rank aborting the job.
  comm.agree(first_error);

  SynthSummary s;
  s.files = count;
  s.bytes = comm.sum(bytes);
  s.seconds = comm.max(since(t0));
  return s;
}

fs::path scene_targets_path(const fs::path& out_tif) {
  return out_tif.parent_path() / (out_tif.stem().string() + "_targets.csv");
}

namespace {

// One line per object: vehicles (kind target) first, then distractors (kind clutter, class
// "clutter", class index -1, serial = the distractor's kind), docs/detection.md "Ground truth".
void write_targets_csv(const fs::path& path, const synth::ScenePlan& plan) {
  std::ostringstream out;
  out << "index,class_index,class,serial,row,col,azimuth_deg,box_row0,box_col0,box_rows,box_cols,kind\n";
  const auto box = [&](const synth::PixelBox& b) {
    out << b.row0 << ',' << b.col0 << ',' << b.rows << ',' << b.cols;
  };
  for (const auto& t : plan.targets) {
    out << t.index << ',' << t.class_index << ',' << t.class_name << ',' << t.serial << ',' << t.row << ',' << t.col
        << ',' << t.azimuth_deg << ',';
    box(t.footprint);
    out << ",target\n";
  }
  const auto first = static_cast<int>(plan.targets.size());  // indices continue after the targets
  for (const auto& d : plan.distractors) {
    out << first + d.index << ",-1,clutter," << synth::distractor_kind_name(d.kind) << ',' << d.row << ',' << d.col
        << ',' << d.azimuth_deg << ',';
    box(d.footprint);
    out << ",clutter\n";
  }
  io::write_file_atomically(path, out.str());
}

// What a user reads back with gdalinfo. The acquisition conditions only when they differ from
// the defaults (17 deg, 0 dB), so that default scenes keep their bytes.
io::Metadata scene_metadata(const synth::SceneSynthConfig& cfg) {
  io::Metadata items = {{"SARSCALE_SYNTH_SEED", std::to_string(cfg.seed)},
                        {"SARSCALE_SYNTH_TARGETS", std::to_string(cfg.targets)},
                        {"SARSCALE_SYNTH_CLASSES", std::to_string(cfg.num_classes)},
                        {"POLARISATION", "HH"}};
  const auto number = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return std::string(buf);
  };
  if (cfg.depression_deg != synth::SceneSynthConfig{}.depression_deg)
    items["SARSCALE_SYNTH_DEPRESSION_DEG"] = number(cfg.depression_deg);
  if (cfg.gain_db != 0) items["SARSCALE_SYNTH_GAIN_DB"] = number(cfg.gain_db);
  if (cfg.clutter_level_db != 0) items["SARSCALE_SYNTH_CLUTTER_DB"] = number(cfg.clutter_level_db);
  if (cfg.distractors != 0) items["SARSCALE_SYNTH_DISTRACTORS"] = std::to_string(cfg.distractors);
  return items;
}

}  // namespace

SynthSummary synth_scene(const Comm& comm, const fs::path& out_tif, const synth::SceneSynthConfig& cfg) {
  cfg.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const synth::ScenePlan plan = synth::plan_scene(cfg);  // deterministic: every rank plans the same
  const bool complex = cfg.pixels == synth::ScenePixels::complex_int16;
  constexpr std::size_t px_bytes = 4;  // CInt16 (two int16) and float32 alike
  // Blocks of whole 256-row tile rows, about 16 MiB each, so rank 0 writes full tiles.
  const int block_rows = std::max(
      256, static_cast<int>((std::size_t{16} << 20) / (static_cast<std::size_t>(cfg.width) * px_bytes) / 256 * 256));
  const int blocks = (cfg.height + block_rows - 1) / block_rows;

  std::optional<io::RasterWriter> writer;
  comm.agree_on([&] {
    if (comm.is_root()) {
      if (!out_tif.parent_path().empty()) fs::create_directories(out_tif.parent_path());
      io::RasterWriterOptions opt;
      opt.type = complex ? io::PixelType::cint16 : io::PixelType::float32;
      writer.emplace(out_tif, cfg.height, cfg.width, opt);
      // A plausible map frame (UTM 31N, north up, pixel spacing in metres) so that tools and
      // tests can follow georeferencing through the pipeline.
      io::Georef georef;
      const double spacing = std::round(static_cast<double>(cfg.pixel_spacing_m) * 1e6) / 1e6;  // 0.2, not 0.2000000029
      georef.geotransform = {500000.0, spacing, 0.0, 5000000.0, 0.0, -spacing};
      georef.projection_wkt = io::crs_wkt("EPSG:32631");
      writer->set_georef(georef);
      writer->set_metadata(scene_metadata(cfg));
      write_targets_csv(scene_targets_path(out_tif), plan);
    }
  });

  // Round k: rank r renders block k*P + r; rank 0 receives and writes them in block order.
  const int P = comm.size();
  Image img;
  std::vector<std::int16_t> iq;
  std::vector<char> payload, incoming;
  std::exception_ptr error;  // rank 0's first failed write: later blocks are still gathered, not written
  for (int round = 0; round * P < blocks; ++round) {
    const int my_block = round * P + comm.rank();
    payload.clear();
    if (my_block < blocks) {
      const int row0 = my_block * block_rows, nrows = std::min(block_rows, cfg.height - row0);
      synth::render_scene_rows(cfg, plan, row0, nrows, img);
      if (complex) {
        synth::to_cint16(img, iq);
        payload.assign(reinterpret_cast<const char*>(iq.data()), reinterpret_cast<const char*>(iq.data() + iq.size()));
      } else {
        payload.assign(reinterpret_cast<const char*>(img.magnitude.data()),
                       reinterpret_cast<const char*>(img.magnitude.data() + img.magnitude.size()));
      }
    }
    incoming = comm.gatherv(payload, 0);
    if (comm.is_root()) {
      std::size_t off = 0;
      for (int r = 0; r < P && round * P + r < blocks; ++r) {
        const int block = round * P + r;
        const int row0 = block * block_rows, nrows = std::min(block_rows, cfg.height - row0);
        const std::size_t n = static_cast<std::size_t>(nrows) * cfg.width;
        try {
          if (error) {
            // already failed: the rest is still gathered (a collective), not written
          } else if (complex) {
            writer->write_rows_iq(row0, nrows, reinterpret_cast<const std::int16_t*>(incoming.data() + off));
          } else {
            writer->write_rows(row0, nrows, reinterpret_cast<const float*>(incoming.data() + off));
          }
        } catch (...) {
          error = std::current_exception();
        }
        off += n * px_bytes;
      }
    }
  }
  comm.agree_on([&] {
    if (error) std::rethrow_exception(error);
    if (comm.is_root()) writer->close();
  });

  SynthSummary s;
  s.files = 1;
  s.bytes = static_cast<std::uint64_t>(cfg.width) * static_cast<std::uint64_t>(cfg.height) * px_bytes;
  s.seconds = comm.max(since(t0));
  return s;
}

}  // namespace sarscale::dist
