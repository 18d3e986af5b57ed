// `sarscale cut` over MPI: scenes spread over ranks, their chips written into one archive.
#include "sarscale/dist/cut_stage.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "sarscale/core/error.hpp"
#include "sarscale/dist/output_guard.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/discover.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;

json::Value CutSummary::to_json() const {
  json::Value v = json::Value::object();
  v["scenes"] = scenes;
  v["cut_scenes"] = cut_scenes;
  v["rejected_scenes"] = rejected_scenes;
  v["chips"] = chips;
  v["target_chips"] = counts.targets;
  v["truth_clutter_chips"] = counts.truth_clutter;
  v["background_chips"] = counts.background;
  v["false_alarm_chips"] = counts.false_alarms;
  v["truth_outside"] = counts.truth_outside;
  v["candidates"] = counts.candidates;
  v["candidates_near_targets"] = counts.candidates_near_target;
  v["background_short"] = counts.background_short;
  v["object_chips"] = counts.object_chips;
  v["targets_missed_by_prescreen"] = counts.targets_missed;
  v["classes"] = json::Value::object();
  for (const auto& [name, n] : per_class) v["classes"][name] = n;
  v["unused_truth_files"] = json::Value::array();
  for (const auto& f : unused_truth_files) v["unused_truth_files"].push_back(f);
  v["rejects"] = json::Value::array();
  for (const auto& [path, why] : rejects) {
    json::Value r = json::Value::object();
    r["path"] = path;
    r["reason"] = why;
    v["rejects"].push_back(std::move(r));
  }
  v["seconds"] = seconds;
  return v;
}

namespace {

constexpr std::int64_t kBatchChips = 256;

// A truth file named <stem>_targets.csv (what synth writes) belongs to the scene <stem>.* alone
// (none, when no such scene is given); the objects of any other file go to scenes through their
// `scene` column (none: every scene).
constexpr std::string_view kSynthTruthSuffix = "_targets.csv";

bool is_synth_truth(const fs::path& file) { return file.filename().string().ends_with(kSynthTruthSuffix); }

bool synth_truth_of(const fs::path& file, const fs::path& scene) {
  return file.filename().string() == scene.stem().string() + std::string(kSynthTruthSuffix);
}

std::vector<io::TruthObject> truth_of_scene(const std::vector<fs::path>& files,
                                            const std::vector<std::vector<io::TruthObject>>& objects,
                                            const fs::path& scene) {
  std::vector<io::TruthObject> mine;
  for (std::size_t f = 0; f < files.size(); ++f) {
    if (is_synth_truth(files[f])) {
      if (synth_truth_of(files[f], scene)) mine.insert(mine.end(), objects[f].begin(), objects[f].end());
      continue;
    }
    const auto matched = io::truth_for_scene(objects[f], scene);
    mine.insert(mine.end(), matched.begin(), matched.end());
  }
  return mine;
}

// Truth files of which no given scene takes a single object (a misnamed file, a scene left out).
std::vector<std::string> unused_truth_files(const std::vector<fs::path>& files,
                                            const std::vector<std::vector<io::TruthObject>>& objects,
                                            const std::vector<fs::path>& scenes) {
  std::vector<std::string> unused;
  for (std::size_t f = 0; f < files.size(); ++f) {
    const bool used = std::any_of(scenes.begin(), scenes.end(), [&](const fs::path& s) {
      return is_synth_truth(files[f]) ? synth_truth_of(files[f], s) : !io::truth_for_scene(objects[f], s).empty();
    });
    if (!used && !objects[f].empty()) unused.push_back(files[f].string());
  }
  return unused;
}

// One scene of this rank's slice, planned.
struct SceneWork {
  std::vector<ChipCut> chips;
  ScenePlanCounts counts;
  std::string driver;
  std::string polarisation;
  std::string error;  // "" when planned
};

SceneWork plan_one_scene(const CutConfig& cfg, const fs::path& path, std::vector<io::TruthObject> truth) {
  SceneWork w;
  try {
    const io::GdalRaster raster = io::GdalRaster::open(path);
    raster.validate();  // unreadable or truncated: rejected before any chip is planned
    if (cfg.band > raster.bands())
      throw InputError(path.string() + ": has " + std::to_string(raster.bands()) + " band(s), --band is " +
                       std::to_string(cfg.band));
    io::locate_truth(truth, raster.georef());
    w.driver = raster.driver();
    w.polarisation = raster.polarisation(cfg.band);
    const std::optional<double> nodata = raster.nodata(cfg.band);
    Image img;
    const IntensityReader read = [&](std::int64_t row0, std::int64_t nrows, std::vector<float>& out) {
      raster.read_window(static_cast<int>(row0), 0, static_cast<int>(nrows), raster.cols(), img, cfg.band);
      out.resize(img.magnitude.size());
      for (std::size_t k = 0; k < out.size(); ++k) {
        const float m = img.magnitude[k];
        // No-data pixels are not clutter: NaN keeps them out of every CFAR ring.
        out[k] = (nodata && m == static_cast<float>(*nodata)) ? std::numeric_limits<float>::quiet_NaN() : m * m;
      }
    };
    w.chips = plan_scene_chips(cfg, path.filename().string(), raster.rows(), raster.cols(), truth, read, w.counts);
  } catch (const std::out_of_range& e) {
    w.error = e.what();
  } catch (const InputError& e) {
    w.error = e.what();
  }
  if (w.error.empty()) return w;
  // The rejects table names the scene in its own column: the reason need not repeat it.
  const std::string named = path.string() + ": ";
  std::string reason = w.error.starts_with(named) ? w.error.substr(named.size()) : w.error;
  return SceneWork{{}, {}, {}, {}, reason.empty() ? "unreadable scene" : reason};
}

// The chip's pixels (magnitude; outside the scene and no-data: 0).
void read_chip(const io::GdalRaster& raster, const CutConfig& cfg, const ChipCut& c, float* out) {
  const int n = cfg.chip;
  std::fill(out, out + static_cast<std::size_t>(n) * n, 0.0f);
  const std::int64_t r0 = std::max<std::int64_t>(0, c.row0), c0 = std::max<std::int64_t>(0, c.col0);
  const std::int64_t r1 = std::min<std::int64_t>(raster.rows(), c.row0 + n);
  const std::int64_t c1 = std::min<std::int64_t>(raster.cols(), c.col0 + n);
  if (r1 <= r0 || c1 <= c0) return;
  Image img;
  raster.read_window(static_cast<int>(r0), static_cast<int>(c0), static_cast<int>(r1 - r0), static_cast<int>(c1 - c0),
                     img, cfg.band);
  const std::optional<double> nodata = raster.nodata(cfg.band);
  for (std::int64_t r = r0; r < r1; ++r)
    for (std::int64_t col = c0; col < c1; ++col) {
      const float m = img.magnitude[static_cast<std::size_t>((r - r0) * (c1 - c0) + (col - c0))];
      const bool keep = std::isfinite(m) && !(nodata && m == static_cast<float>(*nodata));
      out[static_cast<std::size_t>((r - c.row0) * n + (col - c.col0))] = keep ? m : 0.0f;
    }
}

void add_counts(ScenePlanCounts& to, const ScenePlanCounts& c) {
  to.targets += c.targets;
  to.truth_clutter += c.truth_clutter;
  to.background += c.background;
  to.false_alarms += c.false_alarms;
  to.truth_outside += c.truth_outside;
  to.candidates += c.candidates;
  to.candidates_near_target += c.candidates_near_target;
  to.background_short += c.background_short;
  to.object_chips += c.object_chips;
  to.targets_missed += c.targets_missed;
}

ScenePlanCounts sum_counts(const Comm& comm, const ScenePlanCounts& c) {
  ScenePlanCounts s;
  s.targets = comm.sum(c.targets);
  s.truth_clutter = comm.sum(c.truth_clutter);
  s.background = comm.sum(c.background);
  s.false_alarms = comm.sum(c.false_alarms);
  s.truth_outside = comm.sum(c.truth_outside);
  s.candidates = comm.sum(c.candidates);
  s.candidates_near_target = comm.sum(c.candidates_near_target);
  s.background_short = comm.sum(c.background_short);
  s.object_chips = comm.sum(c.object_chips);
  s.targets_missed = comm.sum(c.targets_missed);
  return s;
}

}  // namespace

namespace {

// The rejects of every rank, as (path, reason), in scene order.
std::vector<std::pair<std::string, std::string>> gather_rejects(const Comm& comm, const std::vector<fs::path>& paths,
                                                                const std::vector<std::int64_t>& mine,
                                                                const std::vector<std::string>& reasons) {
  const auto all = comm.allgatherv(mine);
  const auto all_reasons = comm.allgather_strings(reasons);
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t k = 0; k < all.size(); ++k)
    out.emplace_back(paths[static_cast<std::size_t>(all[k])].string(), all_reasons[k]);
  return out;
}

// The scene inputs for the output policy: folders named by --scene are read whole.
std::vector<io::RunInput> run_inputs(const CutConfig& cfg, const io::DiscoveryResult& found) {
  std::vector<io::RunInput> inputs;
  std::error_code ec;
  for (const auto& s : cfg.scenes)
    if (fs::is_directory(s, ec)) inputs.push_back({s, "--scene", true});
  for (const auto& in : found.inputs) inputs.push_back({in.path, "--scene", false});
  for (const auto& t : cfg.truth) inputs.push_back({t, "--truth", false});
  return inputs;
}

// The scenes (discovered on rank 0 by ingest's rules: folders, globs; the *.csv beside scenes
// are skipped) and every truth file (small: every rank reads them all; one that does not parse
// stops the run on every rank).
struct Inputs {
  io::DiscoveryResult found;
  std::vector<fs::path> paths;
  std::vector<std::uint64_t> bytes;
  std::vector<std::vector<io::TruthObject>> truth;  // per truth file
};

Inputs read_inputs(const Comm& comm, const CutConfig& cfg) {
  Inputs in;
  std::string discovery;
  comm.agree_on([&] {
    if (comm.is_root()) discovery = io::serialize(io::discover_inputs(cfg.scenes, std::nullopt));
  });
  comm.broadcast(discovery);
  in.found = io::deserialize_discovery(discovery);
  for (const auto& f : in.found.inputs) {
    in.paths.push_back(f.path);
    in.bytes.push_back(static_cast<std::uint64_t>(f.size_bytes));
  }
  in.truth.resize(cfg.truth.size());
  comm.agree_on([&] {
    for (std::size_t f = 0; f < cfg.truth.size(); ++f) in.truth[f] = io::read_truth(cfg.truth[f]);
  });
  return in;
}

// What every rank agrees on after planning its slice: chips per scene (in scene order, since
// slices are contiguous and in rank order), the archive's classes, the planning rejects.
struct Agreed {
  std::vector<std::int64_t> chips_of;    // per scene
  std::vector<std::int64_t> first_chip;  // per scene, plus the total
  std::vector<std::string> drivers;      // per scene ("" when rejected)
  std::vector<std::string> classes;      // target classes and clutter, sorted (as ingest sorts them)
  std::map<std::string, std::int32_t> label_of;
  std::vector<std::pair<std::string, std::string>> rejects;
};

Agreed agree_plan(const Comm& comm, const std::vector<fs::path>& paths, const Range& slice,
                  const std::vector<SceneWork>& work) {
  std::vector<std::int64_t> counts, rejected;
  std::vector<std::string> reasons, drivers;
  std::set<std::string> classes{"clutter"};
  for (std::size_t k = 0; k < work.size(); ++k) {
    counts.push_back(static_cast<std::int64_t>(work[k].chips.size()));
    drivers.push_back(work[k].driver);
    for (const auto& c : work[k].chips) classes.insert(c.class_name);
    if (work[k].error.empty()) continue;
    rejected.push_back(static_cast<std::int64_t>(slice.begin + k));
    reasons.push_back(work[k].error);
  }
  Agreed a;
  a.chips_of = comm.allgatherv(counts);
  a.drivers = comm.allgather_strings(drivers);
  a.first_chip.assign(paths.size() + 1, 0);
  for (std::size_t i = 0; i < paths.size(); ++i) a.first_chip[i + 1] = a.first_chip[i] + a.chips_of[i];
  const auto all = comm.allgather_strings(std::vector<std::string>(classes.begin(), classes.end()));
  const std::set<std::string> names(all.begin(), all.end());
  a.classes.assign(names.begin(), names.end());
  for (std::size_t k = 0; k < a.classes.size(); ++k) a.label_of[a.classes[k]] = static_cast<std::int32_t>(k);
  a.rejects = gather_rejects(comm, paths, rejected, reasons);
  return a;
}

// Writes this rank's chips (its scenes' slots, contiguous) in batches of collective writes. A
// scene that fails while its chips are read keeps its slots, marked invalid: its reason is
// returned (per scene of the slice, "" when it was read).
std::vector<std::string> write_rank_chips(const Comm& comm, const CutConfig& cfg, io::ArchiveWriter& archive,
                                          const std::vector<fs::path>& paths, const Range& slice,
                                          const std::vector<SceneWork>& work, const Agreed& agreed) {
  struct Slot {
    std::size_t scene;  // index into work
    std::size_t chip;
  };
  std::vector<Slot> slots;
  for (std::size_t k = 0; k < work.size(); ++k)
    for (std::size_t c = 0; c < work[k].chips.size(); ++c) slots.push_back({k, c});
  const std::int64_t my_first = agreed.first_chip[slice.begin];
  const auto my_total = static_cast<std::int64_t>(slots.size());
  const std::int64_t rounds = comm.max((my_total + kBatchChips - 1) / kBatchChips);
  const std::size_t chip_px = static_cast<std::size_t>(cfg.chip) * cfg.chip;
  std::vector<std::string> late_error(work.size());
  std::optional<io::GdalRaster> raster;  // the scene being read (its chips are consecutive)
  std::size_t raster_of = work.size();
  for (std::int64_t round = 0; round < rounds; ++round) {
    const std::int64_t begin = std::min(my_total, round * kBatchChips);
    const std::int64_t count = std::min(my_total, begin + kBatchChips) - begin;
    std::vector<float> magnitude(static_cast<std::size_t>(count) * chip_px);
    std::vector<std::int32_t> labels(static_cast<std::size_t>(count));
    std::vector<ChipMeta> meta(static_cast<std::size_t>(count));
    std::vector<std::uint8_t> valid(static_cast<std::size_t>(count), 1);
    for (std::int64_t k = 0; k < count; ++k) {
      const Slot& s = slots[static_cast<std::size_t>(begin + k)];
      const ChipCut& c = work[s.scene].chips[s.chip];
      const auto i = static_cast<std::size_t>(k);
      labels[i] = agreed.label_of.at(c.class_name);
      meta[i].source_index = static_cast<std::int64_t>(slice.begin + s.scene);
      meta[i].tile_row = static_cast<std::int32_t>(c.row0);
      meta[i].tile_col = static_cast<std::int32_t>(c.col0);
      meta[i].orig_rows = meta[i].orig_cols = cfg.chip;
      meta[i].target_type = c.class_name;
      meta[i].serial = c.detail;
      meta[i].polarisation = work[s.scene].polarisation;
      try {
        if (!late_error[s.scene].empty()) throw InputError(late_error[s.scene]);
        if (raster_of != s.scene) {
          raster.reset();
          raster_of = s.scene;
          raster.emplace(io::GdalRaster::open(paths[slice.begin + s.scene]));
        }
        read_chip(*raster, cfg, c, magnitude.data() + i * chip_px);
      } catch (const std::exception& e) {
        if (late_error[s.scene].empty()) late_error[s.scene] = e.what();
        valid[i] = 0;
      }
    }
    archive.write_chips(my_first + begin, count, magnitude.data(), nullptr, labels.data(), meta.data(), valid.data());
  }
  return late_error;
}

// Tables and provenance, then the archive is closed (complete) and renamed into place.
void finish_archive(const Comm& comm, io::ArchiveWriter& archive, const CutConfig& cfg, const Inputs& in,
                    const Agreed& agreed, const std::vector<std::pair<std::string, std::string>>& rejects,
                    const fs::path& part, const fs::path& output) {
  std::vector<io::SourceRecord> sources;
  for (std::size_t i = 0; i < in.paths.size(); ++i)
    sources.push_back({in.paths[i].string(), agreed.drivers[i], "", static_cast<std::int64_t>(in.bytes[i]),
                       agreed.first_chip[i], agreed.chips_of[i]});
  std::vector<io::RejectRecord> reject_records;
  for (const auto& [p, why] : rejects) reject_records.push_back({p, why});
  archive.write_sources(sources);
  archive.write_rejects(reject_records);
  archive.set_attribute("command_line", cfg.command_line);
  std::string params, truth_files;
  for (const auto& p : cfg.parameters) params += p + "\n";
  for (const auto& t : cfg.truth) truth_files += t.string() + "\n";
  archive.set_attribute("parameters", params);
  archive.set_provenance("cut_truth_files", truth_files);
  archive.set_provenance("cut_chip", std::to_string(cfg.chip));
  archive.set_provenance("cut_seed", std::to_string(cfg.seed));
  archive.close();
  commit_output(comm, part, output);
}

}  // namespace

CutSummary run_cut(const Comm& comm, const CutConfig& config) {
  config.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const Inputs in = read_inputs(comm, config);
  const fs::path output = fs::absolute(config.output);
  const OutputGuard guard = OutputGuard::claim(
      comm, {{output, "--output", io::hdf5_kind("sarscale archive", io::kArchiveFormatName), true}},
      run_inputs(config, in.found), config.overwrite, config.command_line);

  // Plan this rank's contiguous slice of scenes (balanced by bytes), then agree on the slots.
  const Range slice = weighted_range(in.bytes, comm.size(), comm.rank());
  std::vector<SceneWork> work;
  comm.agree_on([&] {
    for (std::size_t i = slice.begin; i < slice.end; ++i)
      work.push_back(
          plan_one_scene(config, in.paths[i], truth_of_scene(config.truth, in.truth, in.paths[i])));
  });
  const Agreed agreed = agree_plan(comm, in.paths, slice, work);

  io::ArchiveLayout layout;
  layout.chips = agreed.first_chip.back();
  layout.rows = layout.cols = config.chip;
  layout.class_names = agreed.classes;
  comm.agree_on([&] {
    if (comm.is_root() && !output.parent_path().empty()) fs::create_directories(output.parent_path());
  });
  const fs::path part = io::partial_path(output);
  io::ArchiveWriter archive = io::ArchiveWriter::create(part, comm.raw(), layout);
  const std::vector<std::string> late_error = write_rank_chips(comm, config, archive, in.paths, slice, work, agreed);

  // Scenes that failed late: every slot invalid (earlier batches too), and rejected.
  std::vector<std::pair<std::int64_t, std::int64_t>> invalid;
  std::vector<std::int64_t> late_scenes;
  std::vector<std::string> late_reasons;
  ScenePlanCounts local_counts;  // of the scenes cut (a scene that failed late has no valid chips)
  std::vector<std::int64_t> per_class(agreed.classes.size(), 0);
  for (std::size_t k = 0; k < work.size(); ++k) {
    const std::size_t i = slice.begin + k;
    if (late_error[k].empty()) {
      add_counts(local_counts, work[k].counts);
      for (const auto& c : work[k].chips) ++per_class[static_cast<std::size_t>(agreed.label_of.at(c.class_name))];
      continue;
    }
    invalid.emplace_back(agreed.first_chip[i], agreed.chips_of[i]);
    late_scenes.push_back(static_cast<std::int64_t>(i));
    late_reasons.push_back(late_error[k]);
  }
  archive.invalidate(invalid);

  CutSummary summary;
  for (const auto& r : in.found.rejects) summary.rejects.emplace_back(r.path, r.reason);
  summary.rejects.insert(summary.rejects.end(), agreed.rejects.begin(), agreed.rejects.end());
  for (auto& r : gather_rejects(comm, in.paths, late_scenes, late_reasons)) summary.rejects.push_back(std::move(r));
  std::sort(summary.rejects.begin(), summary.rejects.end());
  finish_archive(comm, archive, config, in, agreed, summary.rejects, part, output);

  summary.unused_truth_files = unused_truth_files(config.truth, in.truth, in.paths);
  summary.scenes = static_cast<std::int64_t>(in.paths.size() + in.found.rejects.size());
  summary.rejected_scenes = static_cast<std::int64_t>(summary.rejects.size());
  summary.cut_scenes = summary.scenes - summary.rejected_scenes;
  summary.counts = sum_counts(comm, local_counts);
  for (std::size_t k = 0; k < agreed.classes.size(); ++k) {
    summary.per_class.emplace_back(agreed.classes[k], comm.sum(per_class[k]));
    summary.chips += summary.per_class.back().second;
  }
  summary.seconds = comm.max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return summary;
}

}  // namespace sarscale::dist
