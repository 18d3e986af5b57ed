#include "sarscale/io/phoenix.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "sarscale/core/error.hpp"

namespace sarscale::io {

namespace {

constexpr std::string_view kMagic = "\n[PhoenixHeaderVer";
constexpr std::string_view kVersionLine = "[PhoenixHeaderVer01.04]";
constexpr std::string_view kEndMarker = "[EndofPhoenixHeader]";
// Real headers are ~2 KiB; a header without its end marker in the first MiB is not one.
constexpr std::size_t kFirstHeaderRead = 8192;
constexpr std::size_t kMaxHeaderBytes = std::size_t{1} << 20;

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<double> parse_double(std::string_view s) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string quote(std::string_view s) { return "'" + std::string(s.substr(0, 80)) + "'"; }

[[noreturn]] void bad(std::string_view source, const std::string& what) {
  throw InputError(std::string(source) + ": " + what);
}

std::int64_t required_int(const PhoenixHeader& h, std::string_view key, std::string_view source) {
  if (!h.has(key)) bad(source, "Phoenix header lacks the required field " + std::string(key));
  const std::string value = h.get(key);
  const auto v = parse_int(value);
  if (!v) bad(source, "Phoenix header field " + std::string(key) + "= " + quote(value) + " is not an integer");
  return *v;
}

std::string errno_text(int err) { return std::system_category().message(err); }

// Big-endian float32 <-> host, in place. The memcpy form is what compilers vectorise
// into byte shuffles; it also keeps clear of aliasing rules.
void swap_float_bytes(void* data, std::size_t n) {
  if constexpr (std::endian::native == std::endian::little) {
    auto* bytes = static_cast<unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t u;
      std::memcpy(&u, bytes + 4 * i, 4);
      u = __builtin_bswap32(u);
      std::memcpy(bytes + 4 * i, &u, 4);
    }
  }
}

void close_quietly(int fd) {
  if (fd >= 0) ::close(fd);
}

// Reads exactly `n` bytes at `offset` (short only at end of file); returns bytes read.
std::size_t pread_some(int fd, char* buf, std::size_t n, std::int64_t offset, const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw IoError(path.string() + ": read failed: " + errno_text(errno));
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

PhoenixHeader read_header_from_fd(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw IoError(path.string() + ": cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) bad(path.string(), "not a regular file");
  const auto file_size = static_cast<std::int64_t>(st.st_size);
  if (file_size < static_cast<std::int64_t>(kMagic.size()))
    bad(path.string(), "not a Phoenix file (only " + std::to_string(file_size) + " bytes)");

  // Read a first block; grow only for (unusually) long headers.
  std::string text;
  std::size_t want = std::min<std::size_t>(kFirstHeaderRead, static_cast<std::size_t>(file_size));
  for (;;) {
    text.resize(want);
    text.resize(pread_some(fd, text.data(), want, 0, path));
    if (!looks_like_phoenix(std::string_view(text)))
      bad(path.string(), "not a Phoenix file (does not start with \"\\n[PhoenixHeaderVer\")");
    const bool has_end = text.find(std::string(kEndMarker) + "\n") != std::string::npos;
    if (has_end || text.size() < want || want >= static_cast<std::size_t>(file_size) || want >= kMaxHeaderBytes) break;
    want = std::min({want * 4, static_cast<std::size_t>(file_size), kMaxHeaderBytes});
  }
  if (text.find(std::string(kEndMarker) + "\n") == std::string::npos &&
      text.size() == static_cast<std::size_t>(file_size))
    bad(path.string(), "truncated Phoenix header: file ends after " + std::to_string(file_size) +
                           " bytes without [EndofPhoenixHeader]");

  PhoenixHeader h = parse_phoenix_header(text, path.string());
  if (file_size < h.sig_size)
    bad(path.string(), "truncated Phoenix file: " + std::to_string(file_size) +
                           " bytes on disk but PhoenixSigSize= " + std::to_string(h.sig_size) + " (" +
                           std::to_string(h.rows) + " x " + std::to_string(h.cols) + " pixels)");
  if (file_size > h.sig_size)
    bad(path.string(), "PhoenixSigSize= " + std::to_string(h.sig_size) + " disagrees with the file size " +
                           std::to_string(file_size) + " bytes");
  return h;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PhoenixHeader

std::string PhoenixHeader::get(std::string_view key) const {
  for (const auto& [k, v] : fields)
    if (k == key) return v;
  return {};
}

bool PhoenixHeader::has(std::string_view key) const {
  return std::any_of(fields.begin(), fields.end(), [&](const auto& f) { return f.first == key; });
}

std::optional<double> PhoenixHeader::number(std::string_view key) const {
  for (const auto& [k, v] : fields)
    if (k == key) return parse_double(v);
  return std::nullopt;
}

void PhoenixHeader::set(std::string_view key, std::string value) {
  for (auto& [k, v] : fields)
    if (k == key) {
      v = std::move(value);
      return;
    }
  fields.emplace_back(std::string(key), std::move(value));
}

// ---------------------------------------------------------------------------------------------
// Parsing

bool looks_like_phoenix(std::string_view first_bytes) noexcept { return first_bytes.starts_with(kMagic); }

bool looks_like_phoenix(const std::filesystem::path& path) noexcept {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[kMagic.size()];
  std::size_t done = 0;
  while (done < sizeof buf) {
    const ssize_t got = ::read(fd, buf + done, sizeof buf - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    done += static_cast<std::size_t>(got);
  }
  ::close(fd);
  return looks_like_phoenix(std::string_view(buf, done));
}

PhoenixHeader parse_phoenix_header(std::string_view text, std::string_view source) {
  if (!looks_like_phoenix(text)) bad(source, "not a Phoenix file (does not start with \"\\n[PhoenixHeaderVer\")");
  const std::size_t version_end = text.find('\n', 1);
  if (version_end == std::string_view::npos) bad(source, "truncated Phoenix header: no end of the version line");

  PhoenixHeader h;
  std::size_t pos = version_end + 1;
  std::size_t header_end = 0;
  int line_no = 2;
  for (;; ++line_no) {
    const std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos)
      bad(source, "truncated Phoenix header: no [EndofPhoenixHeader] within the first " + std::to_string(text.size()) +
                      " bytes");
    const std::string_view line = trim(text.substr(pos, eol - pos));
    pos = eol + 1;
    if (line == kEndMarker) {
      header_end = pos;
      break;
    }
    if (line.empty()) continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0)
      bad(source, "malformed Phoenix header line " + std::to_string(line_no) + ": " + quote(line));
    h.fields.emplace_back(std::string(trim(line.substr(0, eq))), std::string(trim(line.substr(eq + 1))));
  }

  h.header_length = required_int(h, "PhoenixHeaderLength", source);
  h.sig_size = required_int(h, "PhoenixSigSize", source);
  const std::int64_t rows = required_int(h, "NumberOfRows", source);
  const std::int64_t cols = required_int(h, "NumberOfColumns", source);
  h.native_header_length = h.has("native_header_length") ? required_int(h, "native_header_length", source) : 0;

  if (h.header_length != static_cast<std::int64_t>(header_end))
    bad(source, "PhoenixHeaderLength= " + std::to_string(h.header_length) + " but the header ends at byte " +
                    std::to_string(header_end));
  if (rows <= 0 || cols <= 0 || rows > kPhoenixMaxDimension || cols > kPhoenixMaxDimension)
    bad(source, "absurd raster size NumberOfRows= " + std::to_string(rows) + ", NumberOfColumns= " +
                    std::to_string(cols) + " (allowed 1.." + std::to_string(kPhoenixMaxDimension) + ")");
  if (h.native_header_length < 0 || h.native_header_length > (std::int64_t{1} << 40))
    bad(source, "absurd native_header_length= " + std::to_string(h.native_header_length));
  h.rows = static_cast<int>(rows);
  h.cols = static_cast<int>(cols);

  const std::int64_t one_plane = h.data_offset() + h.plane_bytes();
  const std::int64_t two_planes = one_plane + h.plane_bytes();
  if (h.sig_size != one_plane && h.sig_size != two_planes)
    bad(source, "PhoenixSigSize= " + std::to_string(h.sig_size) + " does not fit " + std::to_string(rows) + " x " +
                    std::to_string(cols) + " float32 pixels after " + std::to_string(h.data_offset()) +
                    " header bytes (expected " + std::to_string(two_planes) + " with phase or " +
                    std::to_string(one_plane) + " magnitude-only)");
  return h;
}

PhoenixHeader read_phoenix_header(const std::filesystem::path& path) { return PhoenixFile(path).header(); }

// ---------------------------------------------------------------------------------------------
// Reading pixels

PhoenixFile::PhoenixFile(const std::filesystem::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw IoError(path.string() + ": cannot open: " + errno_text(errno));
  try {
    header_ = read_header_from_fd(fd_, path_);
  } catch (...) {
    close_quietly(fd_);
    fd_ = -1;
    throw;
  }
}

PhoenixFile::~PhoenixFile() { close_quietly(fd_); }

PhoenixFile::PhoenixFile(PhoenixFile&& other) noexcept
    : path_(std::move(other.path_)), header_(std::move(other.header_)), fd_(std::exchange(other.fd_, -1)) {}

PhoenixFile& PhoenixFile::operator=(PhoenixFile&& other) noexcept {
  if (this != &other) {
    close_quietly(fd_);
    path_ = std::move(other.path_);
    header_ = std::move(other.header_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

bool PhoenixFile::read_pixels(std::span<float> magnitude, std::span<float> phase) const {
  const std::size_t n = pixels();
  const bool want_phase = header_.has_phase() && !phase.empty();
  if (magnitude.size() != n || (want_phase && phase.size() != n))
    throw ConfigError(path_.string() + ": pixel buffers of " + std::to_string(magnitude.size()) + "/" +
                      std::to_string(phase.size()) + " values for a " + std::to_string(header_.rows) + " x " +
                      std::to_string(header_.cols) + " raster");

  // One positioned vector read straight into the caller's planes.
  iovec iov[2] = {{magnitude.data(), n * 4}, {want_phase ? phase.data() : nullptr, want_phase ? n * 4 : 0}};
  int first = 0;
  const int count = want_phase ? 2 : 1;
  std::int64_t offset = header_.data_offset();
  std::size_t remaining = n * 4 * static_cast<std::size_t>(count);
  while (remaining > 0) {
    const ssize_t got = ::preadv(fd_, iov + first, count - first, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw IoError(path_.string() + ": read failed: " + errno_text(errno));
    }
    if (got == 0)
      bad(path_.string(), "truncated Phoenix file: data ends " + std::to_string(remaining) +
                              " bytes early (the file shrank while being read)");
    offset += got;
    remaining -= static_cast<std::size_t>(got);
    for (auto left = static_cast<std::size_t>(got); left > 0 && first < count;) {
      const std::size_t take = std::min(left, iov[first].iov_len);
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
      iov[first].iov_len -= take;
      left -= take;
      if (iov[first].iov_len == 0) ++first;
    }
  }
  swap_float_bytes(magnitude.data(), n);
  if (want_phase) swap_float_bytes(phase.data(), n);
  return want_phase;
}

ChipMeta phoenix_chip_meta(const PhoenixHeader& h) {
  ChipMeta meta;
  meta.target_type = h.get("TargetType");
  meta.serial = h.get("TargetSerNum");
  meta.polarisation = h.get("Polarization");
  meta.orig_rows = h.rows;
  meta.orig_cols = h.cols;
  if (auto az = h.number("TargetAz")) meta.azimuth_deg = static_cast<float>(*az);
  auto dep = h.number("DesiredDepression");
  if (!dep) dep = h.number("MeasuredDepression");
  if (dep) meta.depression_deg = static_cast<float>(*dep);
  return meta;
}

PhoenixChip read_phoenix(const std::filesystem::path& path) {
  PhoenixFile file(path);
  PhoenixChip chip;
  chip.header = file.header();
  chip.image.rows = chip.header.rows;
  chip.image.cols = chip.header.cols;
  chip.image.magnitude.resize(file.pixels());
  if (chip.header.has_phase()) chip.image.phase.resize(file.pixels());
  file.read_pixels(chip.image.magnitude, chip.image.phase);
  chip.meta = phoenix_chip_meta(chip.header);
  return chip;
}

// ---------------------------------------------------------------------------------------------
// Writing

namespace {

std::string padded(std::int64_t value, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*lld", width, static_cast<long long>(value));
  return buf;
}

void check_field(std::string_view key, std::string_view value) {
  const bool bad_key =
      key.empty() || key.front() == '[' || key.find_first_of("=\n\r") != std::string_view::npos || trim(key) != key;
  if (bad_key) throw ConfigError("Phoenix header key " + quote(key) + " is empty or holds '=', '[' or a line break");
  if (value.find_first_of("\n\r") != std::string_view::npos)
    throw ConfigError("Phoenix header value of " + std::string(key) + " holds a line break");
}

}  // namespace

std::string format_phoenix_header(const PhoenixHeader& fields, int rows, int cols, int data_planes) {
  if (rows <= 0 || cols <= 0 || rows > kPhoenixMaxDimension || cols > kPhoenixMaxDimension)
    throw ConfigError("cannot write a " + std::to_string(rows) + " x " + std::to_string(cols) + " Phoenix raster");
  if (data_planes != 1 && data_planes != 2) throw ConfigError("a Phoenix file holds 1 or 2 data planes");

  // Body: every line after PhoenixSigSize, with the computed size fields set.
  std::string body;
  bool seen_rows = false, seen_cols = false, seen_native = false;
  auto line = [&body](std::string_view key, std::string_view value) {
    body.append(key).append("= ").append(value).push_back('\n');
  };
  std::string missing;
  for (const auto& [key, value] : fields.fields) {
    check_field(key, value);
    if (key == "PhoenixHeaderLength" || key == "PhoenixSigSize") continue;
    if (key == "NumberOfRows") {
      if (!seen_rows) line(key, std::to_string(rows));
      seen_rows = true;
    } else if (key == "NumberOfColumns") {
      if (!seen_cols) line(key, std::to_string(cols));
      seen_cols = true;
    } else if (key == "native_header_length") {
      if (!seen_native) line(key, "0");
      seen_native = true;
    } else {
      line(key, value);
    }
  }
  // Size fields the caller did not place go right after PhoenixSigSize, in MSTAR's order.
  std::string front;
  if (!seen_native) front += "native_header_length= 0\n";
  if (!seen_cols) front += "NumberOfColumns= " + std::to_string(cols) + "\n";
  if (!seen_rows) front += "NumberOfRows= " + std::to_string(rows) + "\n";

  const std::string head = "\n" + std::string(kVersionLine) + "\n";
  const std::string tail = std::string(kEndMarker) + "\n";
  const std::int64_t data_bytes = std::int64_t{data_planes} * rows * cols * 4;
  const std::int64_t fixed = static_cast<std::int64_t>(
      head.size() + std::string_view("PhoenixHeaderLength= \n").size() + std::string_view("PhoenixSigSize= \n").size() +
      front.size() + body.size() + tail.size());
  // The length field's own digits count: iterate to the fixed point (two rounds at most).
  std::string length_text, size_text;
  std::int64_t length = fixed + 13;
  for (int round = 0; round < 8; ++round) {
    length_text = padded(length, 5);
    size_text = padded(length + data_bytes, 8);
    const std::int64_t actual = fixed + static_cast<std::int64_t>(length_text.size() + size_text.size());
    if (actual == length) break;
    length = actual;
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(length));
  out.append(head)
      .append("PhoenixHeaderLength= ")
      .append(length_text)
      .append("\nPhoenixSigSize= ")
      .append(size_text)
      .append("\n")
      .append(front)
      .append(body)
      .append(tail);
  if (static_cast<std::int64_t>(out.size()) != length)
    throw Error("format_phoenix_header: header length did not converge");
  return out;
}

std::uint64_t write_phoenix(const std::filesystem::path& path, const PhoenixHeader& fields, const Image& image) {
  const std::size_t n = image.pixels();
  if (image.magnitude.size() != n || (image.has_phase() && image.phase.size() != n))
    throw ConfigError(path.string() + ": image planes do not match " + std::to_string(image.rows) + " x " +
                      std::to_string(image.cols));
  const int planes = image.has_phase() ? 2 : 1;
  std::string buffer = format_phoenix_header(fields, image.rows, image.cols, planes);
  const std::size_t header_size = buffer.size();
  buffer.resize(header_size + n * 4 * static_cast<std::size_t>(planes));
  // The data start at an arbitrary byte offset: copy the floats in, then swap in place.
  std::memcpy(buffer.data() + header_size, image.magnitude.data(), n * 4);
  if (image.has_phase()) std::memcpy(buffer.data() + header_size + n * 4, image.phase.data(), n * 4);
  swap_float_bytes(buffer.data() + header_size, n * static_cast<std::size_t>(planes));

  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(path.string() + ": cannot create: " + errno_text(errno));
  std::size_t done = 0;
  int err = 0;
  while (done < buffer.size()) {
    const ssize_t put = ::write(fd, buffer.data() + done, buffer.size() - done);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) {
      err = put < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<std::size_t>(put);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(path.c_str());
    throw IoError(path.string() + ": write failed after " + std::to_string(done) + " of " +
                  std::to_string(buffer.size()) + " bytes: " + errno_text(err));
  }
  return buffer.size();
}

}  // namespace sarscale::io
