// Reader of the chip archive (format: docs/archive-format.md). Metadata reads are
// independent (the default), so that any single rank may make the independent calls.
#include <algorithm>
#include <cctype>

#include "sarscale/core/error.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/hdf5_util.hpp"

namespace sarscale::io {

namespace {

using h5::Handle;
using h5::RecordType;

// Tables are read in blocks of about this size, so that a table of millions of padded
// rows never needs its whole padded size in memory.
constexpr std::int64_t kTableBlockBytes = std::int64_t{64} << 20;

}  // namespace

struct ArchiveReader::State {
  std::filesystem::path path;
  MPI_Comm comm = MPI_COMM_NULL;
  ArchiveLayout layout;
  int format_version = 0;
  std::int64_t chunk_chips = 0;
  std::map<std::string, std::string> attributes;
  std::map<std::string, std::string> provenance;
  std::int64_t source_count = 0;
  std::int64_t reject_count = 0;
  RecordType meta_record, source_record, reject_record;
  // Declared before the datasets so that it is destroyed (closed) after them.
  Handle file;
  Handle magnitude, phase, label, valid, meta, sources, rejects;
  Handle meta_type, source_type, reject_type;
  h5::RowTransfer collective, independent;

  explicit State(MPI_Comm c) : comm(c), collective(c, true), independent(c, false) {}

  std::string where() const { return "archive " + path.string(); }
  [[noreturn]] void damaged(const std::string& what) const { throw InputError(where() + " is damaged: " + what); }
  Handle open_dataset(const char* name) const {
    if (!h5::link_exists(file.get(), name)) damaged(std::string("the dataset ") + name + " is missing");
    return Handle(H5Dopen2(file.get(), name, H5P_DEFAULT), H5Dclose, where() + ": cannot open " + name);
  }
  const h5::RowTransfer& transfer(Transfer t) const { return t == Transfer::collective ? collective : independent; }

  // Planes `bands` of chips [first, first+count) of a pixel dataset into `out`, chip by chip.
  // Whole chips are read (one contiguous block per piece) and the planes picked in memory: a
  // single-band archive, or a request for every band in order, reads straight into `out`.
  void read_planes(const h5::RowTransfer& x, hid_t dataset, std::int64_t first, std::int64_t count,
                   const std::vector<int>& bands, float* out) const {
    const int all = layout.bands();
    bool identity = static_cast<int>(bands.size()) == all;
    for (std::size_t i = 0; identity && i < bands.size(); ++i) identity = bands[i] == static_cast<int>(i);
    if (identity) {
      h5::read_rows(x, dataset, H5T_NATIVE_FLOAT, first, count, out);
      return;
    }
    const auto plane = static_cast<std::size_t>(layout.rows) * static_cast<std::size_t>(layout.cols);
    std::vector<float> whole(static_cast<std::size_t>(count) * static_cast<std::size_t>(all) * plane);
    h5::read_rows(x, dataset, H5T_NATIVE_FLOAT, first, count, whole.data());
    for (std::size_t c = 0; c < static_cast<std::size_t>(count); ++c)
      for (std::size_t j = 0; j < bands.size(); ++j)
        std::copy_n(whole.data() + (c * static_cast<std::size_t>(all) + static_cast<std::size_t>(bands[j])) * plane,
                    plane, out + (c * bands.size() + j) * plane);
  }

  // Reads records [first, first+count) block by block, calling unpack(record, row - first).
  template <typename Unpack>
  void read_table(hid_t dataset, const RecordType& rt, hid_t memory_type, std::int64_t first, std::int64_t count,
                  Transfer t, Unpack&& unpack) const {
    const auto rec = static_cast<std::int64_t>(rt.size());
    const std::int64_t block = std::max<std::int64_t>(1, kTableBlockBytes / rec);
    const std::int64_t mine = (count + block - 1) / block;
    const std::int64_t rounds = t == Transfer::collective ? h5::max_over_ranks(comm, mine) : mine;
    std::vector<char> buf;
    for (std::int64_t r = 0; r < rounds; ++r) {
      const std::int64_t begin = std::min(count, r * block);
      const std::int64_t n = std::min(block, count - begin);
      buf.resize(static_cast<std::size_t>(n * rec));
      h5::read_rows(transfer(t), dataset, memory_type, first + begin, n, buf.data());
      for (std::int64_t i = 0; i < n; ++i) unpack(buf.data() + i * rec, begin + i);
    }
  }

  // Checks a block request; a collective call agrees on the verdict so that no rank is
  // left waiting when another one was given a bad range.
  void check_range(const char* call, std::int64_t first, std::int64_t count, std::int64_t rows, Transfer t,
                   std::string problem = {}) const {
    if (problem.empty() && (first < 0 || count < 0 || count > rows - first))
      problem = "rows [" + std::to_string(first) + ", " + std::to_string(first + count) + ") are outside [0, " +
                std::to_string(rows) + ")";
    const std::string context = std::string(call) + " on " + where();
    if (t == Transfer::collective)
      h5::agree_or_throw(comm, problem, context);
    else if (!problem.empty())
      throw ConfigError(context + ": " + problem);
  }
};

ArchiveReader::ArchiveReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
ArchiveReader::ArchiveReader(ArchiveReader&&) noexcept = default;
ArchiveReader& ArchiveReader::operator=(ArchiveReader&&) noexcept = default;
ArchiveReader::~ArchiveReader() = default;

ArchiveReader ArchiveReader::open(const std::filesystem::path& path, MPI_Comm comm) {
  auto s = std::make_unique<State>(comm);
  s->path = path;
  const h5::ReadingFile reading(s->where());
  s->file = h5::open_parallel_file(path, comm, "archive");
  const hid_t f = s->file.get();

  s->attributes = h5::read_attributes_as_text(f);
  const auto attr = [&](const char* name) -> const std::string* {
    const auto it = s->attributes.find(name);
    return it == s->attributes.end() ? nullptr : &it->second;
  };
  using namespace h5::schema;
  const std::string* format = attr(kAttrFormat);
  if (!format || *format != kArchiveFormatName)
    throw InputError(s->where() + " is an HDF5 file but not a sarscale archive (its root attribute 'format' is " +
                     (format ? "'" + *format + "'" : std::string("absent")) + ")");
  const std::string* version = attr(kAttrFormatVersion);
  try {
    s->format_version = version ? std::stoi(*version) : 0;
  } catch (const std::exception&) {
    s->format_version = 0;
  }
  if (s->format_version < 1) throw InputError(s->where() + " has no valid 'format_version' attribute");
  if (s->format_version > kArchiveFormatVersion)
    throw InputError(s->where() + " has format version " + std::to_string(s->format_version) +
                     ", newer than this sarscale reads (up to " + std::to_string(kArchiveFormatVersion) +
                     "); use a newer sarscale");
  const std::string* complete = attr(kAttrComplete);
  if (!complete || *complete != "1")
    throw InputError(s->where() +
                     " is incomplete: its writer did not finish (no complete=1 attribute); the ingest that wrote it "
                     "failed or is still running" +
                     h5::progress_note(s->file.get(), s->collective, "chip slots"));

  s->magnitude = s->open_dataset(kMagnitude);
  const h5::DatasetShape pix = h5::dataset_shape(s->magnitude.get());
  // [N, H, W], or [N, B, H, W] for several bands (version 2).
  const bool banded = pix.dims.size() == 4;
  if ((pix.dims.size() != 3 && !banded) || std::count(pix.dims.begin() + 1, pix.dims.end(), hsize_t{0}) > 0)
    s->damaged(std::string(kMagnitude) + " is not a [N,H,W] or [N,B,H,W] array");
  s->layout.chips = pix.rows;
  s->layout.rows = static_cast<int>(pix.dims[pix.dims.size() - 2]);
  s->layout.cols = static_cast<int>(pix.dims.back());
  if (h5::link_exists(f, kBandNames))
    s->layout.band_names = h5::read_string_array(f, kBandNames, s->independent, s->where());
  const std::size_t bands = banded ? static_cast<std::size_t>(pix.dims[1]) : 1;
  if ((banded || !s->layout.band_names.empty()) && s->layout.band_names.size() != bands)
    s->damaged(std::to_string(s->layout.band_names.size()) + " band names in " + kBandNames + " for " +
               std::to_string(bands) + " band(s) in " + kMagnitude);
  s->layout.has_phase = h5::link_exists(f, kPhase);
  if (s->layout.has_phase) {
    s->phase = s->open_dataset(kPhase);
    if (h5::dataset_shape(s->phase.get()).dims != pix.dims) s->damaged("phase and magnitude differ in shape");
  }
  {
    const Handle dcpl(H5Dget_create_plist(s->magnitude.get()), H5Pclose, "H5Dget_create_plist");
    hsize_t chunk[4] = {0, 0, 0, 0};
    const int rank = static_cast<int>(pix.dims.size());
    const bool chunked = H5Pget_layout(dcpl.get()) == H5D_CHUNKED && H5Pget_chunk(dcpl.get(), rank, chunk) == rank;
    s->chunk_chips = chunked ? static_cast<std::int64_t>(chunk[0]) : std::max<std::int64_t>(1, s->layout.chips);
  }
  s->label = s->open_dataset(kLabel);
  s->valid = s->open_dataset(kValid);
  s->meta = s->open_dataset(kMeta);
  for (const hid_t d : {s->label.get(), s->valid.get(), s->meta.get()})
    if (h5::dataset_shape(d).rows != s->layout.chips || h5::dataset_shape(d).dims.size() != 1)
      s->damaged("the per-chip datasets under /chips disagree in length");

  const auto record_of = [&](const Handle& dset, const RecordType& expected, const char* name) {
    const Handle type(H5Dget_type(dset.get()), H5Tclose, "H5Dget_type");
    return RecordType::matching(type.get(), expected, s->where() + ": " + name);
  };
  s->meta_record = record_of(s->meta, meta_record(1), kMeta);
  s->layout.meta_text_width = static_cast<int>(s->meta_record.field(kTargetType).width);
  s->meta_type = s->meta_record.memory_type();
  s->sources = s->open_dataset(kSources);
  s->source_record = record_of(s->sources, source_record(1, 1, 1), kSources);
  s->source_type = s->source_record.memory_type();
  s->source_count = h5::dataset_shape(s->sources.get()).rows;
  s->rejects = s->open_dataset(kRejects);
  s->reject_record = record_of(s->rejects, reject_record(1, 1), kRejects);
  s->reject_type = s->reject_record.memory_type();
  s->reject_count = h5::dataset_shape(s->rejects.get()).rows;

  if (!h5::link_exists(f, kClassNames)) s->damaged(std::string("the dataset ") + kClassNames + " is missing");
  s->layout.class_names = h5::read_string_array(f, kClassNames, s->independent, s->where());
  if (h5::link_exists(f, kProvenance)) {
    const Handle group(H5Gopen2(f, kProvenance, H5P_DEFAULT), H5Gclose, "cannot open /provenance");
    s->provenance = h5::read_attributes_as_text(group.get());
  }
  return ArchiveReader(std::move(s));
}

const ArchiveLayout& ArchiveReader::layout() const { return state_->layout; }
const std::filesystem::path& ArchiveReader::path() const { return state_->path; }
int ArchiveReader::format_version() const { return state_->format_version; }
std::int64_t ArchiveReader::chunk_chips() const { return state_->chunk_chips; }
std::int64_t ArchiveReader::source_count() const { return state_->source_count; }
std::int64_t ArchiveReader::reject_count() const { return state_->reject_count; }

void ArchiveReader::read_chips(std::int64_t first, std::int64_t count, float* magnitude, float* phase_or_null,
                               Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  std::string problem;
  if (count > 0 && !magnitude)
    problem = "no magnitude buffer";
  else if (phase_or_null && !s.layout.has_phase)
    problem = "phase was requested but the archive has no phase";
  s.check_range("read_chips", first, count, s.layout.chips, transfer, problem);
  // A collective phase read needs every rank: agree on whether it happens at all.
  const bool want_phase = transfer == Transfer::collective ? h5::max_over_ranks(s.comm, phase_or_null ? 1 : 0) > 0
                                                           : phase_or_null != nullptr;
  const h5::RowTransfer& x = s.transfer(transfer);
  s.read_planes(x, s.magnitude.get(), first, count, {0}, magnitude);
  if (want_phase) {
    // A rank that wants no phase still joins the collective, with an empty selection.
    s.read_planes(x, s.phase.get(), first, phase_or_null ? count : 0, {0}, phase_or_null);
  }
}

void ArchiveReader::read_bands(std::int64_t first, std::int64_t count, const std::vector<int>& bands, float* magnitude,
                               Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  std::string problem;
  if (count > 0 && !magnitude) problem = "no magnitude buffer";
  if (bands.empty()) problem = "no band requested";
  for (const int b : bands)
    if (problem.empty() && (b < 0 || b >= s.layout.bands()))
      problem = "band index " + std::to_string(b) + " is outside [0, " + std::to_string(s.layout.bands()) + ")";
  s.check_range("read_bands", first, count, s.layout.chips, transfer, problem);
  s.read_planes(s.transfer(transfer), s.magnitude.get(), first, count, bands, magnitude);
}

int ArchiveReader::band_index(const std::string& name) const {
  const auto lower = [](std::string t) {
    for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return t;
  };
  const auto& names = state_->layout.band_names;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (lower(names[i]) == lower(name)) return static_cast<int>(i);
  return -1;
}

std::vector<std::int32_t> ArchiveReader::labels(std::int64_t first, std::int64_t count, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_range("labels", first, count, s.layout.chips, transfer);
  std::vector<std::int32_t> out(static_cast<std::size_t>(count));
  h5::read_rows(s.transfer(transfer), s.label.get(), H5T_NATIVE_INT32, first, count, out.data());
  return out;
}

std::vector<std::uint8_t> ArchiveReader::valid(std::int64_t first, std::int64_t count, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_range("valid", first, count, s.layout.chips, transfer);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(count));
  h5::read_rows(s.transfer(transfer), s.valid.get(), H5T_NATIVE_UINT8, first, count, out.data());
  return out;
}

std::vector<ChipMeta> ArchiveReader::meta(std::int64_t first, std::int64_t count, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_range("meta", first, count, s.layout.chips, transfer);
  const RecordType& rt = s.meta_record;
  std::vector<ChipMeta> out(static_cast<std::size_t>(count));
  using namespace h5::schema;
  s.read_table(s.meta.get(), rt, s.meta_type.get(), first, count, transfer, [&](const char* rec, std::int64_t i) {
    ChipMeta& m = out[static_cast<std::size_t>(i)];
    m.source_index = rt.get_int64(rec, kSourceIndex);
    m.tile_row = rt.get_int32(rec, kTileRow);
    m.tile_col = rt.get_int32(rec, kTileCol);
    m.orig_rows = rt.get_int32(rec, kOrigRows);
    m.orig_cols = rt.get_int32(rec, kOrigCols);
    m.azimuth_deg = rt.get_float32(rec, kAzimuth);
    m.depression_deg = rt.get_float32(rec, kDepression);
    m.target_type = rt.get_text(rec, kTargetType);
    m.serial = rt.get_text(rec, kSerial);
    m.polarisation = rt.get_text(rec, kPolarisation);
  });
  return out;
}

std::vector<SourceRecord> ArchiveReader::sources(Transfer transfer) const {
  return sources(0, state_->source_count, transfer);
}

std::vector<SourceRecord> ArchiveReader::sources(std::int64_t first, std::int64_t count, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_range("sources", first, count, s.source_count, transfer);
  const RecordType& rt = s.source_record;
  std::vector<SourceRecord> out(static_cast<std::size_t>(count));
  using namespace h5::schema;
  s.read_table(s.sources.get(), rt, s.source_type.get(), first, count, transfer, [&](const char* rec, std::int64_t i) {
    SourceRecord& o = out[static_cast<std::size_t>(i)];
    o.bytes = rt.get_int64(rec, kSrcBytes);
    o.first_chip = rt.get_int64(rec, kSrcFirstChip);
    o.chip_count = rt.get_int64(rec, kSrcChipCount);
    o.path = rt.get_text(rec, kSrcPath);
    o.format = rt.get_text(rec, kSrcFormat);
    o.calibration = rt.get_text(rec, kSrcCalibration);
  });
  return out;
}

std::vector<RejectRecord> ArchiveReader::rejects(Transfer transfer) const {
  return rejects(0, state_->reject_count, transfer);
}

std::vector<RejectRecord> ArchiveReader::rejects(std::int64_t first, std::int64_t count, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_range("rejects", first, count, s.reject_count, transfer);
  const RecordType& rt = s.reject_record;
  std::vector<RejectRecord> out(static_cast<std::size_t>(count));
  using namespace h5::schema;
  s.read_table(s.rejects.get(), rt, s.reject_type.get(), first, count, transfer, [&](const char* rec, std::int64_t i) {
    RejectRecord& o = out[static_cast<std::size_t>(i)];
    o.path = rt.get_text(rec, kRejPath);
    o.reason = rt.get_text(rec, kRejReason);
  });
  return out;
}

std::string ArchiveReader::attribute(const std::string& name) const {
  const auto it = state_->attributes.find(name);
  if (it == state_->attributes.end()) throw InputError(state_->where() + " has no attribute '" + name + "'");
  return it->second;
}

bool ArchiveReader::has_attribute(const std::string& name) const { return state_->attributes.count(name) > 0; }
const std::map<std::string, std::string>& ArchiveReader::attributes() const { return state_->attributes; }
const std::map<std::string, std::string>& ArchiveReader::provenance() const { return state_->provenance; }

}  // namespace sarscale::io
