// Collective writer of the chip archive (format: docs/archive-format.md).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/core/version.hpp"
#include "sarscale/io/agree.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/hdf5_util.hpp"
#include "finish_output.hpp"

namespace sarscale::io {

namespace {

using h5::Handle;
using h5::RecordType;

// Chunks of the chip datasets aim at this size: large enough for efficient MPI-IO and
// parallel file system stripes, small enough that a reader of one chip reads little.
constexpr std::int64_t kTargetChunkBytes = std::int64_t{4} << 20;
// Large objects (the chip chunks) start on 1 MiB boundaries (h5::create_parallel_file),
// i.e. on file-system block / stripe boundaries: chunk sizes are chosen to waste little.
constexpr hsize_t kAlignment = hsize_t{1} << 20;
constexpr int kMaxMetaTextWidth = 4096;

std::int64_t chip_bytes(const ArchiveLayout& l) {
  return static_cast<std::int64_t>(l.bands()) * static_cast<std::int64_t>(l.rows) * static_cast<std::int64_t>(l.cols) *
         4;
}

// Band names appear in feature-chain texts ("pixels[vh]"): short lowercase identifiers, distinct.
std::string check_band_names(const std::vector<std::string>& names) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& n = names[i];
    const bool ok = !n.empty() && n.size() <= 32 && std::all_of(n.begin(), n.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (!ok) return "band name '" + n + "' is not 1-32 lowercase letters, digits or '_'";
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), n) != names.begin() + static_cast<std::ptrdiff_t>(i))
      return "band name '" + n + "' appears twice";
  }
  return {};
}

// Chips per chunk: about kTargetChunkBytes (between half and twice that), picking the
// count whose chunk wastes the least space when rounded up to the alignment.
std::int64_t choose_chunk_chips(const ArchiveLayout& l) {
  if (l.chips == 0) return 0;
  const std::int64_t bytes = chip_bytes(l);
  const std::int64_t lo = std::max<std::int64_t>(1, (kTargetChunkBytes / 2 + bytes - 1) / bytes);
  const std::int64_t hi = std::max<std::int64_t>(lo, 2 * kTargetChunkBytes / bytes);
  const auto align = static_cast<std::int64_t>(kAlignment);
  std::int64_t best = std::max<std::int64_t>(1, kTargetChunkBytes / bytes);
  double best_score = 1e300;
  for (std::int64_t k = lo; k <= hi; ++k) {
    const std::int64_t size = k * bytes;
    const std::int64_t padded = (size + align - 1) / align * align;
    // Relative waste, with a small preference for sizes near the target.
    const double score = static_cast<double>(padded - size) / static_cast<double>(size) +
                         0.001 * std::abs(static_cast<double>(size - kTargetChunkBytes)) / kTargetChunkBytes;
    if (score < best_score) {
      best_score = score;
      best = k;
    }
  }
  return std::min(best, l.chips);
}

std::string check_layout(const ArchiveLayout& l) {
  if (l.chips < 0) return "the chip count is negative";
  if (l.rows <= 0 || l.cols <= 0)
    return "the chip size " + std::to_string(l.rows) + "x" + std::to_string(l.cols) + " is not positive";
  if (chip_bytes(l) > (std::int64_t{1} << 31))
    return "a chip of " + std::to_string(l.rows) + "x" + std::to_string(l.cols) +
           " pixels exceeds HDF5's chunk limit (2 GiB per chip)";
  if (l.meta_text_width < 1 || l.meta_text_width > kMaxMetaTextWidth)
    return "meta_text_width must be in [1, " + std::to_string(kMaxMetaTextWidth) + "]";
  return check_band_names(l.band_names);
}

std::uint64_t layout_fingerprint(const ArchiveLayout& l) {
  h5::Fingerprint fp;
  fp.add(l.chips).add(l.rows).add(l.cols).add(l.has_phase ? 1 : 0).add(l.meta_text_width);
  fp.add(static_cast<std::int64_t>(l.class_names.size()));
  for (const auto& c : l.class_names) fp.add(c);
  // Named bands only where there are any, so that single-band layouts keep their fingerprints.
  if (!l.band_names.empty()) fp.add("bands").add(static_cast<std::int64_t>(l.band_names.size()));
  for (const auto& b : l.band_names) fp.add(b);
  return fp.value();
}

// Stored in the file, so that a resumed run checks it continues the same layout.
std::string layout_key(const ArchiveLayout& l) { return h5::to_hex(layout_fingerprint(l)); }

std::size_t longest(std::size_t current, const std::string& s) { return std::max(current, s.size()); }

}  // namespace

struct ArchiveWriter::State {
  std::filesystem::path path;
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  ArchiveLayout layout;
  std::int64_t chunk_chips = 0;
  RecordType meta_record;
  // Declared before the datasets so that it is destroyed (closed) after them.
  Handle file;
  Handle magnitude, phase, label, valid, meta, meta_memory_type;
  h5::RowTransfer collective;
  // Pixels go independently: each rank's rows are one contiguous region of its own, and
  // two-phase collective buffering only made ranks wait for each other's aggregation
  // (ingest of 2.2 GB at 2 ranks: 6.4-7.4 s collective, 3.5 s independent).
  h5::RowTransfer independent;
  Handle progress;  // /progress/done
  std::vector<std::uint8_t> done, done_valid;  // after resume(): the earlier runs' slots
  std::vector<std::pair<std::int64_t, std::int64_t>> since_checkpoint;  // this rank's writes
  bool sources_written = false;
  bool rejects_written = false;
  std::int64_t chips_written = 0;    // by this rank, not counting slots rewritten after a resume
  std::int64_t chips_done_before = 0;  // slots done before a resume (every rank has the count)
  std::int64_t texts_truncated = 0;  // by this rank
  bool closed = false;

  explicit State(MPI_Comm c) : comm(c), collective(c, true), independent(c, false) {}
  // Checks the layout (identical on every rank) and fills in what follows from it.
  static std::unique_ptr<State> make(const std::filesystem::path& path, MPI_Comm comm, const ArchiveLayout& layout) {
    h5::agree_or_throw(comm, check_layout(layout), "archive layout for " + path.string());
    h5::require_identical(comm, layout_fingerprint(layout), "the archive layout");
    auto s = std::make_unique<State>(comm);
    s->path = path;
    s->layout = layout;
    MPI_Comm_rank(comm, &s->rank);
    s->chunk_chips = choose_chunk_chips(layout);
    s->meta_record = h5::schema::meta_record(static_cast<std::size_t>(layout.meta_text_width));
    return s;
  }
  std::string where() const { return "archive " + path.string(); }
};

ArchiveWriter::ArchiveWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
ArchiveWriter::ArchiveWriter(ArchiveWriter&&) noexcept = default;
ArchiveWriter& ArchiveWriter::operator=(ArchiveWriter&&) noexcept = default;
ArchiveWriter::~ArchiveWriter() = default;

const ArchiveLayout& ArchiveWriter::layout() const { return state_->layout; }
std::int64_t ArchiveWriter::chunk_chips() const { return state_->chunk_chips; }
bool ArchiveWriter::is_open() const { return state_ && !state_->closed; }

const std::vector<std::uint8_t>& ArchiveWriter::done_slots() const { return state_->done; }
const std::vector<std::uint8_t>& ArchiveWriter::done_valid() const { return state_->done_valid; }

ArchiveWriter ArchiveWriter::create(const std::filesystem::path& path, MPI_Comm comm, const ArchiveLayout& layout,
                                   const std::string& resume_key) {
  h5::QuietErrors quiet;
  auto s = State::make(path, comm, layout);
  s->file = h5::create_parallel_file(path, comm, "archive");
  const hid_t f = s->file.get();
  h5::write_string_attribute(f, h5::schema::kAttrFormat, kArchiveFormatName);
  h5::write_int_attribute(f, h5::schema::kAttrFormatVersion, layout.bands() > 1 ? 2 : 1);
  h5::write_string_attribute(f, h5::schema::kAttrSarscaleVersion, kVersion);

  const Handle chips_group(H5Gcreate2(f, "/chips", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                           "cannot create group /chips");
  const Handle prov_group(H5Gcreate2(f, h5::schema::kProvenance, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                          "cannot create group /provenance");

  const auto n = static_cast<hsize_t>(layout.chips);
  // A band dimension only when there are several bands: single-band archives keep version 1's layout.
  std::vector<hsize_t> pixel_dims = {n, static_cast<hsize_t>(layout.rows), static_cast<hsize_t>(layout.cols)};
  if (layout.bands() > 1) pixel_dims.insert(pixel_dims.begin() + 1, static_cast<hsize_t>(layout.bands()));
  // HDF5 cannot chunk an empty fixed-size dataset; an archive without chips stays contiguous.
  std::vector<hsize_t> pixel_chunk;
  if (n > 0) {
    pixel_chunk = pixel_dims;
    pixel_chunk[0] = static_cast<hsize_t>(s->chunk_chips);
  }
  s->magnitude = h5::create_dataset(f, h5::schema::kMagnitude, H5T_IEEE_F32LE, pixel_dims, pixel_chunk);
  if (layout.has_phase) s->phase = h5::create_dataset(f, h5::schema::kPhase, H5T_IEEE_F32LE, pixel_dims, pixel_chunk);
  s->label = h5::create_dataset(f, h5::schema::kLabel, H5T_STD_I32LE, {n}, {});
  s->valid = h5::create_dataset(f, h5::schema::kValid, H5T_STD_U8LE, {n}, {});
  const Handle meta_file_type = s->meta_record.file_type();
  s->meta = h5::create_dataset(f, h5::schema::kMeta, meta_file_type.get(), {n}, {});
  s->meta_memory_type = s->meta_record.memory_type();

  h5::write_string_array(f, comm, s->collective, h5::schema::kClassNames, layout.class_names);
  if (!layout.band_names.empty())
    h5::write_string_array(f, comm, s->collective, h5::schema::kBandNames, layout.band_names);
  h5::write_string_attribute(f, "layout_fingerprint", layout_key(layout));
  s->progress = h5::create_progress(f, comm, s->collective, layout.chips, resume_key);
  // Put the superblock and object headers on disk now, so that a writer killed later
  // leaves a file that HDF5 recognises (and refuses as not closed) rather than garbage.
  h5::flush_collectively(f, comm, "flushing " + s->where());
  return ArchiveWriter(std::move(s));
}

ArchiveWriter ArchiveWriter::resume(const std::filesystem::path& path, MPI_Comm comm, const ArchiveLayout& layout) {
  h5::QuietErrors quiet;
  auto s = State::make(path, comm, layout);
  s->file = h5::reopen_parallel_file(path, comm, "archive");
  const hid_t f = s->file.get();
  h5::check_resumable(f, comm, kArchiveFormatName, layout_key(layout), s->where());
  const auto open = [&](const char* name) { return h5::open_dataset(f, name, s->where()); };
  s->magnitude = open(h5::schema::kMagnitude);
  if (layout.has_phase) s->phase = open(h5::schema::kPhase);
  s->label = open(h5::schema::kLabel);
  s->valid = open(h5::schema::kValid);
  s->meta = open(h5::schema::kMeta);
  s->progress = open(h5::kProgressDone);
  s->meta_memory_type = s->meta_record.memory_type();
  s->done = h5::read_progress(f, s->collective, layout.chips);
  s->done_valid.assign(s->done.size(), 0);
  if (layout.chips > 0) h5::read_rows(s->collective, s->valid.get(), H5T_NATIVE_UINT8, 0, layout.chips, s->done_valid.data());
  for (auto d : s->done) s->chips_done_before += d != 0 ? 1 : 0;
  // Tables are written at the very end: a run killed then may have begun them.
  h5::remove_link(f, h5::schema::kSources);
  h5::remove_link(f, h5::schema::kRejects);
  h5::flush_collectively(f, comm, "flushing " + s->where());
  return ArchiveWriter(std::move(s));
}

void ArchiveWriter::checkpoint() {
  h5::QuietErrors quiet;
  State& s = *state_;
  h5::agree_or_throw(s.comm, s.closed ? "the archive is already closed" : "", "checkpoint of " + s.where());
  h5::checkpoint_progress(s.file.get(), s.progress.get(), s.collective, s.since_checkpoint, s.where());
}

void ArchiveWriter::write_chips(std::int64_t first, std::int64_t count, const float* magnitude,
                                const float* phase_or_null, const std::int32_t* labels, const ChipMeta* meta,
                                const std::uint8_t* valid) {
  h5::QuietErrors quiet;
  State& s = *state_;
  std::string problem;
  if (s.closed)
    problem = "the archive is already closed";
  else if (first < 0 || count < 0 || count > s.layout.chips - first)
    problem = "chips [" + std::to_string(first) + ", " + std::to_string(first + count) + ") are outside [0, " +
              std::to_string(s.layout.chips) + ")";
  else if (count > 0 && (!magnitude || !labels || !meta))
    problem = "magnitude, labels and meta are required";
  else if (count > 0 && s.layout.has_phase != (phase_or_null != nullptr))
    problem =
        s.layout.has_phase ? "the layout has phase but no phase was given" : "phase was given but the layout has none";
  h5::agree_or_throw(s.comm, problem, "write_chips on " + s.where());

  const std::size_t n = static_cast<std::size_t>(count);
  std::vector<char> records(n * s.meta_record.size());
  using namespace h5::schema;
  for (std::size_t i = 0; i < n; ++i) {
    char* rec = records.data() + i * s.meta_record.size();
    const ChipMeta& m = meta[i];
    s.meta_record.put_int64(rec, kSourceIndex, m.source_index);
    s.meta_record.put_int32(rec, kTileRow, m.tile_row);
    s.meta_record.put_int32(rec, kTileCol, m.tile_col);
    s.meta_record.put_int32(rec, kOrigRows, m.orig_rows);
    s.meta_record.put_int32(rec, kOrigCols, m.orig_cols);
    s.meta_record.put_float32(rec, kAzimuth, m.azimuth_deg);
    s.meta_record.put_float32(rec, kDepression, m.depression_deg);
    s.texts_truncated += !s.meta_record.put_text(rec, kTargetType, m.target_type);
    s.texts_truncated += !s.meta_record.put_text(rec, kSerial, m.serial);
    s.texts_truncated += !s.meta_record.put_text(rec, kPolarisation, m.polarisation);
  }
  std::vector<std::uint8_t> all_valid;
  if (!valid) {
    all_valid.assign(n, 1);
    valid = all_valid.data();
  }

  const h5::RowTransfer& x = s.collective;
  // Pixels go independently, so a failure there (a full disk) is this rank's alone: every rank
  // learns of it before the collective writes below (the item-9 hang of issue 12).
  agree_on(s.comm, [&] {
    h5::write_rows(s.independent, s.magnitude.get(), H5T_NATIVE_FLOAT, first, count, magnitude);
    if (s.layout.has_phase)
      h5::write_rows(s.independent, s.phase.get(), H5T_NATIVE_FLOAT, first, count, phase_or_null);
  });
  h5::write_rows(x, s.label.get(), H5T_NATIVE_INT32, first, count, labels);
  h5::write_rows(x, s.valid.get(), H5T_NATIVE_UINT8, first, count, valid);
  h5::write_rows(x, s.meta.get(), s.meta_memory_type.get(), first, count, records.data());
  std::int64_t rewritten = 0;  // slots an earlier run had done (an input read again)
  for (std::int64_t i = first; i < first + count && !s.done.empty(); ++i) rewritten += s.done[static_cast<std::size_t>(i)];
  s.chips_written += count - rewritten;
  if (count > 0) s.since_checkpoint.emplace_back(first, count);
}

void ArchiveWriter::invalidate(const std::vector<std::pair<std::int64_t, std::int64_t>>& ranges) {
  h5::QuietErrors quiet;
  State& s = *state_;
  std::string problem;
  if (s.closed) problem = "the archive is already closed";
  for (const auto& [first, count] : ranges)
    if (problem.empty() && (first < 0 || count < 0 || count > s.layout.chips - first))
      problem = "slots [" + std::to_string(first) + ", " + std::to_string(first + count) + ") are outside [0, " +
                std::to_string(s.layout.chips) + ")";
  h5::agree_or_throw(s.comm, problem, "invalidate on " + s.where());
  // An archive without chips has an empty, unallocated valid dataset: nothing to write (and
  // HDF5 refuses even an empty selection there). The layout is the same on every rank.
  if (s.layout.chips == 0) return;

  h5::fill_ranges(s.valid.get(), s.collective, ranges, 0);
}

void ArchiveWriter::write_sources(const std::vector<SourceRecord>& sources) {
  h5::QuietErrors quiet;
  State& s = *state_;
  if (s.closed) throw ConfigError("write_sources: " + s.where() + " is already closed");
  if (s.sources_written) throw ConfigError("write_sources: the sources table of " + s.where() + " is already written");
  h5::Fingerprint fp;
  std::size_t wp = 1, wf = 1, wc = 1;
  for (const auto& r : sources) {
    fp.add(r.path).add(r.format).add(r.calibration).add(r.bytes).add(r.first_chip).add(r.chip_count);
    wp = longest(wp, r.path);
    wf = longest(wf, r.format);
    wc = longest(wc, r.calibration);
  }
  h5::require_identical(s.comm, fp.value(), "the sources table");
  const RecordType rt = h5::schema::source_record(wp, wf, wc);
  const Handle file_type = rt.file_type(), mem_type = rt.memory_type();
  using namespace h5::schema;
  h5::write_table(s.file.get(), s.comm, s.collective, kSources, file_type.get(), mem_type.get(),
                  static_cast<std::int64_t>(sources.size()), [&](char* rec, std::int64_t i) {
                    const SourceRecord& r = sources[static_cast<std::size_t>(i)];
                    rt.put_int64(rec, kSrcBytes, r.bytes);
                    rt.put_int64(rec, kSrcFirstChip, r.first_chip);
                    rt.put_int64(rec, kSrcChipCount, r.chip_count);
                    rt.put_text(rec, kSrcPath, r.path);
                    rt.put_text(rec, kSrcFormat, r.format);
                    rt.put_text(rec, kSrcCalibration, r.calibration);
                  });
  s.sources_written = true;
}

void ArchiveWriter::write_rejects(const std::vector<RejectRecord>& rejects) {
  h5::QuietErrors quiet;
  State& s = *state_;
  if (s.closed) throw ConfigError("write_rejects: " + s.where() + " is already closed");
  if (s.rejects_written) throw ConfigError("write_rejects: the rejects table of " + s.where() + " is already written");
  h5::Fingerprint fp;
  std::size_t wp = 1, wr = 1;
  for (const auto& r : rejects) {
    fp.add(r.path).add(r.reason);
    wp = longest(wp, r.path);
    wr = longest(wr, r.reason);
  }
  h5::require_identical(s.comm, fp.value(), "the rejects table");
  const RecordType rt = h5::schema::reject_record(wp, wr);
  const Handle file_type = rt.file_type(), mem_type = rt.memory_type();
  using namespace h5::schema;
  h5::write_table(s.file.get(), s.comm, s.collective, kRejects, file_type.get(), mem_type.get(),
                  static_cast<std::int64_t>(rejects.size()), [&](char* rec, std::int64_t i) {
                    const RejectRecord& r = rejects[static_cast<std::size_t>(i)];
                    rt.put_text(rec, kRejPath, r.path);
                    rt.put_text(rec, kRejReason, r.reason);
                  });
  s.rejects_written = true;
}

void ArchiveWriter::set_attribute(const std::string& name, const std::string& value) {
  h5::QuietErrors quiet;
  State& s = *state_;
  if (s.closed) throw ConfigError("set_attribute: " + s.where() + " is already closed");
  using namespace h5::schema;
  for (const char* reserved : {kAttrFormat, kAttrFormatVersion, kAttrSarscaleVersion, kAttrComplete})
    if (name == reserved) throw ConfigError("set_attribute: '" + name + "' is reserved by the archive format");
  if (name.empty()) throw ConfigError("set_attribute: empty attribute name");
  h5::require_identical(s.comm, h5::Fingerprint().add(name).add(value).value(), "attribute '" + name + "'");
  h5::write_string_attribute(s.file.get(), name, value);
}

void ArchiveWriter::set_provenance(const std::string& key, const std::string& value) {
  h5::QuietErrors quiet;
  State& s = *state_;
  if (s.closed) throw ConfigError("set_provenance: " + s.where() + " is already closed");
  if (key.empty()) throw ConfigError("set_provenance: empty key");
  h5::require_identical(s.comm, h5::Fingerprint().add(key).add(value).value(), "provenance entry '" + key + "'");
  const Handle group(H5Gopen2(s.file.get(), h5::schema::kProvenance, H5P_DEFAULT), H5Gclose,
                     "cannot open group /provenance");
  h5::write_string_attribute(group.get(), key, value);
}

void ArchiveWriter::close() {
  if (!state_ || state_->closed) return;
  h5::QuietErrors quiet;
  State& s = *state_;
  if (!s.sources_written) write_sources({});
  if (!s.rejects_written) write_rejects({});
  const std::int64_t written = h5::sum_over_ranks(s.comm, s.chips_written) + s.chips_done_before;
  if (written != s.layout.chips)
    throw IoError("closing " + s.where() + ": " + std::to_string(written) +
                  " chip slots were written but the layout has " + std::to_string(s.layout.chips) +
                  "; the archive is left incomplete");
  const std::int64_t truncated = h5::sum_over_ranks(s.comm, s.texts_truncated);
  if (truncated > 0 && s.rank == 0)
    log::warn(s.where(), ": ", truncated, " chip metadata text value(s) were longer than ", s.layout.meta_text_width,
              " bytes and were truncated (raise ArchiveLayout::meta_text_width)");

  if (s.layout.chips > 0) h5::fill_ranges(s.progress.get(), s.collective, s.since_checkpoint, 1);
  h5::finish_output(s.file, s.comm,
                    {{&s.progress, "/progress/done"},
                     {&s.magnitude, "/chips/magnitude"},
                     {&s.phase, "/chips/phase"},
                     {&s.label, "/chips/label"},
                     {&s.valid, "/chips/valid"},
                     {&s.meta, "/chips/meta"}},
                    s.where());
  s.closed = true;
}

}  // namespace sarscale::io
