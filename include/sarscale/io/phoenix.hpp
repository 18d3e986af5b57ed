#pragma once
// MSTAR Phoenix files: an ASCII header of "Key= value" lines followed by big-endian float32
// rasters (magnitude, then phase in radians unless the file is magnitude-only).
//
// Layout, as found in the public MSTAR products:
//   byte 0            '\n'
//   byte 1            "[PhoenixHeaderVer01.04]\n"
//   ...               "Key= value\n" lines, among them PhoenixHeaderLength, PhoenixSigSize,
//                     NumberOfRows, NumberOfColumns, native_header_length
//   ...               "[EndofPhoenixHeader]\n"  (PhoenixHeaderLength counts bytes 0 through this '\n')
//   native header     native_header_length bytes (skipped)
//   magnitude         rows*cols big-endian float32
//   phase             rows*cols big-endian float32 (absent in magnitude-only files)
// PhoenixSigSize is the size of the whole file.
//
// Readers validate every size against the file and throw sarscale::InputError with the path
// and the numbers that disagree; they never read past what the header and the file agree on.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sarscale/core/image.hpp"

namespace sarscale::io {

// Largest NumberOfRows / NumberOfColumns accepted; anything above is a corrupt header.
inline constexpr int kPhoenixMaxDimension = 65536;

struct PhoenixHeader {
  // Every "Key= value" line in file order (section markers excluded). Values are trimmed of
  // surrounding blanks; an empty value ("PhoenixHeaderCallingSequence= ") is kept as "".
  std::vector<std::pair<std::string, std::string>> fields;

  // Parsed and validated by parse_phoenix_header / read_phoenix_header (ignored by write_phoenix,
  // which recomputes them from the image).
  std::int64_t header_length = 0;         // PhoenixHeaderLength
  std::int64_t sig_size = 0;              // PhoenixSigSize = file size
  int rows = 0;                           // NumberOfRows
  int cols = 0;                           // NumberOfColumns
  std::int64_t native_header_length = 0;  // native_header_length (0 when absent)

  // Value of `key` (first occurrence), or "" when absent.
  std::string get(std::string_view key) const;
  bool has(std::string_view key) const;
  // `key`'s value as a number when the whole value is one ("17", "346.491974"); nullopt when
  // absent or not purely numeric ("9.60 GHz" is not).
  std::optional<double> number(std::string_view key) const;
  // Replaces the value of `key` in place, or appends the field when absent.
  void set(std::string_view key, std::string value);

  std::int64_t data_offset() const { return header_length + native_header_length; }
  std::int64_t plane_bytes() const { return static_cast<std::int64_t>(rows) * cols * 4; }
  // True when the declared sizes leave room for a phase plane after the magnitude plane.
  bool has_phase() const { return sig_size == data_offset() + 2 * plane_bytes(); }
};

// Parses a header from `text`, which starts at byte 0 of the file and holds at least the whole
// Phoenix header (extra bytes after it are ignored). Checks the markers, the required fields
// (PhoenixHeaderLength, PhoenixSigSize, NumberOfRows, NumberOfColumns), that
// PhoenixHeaderLength equals the real offset of the data, that rows/cols lie in
// 1..kPhoenixMaxDimension and that PhoenixSigSize matches one or two planes of rows x cols.
// `source` names the input in error messages. Throws InputError.
PhoenixHeader parse_phoenix_header(std::string_view text, std::string_view source = "<memory>");

// Reads and validates the header of `path` (only the first few KiB are read), including
// PhoenixSigSize against the file size (truncated files are reported as such).
// Throws InputError for a bad file, IoError when it cannot be opened or read.
PhoenixHeader read_phoenix_header(const std::filesystem::path& path);

// Cheap sniff: true when the file starts with "\n[PhoenixHeaderVer". Never throws.
bool looks_like_phoenix(const std::filesystem::path& path) noexcept;
// Same test on the first bytes of a file that the caller already holds.
bool looks_like_phoenix(std::string_view first_bytes) noexcept;

// An open Phoenix file whose header has been read and validated: reads the rasters straight
// into caller buffers (one positioned vector read, byte-swapped in place) for zero-copy ingest.
class PhoenixFile {
 public:
  explicit PhoenixFile(const std::filesystem::path& path);  // throws as read_phoenix_header
  ~PhoenixFile();
  PhoenixFile(PhoenixFile&& other) noexcept;
  PhoenixFile& operator=(PhoenixFile&& other) noexcept;
  PhoenixFile(const PhoenixFile&) = delete;
  PhoenixFile& operator=(const PhoenixFile&) = delete;

  const PhoenixHeader& header() const { return header_; }
  const std::filesystem::path& path() const { return path_; }
  std::size_t pixels() const { return static_cast<std::size_t>(header_.rows) * header_.cols; }

  // Fills `magnitude` (exactly rows*cols values) and, when the file has a phase plane and
  // `phase` is not empty, `phase` (exactly rows*cols). Returns true when phase was read.
  // Throws ConfigError for wrongly sized buffers, InputError when the file shrank since it
  // was opened, IoError for read failures.
  bool read_pixels(std::span<float> magnitude, std::span<float> phase) const;

 private:
  std::filesystem::path path_;
  PhoenixHeader header_;
  int fd_ = -1;
};

struct PhoenixChip {
  PhoenixHeader header;
  Image image;  // phase empty for magnitude-only files
  ChipMeta meta;
};

// Reads a whole Phoenix file. meta gets target_type (TargetType), serial (TargetSerNum),
// azimuth_deg (TargetAz), depression_deg (DesiredDepression, else MeasuredDepression),
// polarisation (Polarization) and orig_rows/orig_cols; absent numbers stay NaN.
PhoenixChip read_phoenix(const std::filesystem::path& path);

// The ChipMeta a Phoenix header describes (as read_phoenix fills it).
ChipMeta phoenix_chip_meta(const PhoenixHeader& header);

// Serialises a header laid out like the MSTAR ones: '\n', "[PhoenixHeaderVer01.04]",
// PhoenixHeaderLength (%05d) and PhoenixSigSize (%08d) first, then `fields.fields` in order
// with NumberOfRows, NumberOfColumns and native_header_length (always 0: no native header is
// written) set from `rows`/`cols` in place or appended, then "[EndofPhoenixHeader]\n".
// PhoenixHeaderLength is self-consistent (its own digits included); PhoenixSigSize counts
// `data_planes` planes. Throws ConfigError for keys/values that would break the format.
std::string format_phoenix_header(const PhoenixHeader& fields, int rows, int cols, int data_planes);

// Writes `image` (magnitude, plus phase when present) with a header built as
// format_phoenix_header does, in one buffered write. The file is created or replaced.
// Returns the bytes written (= PhoenixSigSize). Throws ConfigError for an inconsistent image,
// IoError when writing fails (no partial file is left behind).
std::uint64_t write_phoenix(const std::filesystem::path& path, const PhoenixHeader& fields, const Image& image);

}  // namespace sarscale::io
