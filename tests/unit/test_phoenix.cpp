// MSTAR Phoenix reader/writer: the six real files in ../shared, round trips, and every way a
// file can lie about itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "sarscale/core/error.hpp"
#include "sarscale/io/phoenix.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::Image;
using sarscale::InputError;
using namespace sarscale::io;

namespace {

struct RealFile {
  const char* name;
  const char* target;
  const char* serial;
  int size;
  double depression;
  double azimuth;
  double max_magnitude;
  double max_tolerance;  // half a unit of the README's last printed digit
};

const RealFile kRealFiles[] = {
    {"BMP2_HB03787.000", "bmp2_tank", "9563", 128, 17, 346.49, 0.6141, 5e-5},
    {"BMP2_HB03787.001", "bmp2_tank", "9566", 128, 17, 315.51, 0.7234, 5e-5},
    {"BMP2_HB03787.002", "bmp2_tank", "c21", 128, 17, 13.19, 0.9367, 5e-5},
    {"BTR70_HB03787.004", "btr70_transport", "c71", 128, 17, 302.01, 0.969, 5e-4},
    {"T72_HB03787.015", "t72_tank", "132", 128, 17, 10.79, 2.185, 5e-4},
    {"SLICY_HB14931.015", "slicey", "1", 54, 15, 162.95, 1.912, 5e-4},
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << p;
}

// Replaces `from` (which must occur) by `to` in `s`.
std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

Image random_image(int rows, int cols, bool with_phase, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> mag(0.0f, 3.0f), ph(0.0f, 6.2831f);
  Image img;
  img.rows = rows;
  img.cols = cols;
  img.magnitude.resize(img.pixels());
  for (auto& v : img.magnitude) v = mag(gen);
  if (with_phase) {
    img.phase.resize(img.pixels());
    for (auto& v : img.phase) v = ph(gen);
  }
  return img;
}

PhoenixHeader some_fields() {
  PhoenixHeader h;
  h.fields = {{"PhoenixSigNum", "0001"},     {"PhoenixHeaderCallingSequence", ""},
              {"native_header_length", "0"}, {"Filename", "unit.0000"},
              {"NumberOfColumns", "1"},      {"NumberOfRows", "1"},
              {"TargetType", "test_target"}, {"TargetSerNum", "x7"},
              {"TargetAz", "123.456"},       {"DesiredDepression", "17"},
              {"Polarization", "VV"}};
  return h;
}

template <typename F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "no exception";
}

}  // namespace

TEST(PhoenixReal, HeadersMatchTheReadme) {
  SARSCALE_REQUIRE_SHARED(dir, "data/mstar-raw");
  for (const auto& f : kRealFiles) {
    SCOPED_TRACE(f.name);
    const fs::path path = dir / f.name;
    ASSERT_TRUE(looks_like_phoenix(path));
    const PhoenixHeader h = read_phoenix_header(path);
    EXPECT_EQ(h.get("TargetType"), f.target);
    EXPECT_EQ(h.get("TargetSerNum"), f.serial);
    EXPECT_EQ(h.rows, f.size);
    EXPECT_EQ(h.cols, f.size);
    EXPECT_EQ(h.number("DesiredDepression"), f.depression);
    ASSERT_TRUE(h.number("TargetAz"));
    EXPECT_NEAR(*h.number("TargetAz"), f.azimuth, 0.005);
    EXPECT_EQ(h.native_header_length, 0);
    EXPECT_EQ(h.get("Polarization"), "HH");
    EXPECT_EQ(h.fields.front().first, "PhoenixHeaderLength");
    EXPECT_EQ(h.get("PhoenixHeaderCallingSequence"), "");
    EXPECT_EQ(h.get("Bandwidth"), "0.591 GHz");
    EXPECT_FALSE(h.number("Bandwidth")) << "a value with a unit is not a number";

    const std::string bytes = slurp(path);
    const std::string end = "[EndofPhoenixHeader]\n";
    const auto real_offset = static_cast<std::int64_t>(bytes.find(end) + end.size());
    EXPECT_GE(h.header_length, 1973);
    EXPECT_LE(h.header_length, 1983);
    EXPECT_EQ(h.header_length, real_offset);
    EXPECT_EQ(h.sig_size, static_cast<std::int64_t>(bytes.size()));
    EXPECT_EQ(h.sig_size, h.header_length + 2LL * f.size * f.size * 4);
    EXPECT_TRUE(h.has_phase());
  }
}

TEST(PhoenixReal, PixelsAndMeta) {
  SARSCALE_REQUIRE_SHARED(dir, "data/mstar-raw");
  for (const auto& f : kRealFiles) {
    SCOPED_TRACE(f.name);
    const PhoenixChip chip = read_phoenix(dir / f.name);
    ASSERT_EQ(chip.image.rows, f.size);
    ASSERT_EQ(chip.image.magnitude.size(), chip.image.pixels());
    ASSERT_EQ(chip.image.phase.size(), chip.image.pixels());
    const float max_mag = *std::max_element(chip.image.magnitude.begin(), chip.image.magnitude.end());
    const float min_mag = *std::min_element(chip.image.magnitude.begin(), chip.image.magnitude.end());
    EXPECT_NEAR(max_mag, f.max_magnitude, f.max_tolerance);
    EXPECT_GE(min_mag, 0.0f);
    const auto [pmin, pmax] = std::minmax_element(chip.image.phase.begin(), chip.image.phase.end());
    EXPECT_GE(*pmin, 0.0f);
    EXPECT_LT(*pmax, 2 * std::numbers::pi_v<float>);
    EXPECT_GT(*pmax, 6.0f) << "phase should span the whole circle";

    EXPECT_EQ(chip.meta.target_type, f.target);
    EXPECT_EQ(chip.meta.serial, f.serial);
    EXPECT_EQ(chip.meta.polarisation, "HH");
    EXPECT_NEAR(chip.meta.azimuth_deg, f.azimuth, 0.005);
    EXPECT_EQ(chip.meta.depression_deg, static_cast<float>(f.depression));
    EXPECT_EQ(chip.meta.orig_rows, f.size);
    EXPECT_EQ(chip.meta.orig_cols, f.size);
  }
}

TEST(PhoenixReal, RewriteKeepsFieldsAndPixels) {
  SARSCALE_REQUIRE_SHARED(dir, "data/mstar-raw");
  const fs::path scratch = sarscale::test::scratch_dir("phoenix-rewrite");
  const PhoenixChip chip = read_phoenix(dir / "T72_HB03787.015");
  write_phoenix(scratch / "t72.phx", chip.header, chip.image);
  const PhoenixChip back = read_phoenix(scratch / "t72.phx");
  EXPECT_EQ(back.header.fields.size(), chip.header.fields.size());
  for (std::size_t i = 0; i < chip.header.fields.size(); ++i) {
    EXPECT_EQ(back.header.fields[i].first, chip.header.fields[i].first);
    const std::string& key = chip.header.fields[i].first;
    if (key != "PhoenixHeaderLength" && key != "PhoenixSigSize")  // "Bandwidth=  0.591" loses a blank
      EXPECT_EQ(back.header.fields[i].second, chip.header.fields[i].second) << chip.header.fields[i].first;
  }
  EXPECT_EQ(back.header.header_length, chip.header.header_length - 1);
  EXPECT_EQ(back.header.sig_size, chip.header.sig_size - 1);
  EXPECT_EQ(back.image.magnitude, chip.image.magnitude);
  EXPECT_EQ(back.image.phase, chip.image.phase);
}

TEST(Phoenix, RoundTripIsExact) {
  const fs::path scratch = sarscale::test::scratch_dir("phoenix-roundtrip");
  const Image img = random_image(37, 53, true, 7);
  write_phoenix(scratch / "a.phx", some_fields(), img);
  const PhoenixChip back = read_phoenix(scratch / "a.phx");
  EXPECT_EQ(back.image.rows, 37);
  EXPECT_EQ(back.image.cols, 53);
  EXPECT_EQ(back.image.magnitude, img.magnitude);
  EXPECT_EQ(back.image.phase, img.phase);
  EXPECT_EQ(back.header.get("NumberOfRows"), "37");
  EXPECT_EQ(back.header.get("NumberOfColumns"), "53");
  EXPECT_EQ(back.header.get("TargetSerNum"), "x7");
  EXPECT_EQ(back.meta.polarisation, "VV");
  EXPECT_FLOAT_EQ(back.meta.azimuth_deg, 123.456f);
  EXPECT_EQ(back.header.sig_size, static_cast<std::int64_t>(fs::file_size(scratch / "a.phx")));

  // Layout like MSTAR's: leading newline, version line, zero-padded sizes first.
  const std::string bytes = slurp(scratch / "a.phx");
  EXPECT_EQ(bytes.substr(0, 25), "\n[PhoenixHeaderVer01.04]\n");
  char expected[64];
  std::snprintf(expected, sizeof expected, "PhoenixHeaderLength= %05lld\nPhoenixSigSize= %08lld\n",
                static_cast<long long>(back.header.header_length), static_cast<long long>(back.header.sig_size));
  EXPECT_EQ(bytes.substr(25, std::strlen(expected)), expected);
  // Big-endian: the first magnitude's bytes reversed are the host float.
  float first = 0;
  std::string be = bytes.substr(static_cast<std::size_t>(back.header.header_length), 4);
  std::reverse(be.begin(), be.end());
  std::memcpy(&first, be.data(), 4);
  EXPECT_EQ(first, img.magnitude[0]);
}

TEST(Phoenix, HeaderLengthIsSelfConsistentAcrossDigitBoundaries) {
  // Grow one value so the header length crosses 99999 -> 100000 (5 -> 6 digits).
  for (int pad = 99850; pad < 99960; ++pad) {
    PhoenixHeader fields = some_fields();
    fields.set("Padding", std::string(static_cast<std::size_t>(pad), 'x'));
    const std::string text = format_phoenix_header(fields, 2, 3, 2);
    const PhoenixHeader h = parse_phoenix_header(text);
    ASSERT_EQ(h.header_length, static_cast<std::int64_t>(text.size())) << pad;
    ASSERT_EQ(h.sig_size, h.header_length + 48) << pad;
  }
}

TEST(Phoenix, MagnitudeOnlyFile) {
  const fs::path scratch = sarscale::test::scratch_dir("phoenix-magonly");
  const Image img = random_image(16, 9, false, 3);
  write_phoenix(scratch / "m.phx", some_fields(), img);
  const PhoenixChip back = read_phoenix(scratch / "m.phx");
  EXPECT_FALSE(back.header.has_phase());
  EXPECT_TRUE(back.image.phase.empty());
  EXPECT_EQ(back.image.magnitude, img.magnitude);
  EXPECT_EQ(back.header.sig_size, back.header.header_length + 16 * 9 * 4);
}

TEST(Phoenix, CallerBuffersAndMagnitudeOnlyReadOfAComplexFile) {
  const fs::path scratch = sarscale::test::scratch_dir("phoenix-buffers");
  const Image img = random_image(8, 8, true, 5);
  write_phoenix(scratch / "b.phx", some_fields(), img);
  PhoenixFile file(scratch / "b.phx");
  std::vector<float> mag(64), phase(64);
  EXPECT_TRUE(file.read_pixels(mag, phase));
  EXPECT_EQ(mag, img.magnitude);
  EXPECT_EQ(phase, img.phase);
  std::vector<float> mag_only(64);
  EXPECT_FALSE(file.read_pixels(mag_only, {}));
  EXPECT_EQ(mag_only, img.magnitude);
  std::vector<float> too_small(63);
  EXPECT_THROW(file.read_pixels(too_small, {}), sarscale::ConfigError);
}

TEST(Phoenix, NativeHeaderIsSkipped) {
  const fs::path scratch = sarscale::test::scratch_dir("phoenix-native");
  const Image img = random_image(4, 5, true, 11);
  // Hand-built header with fixed-width size fields, then a 100-byte native header of junk.
  std::string header =
      "\n[PhoenixHeaderVer01.04]\nPhoenixHeaderLength= LLLLL\nPhoenixSigSize= SSSSSSSS\n"
      "native_header_length= 100\nNumberOfColumns= 5\nNumberOfRows= 4\nTargetType= native_test\n"
      "[EndofPhoenixHeader]\n";
  const std::size_t length = header.size();
  const std::size_t total = length + 100 + 2 * 20 * 4;
  char num[16];
  std::snprintf(num, sizeof num, "%05zu", length);
  header = replaced(header, "LLLLL", num);
  std::snprintf(num, sizeof num, "%08zu", total);
  header = replaced(header, "SSSSSSSS", num);
  std::string bytes = header + std::string(100, '\xAB');
  for (const auto* plane : {&img.magnitude, &img.phase})
    for (float v : *plane) {
      char b[4];
      std::memcpy(b, &v, 4);
      std::reverse(b, b + 4);
      bytes.append(b, 4);
    }
  ASSERT_EQ(bytes.size(), total);
  spit(scratch / "n.phx", bytes);
  const PhoenixChip back = read_phoenix(scratch / "n.phx");
  EXPECT_EQ(back.header.native_header_length, 100);
  EXPECT_EQ(back.header.data_offset(), static_cast<std::int64_t>(length) + 100);
  EXPECT_EQ(back.image.magnitude, img.magnitude);
  EXPECT_EQ(back.image.phase, img.phase);
  EXPECT_EQ(back.meta.target_type, "native_test");
}

TEST(Phoenix, TruncatedFilesAreReported) {
  const fs::path scratch = sarscale::test::scratch_dir("phoenix-truncated");
  write_phoenix(scratch / "full.phx", some_fields(), random_image(32, 32, true, 1));
  const std::string bytes = slurp(scratch / "full.phx");
  const auto header_length = read_phoenix_header(scratch / "full.phx").header_length;

  spit(scratch / "cut_data.phx", bytes.substr(0, bytes.size() - 1000));
  std::string msg = input_error_of([&] { read_phoenix(scratch / "cut_data.phx"); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(bytes.size() - 1000)), std::string::npos) << msg;
  EXPECT_NE(msg.find("cut_data.phx"), std::string::npos) << msg;

  spit(scratch / "cut_header.phx", bytes.substr(0, static_cast<std::size_t>(header_length) / 2));
  msg = input_error_of([&] { read_phoenix_header(scratch / "cut_header.phx"); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST(Phoenix, LyingHeadersAreRejected) {
  const fs::path scratch = sarscale::test::scratch_dir("phoenix-lying");
  PhoenixHeader fields = some_fields();
  fields.set("Padding", "0123456789");  // last line: room to keep the byte count when a lie is longer
  write_phoenix(scratch / "ok.phx", fields, random_image(20, 20, true, 2));
  const std::string bytes = slurp(scratch / "ok.phx");
  const PhoenixHeader h = read_phoenix_header(scratch / "ok.phx");
  char sig[16];
  std::snprintf(sig, sizeof sig, "%08lld", static_cast<long long>(h.sig_size));
  char bigger[16];
  std::snprintf(bigger, sizeof bigger, "%08lld", static_cast<long long>(h.sig_size + 1600));

  struct Case {
    const char* name;
    std::string from, to;
    const char* expect;
  };
  const Case cases[] = {
      {"sigsize", std::string("PhoenixSigSize= ") + sig, std::string("PhoenixSigSize= ") + bigger, "PhoenixSigSize"},
      {"rows", "NumberOfRows= 20", "NumberOfRows= 21", "21 x 20"},
      {"cols", "NumberOfColumns= 20", "NumberOfColumns= 10", "20 x 10"},
      {"zero_rows", "NumberOfRows= 20", "NumberOfRows= 00", "absurd"},
      {"huge_cols", "NumberOfColumns= 20", "NumberOfColumns= 99999999", "absurd"},
      {"length", "PhoenixHeaderLength= 0", "PhoenixHeaderLength= 1", "PhoenixHeaderLength"},
      {"not_int", "NumberOfRows= 20", "NumberOfRows= 2x", "not an integer"},
      {"missing", "NumberOfRows= 20", "NumberOfRowz= 20", "NumberOfRows"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    // Each case keeps the header's byte count so only the lie differs.
    std::string lie = replaced(bytes, c.from, c.to);
    if (c.to.size() != c.from.size()) {
      const auto end = lie.find("[EndofPhoenixHeader]");
      lie.erase(end - 1 - (c.to.size() - c.from.size()), c.to.size() - c.from.size());  // shorten Padding
    }
    const fs::path p = scratch / (std::string(c.name) + ".phx");
    spit(p, lie);
    const std::string msg = input_error_of([&] { read_phoenix(p); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    EXPECT_NE(msg.find(p.filename().string()), std::string::npos) << msg;
  }
  // Consistent header, but bytes appended to the file.
  spit(scratch / "longer.phx", bytes + "extra");
  const std::string msg = input_error_of([&] { read_phoenix(scratch / "longer.phx"); });
  EXPECT_NE(msg.find("disagrees with the file size " + std::to_string(bytes.size() + 5)), std::string::npos) << msg;
}

TEST(Phoenix, GarbageIsNotPhoenix) {
  const fs::path scratch = sarscale::test::scratch_dir("phoenix-garbage");
  std::string junk(5000, '\0');
  std::mt19937 gen(9);
  for (auto& c : junk) c = static_cast<char>(gen());
  spit(scratch / "junk.bin", junk);
  spit(scratch / "empty.bin", "");
  spit(scratch / "almost.txt", "[PhoenixHeaderVer01.04]\nPhoenixHeaderLength= 00100\n");  // no leading '\n'
  for (const char* name : {"junk.bin", "empty.bin", "almost.txt"}) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(looks_like_phoenix(scratch / name));
    const std::string msg = input_error_of([&] { read_phoenix(scratch / name); });
    EXPECT_NE(msg.find("not a Phoenix file"), std::string::npos) << msg;
  }
  EXPECT_FALSE(looks_like_phoenix(scratch / "does-not-exist"));
  EXPECT_THROW(read_phoenix(scratch / "does-not-exist"), sarscale::IoError);
  // Right magic, then nonsense lines.
  spit(scratch / "nonsense.phx", "\n[PhoenixHeaderVer01.04]\nthis is not a field\n[EndofPhoenixHeader]\n");
  EXPECT_TRUE(looks_like_phoenix(scratch / "nonsense.phx"));
  const std::string msg = input_error_of([&] { read_phoenix(scratch / "nonsense.phx"); });
  EXPECT_NE(msg.find("malformed"), std::string::npos) << msg;
}

TEST(Phoenix, WriterRejectsFieldsThatBreakTheFormat) {
  const fs::path scratch = sarscale::test::scratch_dir("phoenix-badfields");
  PhoenixHeader fields = some_fields();
  fields.set("Comment", "two\nlines");
  EXPECT_THROW(write_phoenix(scratch / "x.phx", fields, random_image(2, 2, true, 1)), sarscale::ConfigError);
  PhoenixHeader bad_key;
  bad_key.fields = {{"a=b", "1"}};
  EXPECT_THROW(format_phoenix_header(bad_key, 2, 2, 2), sarscale::ConfigError);
  Image wrong = random_image(2, 2, true, 1);
  wrong.phase.pop_back();
  EXPECT_THROW(write_phoenix(scratch / "y.phx", some_fields(), wrong), sarscale::ConfigError);
  EXPECT_FALSE(fs::exists(scratch / "y.phx"));
}
