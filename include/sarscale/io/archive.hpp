#pragma once
// The chip archive: one parallel HDF5 file holding every chip of an ingest, written
// collectively by N ranks and read by any number of ranks. The on-disk format is
// described in docs/archive-format.md; this header is its C++ interface.
//
// Every method documented as *collective* must be called by every rank of the
// communicator, the same number of times and in the same order. Arguments that must be
// identical on all ranks (layouts, tables, attributes) are checked with a cheap hash
// reduction, so a mismatch throws on every rank instead of corrupting the file or hanging.
// Not thread-safe (HDF5 is built without thread safety): call from one thread per rank.
#include <mpi.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sarscale/core/image.hpp"

namespace sarscale::io {

// The newest archive format this code writes; readers accept versions up to this one. Archives
// of one band per chip are written as version 1 (the layout of every earlier sarscale), archives
// of several bands as version 2 (their chip datasets gain a band dimension).
inline constexpr int kArchiveFormatVersion = 2;
inline constexpr const char* kArchiveFormatName = "sarscale-archive";

// The fixed shape of an archive, decided before any chip is written.
struct ArchiveLayout {
  std::int64_t chips = 0;                // number of chip slots N
  int rows = 0;                          // chip height H
  int cols = 0;                          // chip width W
  bool has_phase = false;                // a phase dataset (shaped as the magnitude) exists
  std::vector<std::string> class_names;  // label k names class_names[k]; -1 = unlabelled
  // The bands of every chip, named (lowercase letters, digits and '_', e.g. "vh", "vv"). Empty:
  // one unnamed band, as in every archive written before multi-band ingest. With more than one
  // band the chip datasets are [N, B, H, W] (band planes of a chip contiguous) and the archive is
  // format version 2; with at most one they are [N, H, W] and it is version 1.
  std::vector<std::string> band_names;
  int bands() const { return band_names.empty() ? 1 : static_cast<int>(band_names.size()); }
  // Bytes reserved for each per-chip text field (target type, serial, polarisation).
  // Longer values are truncated at a UTF-8 character boundary, with a warning.
  int meta_text_width = 32;
};

// One input file of the ingest (row i of the sources table; ChipMeta::source_index = i).
struct SourceRecord {
  std::string path;
  std::string format;       // reader or GDAL driver name
  std::string calibration;  // calibration applied, empty when none
  std::int64_t bytes = 0;   // file size
  std::int64_t first_chip = 0;
  std::int64_t chip_count = 0;
  bool operator==(const SourceRecord&) const = default;
};

// One input file (or part of one) that was rejected, and why.
struct RejectRecord {
  std::string path;
  std::string reason;
  bool operator==(const RejectRecord&) const = default;
};

// How a read call moves data: collective calls must be made by every rank of the
// reader's communicator (each may ask for a different block, or none); independent calls
// may be made by any single rank.
enum class Transfer { collective, independent };

class ArchiveWriter {
 public:
  // Collective. Creates (truncates) the file and pre-allocates every dataset. The layout
  // must be identical on all ranks. Throws ConfigError for a bad layout, IoError when the
  // file cannot be created.
  // `resume_key` (may be empty) identifies the inputs and options the archive is written from,
  // so that a later run can tell whether an incomplete archive may be resumed.
  static ArchiveWriter create(const std::filesystem::path& path, MPI_Comm comm, const ArchiveLayout& layout,
                              const std::string& resume_key = {});
  // Collective. Reopens an incomplete archive that create() began with the same layout (a
  // killed ingest), to write the slots its progress record does not list as done. Partial
  // tables of the killed run are dropped. InputError when the file is not such an archive.
  static ArchiveWriter resume(const std::filesystem::path& path, MPI_Comm comm, const ArchiveLayout& layout);

  ArchiveWriter(ArchiveWriter&&) noexcept;
  ArchiveWriter& operator=(ArchiveWriter&&) noexcept;
  ArchiveWriter(const ArchiveWriter&) = delete;
  ArchiveWriter& operator=(const ArchiveWriter&) = delete;
  // Closes the file *without* marking it complete when close() was not called (e.g. while
  // an exception unwinds), so readers refuse it. HDF5 closes are collective: every rank
  // must destroy its writer.
  ~ArchiveWriter();

  const ArchiveLayout& layout() const;
  // Chips per chunk of the chip datasets (a read block of a multiple of this is fastest).
  std::int64_t chunk_chips() const;
  // After resume(): one byte per slot, 1 when an earlier run wrote it durably, and the slots'
  // valid flags. Empty after create().
  const std::vector<std::uint8_t>& done_slots() const;
  const std::vector<std::uint8_t>& done_valid() const;
  // Collective: flushes everything written so far to disk, then records those slots as done
  // in /progress/done (flushed too), so that a killed run's rerun does not write them again.
  void checkpoint();

  // Collective: every rank calls it the same number of times; count may be 0. Writes
  // slots [first, first+count) from contiguous buffers: magnitude and phase hold
  // count*bands*rows*cols floats (chip by chip, band planes in layout order), labels/meta
  // count entries. phase_or_null must be given exactly
  // when the layout has phase. valid may be null (all valid). Each slot must be written
  // exactly once over the whole ingest, counting slots done before a resume (checked at
  // close); ranges of ranks must not overlap.
  void write_chips(std::int64_t first, std::int64_t count, const float* magnitude, const float* phase_or_null,
                   const std::int32_t* labels, const ChipMeta* meta, const std::uint8_t* valid);

  // Collective; each rank passes its own list of (first, count) ranges, possibly empty or
  // overlapping. Sets valid=0 for those slots, e.g. for an input found bad after some of
  // its chips were written. Does not count as writing the slots.
  void invalidate(const std::vector<std::pair<std::int64_t, std::int64_t>>& ranges);

  // Collective, the same complete table on every rank; each may be written once (an
  // archive closed without them gets empty tables). String columns are fixed-length,
  // sized to the longest value; each rank writes a contiguous share of the rows.
  void write_sources(const std::vector<SourceRecord>& sources);
  void write_rejects(const std::vector<RejectRecord>& rejects);

  // Collective, same values on every rank. A string attribute on the root group (e.g.
  // "command_line", "param.tile_size"); setting it again replaces it. Names used by the
  // format itself (format, format_version, sarscale_version, complete) are refused.
  void set_attribute(const std::string& name, const std::string& value);
  // Collective, same values on every rank. A free-form provenance entry (attribute of the
  // /provenance group).
  void set_provenance(const std::string& key, const std::string& value);

  // Collective. Writes missing tables, checks that every slot was written, flushes, and
  // only then writes the root attribute complete=1 and closes. Throws IoError (and leaves
  // the archive incomplete) on any failure.
  void close();
  bool is_open() const;

 private:
  struct State;
  explicit ArchiveWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class ArchiveReader {
 public:
  // Collective over `comm` (use MPI_COMM_SELF to read from one rank alone). Throws
  // InputError for a missing file, a file that is not HDF5 or not an archive, a damaged
  // or truncated file, an unsupported format version, or an incomplete archive.
  static ArchiveReader open(const std::filesystem::path& path, MPI_Comm comm);

  ArchiveReader(ArchiveReader&&) noexcept;
  ArchiveReader& operator=(ArchiveReader&&) noexcept;
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;
  ~ArchiveReader();  // collective (HDF5 file close)

  const ArchiveLayout& layout() const;
  const std::filesystem::path& path() const;
  int format_version() const;
  std::int64_t chunk_chips() const;

  // Chips [first, first+count) into count*rows*cols floats each: the first band of each chip
  // (the only one of a single-band archive). phase_or_null may be null (phase not read) and
  // must be null when the archive has no phase.
  void read_chips(std::int64_t first, std::int64_t count, float* magnitude, float* phase_or_null,
                  Transfer transfer = Transfer::collective) const;
  // The magnitude planes `bands` (0-based band indices, any order, repeats allowed) of chips
  // [first, first+count) into count*bands.size()*rows*cols floats: chip by chip, the planes in
  // the order of `bands`. ConfigError (on every rank, for a collective call) for an index
  // outside [0, layout().bands()).
  void read_bands(std::int64_t first, std::int64_t count, const std::vector<int>& bands, float* magnitude,
                  Transfer transfer = Transfer::collective) const;
  // The index of the band named `name` (case-insensitive), or -1.
  int band_index(const std::string& name) const;
  std::vector<std::int32_t> labels(std::int64_t first, std::int64_t count,
                                   Transfer transfer = Transfer::collective) const;
  std::vector<ChipMeta> meta(std::int64_t first, std::int64_t count, Transfer transfer = Transfer::collective) const;
  std::vector<std::uint8_t> valid(std::int64_t first, std::int64_t count,
                                  Transfer transfer = Transfer::collective) const;

  std::int64_t source_count() const;
  std::int64_t reject_count() const;
  // Whole tables, or rows [first, first+count).
  std::vector<SourceRecord> sources(Transfer transfer = Transfer::independent) const;
  std::vector<SourceRecord> sources(std::int64_t first, std::int64_t count,
                                    Transfer transfer = Transfer::independent) const;
  std::vector<RejectRecord> rejects(Transfer transfer = Transfer::independent) const;
  std::vector<RejectRecord> rejects(std::int64_t first, std::int64_t count,
                                    Transfer transfer = Transfer::independent) const;

  // Root attributes as text (numbers in decimal), read when the archive was opened.
  // attribute() throws InputError when it is absent.
  std::string attribute(const std::string& name) const;
  bool has_attribute(const std::string& name) const;
  const std::map<std::string, std::string>& attributes() const;
  const std::map<std::string, std::string>& provenance() const;

 private:
  struct State;
  explicit ArchiveReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace sarscale::io
