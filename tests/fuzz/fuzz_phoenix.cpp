// libFuzzer harness for the MSTAR Phoenix reader (io/phoenix.hpp). Each input is a whole file:
// its header goes through parse_phoenix_header, and the file itself (written to one scratch
// file, tmpfs when there is one) through read_phoenix, as ingest reads it. A bad file must be
// refused with a sarscale::Error. What is accepted must keep the header's promises (sizes within
// bounds and consistent with the bytes there are) and survive the writer: a header formatted
// from the parsed fields parses back to the same fields and sizes.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "sarscale/core/error.hpp"
#include "sarscale/io/phoenix.hpp"

namespace {

namespace fs = std::filesystem;
using namespace sarscale;

void require(bool ok, const char* what) {
  if (!ok) throw std::logic_error(what);
}

const fs::path& scratch_file() {
  static const fs::path path = [] {
    std::error_code ec;
    const fs::path dir = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    return dir / ("sarscale-fuzz-phoenix-" + std::to_string(::getpid()) + ".phx");
  }();
  return path;
}

void check_header(const io::PhoenixHeader& h, std::size_t available) {
  require(h.rows >= 1 && h.rows <= io::kPhoenixMaxDimension && h.cols >= 1 && h.cols <= io::kPhoenixMaxDimension,
          "accepted rows/cols out of range");
  require(h.header_length > 0 && static_cast<std::size_t>(h.header_length) <= available,
          "accepted a header length beyond the bytes given");
  require(h.native_header_length >= 0, "accepted a negative native header length");
  require(h.sig_size == h.data_offset() + h.plane_bytes() || h.sig_size == h.data_offset() + 2 * h.plane_bytes(),
          "accepted a PhoenixSigSize that is not one or two planes");
  (void)io::phoenix_chip_meta(h);
}

void round_trip(const io::PhoenixHeader& h) {
  std::string text;
  try {
    text = io::format_phoenix_header(h, h.rows, h.cols, h.has_phase() ? 2 : 1);
  } catch (const ConfigError&) {
    return;  // fields the writer refuses to reproduce (documented)
  }
  const io::PhoenixHeader back = io::parse_phoenix_header(text, "formatted");
  require(back.rows == h.rows && back.cols == h.cols, "format/parse changed the size");
  require(back.has_phase() == h.has_phase(), "format/parse changed the plane count");
  for (const auto& [key, value] : h.fields)
    if (key != "PhoenixHeaderLength" && key != "PhoenixSigSize" && key != "native_header_length" &&
        key != "NumberOfRows" && key != "NumberOfColumns")
      require(back.get(key) == h.get(key), "format/parse changed a field");
}

void read_file(std::string_view bytes) {
  {
    std::ofstream out(scratch_file(), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw std::runtime_error("cannot write the scratch file");
  }
  (void)io::looks_like_phoenix(scratch_file());
  const io::PhoenixChip chip = io::read_phoenix(scratch_file());
  const auto pixels = static_cast<std::size_t>(chip.image.rows) * static_cast<std::size_t>(chip.image.cols);
  require(chip.image.magnitude.size() == pixels, "read_phoenix: magnitude size differs from rows x cols");
  require(chip.image.phase.empty() || chip.image.phase.size() == pixels, "read_phoenix: phase size");
  require(static_cast<std::int64_t>(bytes.size()) >= chip.header.sig_size, "read_phoenix: read past the file");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)io::looks_like_phoenix(bytes);
  try {
    const io::PhoenixHeader h = io::parse_phoenix_header(bytes, "fuzz.phx");
    check_header(h, size);
    round_trip(h);
  } catch (const InputError&) {
  }
  try {
    read_file(bytes);
  } catch (const InputError&) {
  }
  return 0;
}
