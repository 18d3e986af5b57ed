#include "detect_outputs.hpp"

#include <algorithm>
#include <cstring>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <type_traits>

#include "sarscale/core/error.hpp"
#include "sarscale/core/image.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/detect/quicklook.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/detection_file.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "sarscale/io/raster_writer.hpp"

namespace sarscale::dist::detail {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kChipBatch = 256;  // chips per chain/SVM batch

// Rank 0: one scene's tiles, merged.
SceneResult merge_scene(std::size_t scene, const DetectPlan& plan,
                        const std::map<std::uint64_t, std::vector<std::uint8_t>>& records, const DetectConfig& cfg) {
  SceneResult r;
  const auto [rows, cols] = plan.sizes[scene];
  const int f = plan.quicklook_factor[scene];  // 0: no quick-look
  if (f > 0) {
    r.quicklook_rows = static_cast<int>((rows + f - 1) / f);
    r.quicklook_cols = static_cast<int>((cols + f - 1) / f);
  }
  r.quicklook.assign(static_cast<std::size_t>(r.quicklook_rows) * static_cast<std::size_t>(r.quicklook_cols), 0.0f);
  std::vector<detect::TileComponents> parts;
  for (std::uint64_t t = 0; t < plan.tiles.size(); ++t) {
    const SceneTile& tile = plan.tiles[t];
    if (tile.scene != scene) continue;
    const auto it = records.find(t);
    if (it == records.end()) throw Error("detect: tile " + std::to_string(t) + " was never logged");
    TileResult result = unpack_tile(it->second.data(), it->second.size());
    if (!result.failure.empty()) {
      if (r.failure.empty()) r.failure = result.failure;
      continue;
    }
    r.tested += result.tested;
    const auto qr = f > 0 ? static_cast<std::size_t>((tile.rows + f - 1) / f) : 0;
    const auto qc = f > 0 ? static_cast<std::size_t>((tile.cols + f - 1) / f) : 0;
    for (std::size_t i = 0; i < qr; ++i)
      std::copy_n(result.quicklook.data() + i * qc, qc,
                  r.quicklook.data() + (static_cast<std::size_t>(tile.row0 / f) + i) * static_cast<std::size_t>(r.quicklook_cols) +
                      static_cast<std::size_t>(tile.col0 / f));
    parts.push_back(std::move(result.components));
  }
  if (!r.failure.empty()) return r;
  const std::vector<detect::Candidate> all =
      detect::cluster_candidates(detect::merge_components(parts), cfg.cluster_gap);
  r.candidates = static_cast<std::int64_t>(all.size());
  for (const detect::Candidate& c : all) {
    if (c.area < cfg.min_area || (cfg.max_area > 0 && c.area > cfg.max_area)) {
      ++r.size_rejected;
      continue;
    }
    r.kept.push_back(c);
  }
  return r;
}

// A merged scene as bytes for the gather to rank 0 (the ranks of one job share the layout);
// without its quick-look blocks, which stay on the rank that renders them.
static_assert(std::is_trivially_copyable_v<detect::Candidate>);
void pack_scene_result(std::size_t scene, const SceneResult& r, std::vector<std::uint8_t>& out) {
  put<std::uint64_t>(out, scene);
  put<std::uint64_t>(out, r.failure.size());
  put_bytes(out, r.failure.data(), r.failure.size());
  for (const std::int64_t v : {r.tested, r.candidates, r.size_rejected}) put<std::int64_t>(out, v);
  put<std::int32_t>(out, r.quicklook_rows);
  put<std::int32_t>(out, r.quicklook_cols);
  put<std::uint64_t>(out, r.kept.size());
  put_bytes(out, r.kept.data(), r.kept.size() * sizeof(detect::Candidate));
}

std::vector<SceneResult> unpack_scene_results(const std::vector<std::uint8_t>& in, std::size_t scenes) {
  std::vector<SceneResult> out(scenes);
  std::vector<bool> seen(scenes, false);
  Reader r{in.data(), in.size()};
  while (r.left > 0) {
    const auto scene = r.get<std::uint64_t>();
    if (scene >= scenes || seen[scene]) throw Error("detect: gathered scene results do not match the plan");
    seen[scene] = true;
    SceneResult& s = out[scene];
    const auto failure = r.get<std::uint64_t>();
    if (failure > r.left) throw InputError("detect record: truncated");
    s.failure.resize(failure);
    r.bytes(s.failure.data(), failure);
    s.tested = r.get<std::int64_t>();
    s.candidates = r.get<std::int64_t>();
    s.size_rejected = r.get<std::int64_t>();
    s.quicklook_rows = r.get<std::int32_t>();
    s.quicklook_cols = r.get<std::int32_t>();
    const auto kept = r.get<std::uint64_t>();
    if (kept > r.left / sizeof(detect::Candidate)) throw InputError("detect record: truncated");
    s.kept.resize(kept);
    r.bytes(s.kept.data(), kept * sizeof(detect::Candidate));
  }
  if (std::find(seen.begin(), seen.end(), false) != seen.end()) throw Error("detect: a scene was merged by no rank");
  return out;
}

// A verdict as text for the allgather; the target's position is given in scene pixels then.
std::string encode_verdict(const ChipVerdict& v) {
  std::ostringstream out;
  out.precision(17);
  out << v.class_index << ' ' << v.confidence << ' ' << v.clutter_probability << ' ' << (v.target ? 1 : 0) << ' '
      << (v.target ? (*v.target)[0] : 0.0) << ' ' << (v.target ? (*v.target)[1] : 0.0) << ' ' << v.reason;
  return out.str();
}

ChipVerdict decode_verdict(const std::string& text) {
  ChipVerdict v;
  std::istringstream in(text);
  int has_target = 0;
  double row = 0, col = 0;
  in >> v.class_index >> v.confidence >> v.clutter_probability >> has_target >> row >> col;
  if (has_target != 0) v.target = std::array<double, 2>{row, col};
  std::getline(in >> std::ws, v.reason);
  return v;
}

// The window of the chip centred on a job (shifted inside the scene at its borders).
std::array<int, 2> chip_origin(const io::GdalRaster& raster, const ChipJob& job, int chip_rows, int chip_cols) {
  return {std::clamp(static_cast<int>(job.centre.row) - chip_rows / 2, 0, raster.rows() - chip_rows),
          std::clamp(static_cast<int>(job.centre.col) - chip_cols / 2, 0, raster.cols() - chip_cols)};
}

// Cuts the chip whose window starts at `origin` (chip_origin) from its scene.
std::string cut_chip(const io::GdalRaster& raster, int band, std::array<int, 2> origin, int chip_rows, int chip_cols,
                     float* out) {
  if (raster.rows() < chip_rows || raster.cols() < chip_cols)
    return "the scene is smaller than one chip of the model";
  const auto [r0, c0] = origin;
  Image chip;
  raster.read_window(r0, c0, chip_rows, chip_cols, chip, band);
  std::copy(chip.magnitude.begin(), chip.magnitude.end(), out);
  return "";
}

// The chip positions looked at around one object: its centre alone, or with --search R the 3 x 3
// grid of centres R pixels apart around it (a prescreen hit is rarely where the training chips
// were centred; the classifier takes the window that looks most like a target).
std::vector<std::pair<int, int>> search_offsets(int search) {
  if (search <= 0) return {{0, 0}};
  std::vector<std::pair<int, int>> out;
  for (int dr = -search; dr <= search; dr += search)
    for (int dc = -search; dc <= search; dc += search) out.emplace_back(dr, dc);
  return out;
}

// Of one object's windows, the verdict least like clutter (the first on ties: the grid's order).
ChipVerdict best_window(const std::vector<ChipVerdict>& windows, int clutter_class) {
  const ChipVerdict* best = nullptr;
  const auto clutterness = [&](const ChipVerdict& v) {
    return v.class_index == clutter_class ? 1.0 + v.confidence : v.clutter_probability;
  };
  for (const ChipVerdict& v : windows)
    if (v.class_index >= 0 && (best == nullptr || clutterness(v) < clutterness(*best))) best = &v;
  return best != nullptr ? *best : windows.front();
}

// Classifies jobs [begin, end) (scene order), in batches.
std::vector<ChipVerdict> classify_range(const std::vector<ChipJob>& jobs, std::size_t begin, std::size_t end,
                                        const std::vector<SceneSetup>& scenes, const SceneClassifier& model,
                                        const DetectConfig& cfg, int threads) {
  const int cr = model.chip_rows(), cc = model.chip_cols();
  const auto chip_px = static_cast<std::size_t>(cr) * static_cast<std::size_t>(cc);
  const std::vector<std::pair<int, int>> offsets = search_offsets(cfg.search);
  const std::size_t per_job = offsets.size(), jobs_per_batch = std::max<std::size_t>(1, kChipBatch / per_job);
  std::vector<ChipVerdict> out;
  std::optional<io::GdalRaster> raster;
  std::uint32_t open_scene = UINT32_MAX;
  std::vector<float> chips;
  for (std::size_t b0 = begin; b0 < end; b0 += jobs_per_batch) {
    const std::size_t n = std::min(jobs_per_batch, end - b0) * per_job;
    chips.assign(n * chip_px, 0.0f);
    std::vector<std::string> reasons(n);
    std::vector<std::array<int, 2>> origins(n);  // of each chip's window in its scene
    for (std::size_t i = 0; i < n; ++i) {
      ChipJob job = jobs[b0 + i / per_job];
      if (job.scene != open_scene) {
        raster.emplace(io::GdalRaster::open(scenes[job.scene].path, cfg.calibration));
        open_scene = job.scene;
      }
      job.centre.row += offsets[i % per_job].first;
      job.centre.col += offsets[i % per_job].second;
      origins[i] = chip_origin(*raster, job, cr, cc);
      reasons[i] = cut_chip(*raster, cfg.band, origins[i], cr, cc, chips.data() + i * chip_px);
    }
    std::vector<ChipVerdict> verdicts = model.classify(chips.data(), n, threads);
    for (std::size_t i = 0; i < n; ++i) {
      if (!reasons[i].empty()) verdicts[i] = ChipVerdict{-1, 0, 0, reasons[i], std::nullopt};
      if (!verdicts[i].target) continue;  // chip pixels -> scene pixels
      (*verdicts[i].target)[0] += origins[i][0];
      (*verdicts[i].target)[1] += origins[i][1];
    }
    for (std::size_t j = 0; j < n; j += per_job)
      out.push_back(best_window({verdicts.begin() + static_cast<std::ptrdiff_t>(j),
                                 verdicts.begin() + static_cast<std::ptrdiff_t>(j + per_job)},
                                model.clutter_class()));
  }
  return out;
}

std::string unique_png_name(const fs::path& scene, std::set<std::string>& taken, std::size_t index) {
  std::string name = scene.stem().string();
  if (scene.filename() == "manifest.safe" || scene.filename() == "product.xml") name = scene.parent_path().stem().string();
  if (!taken.insert(name).second) name += "-" + std::to_string(index + 1), taken.insert(name);
  return name + ".png";
}

// A vehicle seen as several objects is declared once: declared targets within `radius` pixels
// of a more target-like one (higher class probability, or lower clutter probability when the
// model has a clutter class) are turned into duplicates of it.
void suppress_duplicate_targets(std::vector<io::Detection>& dets, const SceneClassifier& model, double radius) {
  std::vector<std::size_t> declared;
  std::vector<detect::ScoredPosition> positions;
  for (std::size_t k = 0; k < dets.size(); ++k) {
    if (!dets[k].target) continue;
    const io::Detection& d = dets[k];
    const double score = model.clutter_class() >= 0 && d.clutter_probability >= 0 ? 1.0 - d.clutter_probability
                                                                                  : d.probability;
    declared.push_back(k);
    positions.push_back({d.row, d.col, std::isfinite(score) ? score : 0.0});
  }
  const std::vector<std::size_t> by = detect::suppress_duplicates(positions, radius);
  for (std::size_t i = 0; i < declared.size(); ++i) {
    if (by[i] == detect::kNotSuppressed) continue;
    io::Detection& d = dets[declared[i]];
    d.target = false;
    d.reason = "duplicate of detection " + std::to_string(dets[declared[by[i]]].id);
  }
}

// The detection records of one scene (geo positions through the scene's georeferencing).
std::vector<io::Detection> scene_detections(const SceneResult& r, const std::vector<ChipVerdict>& verdicts,
                                            std::size_t first_job, const SceneSetup& setup,
                                            const SceneClassifier* model, const DetectConfig& cfg,
                                            bool& georeferenced) {
  std::vector<io::Detection> out;
  std::vector<std::array<double, 2>> positions;
  for (std::size_t k = 0; k < r.kept.size(); ++k) {
    const detect::Candidate& c = r.kept[k];
    io::Detection d;
    d.scene = setup.path.string();
    d.id = static_cast<std::int64_t>(k) + 1;
    d.row_min = c.row_min, d.col_min = c.col_min, d.row_max = c.row_max, d.col_max = c.col_max;
    d.row = c.weighted_row + 0.5;  // pixel centres at index + 0.5 (GDAL's pixel/line convention)
    d.col = c.weighted_col + 0.5;
    d.area = c.area;
    d.peak = c.peak, d.contrast_db = c.contrast_db, d.score_db = c.max_score, d.log10_pfa = c.min_log10_pfa;
    if (model != nullptr) {
      const ChipVerdict& v = verdicts[first_job + k];
      if (v.class_index >= 0) {
        d.class_name = model->class_names()[static_cast<std::size_t>(v.class_index)];
        d.probability = v.confidence;
        if (model->clutter_class() >= 0) d.clutter_probability = v.clutter_probability;
        d.target = cfg.no_discrimination || v.class_index != model->clutter_class();
        // A chain that registers its chips found the target there: a finer position than the
        // object's centroid (pixel centres at index + 0.5).
        if (d.target && v.target) d.row = (*v.target)[0] + 0.5, d.col = (*v.target)[1] + 0.5;
      } else {
        d.reason = v.reason;  // kept as a target: the prescreen found it and nothing says clutter
      }
    }
    positions.push_back({d.row, d.col});
    out.push_back(std::move(d));
  }
  if (model != nullptr) suppress_duplicate_targets(out, *model, cfg.suppress_radius);
  const io::GdalRaster raster = io::GdalRaster::open(setup.path, cfg.calibration);
  const std::vector<std::array<double, 2>> lonlat = raster.pixel_to_lonlat(positions);
  georeferenced = !lonlat.empty() || (out.empty() && raster.has_geotransform());
  const bool affine = raster.has_geotransform();
  const auto gt = raster.geotransform();
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (affine) {
      out[k].map_x = gt[0] + out[k].col * gt[1] + out[k].row * gt[2];
      out[k].map_y = gt[3] + out[k].col * gt[4] + out[k].row * gt[5];
    }
    if (!lonlat.empty()) out[k].lon = lonlat[k][0], out[k].lat = lonlat[k][1];
  }
  return out;
}

// The quick-look path of every scene (the same on every rank: names made unique in scene order).
std::vector<fs::path> quicklook_paths(const std::vector<SceneSetup>& scenes, const DetectConfig& cfg) {
  std::set<std::string> taken;
  std::vector<fs::path> out;
  for (std::size_t i = 0; i < scenes.size(); ++i)
    out.push_back(cfg.output / "quicklook" / unique_png_name(scenes[i].path, taken, i));
  return out;
}

// Where each scene's jobs start in the job list (jobs are in scene order).
std::vector<std::size_t> first_jobs(const std::vector<ChipJob>& jobs, std::size_t scenes) {
  std::vector<std::size_t> first(scenes + 1, 0);
  for (const ChipJob& j : jobs) ++first[j.scene + 1];
  for (std::size_t s = 0; s < scenes; ++s) first[s + 1] += first[s];
  return first;
}

void write_quicklook(const fs::path& path, const SceneResult& r, int factor, const std::vector<io::Detection>& dets) {
  std::vector<detect::QuickLookBox> boxes;
  for (const io::Detection& d : dets) {
    detect::QuickLookBox b{d.row_min, d.col_min, d.row_max, d.col_max, "", 255, 40, 40};
    if (!d.target) {
      b.r = 60, b.g = 160, b.b = 255;  // clutter: blue, no label
    } else if (!d.class_name.empty()) {
      b.label = d.class_name + " " + std::to_string(static_cast<int>(std::lround(100 * d.probability))) + "%";
    } else {
      b.r = 255, b.g = 220, b.b = 0;  // prescreen only: yellow
    }
    boxes.push_back(std::move(b));
  }
  const std::vector<std::uint8_t> rgb = detect::render_quicklook(r.quicklook, r.quicklook_rows, r.quicklook_cols, factor, boxes);
  io::write_png_bytes(path, r.quicklook_rows, r.quicklook_cols, 3, rgb.data());
}

}  // namespace

std::string detect_mode(const SceneClassifier* classifier, const DetectConfig& cfg) {
  return classifier == nullptr     ? "prescreen only"
         : cfg.no_discrimination ? "classify (no discrimination)"
                                 : "discriminate+classify";
}

io::OutputKind detect_folder_kind() {
  return io::folder_kind("sarscale detect folder (detections.csv, summary.json, quicklook/, tiles/)",
                         {"summary.json", "detections.csv", "tiles"});
}

DetectResults merge_tiles(const Comm& comm, const fs::path& tiles_dir, const std::vector<SceneSetup>& scenes,
                          const DetectPlan& plan, const DetectConfig& cfg) {
  // Each rank merges the scenes assigned to it (assign_scene_merges); rank 0 gathers them.
  const std::vector<int> owner = assign_scene_merges(plan, comm.size());
  std::vector<std::uint8_t> mine;
  std::map<std::size_t, SceneResult> own;
  comm.agree_on([&] {
    const auto records = read_tile_logs(tiles_dir, [&](std::uint64_t t) {
      return t < plan.tiles.size() && owner[plan.tiles[t].scene] == comm.rank();
    });
    for (std::size_t s = 0; s < scenes.size(); ++s)
      if (owner[s] == comm.rank()) {
        own[s] = merge_scene(s, plan, records, cfg);
        pack_scene_result(s, own[s], mine);
      }
  });
  const std::vector<std::uint8_t> all = comm.gatherv(mine, 0);
  DetectResults results;
  results.own = std::move(own);
  comm.agree_on([&] {
    if (!comm.is_root()) return;
    results.scenes = unpack_scene_results(all, scenes.size());
    for (std::size_t s = 0; s < scenes.size(); ++s)
      for (const detect::Candidate& c : results.scenes[s].kept)
        results.jobs.push_back({static_cast<std::uint32_t>(s), detect::chip_centre(c, cfg.chip_on_box)});
  });
  comm.broadcast(results.jobs);
  return results;
}

void classify_candidates(const Comm& comm, DetectResults& results, const std::vector<SceneSetup>& scenes,
                         const SceneClassifier* classifier, const DetectConfig& cfg, int threads) {
  if (classifier == nullptr) return;
  const Range mine = block_range(results.jobs.size(), comm.size(), comm.rank());
  std::vector<std::string> local;
  comm.agree_on([&] {
    for (const ChipVerdict& v : classify_range(results.jobs, mine.begin, mine.end, scenes, *classifier, cfg, threads))
      local.push_back(encode_verdict(v));
  });
  const std::vector<std::string> all = comm.allgather_strings(local);
  for (const std::string& text : all) results.verdicts.push_back(decode_verdict(text));
}

void write_quicklooks(const Comm& comm, const DetectResults& results, const std::vector<SceneSetup>& scenes,
                      const DetectPlan& plan, const SceneClassifier* classifier, const DetectConfig& cfg) {
  if (cfg.quicklook_size <= 0) return;
  comm.agree_on([&] {
    if (comm.is_root()) fs::create_directories(cfg.output / "quicklook");
  });
  const std::vector<fs::path> pngs = quicklook_paths(scenes, cfg);
  const std::vector<std::size_t> first_job = first_jobs(results.jobs, scenes.size());
  comm.agree_on([&] {
    for (const auto& [i, r] : results.own) {
      if (!r.failure.empty()) continue;
      bool georeferenced = false;
      const std::vector<io::Detection> dets =
          scene_detections(r, results.verdicts, first_job[i], scenes[i], classifier, cfg, georeferenced);
      write_quicklook(pngs[i], r, plan.quicklook_factor[i], dets);
    }
  });
}

DetectSummary write_outputs(const DetectResults& results, const std::vector<SceneSetup>& scenes, const DetectPlan& plan,
                            const std::vector<Rejection>& rejected, std::size_t skipped,
                            const SceneClassifier* classifier, const DetectConfig& cfg) {
  DetectSummary s;
  s.mode = detect_mode(classifier, cfg);
  s.skipped = static_cast<std::int64_t>(skipped);
  for (const Rejection& r : rejected) s.rejected.emplace_back(r.path, r.reason);
  std::vector<io::Detection> all;
  const std::vector<fs::path> pngs = quicklook_paths(scenes, cfg);
  const std::vector<std::size_t> first_job = first_jobs(results.jobs, scenes.size());
  for (std::size_t i = 0; i < scenes.size(); ++i) {
    const SceneResult& r = results.scenes[i];
    DetectSceneSummary e;
    e.scene = scenes[i].path.string();
    e.rows = plan.sizes[i].first;
    e.cols = plan.sizes[i].second;
    e.tested = r.tested;
    for (const SceneTile& t : plan.tiles) e.tiles += t.scene == i ? 1 : 0;
    if (!r.failure.empty()) {
      e.rejected = r.failure;
      s.rejected.emplace_back(e.scene, r.failure);
      log::warn("rejected ", e.scene, ": ", r.failure);
      s.scenes.push_back(e);
      continue;
    }
    s.megapixels += static_cast<double>(e.rows) * static_cast<double>(e.cols) / 1e6;
    e.candidates = r.candidates;
    e.size_rejected = r.size_rejected;
    std::vector<io::Detection> dets =
        scene_detections(r, results.verdicts, first_job[i], scenes[i], classifier, cfg, e.georeferenced);
    if (!e.georeferenced) log::warn(e.scene, " is not georeferenced: its detections are in pixels only");
    for (const io::Detection& d : dets) {
      e.targets += d.target ? 1 : 0;
      e.clutter += d.target ? 0 : 1;
      e.unclassified += classifier != nullptr && d.class_name.empty() ? 1 : 0;
    }
    if (cfg.quicklook_size > 0) e.quicklook = pngs[i].string();  // written by the scene's rank
    s.detections += static_cast<std::int64_t>(dets.size());
    s.targets += e.targets;
    all.insert(all.end(), std::make_move_iterator(dets.begin()), std::make_move_iterator(dets.end()));
    s.scenes.push_back(e);
  }
  io::write_detections(cfg.output, all);
  return s;
}

}  // namespace sarscale::dist::detail
