#include "sarscale/dist/scene_predict.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>

#include "sarscale/dist/output_guard.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/image.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/features_stage.hpp"
#include "sarscale/dist/progress.hpp"
#include "sarscale/dist/scene_classifier.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/features/pca.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/io/raster_writer.hpp"
#include "sarscale/svm/predict.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kStripPixelBytes = std::size_t{32} << 20;  // scene pixels read per strip, at most (default)
constexpr int kTargetStrips = 64;
// Windows per chain/PCA/SVM batch: 256 windows of 128x128 are 16 MiB of pixels, and the batch
// is a whole number of svm::predict's 64-row blocks.
constexpr std::size_t kBatchWindows = 256;

int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Runs `work` on every rank and agrees on its failure (Comm::agree): keeps ranks out of a
// collective that a failed rank will never reach.
void agree(const Comm& comm, const std::function<void()>& work) { comm.agree_on(work); }

// Distinct colours: hues a golden angle apart, cycling through three saturation/value levels,
// so neighbouring class indices never look alike. Unused entries and no-data (255) are black;
// no-data shows transparent through the bands' NoData value.
std::vector<io::Rgba> class_palette(int classes) {
  std::vector<io::Rgba> table(256, io::Rgba{0, 0, 0, 0});
  constexpr double kGoldenAngle = 137.50776405;
  constexpr double kSat[3] = {0.85, 0.55, 0.95}, kVal[3] = {0.95, 0.80, 0.60};
  for (int i = 0; i < classes; ++i) {
    const double h = std::fmod(i * kGoldenAngle, 360.0) / 60.0, s = kSat[i % 3], v = kVal[i % 3];
    const double chroma = v * s, x = chroma * (1 - std::fabs(std::fmod(h, 2.0) - 1)), m = v - chroma;
    double r = 0, g = 0, b = 0;
    switch (static_cast<int>(h)) {
      case 0:
        r = chroma, g = x;
        break;
      case 1:
        r = x, g = chroma;
        break;
      case 2:
        g = chroma, b = x;
        break;
      case 3:
        g = x, b = chroma;
        break;
      case 4:
        r = x, b = chroma;
        break;
      default:
        r = chroma, b = x;
        break;
    }
    const auto byte = [&](double u) { return static_cast<std::uint8_t>(std::lround(255.0 * (u + m))); };
    table[static_cast<std::size_t>(i)] = io::Rgba{byte(r), byte(g), byte(b), 255};
  }
  return table;
}

// Per-rank tallies, summed at the end.
struct Counts {
  std::int64_t outside = 0, missing = 0, unusable = 0, classified = 0;
  std::vector<std::int64_t> per_class;
};

// Everything one rank needs to classify strips.
struct StripContext {
  const ScenePredictConfig& cfg;
  const io::GdalRaster& raster;
  const SceneClassifier& classifier;
  const SceneGrid& grid;
  int threads;
  std::optional<float> nodata;
};

// Classifies the cells of map rows [r0, r1): out = classes then confidences (2 * cells bytes).
void classify_strip(const StripContext& x, int r0, int r1, std::vector<std::uint8_t>& out, Counts& counts) {
  const SceneGrid& g = x.grid;
  const int mc = g.map_cols(), wr = g.window_rows, wc = g.window_cols;
  const int chip_r = x.classifier.chip_rows(), chip_c = x.classifier.chip_cols();
  const auto cells = static_cast<std::size_t>(r1 - r0) * static_cast<std::size_t>(mc);
  out.assign(2 * cells, kMapNoData);
  std::uint8_t* classes = out.data();
  std::uint8_t* confidence = out.data() + cells;

  // The strip of scene rows the windows reach, clipped to the scene (windows that leave it are
  // no-data anyway), and a summed-area table of its missing pixels.
  const int top = std::max(0, g.window_row0(r0)), bottom = std::min(g.scene_rows, g.window_row0(r1 - 1) + wr);
  Image strip;
  std::vector<std::uint32_t> sat;
  const auto W = static_cast<std::size_t>(g.scene_cols) + 1;
  if (bottom > top) {
    x.raster.read_window(top, 0, bottom - top, g.scene_cols, strip, x.cfg.band);
    sat.assign(static_cast<std::size_t>(bottom - top + 1) * W, 0);
    for (int i = 0; i < bottom - top; ++i) {
      std::uint32_t run = 0;
      const float* row = strip.magnitude.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(g.scene_cols);
      for (int j = 0; j < g.scene_cols; ++j) {
        run += !std::isfinite(row[j]) || (x.nodata && row[j] == *x.nodata) ? 1 : 0;
        sat[(static_cast<std::size_t>(i) + 1) * W + static_cast<std::size_t>(j) + 1] =
            sat[static_cast<std::size_t>(i) * W + static_cast<std::size_t>(j) + 1] + run;
      }
    }
  }
  const auto missing_in = [&](int row0, int col0) {  // window at scene (row0, col0), strip-relative rows
    const auto a = static_cast<std::size_t>(row0 - top), b = static_cast<std::size_t>(col0);
    const auto c = a + static_cast<std::size_t>(wr), d = b + static_cast<std::size_t>(wc);
    return sat[c * W + d] - sat[a * W + d] - sat[c * W + b] + sat[a * W + b];
  };

  std::vector<std::size_t> todo;  // strip-local cell indices to classify, in map order
  for (int r = r0; r < r1; ++r)
    for (int c = 0; c < mc; ++c) {
      const std::size_t cell =
          static_cast<std::size_t>(r - r0) * static_cast<std::size_t>(mc) + static_cast<std::size_t>(c);
      if (!g.window_inside(r, c))
        ++counts.outside;
      else if (missing_in(g.window_row0(r), g.window_col0(c)) > 0)
        ++counts.missing;
      else
        todo.push_back(cell);
    }

  const auto chip_px = static_cast<std::size_t>(chip_r) * static_cast<std::size_t>(chip_c);
  const bool resize = wr != chip_r || wc != chip_c;
  std::vector<float> chips;
  Image window;
  for (std::size_t b0 = 0; b0 < todo.size(); b0 += kBatchWindows) {
    const std::size_t n = std::min(kBatchWindows, todo.size() - b0);
    chips.resize(n * chip_px);
    for (std::size_t i = 0; i < n; ++i) {
      const int r = r0 + static_cast<int>(todo[b0 + i] / static_cast<std::size_t>(mc));
      const int c = static_cast<int>(todo[b0 + i] % static_cast<std::size_t>(mc));
      const float* src = strip.magnitude.data() +
                         static_cast<std::size_t>(g.window_row0(r) - top) * static_cast<std::size_t>(g.scene_cols) +
                         static_cast<std::size_t>(g.window_col0(c));
      float* dst = resize ? nullptr : chips.data() + i * chip_px;
      if (resize) {
        window.rows = wr;
        window.cols = wc;
        window.magnitude.resize(static_cast<std::size_t>(wr) * static_cast<std::size_t>(wc));
        dst = window.magnitude.data();
      }
      for (int row = 0; row < wr; ++row)
        std::copy_n(src + static_cast<std::size_t>(row) * static_cast<std::size_t>(g.scene_cols), wc,
                    dst + static_cast<std::size_t>(row) * static_cast<std::size_t>(wc));
      if (resize) {
        const Image fitted = fit_to_size(window, chip_r, chip_c);  // as ingest --tile-size does
        std::copy(fitted.magnitude.begin(), fitted.magnitude.end(), chips.data() + i * chip_px);
      }
    }
    const std::vector<ChipVerdict> verdicts = x.classifier.classify(chips.data(), n, x.threads);
    for (std::size_t i = 0; i < n; ++i) {
      const ChipVerdict& v = verdicts[i];
      if (v.class_index < 0) {
        ++counts.unusable;
        continue;
      }
      classes[todo[b0 + i]] = static_cast<std::uint8_t>(v.class_index);
      confidence[todo[b0 + i]] = static_cast<std::uint8_t>(std::clamp(std::lround(100.0 * v.confidence), 0L, 100L));
      ++counts.classified;
      ++counts.per_class[static_cast<std::size_t>(v.class_index)];
    }
  }
}

std::string size_text(int rows, int cols) { return std::to_string(rows) + "x" + std::to_string(cols); }

}  // namespace

int SceneGrid::window_row0(int cell_row) const { return cell_row * stride + floor_div(stride - window_rows, 2); }
int SceneGrid::window_col0(int cell_col) const { return cell_col * stride + floor_div(stride - window_cols, 2); }
bool SceneGrid::window_inside(int cell_row, int cell_col) const {
  const int r = window_row0(cell_row), c = window_col0(cell_col);
  return r >= 0 && c >= 0 && r + window_rows <= scene_rows && c + window_cols <= scene_cols;
}

json::Value ScenePredictSummary::to_json() const {
  json::Value v = json::Value::object();
  v["output"] = output.string();
  v["scene_rows"] = scene_rows;
  v["scene_cols"] = scene_cols;
  v["map_rows"] = map_rows;
  v["map_cols"] = map_cols;
  v["window"] = size_text(window_rows, window_cols);
  v["stride"] = stride;
  v["cells"] = cells;
  v["classified"] = classified;
  v["nodata"] = nodata();
  v["outside"] = outside;
  v["missing_pixels"] = missing_pixels;
  v["unusable"] = unusable;
  v["per_class"] = json::Value::object();
  for (const auto& [name, n] : per_class) v["per_class"][name] = n;
  v["confidence"] = probabilities ? "probability" : "votes";
  v["strips"] = strips;
  v["threads"] = threads;
  v["seconds"] = seconds;
  v["cells_per_s"] = seconds > 0 ? static_cast<double>(cells) / seconds : 0.0;
  return v;
}

ScenePredictSummary run_predict_scene(const Comm& comm, const ScenePredictConfig& cfg) {
  PhaseClock clock;
  if (cfg.scene.empty() || cfg.model.empty() || cfg.output.empty())
    throw ConfigError("predict on a scene needs --scene, --model and --output (the GeoTIFF map)");
  if (cfg.band < 1) throw ConfigError("--band counts from 1");
  if (cfg.threads < 0 || cfg.block_rows < 0) throw ConfigError("--threads and the strip height must not be negative");
  if (cfg.stride < 0 || cfg.window_rows < 0 || cfg.window_cols < 0 || (cfg.window_rows > 0) != (cfg.window_cols > 0))
    throw ConfigError("--window and --stride must be positive (0: the defaults)");
  // The map is written as OUTPUT.part and renamed (io/raster_writer.hpp); the policy checks it.
  const OutputGuard guard = OutputGuard::claim(
      comm, {{cfg.output, "--output", io::geotiff_kind("sarscale class map", "SARSCALE_MODEL_FINGERPRINT"), true}},
      {{cfg.scene, "--scene", false}, {cfg.model, "--model", false}}, cfg.overwrite, cfg.command_line);

  std::optional<SceneClassifier> classifier;
  std::optional<io::GdalRaster> raster;
  agree(comm, [&] {
    classifier.emplace(SceneClassifier::load(cfg.model, "predict --scene"));
    if (classifier->class_names().size() > kMapNoData)
      throw ConfigError("model " + cfg.model.string() + " has " + std::to_string(classifier->class_names().size()) +
                        " classes; a Byte class map holds at most 255");
    raster.emplace(io::GdalRaster::open(cfg.scene, cfg.calibration));
    if (cfg.band > raster->bands())
      throw ConfigError("--band " + std::to_string(cfg.band) + ": " + cfg.scene.string() + " has " +
                        std::to_string(raster->bands()) + " band(s)");
  });
  const features::FeatureChain& chain = classifier->chain();
  SceneGrid grid;
  grid.scene_rows = raster->rows();
  grid.scene_cols = raster->cols();
  grid.window_rows = cfg.window_rows > 0 ? cfg.window_rows : chain.rows();
  grid.window_cols = cfg.window_cols > 0 ? cfg.window_cols : chain.cols();
  grid.stride = cfg.stride > 0 ? cfg.stride : std::max(1, std::min(grid.window_rows, grid.window_cols) / 4);
  if (grid.window_rows > grid.scene_rows || grid.window_cols > grid.scene_cols)
    throw ConfigError("the scene " + cfg.scene.string() + " (" + size_text(grid.scene_rows, grid.scene_cols) +
                      " pixels) is smaller than one window of " + size_text(grid.window_rows, grid.window_cols) +
                      (cfg.window_rows > 0 ? "" : " (the model's chip size)") + "; give a smaller --window");
  const int map_rows = grid.map_rows(), map_cols = grid.map_cols();
  int block_rows = cfg.block_rows;
  if (block_rows == 0) {
    // Enough strips to share among ranks (~kTargetStrips), each at least a window tall in map
    // rows (so the overlap read twice stays below the strip itself), within the pixel budget.
    // From the scene and options only: the same strips, hence the same map, at any rank count.
    const auto rows_in_budget =
        static_cast<long long>(kStripPixelBytes / (sizeof(float) * static_cast<std::size_t>(grid.scene_cols)));
    const long long budget = std::max(1LL, (rows_in_budget - grid.window_rows) / grid.stride + 1);
    const long long wanted = std::max<long long>((grid.window_rows + grid.stride - 1) / grid.stride,
                                                 (map_rows + kTargetStrips - 1) / kTargetStrips);
    block_rows = static_cast<int>(std::min(budget, wanted));
  }
  block_rows = std::min(block_rows, map_rows);
  const int strips = (map_rows + block_rows - 1) / block_rows;
  const int threads = cfg.threads > 0 ? cfg.threads : omp_get_max_threads();
  const std::optional<double> nodata = raster->nodata(cfg.band);
  const StripContext context{cfg,  *raster, *classifier,
                             grid, threads, nodata ? std::optional<float>(static_cast<float>(*nodata)) : std::nullopt};
  const std::vector<std::string>& names = classifier->class_names();

  // Rank 0 alone creates and writes the map (a GeoTIFF has one writer).
  std::optional<io::RasterWriter> writer;
  agree(comm, [&] {
    if (!comm.is_root()) return;
    if (!cfg.output.parent_path().empty()) fs::create_directories(cfg.output.parent_path());
    io::RasterWriterOptions opt;
    opt.type = io::PixelType::byte;
    opt.bands = 2;
    opt.compression = "DEFLATE";
    writer.emplace(cfg.output, map_rows, map_cols, opt);
    if (const auto georef = raster->georef()) {
      io::Georef scaled = *georef;
      for (const int i : {1, 2, 4, 5}) scaled.geotransform[static_cast<std::size_t>(i)] *= grid.stride;
      writer->set_georef(scaled);
    } else {
      log::warn(cfg.scene.string(), " has no geotransform: the class map is not georeferenced");
    }
    io::Metadata classes;
    for (std::size_t k = 0; k < names.size(); ++k) classes["CLASS_" + std::to_string(k)] = names[k];
    io::Metadata meta = classes;
    meta["SARSCALE_SCENE"] = fs::absolute(cfg.scene).lexically_normal().string();
    meta["SARSCALE_BAND"] = std::to_string(cfg.band);
    meta["SARSCALE_CALIBRATION"] = raster->calibration_applied();
    meta["SARSCALE_MODEL"] = fs::absolute(cfg.model).lexically_normal().string();
    meta["SARSCALE_MODEL_FINGERPRINT"] = classifier->model().fingerprint;
    meta["SARSCALE_CHAIN"] = classifier->model().chain;
    meta["SARSCALE_WINDOW"] = size_text(grid.window_rows, grid.window_cols);
    meta["SARSCALE_STRIDE"] = std::to_string(grid.stride);
    meta["SARSCALE_CONFIDENCE"] = classifier->probabilities() ? "probability" : "votes";
    meta["SARSCALE_NODATA"] = std::to_string(kMapNoData);
    if (!cfg.command_line.empty()) meta["SARSCALE_COMMAND_LINE"] = cfg.command_line;
    writer->set_metadata(meta);
    writer->set_band_description(1, "class");
    writer->set_metadata(classes, 1);
    writer->set_colour_table(1, class_palette(static_cast<int>(names.size())));
    writer->set_band_description(2, "confidence");
    writer->set_metadata({{"UNIT", "percent"},
                          {"CONFIDENCE", classifier->probabilities()
                                             ? "probability of the chosen class"
                                             : "share of the chosen class's one-vs-one machines that voted for it"}},
                         2);
    for (const int b : {1, 2}) writer->set_nodata(b, kMapNoData);
  });

  Counts counts;
  counts.per_class.assign(names.size(), 0);
  const int P = comm.size();
  std::vector<std::uint8_t> payload;
  for (int round = 0; round * P < strips; ++round) {
    const int mine = round * P + comm.rank();
    payload.clear();
    agree(comm, [&] {
      if (mine < strips)
        classify_strip(context, mine * block_rows, std::min(map_rows, (mine + 1) * block_rows), payload, counts);
    });
    const std::vector<std::uint8_t> incoming = comm.gatherv(payload, 0);
    agree(comm, [&] {
      if (!comm.is_root()) return;
      std::size_t offset = 0;
      for (int s = round * P; s < std::min(strips, (round + 1) * P); ++s) {
        const int r0 = s * block_rows, n = std::min(map_rows, r0 + block_rows) - r0;
        const auto cells = static_cast<std::size_t>(n) * static_cast<std::size_t>(map_cols);
        writer->write_rows(r0, n, incoming.data() + offset, 1);
        writer->write_rows(r0, n, incoming.data() + offset + cells, 2);
        offset += 2 * cells;
      }
    });
  }
  agree(comm, [&] {
    if (writer) writer->close();
  });

  std::vector<std::int64_t> local{counts.outside, counts.missing, counts.unusable, counts.classified};
  local.insert(local.end(), counts.per_class.begin(), counts.per_class.end());
  const std::vector<std::int64_t> all = comm.allgatherv(local);
  std::vector<std::int64_t> total(local.size(), 0);
  for (std::size_t i = 0; i < all.size(); ++i) total[i % local.size()] += all[i];

  ScenePredictSummary s;
  s.output = cfg.output;
  s.scene_rows = grid.scene_rows;
  s.scene_cols = grid.scene_cols;
  s.map_rows = map_rows;
  s.map_cols = map_cols;
  s.window_rows = grid.window_rows;
  s.window_cols = grid.window_cols;
  s.stride = grid.stride;
  s.cells = static_cast<std::int64_t>(map_rows) * map_cols;
  s.outside = total[0];
  s.missing_pixels = total[1];
  s.unusable = total[2];
  s.classified = total[3];
  for (std::size_t k = 0; k < names.size(); ++k) s.per_class.emplace_back(names[k], total[4 + k]);
  s.probabilities = classifier->probabilities();
  s.strips = strips;
  s.threads = threads;
  s.seconds = comm.max(clock.lap());
  return s;
}

}  // namespace sarscale::dist
