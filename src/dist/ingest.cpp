#include "sarscale/dist/ingest.hpp"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/ingest_plan.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/dist/progress.hpp"
#include "sarscale/dist/output_guard.hpp"
#include "sarscale/dist/resume.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/chip_source.hpp"
#include "sarscale/io/discover.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/hdf5_util.hpp"
#include "sarscale/io/prefetch.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;

// ---- options ---------------------------------------------------------------------------

LabelRule LabelRule::parse(const std::string& text) {
  LabelRule r;
  if (text == "auto")
    r.mode = Mode::automatic;
  else if (text == "header")
    r.mode = Mode::header;
  else if (text == "dirname")
    r.mode = Mode::dirname;
  else if (text == "none")
    r.mode = Mode::none;
  else if (text.rfind("regex:", 0) == 0) {
    r.mode = Mode::regex;
    r.pattern = text.substr(6);
    try {
      std::regex check(r.pattern);
    } catch (const std::regex_error& e) {
      throw ConfigError("--labels: invalid regular expression '" + r.pattern + "': " + e.what());
    }
  } else {
    throw ConfigError("--labels: '" + text + "' is not one of auto, header, dirname, none, regex:RE");
  }
  return r;
}

std::string LabelRule::to_string() const {
  switch (mode) {
    case Mode::automatic:
      return "auto";
    case Mode::header:
      return "header";
    case Mode::dirname:
      return "dirname";
    case Mode::none:
      return "none";
    default:
      return "regex:" + pattern;
  }
}

Tiling parse_tiling(const std::string& text) {
  if (text == "auto") return Tiling::automatic;
  if (text == "always") return Tiling::always;
  if (text == "never") return Tiling::never;
  throw ConfigError("--tiling: '" + text + "' is not one of auto, always, never");
}

std::string to_string(Tiling t) { return t == Tiling::always ? "always" : t == Tiling::never ? "never" : "auto"; }

json::Value IngestSummary::to_json() const {
  json::Value v = json::Value::object();
  v["discovered"] = discovered;
  v["ingested"] = ingested_inputs;
  v["rejected"] = rejected_inputs;
  v["skipped"] = skipped_files;
  v["chips"] = chips;
  v["slots"] = slots;
  v["unlabelled_chips"] = unlabelled_chips;
  v["nonfinite_zeroed"] = nonfinite_zeroed;
  v["resumed_chips"] = resumed_chips;
  v["up_to_date"] = up_to_date;
  v["checkpoints"] = checkpoints;
  v["bytes_read"] = bytes_read;
  v["seconds"] = seconds;
  v["mb_per_s"] = seconds > 0 ? static_cast<double>(bytes_read) / 1e6 / seconds : 0.0;
  v["scene_pixels_read"] = json::Value::array();
  for (const auto px : scene_pixels_read) v["scene_pixels_read"].push_back(px);
  v["peak_rss_mb"] = json::Value::array();
  for (const auto mb : peak_rss_mb) v["peak_rss_mb"].push_back(mb);
  v["phase_seconds"] = json::Value::object();
  for (const auto& [name, secs] : phase_seconds) v["phase_seconds"][name] = secs;
  return v;
}

namespace {

// ---- planning --------------------------------------------------------------------------

io::ChipSourceOptions source_options(const IngestConfig& c) {
  io::ChipSourceOptions o;
  o.chip_rows = c.chip_rows;
  o.chip_cols = c.chip_cols;
  o.tile_size = c.tile_size;
  o.tile_stride = c.tile_stride;
  o.tiling = c.tiling == Tiling::always  ? io::ChipSourceOptions::Tiling::always
             : c.tiling == Tiling::never ? io::ChipSourceOptions::Tiling::never
                                         : io::ChipSourceOptions::Tiling::automatic;
  o.calibration = c.calibration;
  o.bands = c.bands;
  return o;
}

void check_config(const IngestConfig& c) {
  if (c.inputs.empty() && !c.input_list) throw ConfigError("no input: give --input PATH... or --input-list FILE");
  if (c.output.empty()) throw ConfigError("--output ARCHIVE.h5 is required");
  for (const auto& in : c.inputs)
    if (in.find_first_not_of(" \t") == std::string::npos)
      throw ConfigError("--input: an empty path ('" + in + "') names no file: give files, folders or patterns");
  if (c.chip_rows <= 0 || c.chip_cols <= 0 || c.chip_rows > 16384 || c.chip_cols > 16384)
    throw ConfigError("--chip-size must be between 1 and 16384");
  if (c.tile_size < 0 || c.tile_stride < 0) throw ConfigError("--tile-size and --tile-stride must be positive");
  for (const auto& name : c.classes)
    if (name.empty()) throw ConfigError("--classes: an empty class name (classes are separated by ',')");
}

std::string label_for(const LabelRule& rule, const fs::path& path, const std::string& header_label) {
  switch (rule.mode) {
    case LabelRule::Mode::none:
      return "";
    case LabelRule::Mode::header:
      return header_label;
    case LabelRule::Mode::dirname:
      return path.parent_path().filename().string();
    case LabelRule::Mode::regex: {
      std::smatch m;
      const std::string name = path.filename().string();
      if (!std::regex_search(name, m, std::regex(rule.pattern))) return "";
      return m.size() > 1 ? m[1].str() : m[0].str();
    }
    default:
      return header_label.empty() ? path.parent_path().filename().string() : header_label;
  }
}

// The rejects table has a path column: keep the reason free of a repeated "path: " prefix.
std::string reason_for(const fs::path& path, std::string message) {
  const std::string prefix = path.string() + ": ";
  if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
  return message.empty() ? "unreadable input" : message;
}

// What one rank learned about each input of its slice.
struct Probe {
  std::vector<io::SourceInfo> info;
  std::vector<std::string> error;  // empty when usable
  std::vector<std::string> label;
  std::vector<std::int64_t> mtime;  // modification time (ns), part of the resume key
};

// Why an input of `label` is left out by --classes ("" when it is kept).
std::string class_reject(const std::vector<std::string>& classes, const std::string& label) {
  if (classes.empty() || std::find(classes.begin(), classes.end(), label) != classes.end()) return {};
  std::string listed;
  for (const auto& c : classes) listed += (listed.empty() ? "" : ", ") + c;
  return label.empty() ? "no label, and --classes keeps only inputs labelled " + listed
                       : "label '" + label + "' not among --classes (" + listed + ")";
}

Probe probe_slice(const std::vector<fs::path>& paths, Range slice, const io::ChipSourceOptions& opt,
                  const LabelRule& rule, const std::vector<std::string>& classes, int threads) {
  Probe p;
  p.info.resize(slice.size());
  p.error.resize(slice.size());
  p.label.resize(slice.size());
  p.mtime.resize(slice.size());
  // Headers are read in chunks; the next chunk's first pages are requested from the kernel
  // while this one is parsed, so the header reads of many small files overlap.
  constexpr std::size_t kChunk = 256;
  constexpr std::uint64_t kHeaderBytes = 16 << 10;  // Phoenix headers are ~2 KB; TIFF headers are small too
  io::prefetch_files(paths.data() + slice.begin, std::min(kChunk, slice.size()), kHeaderBytes);
  for (std::size_t c0 = 0; c0 < slice.size(); c0 += kChunk) {
    const std::size_t c1 = std::min(slice.size(), c0 + kChunk);
    if (c1 < slice.size())
      io::prefetch_files(paths.data() + slice.begin + c1, std::min(kChunk, slice.size() - c1), kHeaderBytes);
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
    for (std::size_t i = c0; i < c1; ++i) {
      const fs::path& path = paths[slice.begin + i];
      try {
        std::error_code ec;
        p.mtime[i] = static_cast<std::int64_t>(fs::last_write_time(path, ec).time_since_epoch().count());
        p.info[i] = io::probe_source(path, opt);
        p.label[i] = label_for(rule, path, p.info[i].meta.target_type);
        p.error[i] = class_reject(classes, p.label[i]);
      } catch (const std::exception& e) {
        p.error[i] = reason_for(path, e.what());  // never let an exception leave the parallel region
      }
    }
  }
  return p;
}

// The global plan every rank agrees on after one round of allgathers.
struct Plan {
  std::vector<std::int64_t> chips;       // per input (0 when rejected at probe)
  std::vector<std::int64_t> first_chip;  // per input
  std::vector<std::int32_t> label_id;    // per input (-1 unlabelled or rejected)
  std::vector<std::string> class_names;  // sorted distinct labels
  std::vector<std::string> band_names;   // of every chip; empty: one unnamed band
  int bands = 1;                         // planes per chip
  std::vector<std::string> format, calibration;
  std::vector<std::string> probe_error;  // per input, empty when usable
  std::vector<std::int64_t> mtime;       // per input
  std::vector<InputSlots> slots;         // per input: its slots and raster size, to share the reading
  std::int64_t total_chips = 0;
  bool has_phase = false;
};

// A raster's shape as probed, gathered from every rank so that any rank can read any scene's rows.
struct Shape {
  std::int64_t rows = 0, cols = 0, grid_cols = 1, tiled = 0;
};

// Every input must give the chips the same bands: as many as the first usable input (sorted order)
// gives, or for --bands all as many as any input has, with that input's names. Inputs that
// differ get a reject reason in `error`. Returns the archive's band names (empty: unnamed).
std::vector<std::string> agree_bands(const io::BandSelection& selection, const std::vector<fs::path>& paths,
                                     const std::vector<std::string>& names, const std::vector<std::int64_t>& counts,
                                     std::vector<std::string>& error, int& bands) {
  std::int64_t target = 0;
  std::size_t reference = paths.size();
  for (std::size_t i = 0; i < paths.size(); ++i)
    if (error[i].empty()) target = selection.mode == io::BandSelection::Mode::all ? std::max(target, counts[i]) : counts[i];
  for (std::size_t i = 0; i < paths.size() && reference == paths.size(); ++i)
    if (error[i].empty() && counts[i] == target) reference = i;
  bands = static_cast<int>(std::max<std::int64_t>(1, target));
  if (reference == paths.size()) return {};
  const auto listed = [](const std::string& joined) { return "(" + joined + ")"; };
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (!error[i].empty() || i == reference) continue;
    if (counts[i] != target)
      error[i] = "has " + std::to_string(counts[i]) + " band(s); --bands all stores " + std::to_string(target) +
                 ", as " + paths[reference].string() + " has";
    else if (names[i] != names[reference])
      error[i] = "its bands are named " + listed(names[i]) + ", the archive's " + listed(names[reference]) + " (from " +
                 paths[reference].string() + "); name them with --band-names";
  }
  if (!selection.named()) return {};
  std::vector<std::string> out;
  std::size_t pos = 0;
  const std::string& joined = names[reference];
  while (pos <= joined.size()) {
    const std::size_t end = std::min(joined.find(',', pos), joined.size());
    out.push_back(joined.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

Plan agree_plan(const Comm& comm, const Probe& mine, const std::vector<fs::path>& paths,
                const io::BandSelection& selection) {
  const std::size_t n_inputs = paths.size();
  Plan plan;
  std::vector<std::int64_t> my_chips, my_bands;
  std::vector<Shape> my_shapes;
  std::vector<std::string> my_strings;  // label, format, calibration, error, band names per input
  std::int32_t my_phase = 0;
  for (std::size_t i = 0; i < mine.info.size(); ++i) {
    const bool ok = mine.error[i].empty();
    my_chips.push_back(ok ? mine.info[i].chips : 0);
    my_bands.push_back(static_cast<std::int64_t>(mine.info[i].bands.size()));
    const io::SourceInfo& in = mine.info[i];
    my_shapes.push_back({in.rows, in.cols, in.grid_cols, in.tiled ? 1 : 0});
    std::string names;
    for (const auto& n : mine.info[i].band_names) names += (names.empty() ? "" : ",") + n;
    my_strings.insert(my_strings.end(),
                      {mine.label[i], mine.info[i].format, mine.info[i].calibration, mine.error[i], names});
    if (ok && mine.info[i].has_phase) my_phase = 1;
  }
  plan.chips = comm.allgatherv(my_chips);
  const auto band_counts = comm.allgatherv(my_bands);
  const auto shapes = comm.allgatherv(my_shapes);
  plan.mtime = comm.allgatherv(mine.mtime);
  const auto strings = comm.allgather_strings(my_strings);
  plan.has_phase = comm.any(my_phase != 0);
  constexpr std::size_t kFields = 5;
  if (plan.chips.size() != n_inputs || shapes.size() != n_inputs || strings.size() != kFields * n_inputs)
    throw Error("ingest: ranks disagree on the input list");
  std::vector<std::string> names(n_inputs);
  for (std::size_t i = 0; i < n_inputs; ++i) {
    plan.probe_error.push_back(strings[kFields * i + 3]);
    names[i] = strings[kFields * i + 4];
  }
  plan.band_names = agree_bands(selection, paths, names, band_counts, plan.probe_error, plan.bands);

  std::set<std::string> labels;
  for (std::size_t i = 0; i < n_inputs; ++i)
    if (plan.probe_error[i].empty() && !strings[kFields * i].empty()) labels.insert(strings[kFields * i]);
  plan.class_names.assign(labels.begin(), labels.end());
  std::map<std::string, std::int32_t> id;
  for (std::size_t k = 0; k < plan.class_names.size(); ++k) id[plan.class_names[k]] = static_cast<std::int32_t>(k);

  plan.first_chip.resize(n_inputs);
  for (std::size_t i = 0; i < n_inputs; ++i) {
    if (!plan.probe_error[i].empty()) plan.chips[i] = 0;  // rejected here, or by agree_bands
    plan.first_chip[i] = plan.total_chips;
    plan.total_chips += plan.chips[i];
    const std::string& label = strings[kFields * i];
    plan.label_id.push_back(label.empty() || !plan.probe_error[i].empty() ? -1 : id[label]);
    plan.format.push_back(strings[kFields * i + 1]);
    plan.calibration.push_back(strings[kFields * i + 2]);
    const Shape& sh = shapes[i];
    plan.slots.push_back({plan.first_chip[i], plan.chips[i], sh.rows, sh.cols, sh.tiled != 0, sh.grid_cols});
  }
  return plan;
}

// Everything the archive's content depends on: the inputs as found (path, size, modification
// time), what probing made of them, and the options that shape chips. Identical on every rank.
std::string resume_key(const IngestConfig& c, const io::ChipSourceOptions& opt, const Plan& plan,
                       const std::vector<fs::path>& paths, const std::vector<std::uint64_t>& bytes,
                       const io::DiscoveryResult& found) {
  io::h5::Fingerprint fp;
  fp.add("sarscale-ingest-1").add(c.chip_rows).add(c.chip_cols).add(opt.tile_rows()).add(opt.stride_rows());
  fp.add(to_string(c.tiling)).add(io::to_string(c.calibration)).add(c.bands.number).add(c.labels.to_string());
  // Options of multi-band ingest and class selection only when used: older keys stay valid.
  if (c.bands.named()) fp.add(c.bands.to_string());
  for (const auto& name : c.classes) fp.add("class").add(name);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    fp.add(paths[i].string()).add(static_cast<std::int64_t>(bytes[i])).add(plan.mtime[i]).add(plan.chips[i]);
    fp.add(plan.label_id[i]).add(plan.format[i]).add(plan.calibration[i]).add(plan.probe_error[i]);
  }
  for (const auto& name : plan.class_names) fp.add(name);
  // Inputs that discovery rejected (missing paths, empty folders) are rejects of this run too.
  for (const auto& r : found.rejects) fp.add("discovery-reject").add(r.path).add(r.reason);
  return fp.hex();
}

// ---- reading and writing ----------------------------------------------------------------

// A run of chips of one input inside a batch.
struct Piece {
  std::size_t input;          // global input index
  std::int64_t source_first;  // first chip within the input
  std::int64_t count;
  std::int64_t slot;  // first slot in the batch
};

// A batch of consecutive chips of this rank, read together and written in one collective call.
struct Batch {
  std::int64_t first = 0;  // global chip index of slot 0
  std::int64_t count = 0;
  std::vector<Piece> pieces;
  std::vector<float> magnitude, phase;
  std::vector<std::int32_t> labels;
  std::vector<ChipMeta> meta;
  std::vector<std::uint8_t> valid;
  std::uint64_t bytes_done = 0;  // bytes of the inputs this batch completes
  std::uint64_t nonfinite = 0;
  std::uint64_t scene_pixels = 0;  // scene pixels read for this batch (every band)
};

// The slots this rank reads. Without scenes: the inputs it probed, whole (balanced by bytes, as
// the probe was). With a tiled scene among the inputs: rows of tiles and whole inputs balanced
// by pixels, so that one large scene keeps every rank busy and no rank holds more than a strip.
SlotShare reading_share(const Comm& comm, const Plan& plan, Range slice, const io::ChipSourceOptions& opt) {
  const bool scenes = std::any_of(plan.slots.begin(), plan.slots.end(),
                                  [](const InputSlots& in) { return in.tiled && in.chips > 0; });
  if (!scenes) return whole_input_share(plan.slots, slice);
  return scene_row_share(plan.slots, opt.stride_rows(), comm.size(), comm.rank());
}

// The probe facts of the inputs this rank reads: its own probe where it made one, else a probe
// of its own (headers, first and last row), as for the rows of a scene another rank probed.
// A probe that fails now makes the input a late reject (`usable` 0, reason in `late_error`).
std::vector<io::SourceInfo> reading_infos(const std::vector<fs::path>& paths, const Plan& plan, Range reading,
                                          Range slice, const Probe& probe, const io::ChipSourceOptions& opt,
                                          std::vector<std::string>& late_error, std::vector<std::uint8_t>& usable,
                                          int threads) {
  std::vector<io::SourceInfo> info(reading.size());
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
  for (std::size_t k = 0; k < reading.size(); ++k) {
    const std::size_t i = reading.begin + k;
    if (i >= slice.begin && i < slice.end) {
      info[k] = probe.info[i - slice.begin];
      continue;
    }
    if (plan.slots[i].chips == 0) continue;  // rejected before reading: no slots to fill
    try {
      info[k] = io::probe_source(paths[i], opt);
    } catch (const std::exception& e) {
      late_error[k] = reason_for(paths[i], e.what());  // never let an exception leave the parallel region
      usable[k] = 0;
    }
  }
  return info;
}

// Every input that failed while being read, once, in input order, with its first reason in slot
// order: ranks hold consecutive slots, so that is the lowest rank's.
void gather_late_rejects(const Comm& comm, Range reading, const std::vector<std::string>& late_error,
                         std::vector<std::int64_t>& inputs, std::vector<std::string>& reasons) {
  std::vector<std::int64_t> mine;
  std::vector<std::string> my_reasons;
  for (std::size_t k = 0; k < late_error.size(); ++k)
    if (!late_error[k].empty()) {
      mine.push_back(static_cast<std::int64_t>(reading.begin + k));
      my_reasons.push_back(late_error[k]);
    }
  const auto all = comm.allgatherv(mine);
  const auto all_reasons = comm.allgather_strings(my_reasons);
  for (std::size_t k = 0; k < all.size(); ++k)
    if (inputs.empty() || inputs.back() < all[k]) {  // ranks' inputs ascend; a shared one repeats
      inputs.push_back(all[k]);
      reasons.push_back(all_reasons[k]);
    }
}

// Per-rank figures of the summary (collective): scene pixels read, peak resident memory.
void record_per_rank(const Comm& comm, std::uint64_t scene_pixels, IngestSummary& s) {
  s.scene_pixels_read = comm.allgather<std::int64_t>(static_cast<std::int64_t>(scene_pixels));
  s.peak_rss_mb = comm.allgather<std::int64_t>(peak_rss_mib());
}

// The summary of an ingest whose archive was already complete for the same inputs and options.
IngestSummary up_to_date_summary(const Comm& comm, const IngestConfig& config, const io::DiscoveryResult& found,
                                 std::size_t n_inputs, std::int64_t skipped,
                                 std::chrono::steady_clock::time_point t0) {
  IngestSummary s;
  s.up_to_date = true;
  const io::ArchiveReader reader = io::ArchiveReader::open(config.output, comm.raw());
  for (const auto& r : reader.rejects()) s.rejects.emplace_back(r.path, r.reason);
  s.discovered = static_cast<std::int64_t>(n_inputs + found.rejects.size());
  s.rejected_inputs = static_cast<std::int64_t>(s.rejects.size());
  s.ingested_inputs = s.discovered - s.rejected_inputs;
  s.skipped_files = skipped;
  s.slots = reader.layout().chips;
  s.resumed_chips = s.slots;
  const Range mine = block_range(static_cast<std::size_t>(s.slots), comm.size(), comm.rank());
  const auto first = static_cast<std::int64_t>(mine.begin), count = static_cast<std::int64_t>(mine.size());
  const auto valid = reader.valid(first, count);
  const auto labels = reader.labels(first, count);
  std::int64_t chips = 0, unlabelled = 0;
  for (std::size_t i = 0; i < valid.size(); ++i) {
    chips += valid[i] != 0 ? 1 : 0;
    unlabelled += valid[i] != 0 && labels[i] < 0 ? 1 : 0;
  }
  s.chips = comm.sum(chips);
  s.unlabelled_chips = comm.sum(unlabelled);
  record_per_rank(comm, 0, s);
  s.seconds = comm.max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return s;
}

}  // namespace

IngestSummary run_ingest(const Comm& comm, const IngestConfig& config) {
  // Resolved here, on the calling thread: the batch reader runs on another one.
  const int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
  check_config(config);
  const auto t0 = std::chrono::steady_clock::now();
  PhaseClock clock;
  const io::ChipSourceOptions opt = source_options(config);
  IngestSummary summary;

  // 1. Discovery on rank 0 (one directory walk, not P), broadcast to all.
  std::string discovery;
  comm.agree_on([&] {  // e.g. an unreadable --input-list: every rank reports it
    if (comm.is_root()) discovery = io::serialize(io::discover_inputs(config.inputs, config.input_list));
  });
  comm.broadcast(discovery);
  const io::DiscoveryResult found = io::deserialize_discovery(discovery);
  std::vector<fs::path> paths;
  std::vector<std::uint64_t> input_bytes;
  // The archive being written (a previous one of this command, its in-progress file, its lock)
  // is never its own input when it lies inside an input folder: skipped, and counted. Anything
  // else at the output path that discovery found is an input, which the output policy protects.
  const fs::path output = fs::weakly_canonical(fs::absolute(config.output));
  const fs::path output_part = io::partial_path(output), output_lock = io::lock_path(output);
  auto skipped = static_cast<std::int64_t>(found.skipped.size());
  std::vector<io::RunInput> run_inputs;
  if (config.input_list) run_inputs.push_back({*config.input_list, "--input-list", false});
  for (const auto& in : found.inputs) {
    const fs::path canonical = fs::weakly_canonical(in.path);
    if (canonical == output_part || canonical == output_lock ||
        (canonical == output && io::file_format(output) == io::kArchiveFormatName)) {
      ++skipped;
      continue;
    }
    paths.push_back(in.path);
    input_bytes.push_back(static_cast<std::uint64_t>(in.size_bytes));
    if (canonical == output) run_inputs.push_back({in.path, "--input", false});  // the guard names it
  }
  const OutputGuard guard =
      OutputGuard::claim(comm, {{config.output, "--output", io::hdf5_kind("sarscale archive", io::kArchiveFormatName), true}},
                         run_inputs, config.overwrite, config.command_line);
  const double t_discover = clock.lap();
  const std::size_t n_inputs = paths.size();

  // 2-4. Partition by bytes, probe this rank's slice, agree on the global plan.
  const Range slice = weighted_range(input_bytes, comm.size(), comm.rank());
  const Probe probe = probe_slice(paths, slice, opt, config.labels, config.classes, threads);
  const Plan plan = agree_plan(comm, probe, paths, config.bands);
  const double t_probe = clock.lap();

  std::vector<std::pair<std::string, std::string>> rejects;
  for (const auto& r : found.rejects) rejects.emplace_back(r.path, r.reason);
  for (std::size_t i = 0; i < n_inputs; ++i)
    if (!plan.probe_error[i].empty()) rejects.emplace_back(paths[i].string(), plan.probe_error[i]);

  if (config.strict && !rejects.empty()) {
    std::string msg = std::to_string(rejects.size()) + " input(s) rejected and --strict is set; nothing written:";
    for (const auto& [p, why] : rejects) msg += "\n  " + p + ": " + why;
    throw StrictRejectError(msg);
  }
  if (plan.total_chips == 0 && comm.is_root()) log::warn("no chips to ingest: the archive will be empty");

  // 5. Create the archive and stream this rank's chips into it, batch by batch.
  io::ArchiveLayout layout;
  layout.chips = plan.total_chips;
  layout.rows = config.chip_rows;
  layout.cols = config.chip_cols;
  layout.has_phase = plan.has_phase;
  layout.class_names = plan.class_names;
  layout.band_names = plan.band_names;
  comm.agree_on([&] {
    if (!comm.is_root() || output.parent_path().empty()) return;
    std::error_code ec;
    fs::create_directories(output.parent_path(), ec);
    if (ec) throw IoError("cannot create the output directory " + output.parent_path().string() + ": " + ec.message());
  });
  const std::string key = resume_key(config, opt, plan, paths, input_bytes, found);
  OutputPlan todo =
      plan_output(comm, config.output, io::kArchiveFormatName, key, config.fresh, config.refuse_changed, "archive");
  if (todo == OutputPlan::up_to_date) {
    // "Up to date" only from an archive that reads: one that does not is written again.
    std::string problem;
    std::optional<IngestSummary> done;
    try {
      done = up_to_date_summary(comm, config, found, n_inputs, skipped, t0);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (!comm.any(!problem.empty())) return *done;
    if (comm.is_root()) log::warn(config.output.string(), " cannot be read (", problem, "): it is written again");
    todo = OutputPlan::create;
  }
  const bool resuming = todo == OutputPlan::resume;
  // Written under its in-progress name and renamed when complete: a failed run leaves what was
  // at the output path; a killed one leaves OUTPUT.part, which the same command resumes.
  io::ArchiveWriter archive = resuming ? io::ArchiveWriter::resume(output_part, comm.raw(), layout)
                                       : io::ArchiveWriter::create(output_part, comm.raw(), layout, key);
  // Slots an earlier run wrote durably are kept, except those of inputs that failed while being
  // read (valid=0): those inputs are read again, to record why they fail.
  std::vector<std::uint8_t> done = archive.done_slots();
  if (resuming) {
    for (std::size_t i = 0; i < n_inputs; ++i) {
      const auto b = static_cast<std::size_t>(plan.first_chip[i]), e = b + static_cast<std::size_t>(plan.chips[i]);
      bool failed = false;
      for (std::size_t k = b; k < e; ++k) failed |= done[k] != 0 && archive.done_valid()[k] == 0;
      if (failed) std::fill(done.begin() + static_cast<std::ptrdiff_t>(b), done.begin() + static_cast<std::ptrdiff_t>(e), 0);
    }
    for (auto d : done) summary.resumed_chips += d;
    if (comm.is_root())
      log::info("resuming ", config.output.string(), ": ", summary.resumed_chips, " of ", plan.total_chips,
                " chips were written by an earlier run");
  }
  double t_create = clock.lap(), t_read = 0, t_write = 0;

  // Pixels per chip slot: every band plane of the chip.
  const std::size_t chip_px = static_cast<std::size_t>(plan.bands) * config.chip_rows * config.chip_cols;
  const std::size_t chip_bytes = chip_px * sizeof(float) * (plan.has_phase ? 2 : 1);
  const std::int64_t batch_chips =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(config.batch_bytes / chip_bytes));
  // The slots this rank reads: its probed inputs whole, or with scenes, rows of tiles.
  const SlotShare share = reading_share(comm, plan, slice, opt);
  const Range reading = share.inputs;
  const std::int64_t my_first = share.first_chip, my_chips = share.chips;
  std::vector<std::string> late_error(reading.size());  // inputs that failed while being read
  std::vector<std::uint8_t> usable(reading.size(), 1);
  const std::vector<io::SourceInfo> info =
      reading_infos(paths, plan, reading, slice, probe, opt, late_error, usable, threads);
  // This rank's batches: runs of slots not yet done, each at most batch_chips long.
  const auto extents = io::h5::pending_runs(done, my_first, my_chips, batch_chips);
  const auto rounds = comm.max(static_cast<std::int64_t>(extents.size()));

  std::uint64_t bytes_read = 0, nonfinite = 0, scene_pixels = 0;
  Progress progress(comm, config.progress || (comm.is_root() && isatty(STDERR_FILENO)), plan.total_chips);

  // Read-ahead: while a batch is read, the kernel is already fetching the files of the next
  // kPrefetchBatches batches. Scenes bigger than that are read block-wise instead.
  constexpr std::uint64_t kPrefetchBatches = 1;
  std::size_t prefetched_to = reading.begin;
  auto prefetch_ahead = [&](std::size_t from) {
    from = std::max(from, prefetched_to);
    std::size_t to = from;
    std::uint64_t bytes = 0;
    while (to < reading.end && bytes + input_bytes[to] <= kPrefetchBatches * config.batch_bytes)
      bytes += input_bytes[to++];
    if (to > from) io::prefetch_files(paths.data() + from, to - from);
    prefetched_to = std::max(prefetched_to, to);
  };
  prefetch_ahead(reading.begin);

  // Carves a batch (the round's extent, or nothing past this rank's last one) into per-input
  // pieces (main thread).
  auto carve = [&](Batch& b, std::int64_t round) {
    b.pieces.clear();
    b.first = my_first + my_chips;
    b.count = 0;
    if (round >= static_cast<std::int64_t>(extents.size())) return;
    const auto [first, count] = extents[static_cast<std::size_t>(round)];
    b.first = first;
    // The input holding slot `first`: the last one starting at or before it.
    auto input = static_cast<std::size_t>(
        std::upper_bound(plan.first_chip.begin() + static_cast<std::ptrdiff_t>(reading.begin),
                         plan.first_chip.begin() + static_cast<std::ptrdiff_t>(reading.end), first) -
        plan.first_chip.begin() - 1);
    while (b.count < count && input < reading.end) {
      const std::int64_t from = first + b.count - plan.first_chip[input];
      const std::int64_t take = std::min(plan.chips[input] - from, count - b.count);
      if (take > 0) {
        b.pieces.push_back({input, from, take, b.count});
        b.count += take;
      }
      ++input;
    }
    prefetch_ahead(input);
  };

  // Reads a carved batch; runs on the reader thread, never calls MPI or HDF5.
  auto read = [&](Batch& b) {
    const auto n = static_cast<std::size_t>(b.count);
    b.magnitude.assign(n * chip_px, 0.0f);
    b.phase.assign(plan.has_phase ? n * chip_px : 0, 0.0f);
    b.labels.assign(n, -1);
    b.meta.assign(n, ChipMeta{});
    b.valid.assign(n, 1);
    b.bytes_done = 0;
    std::uint64_t batch_nonfinite = 0, batch_pixels = 0;
    // Each piece is one input, so JPEG decoding and byte swapping of many small chips run in
    // parallel. The count is the run's (`threads`): this runs on a std::async thread, which does
    // not inherit the main thread's omp_set_num_threads.
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : batch_nonfinite, batch_pixels) num_threads(threads)
    for (std::size_t k = 0; k < b.pieces.size(); ++k) {
      const Piece& pc = b.pieces[k];
      const auto slot = static_cast<std::size_t>(pc.slot);
      const std::size_t local = pc.input - reading.begin;
      // An input whose probe failed here cannot be read. One that failed in an earlier batch is
      // read on, so that its (invalid) slots hold what is readable, as when nothing failed.
      if (usable[local]) try {
          io::ReadStats stats;
          io::read_source_chips(paths[pc.input], info[local], opt, pc.source_first, pc.count,
                                b.magnitude.data() + slot * chip_px,
                                plan.has_phase ? b.phase.data() + slot * chip_px : nullptr, b.meta.data() + slot,
                                stats);
          batch_nonfinite += stats.nonfinite_zeroed;
          batch_pixels += stats.scene_pixels_read;
        } catch (const std::exception& e) {
          // One piece per input per batch, and batches are read one at a time: one writer. The
          // first failure in slot order is kept (the reason gather_late_rejects reports).
          if (late_error[local].empty()) late_error[local] = reason_for(paths[pc.input], e.what());
        }
      for (std::int64_t c = 0; c < pc.count; ++c) {
        b.meta[slot + c].source_index = static_cast<std::int64_t>(pc.input);
        b.labels[slot + c] = plan.label_id[pc.input];
        if (!late_error[local].empty()) b.valid[slot + c] = 0;
      }
    }
    b.nonfinite = batch_nonfinite;
    b.scene_pixels = batch_pixels;
    for (const Piece& pc : b.pieces)
      if (pc.source_first + pc.count == plan.chips[pc.input]) b.bytes_done += input_bytes[pc.input];
  };

  CheckpointTimer checkpoint_timer(comm, config.checkpoint_seconds);
  // Pipeline: the reader thread fills batch k+1 while the main thread writes batch k with
  // collective HDF5 I/O (MPI stays on the main thread: MPI_THREAD_FUNNELED).
  Batch current, ahead;
  if (rounds > 0) {
    carve(current, 0);
    read(current);
  }
  for (std::int64_t round = 0; round < rounds; ++round) {
    std::future<void> reading;
    if (round + 1 < rounds) {
      carve(ahead, round + 1);
      reading = std::async(std::launch::async, read, std::ref(ahead));
    }
    t_read += clock.lap();
    archive.write_chips(current.first, current.count, current.magnitude.data(),
                        plan.has_phase ? current.phase.data() : nullptr, current.labels.data(), current.meta.data(),
                        current.valid.data());
    // Checkpoint when rank 0's clock says so (the decision must be collective).
    if (checkpoint_timer.due()) {
      archive.checkpoint();
      checkpoint_timer.reset();
      ++summary.checkpoints;
      if (comm.is_root()) log::info("checkpoint: chips up to round ", round + 1, " of ", rounds, " are on disk");
    }
    t_write += clock.lap();
    nonfinite += current.nonfinite;
    scene_pixels += current.scene_pixels;
    bytes_read += current.bytes_done;
    progress.update(current.count, bytes_read);
    // What the reader thread could not handle (memory) is this rank's alone: agree on it.
    comm.agree_on([&] {
      if (reading.valid()) reading.get();
    });
    std::swap(current, ahead);
  }
  progress.finish();

  // 6. Inputs that failed mid-read: their slots are invalid (including those written in earlier
  // batches, rewritten here), and they join the rejects.
  std::vector<std::int64_t> all_late;
  std::vector<std::string> all_late_reasons;
  gather_late_rejects(comm, reading, late_error, all_late, all_late_reasons);
  // Each rank invalidates its own slots of every failed input (a scene shared by several ranks
  // is rejected as a whole, also where its rows read fine).
  std::vector<std::pair<std::int64_t, std::int64_t>> invalid_ranges;
  for (auto i : all_late) {
    const auto& in = plan.slots[static_cast<std::size_t>(i)];
    const std::int64_t b = std::max(in.first_chip, my_first), e = std::min(in.first_chip + in.chips, my_first + my_chips);
    if (b < e) invalid_ranges.emplace_back(b, e - b);
  }
  archive.invalidate(invalid_ranges);  // collective: every rank calls, possibly with nothing
  for (std::size_t k = 0; k < all_late.size(); ++k)
    rejects.emplace_back(paths[static_cast<std::size_t>(all_late[k])].string(), all_late_reasons[k]);
  std::sort(rejects.begin(), rejects.end());

  // Sources table (every input, in order) and rejects table; identical on every rank.
  std::set<std::int64_t> late_set(all_late.begin(), all_late.end());
  std::vector<io::SourceRecord> sources;
  std::int64_t valid_chips = 0, unlabelled = 0, ingested = 0;
  for (std::size_t i = 0; i < n_inputs; ++i) {
    const bool ok = plan.probe_error[i].empty() && !late_set.count(static_cast<std::int64_t>(i));
    sources.push_back({paths[i].string(), plan.format[i], plan.calibration[i],
                       static_cast<std::int64_t>(input_bytes[i]), plan.first_chip[i], plan.chips[i]});
    if (!ok) continue;
    ++ingested;
    valid_chips += plan.chips[i];
    if (plan.label_id[i] < 0) unlabelled += plan.chips[i];
  }
  std::vector<io::RejectRecord> reject_records;
  for (const auto& [p, why] : rejects) reject_records.push_back({p, why});
  archive.write_sources(sources);
  archive.write_rejects(reject_records);
  archive.set_attribute("command_line", config.command_line);
  std::string params;
  for (const auto& p : config.parameters) params += p + "\n";
  archive.set_attribute("parameters", params);
  archive.set_attribute("labels", config.labels.to_string());
  archive.set_attribute("calibration", io::to_string(config.calibration));
  archive.set_attribute("tiling", to_string(config.tiling));
  archive.set_attribute("tile_size", std::to_string(opt.tile_rows()));
  archive.set_attribute("tile_stride", std::to_string(opt.stride_rows()));
  if (config.bands.named()) archive.set_attribute("bands", config.bands.to_string());
  if (!config.classes.empty()) {
    std::string listed;
    for (const auto& c : config.classes) listed += (listed.empty() ? "" : ",") + c;
    archive.set_attribute("classes", listed);
  }
  archive.close();
  const double t_finish = clock.lap();

  summary.discovered = static_cast<std::int64_t>(n_inputs + found.rejects.size());
  summary.ingested_inputs = ingested;
  summary.rejected_inputs = static_cast<std::int64_t>(rejects.size());
  summary.skipped_files = skipped;
  summary.chips = valid_chips;
  summary.slots = plan.total_chips;
  summary.unlabelled_chips = unlabelled;
  summary.nonfinite_zeroed = static_cast<std::int64_t>(comm.sum<std::uint64_t>(nonfinite));
  summary.bytes_read = comm.sum<std::uint64_t>(bytes_read);
  record_per_rank(comm, scene_pixels, summary);
  summary.rejects = rejects;
  summary.phase_seconds = {{"discover", comm.max(t_discover)}, {"probe", comm.max(t_probe)},
                           {"create", comm.max(t_create)},     {"read", comm.max(t_read)},
                           {"write", comm.max(t_write)},       {"finish", comm.max(t_finish)}};
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  summary.seconds = comm.max(summary.seconds);

  if (config.strict && !all_late.empty()) {
    // --strict promises no new archive when anything was rejected: the one just closed is
    // removed, and what was at the output path stays.
    if (comm.is_root()) fs::remove(output_part);
    std::string msg = std::to_string(all_late.size()) + " input(s) failed while being read and --strict is set; " +
                      config.output.string() + " was not written:";
    for (std::size_t k = 0; k < all_late.size(); ++k)
      msg += "\n  " + paths[static_cast<std::size_t>(all_late[k])].string() + ": " + all_late_reasons[k];
    throw StrictRejectError(msg);
  }
  commit_output(comm, output_part, output);
  return summary;
}

}  // namespace sarscale::dist
