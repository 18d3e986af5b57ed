#pragma once
// The ingest stage: SAR files (MSTAR Phoenix and everything GDAL reads) into one parallel
// HDF5 chip archive, written by all ranks together.
//
// Plan, identical for any rank count:
//  1. rank 0 discovers the inputs (files, directories, globs, --input-list), sorted; broadcast;
//  2. inputs are split into contiguous slices balanced by bytes (dist/partition.hpp);
//  3. each rank probes its slice (headers, sizes, truncation): chips per input, label, phase;
//  4. an allgather fixes every input's first chip, so chip order = sorted input order then
//     tile order, whatever the rank count; class names are the sorted distinct labels;
//  5. ranks read their chips in batches (OpenMP over inputs inside a batch) and write them with
//     collective HDF5 I/O into pre-allocated datasets; without scenes a rank reads the inputs it
//     probed, with a tiled scene the slots are shared anew (dist/ingest_plan.hpp): rows of tiles
//     of scenes and other inputs whole, balanced by pixels, so one large scene spreads over all;
//  4b. with several bands per chip (--bands), every input must give the same bands: the count and
//     names of the first usable input in sorted order (for --bands all: the largest count any
//     input has); inputs that differ are rejected with the reason, before anything is written;
//  6. inputs that fail while being read keep their slots with valid=0 (a scene shared by several
//     ranks as a whole, with the first failure in slot order as its reason); every input ends up
//     either ingested or in the rejects table, with its reason;
//  7. checkpoints record written slots in the archive (/progress/done) under a key of the inputs
//     (paths, sizes, modification times) and options: a rerun of a killed ingest writes only the
//     slots not yet done, at any rank count; a rerun of a finished one does nothing.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "sarscale/core/json.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/io/chip_source.hpp"
#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::dist {

// Where a chip's class label comes from.
struct LabelRule {
  enum class Mode { automatic, header, dirname, none, regex };
  Mode mode = Mode::automatic;  // automatic: Phoenix TargetType, else the parent directory name
  std::string pattern;          // for regex: first capture group (or whole match) of the file name

  // "auto|header|dirname|none|regex:RE"; throws ConfigError.
  static LabelRule parse(const std::string& text);
  std::string to_string() const;
};

// When a raster is cut into tiles rather than taken as one chip.
enum class Tiling { automatic, always, never };
Tiling parse_tiling(const std::string& text);  // "auto|always|never"; throws ConfigError
std::string to_string(Tiling t);

struct IngestConfig {
  std::vector<std::string> inputs;                  // files, directories (recursive), glob patterns
  std::optional<std::filesystem::path> input_list;  // one input spec per line
  std::filesystem::path output;                     // the archive to write
  LabelRule labels;
  int chip_rows = 128;
  int chip_cols = 128;
  // Scenes: windows of tile_size (0: the chip size) every tile_stride pixels (0: tile_size).
  int tile_size = 0;
  int tile_stride = 0;
  // automatic: rasters larger than twice the chip size in either dimension are scenes.
  Tiling tiling = Tiling::automatic;
  io::Calibration calibration = io::Calibration::none;
  // The raster bands of each input stored per chip (io/chip_source.hpp): by default band 1
  // alone, unnamed. With several bands every input must give the same number, with the same
  // names (the first usable input's, in sorted order); the others are rejected with the reason.
  io::BandSelection bands;
  // Class selection: when non-empty, inputs whose label is not one of these are rejected
  // ("label 'Tug' not among --classes"), unlabelled ones too.
  std::vector<std::string> classes;
  bool strict = false;                              // any reject fails the run (nothing is written)
  bool progress = false;                            // progress bar on rank 0's stderr
  std::size_t batch_bytes = std::size_t{64} << 20;  // per-rank buffer between collective writes
  // Resuming (docs/user-guide.md, "Resuming"): chips are recorded as done in the archive at
  // most every checkpoint_seconds (0: after every batch). An existing archive begun from the
  // same inputs and options is resumed, or left as it is when complete; one from other inputs
  // or options is replaced, or refused with refuse_changed. fresh: always start over.
  double checkpoint_seconds = 30;
  bool refuse_changed = false;
  bool fresh = false;
  // OpenMP threads per rank for probing and reading (0: omp_get_max_threads() of the caller).
  int threads = 0;
  // The output policy (io/output_policy.hpp): an existing output that is not a sarscale archive
  // is refused unless overwrite; the archive is written as OUTPUT.part and renamed when complete.
  bool overwrite = false;
  std::string command_line;                         // provenance, stored as root attributes
  std::vector<std::string> parameters;
};

struct IngestSummary {
  std::int64_t discovered = 0;  // inputs after grouping multi-file products, plus bad specs
  std::int64_t ingested_inputs = 0;
  std::int64_t rejected_inputs = 0;  // ingested_inputs + rejected_inputs == discovered
  std::int64_t skipped_files = 0;    // parts of multi-file products and sidecar files (not inputs)
  std::int64_t chips = 0;            // valid chips in the archive
  std::int64_t slots = 0;            // chip slots, valid or not (valid=0 for inputs that failed mid-read)
  std::int64_t unlabelled_chips = 0;
  std::int64_t nonfinite_zeroed = 0;  // NaN/Inf pixels of scenes set to 0 (no-data borders)
  std::int64_t resumed_chips = 0;     // slots written by an earlier, interrupted run and kept
  bool up_to_date = false;            // the archive was already complete for these inputs: nothing done
  std::int64_t checkpoints = 0;
  std::uint64_t bytes_read = 0;
  double seconds = 0;
  // Slowest rank's wall time per phase: discover, probe (headers), create, read, write (collective
  // writes, including waiting for other ranks), finish (tables, close).
  std::vector<std::pair<std::string, double>> phase_seconds;
  std::vector<std::pair<std::string, std::string>> rejects;  // path, reason
  // Per rank, in rank order: pixels of tiled scenes read (every band; a scene's rows of tiles are
  // shared among the ranks), and the process's peak resident memory (MiB).
  std::vector<std::int64_t> scene_pixels_read;
  std::vector<std::int64_t> peak_rss_mb;

  json::Value to_json() const;  // the one JSON line ingest prints on stdout
};

// Collective over `comm`. Throws ConfigError for bad options, InputError when --strict and
// something was rejected, IoError when the archive cannot be written.
IngestSummary run_ingest(const Comm& comm, const IngestConfig& config);

}  // namespace sarscale::dist
