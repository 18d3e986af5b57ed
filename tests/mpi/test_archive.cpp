// The chip archive written collectively by every rank of MPI_COMM_WORLD (1..4 ranks) and
// read back by all of them; identical dataset contents at any rank count; refusal of
// files that are not complete archives.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>

#include "mpi_test_support.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/io/archive.hpp"

namespace {

using sarscale::ChipMeta;
using sarscale::dist::Comm;
using namespace sarscale::io;

constexpr int kRows = 6;
constexpr int kCols = 5;
constexpr int kPixels = kRows * kCols;

std::filesystem::path shared_scratch(const Comm& c, const std::string& name) {
  return sarscale::test::shared_scratch_dir(c, "test-archive-" + name);
}

// The content of chip i, a pure function of i so that every rank can check any chip.
float magnitude_of(std::int64_t i, int p) { return static_cast<float>(i * 1000 + p) * 0.5f; }
float phase_of(std::int64_t i, int p) { return static_cast<float>((i + p) % 628) * 0.01f; }
std::int32_t label_of(std::int64_t i) { return i % 5 == 0 ? -1 : static_cast<std::int32_t>(i % 3); }
std::uint8_t valid_of(std::int64_t i) { return i % 9 == 4 ? 0 : 1; }
ChipMeta meta_of(std::int64_t i) {
  ChipMeta m;
  m.source_index = i / 4;
  m.tile_row = static_cast<std::int32_t>(i * 3);
  m.tile_col = static_cast<std::int32_t>(i * 5);
  m.orig_rows = static_cast<std::int32_t>(10 + i);
  m.orig_cols = static_cast<std::int32_t>(20 + i);
  m.azimuth_deg = i % 6 == 0 ? ChipMeta::kUnknown : static_cast<float>(i) * 7.5f;
  m.depression_deg = 15.0f + static_cast<float>(i) * 0.25f;
  m.target_type = i % 3 == 0 ? "t72" : "bmp2";
  m.serial = "SN_" + std::to_string(9560 + i);
  m.polarisation = i % 2 ? "HH" : "";
  return m;
}

std::vector<SourceRecord> test_sources() {
  std::vector<SourceRecord> out;
  for (int k = 0; k < 10; ++k)
    out.push_back({"/data/mstar/" + std::string(static_cast<std::size_t>(k * 7), 'd') + "/hb" + std::to_string(k) +
                       (k == 3 ? "_\xc3\xa9t\xc3\xa9" : "") + ".017",
                   k % 2 ? "phoenix" : "GTiff", k == 4 ? "" : "sigma0-" + std::to_string(k), 1000 + 17 * k, 4 * k, 4});
  return out;
}
std::vector<RejectRecord> test_rejects() {
  return {{"/data/bad/a.017", "truncated header: expected 512 bytes, found 17"},
          {"/data/bad/b.tif", "NaN pixels (12)"},
          {"/x", ""}};
}

ArchiveLayout test_layout(std::int64_t chips, bool phase) {
  ArchiveLayout l;
  l.chips = chips;
  l.rows = kRows;
  l.cols = kCols;
  l.has_phase = phase;
  l.class_names = {"2S1", "BMP2", "T72 \xe2\x80\x94 tank"};
  return l;
}

// Rank r owns a contiguous, unequal share (the last rank none when there are 3+ ranks) and
// writes it in rounds of r+2 chips; ranks whose share is done still join with count 0.
std::pair<std::int64_t, std::int64_t> write_share(const Comm& c, std::int64_t n) {
  std::vector<std::int64_t> weight(static_cast<std::size_t>(c.size()));
  for (int r = 0; r < c.size(); ++r)
    weight[static_cast<std::size_t>(r)] = (c.size() >= 3 && r == c.size() - 1) ? 0 : r + 1;
  std::int64_t total = 0, before = 0;
  for (int r = 0; r < c.size(); ++r) {
    if (r < c.rank()) before += weight[static_cast<std::size_t>(r)];
    total += weight[static_cast<std::size_t>(r)];
  }
  const std::int64_t begin = n * before / total;
  const std::int64_t end = n * (before + weight[static_cast<std::size_t>(c.rank())]) / total;
  return {begin, end};
}

void write_all_chips(ArchiveWriter& w, const Comm& c, std::int64_t begin, std::int64_t end, bool phase) {
  const std::int64_t step = c.rank() + 2;
  const std::int64_t my_rounds = (end - begin + step - 1) / step;
  const std::int64_t rounds = c.max(my_rounds);
  for (std::int64_t k = 0; k < rounds; ++k) {
    const std::int64_t first = std::min(end, begin + k * step);
    const std::int64_t count = std::min(step, end - first);
    std::vector<float> mag, ph;
    std::vector<std::int32_t> labels;
    std::vector<ChipMeta> meta;
    std::vector<std::uint8_t> valid;
    for (std::int64_t i = first; i < first + count; ++i) {
      for (int p = 0; p < kPixels; ++p) {
        mag.push_back(magnitude_of(i, p));
        ph.push_back(phase_of(i, p));
      }
      labels.push_back(label_of(i));
      meta.push_back(meta_of(i));
      valid.push_back(valid_of(i));
    }
    w.write_chips(first, count, mag.data(), phase ? ph.data() : nullptr, labels.data(), meta.data(), valid.data());
  }
}

void write_test_archive(const std::filesystem::path& path, MPI_Comm comm, std::int64_t n, bool phase) {
  const Comm c(comm);
  ArchiveWriter w = ArchiveWriter::create(path, comm, test_layout(n, phase));
  const auto [begin, end] = write_share(c, n);
  write_all_chips(w, c, begin, end, phase);
  w.write_sources(test_sources());
  w.write_rejects(test_rejects());
  w.set_attribute("command_line", "sarscale ingest --in /data/mstar --out x.h5");
  w.set_attribute("param.chip_size", "6x5");
  w.set_attribute("param.chip_size", "6x5 (replaced)");
  w.set_attribute("param.long", std::string(100000, 'L'));  // larger than an object header message
  w.set_provenance("host", "cluster-a");
  w.set_provenance("input_digest", "0123abcd");
  w.close();
  EXPECT_FALSE(w.is_open());
}

void expect_chip_meta(const ChipMeta& got, std::int64_t i) {
  const ChipMeta want = meta_of(i);
  EXPECT_EQ(got.source_index, want.source_index) << i;
  EXPECT_EQ(got.tile_row, want.tile_row) << i;
  EXPECT_EQ(got.tile_col, want.tile_col) << i;
  EXPECT_EQ(got.orig_rows, want.orig_rows) << i;
  EXPECT_EQ(got.orig_cols, want.orig_cols) << i;
  if (std::isnan(want.azimuth_deg))
    EXPECT_TRUE(std::isnan(got.azimuth_deg)) << i;
  else
    EXPECT_EQ(got.azimuth_deg, want.azimuth_deg) << i;
  EXPECT_EQ(got.depression_deg, want.depression_deg) << i;
  EXPECT_EQ(got.target_type, want.target_type) << i;
  EXPECT_EQ(got.serial, want.serial) << i;
  EXPECT_EQ(got.polarisation, want.polarisation) << i;
}

// Checks chips [first, first+count) against the generator.
void expect_block(const ArchiveReader& r, std::int64_t first, std::int64_t count, Transfer t) {
  const bool phase = r.layout().has_phase;
  std::vector<float> mag(static_cast<std::size_t>(count * kPixels), -1.f), ph(mag.size(), -1.f);
  r.read_chips(first, count, mag.data(), phase ? ph.data() : nullptr, t);
  const auto labels = r.labels(first, count, t);
  const auto valid = r.valid(first, count, t);
  const auto meta = r.meta(first, count, t);
  ASSERT_EQ(labels.size(), static_cast<std::size_t>(count));
  ASSERT_EQ(meta.size(), static_cast<std::size_t>(count));
  int bad_pixels = 0;
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t i = first + k;
    for (int p = 0; p < kPixels; ++p) {
      const std::size_t at = static_cast<std::size_t>(k * kPixels + p);
      bad_pixels += mag[at] != magnitude_of(i, p);
      if (phase) bad_pixels += ph[at] != phase_of(i, p);
    }
    EXPECT_EQ(labels[static_cast<std::size_t>(k)], label_of(i)) << i;
    EXPECT_EQ(valid[static_cast<std::size_t>(k)], valid_of(i)) << i;
    expect_chip_meta(meta[static_cast<std::size_t>(k)], i);
  }
  EXPECT_EQ(bad_pixels, 0);
}

void expect_tables_and_attributes(const ArchiveReader& r) {
  EXPECT_EQ(r.sources(), test_sources());
  const auto all = test_sources();
  EXPECT_EQ(r.sources(3, 2), std::vector<SourceRecord>(all.begin() + 3, all.begin() + 5));
  EXPECT_EQ(r.rejects(), test_rejects());
  EXPECT_EQ(r.layout().class_names, test_layout(0, false).class_names);
  EXPECT_EQ(r.attribute("command_line"), "sarscale ingest --in /data/mstar --out x.h5");
  EXPECT_EQ(r.attribute("param.chip_size"), "6x5 (replaced)");
  EXPECT_EQ(r.attribute("param.long"), std::string(100000, 'L'));
  EXPECT_EQ(r.attribute("format"), kArchiveFormatName);
  EXPECT_EQ(r.attribute("format_version"), "1");  // one band per chip: the layout of version 1
  EXPECT_EQ(r.attribute("complete"), "1");
  EXPECT_FALSE(r.attribute("sarscale_version").empty());
  EXPECT_THROW(r.attribute("no_such_attribute"), sarscale::InputError);
  const std::map<std::string, std::string> prov{{"host", "cluster-a"}, {"input_digest", "0123abcd"}};
  EXPECT_EQ(r.provenance(), prov);
  EXPECT_EQ(r.format_version(), 1);
}

template <typename Fn>
std::string input_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const sarscale::InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "no exception";
}

// Raw bytes of one dataset read in its own file type, with its shape and type.
std::vector<char> raw_dataset(hid_t file, const char* name, std::vector<hsize_t>& dims, hid_t& type_out) {
  const hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  EXPECT_GE(d, 0) << name;
  const hid_t type = H5Dget_type(d);
  const hid_t space = H5Dget_space(d);
  dims.assign(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)), 0);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  std::vector<char> bytes(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)) * H5Tget_size(type) + 1);
  EXPECT_GE(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()), 0) << name;
  type_out = type;
  H5Sclose(space);
  H5Dclose(d);
  return bytes;
}

// Sets an attribute of a closed archive with raw serial HDF5 (used to fake damage).
void raw_edit(const std::filesystem::path& path, const std::function<void(hid_t)>& edit) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  edit(f);
  H5Fclose(f);
}

}  // namespace

TEST(Archive, CollectiveWriteAndReadBackEveryValue) {
  const Comm c(MPI_COMM_WORLD);
  const auto dir = shared_scratch(c, "roundtrip");
  const std::int64_t n = 37;
  write_test_archive(dir / "a.h5", c.raw(), n, true);

  const ArchiveReader r = ArchiveReader::open(dir / "a.h5", c.raw());
  EXPECT_EQ(r.layout().chips, n);
  EXPECT_EQ(r.layout().rows, kRows);
  EXPECT_EQ(r.layout().cols, kCols);
  EXPECT_TRUE(r.layout().has_phase);
  EXPECT_EQ(r.layout().meta_text_width, 32);
  EXPECT_EQ(r.chunk_chips(), n);  // a 120-byte chip: the whole dataset fits one ~4 MiB chunk
  // Every rank reads everything independently ...
  expect_block(r, 0, n, Transfer::independent);
  expect_tables_and_attributes(r);
  // ... and then a different partition than the writers' collectively, with an empty rank.
  const std::int64_t begin = n * c.rank() / (c.size() + 1), end = n * (c.rank() + 1) / (c.size() + 1);
  expect_block(r, begin, end - begin, Transfer::collective);
  expect_block(r, c.rank() == 0 ? 0 : n, c.rank() == 0 ? n : 0, Transfer::collective);
  EXPECT_EQ(r.sources(Transfer::collective), test_sources());

  // Phase requested by some ranks only, in a collective read.
  std::vector<float> mag(kPixels), ph(kPixels, -1.f);
  r.read_chips(c.rank() % n, 1, mag.data(), c.rank() % 2 ? ph.data() : nullptr, Transfer::collective);
  EXPECT_EQ(mag[7], magnitude_of(c.rank() % n, 7));
  EXPECT_EQ(ph[7], c.rank() % 2 ? phase_of(c.rank() % n, 7) : -1.f);

  // Independent reads by rank 0 alone (as `sarscale info` does) must not need the others.
  if (c.is_root()) {
    EXPECT_EQ(r.labels(n - 1, 1, Transfer::independent).at(0), label_of(n - 1));
    EXPECT_EQ(r.rejects().size(), 3u);
  }
  c.barrier();
}

TEST(Archive, SameDatasetsAtAnyRankCount) {
  const Comm c(MPI_COMM_WORLD);
  const auto dir = shared_scratch(c, "invariance");
  const std::int64_t n = 23;
  write_test_archive(dir / "p.h5", c.raw(), n, true);
  if (c.is_root()) write_test_archive(dir / "one.h5", MPI_COMM_SELF, n, true);
  c.barrier();
  if (c.is_root()) {
    const hid_t a = H5Fopen((dir / "p.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t b = H5Fopen((dir / "one.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    for (const char* name : {"/chips/magnitude", "/chips/phase", "/chips/label", "/chips/valid", "/chips/meta",
                             "/class_names", "/sources", "/rejects"}) {
      std::vector<hsize_t> da, db;
      hid_t ta = -1, tb = -1;
      const auto ba = raw_dataset(a, name, da, ta);
      const auto bb = raw_dataset(b, name, db, tb);
      EXPECT_EQ(da, db) << name;
      EXPECT_GT(H5Tequal(ta, tb), 0) << name;
      EXPECT_TRUE(ba == bb) << name << " differs between " << c.size() << " ranks and 1 rank";
      H5Tclose(ta);
      H5Tclose(tb);
    }
    // The comparison must be able to fail: the chip datasets really hold the data.
    std::vector<hsize_t> dims;
    hid_t t = -1;
    const auto bytes = raw_dataset(a, "/chips/magnitude", dims, t);
    H5Tclose(t);
    float v = 0;
    std::memcpy(&v, bytes.data() + (5 * kPixels + 3) * sizeof(float), sizeof v);
    EXPECT_EQ(v, magnitude_of(5, 3));
    H5Fclose(a);
    H5Fclose(b);
  }
  c.barrier();
}

TEST(Archive, WithoutPhaseHasNoPhaseDataset) {
  const Comm c(MPI_COMM_WORLD);
  const auto dir = shared_scratch(c, "nophase");
  write_test_archive(dir / "m.h5", c.raw(), 11, false);
  const ArchiveReader r = ArchiveReader::open(dir / "m.h5", c.raw());
  EXPECT_FALSE(r.layout().has_phase);
  expect_block(r, 0, 11, Transfer::collective);
  std::vector<float> mag(kPixels), ph(kPixels);
  EXPECT_THROW(r.read_chips(0, 1, mag.data(), ph.data(), Transfer::collective), sarscale::ConfigError);
  if (c.is_root()) {
    const hid_t f = H5Fopen((dir / "m.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    EXPECT_EQ(H5Lexists(f, "/chips/phase", H5P_DEFAULT), 0);
    EXPECT_GT(H5Lexists(f, "/chips/magnitude", H5P_DEFAULT), 0);
    H5Fclose(f);
  }
  c.barrier();
}

TEST(Archive, EmptyArchiveAndDefaultTables) {
  const Comm c(MPI_COMM_WORLD);
  const auto dir = shared_scratch(c, "empty");
  {
    ArchiveWriter w = ArchiveWriter::create(dir / "e.h5", c.raw(), test_layout(0, true));
    w.write_chips(0, 0, nullptr, nullptr, nullptr, nullptr, nullptr);
    w.invalidate({});  // what ingest does when every input was rejected
    w.close();
  }
  const ArchiveReader r = ArchiveReader::open(dir / "e.h5", c.raw());
  EXPECT_EQ(r.layout().chips, 0);
  EXPECT_EQ(r.layout().rows, kRows);
  EXPECT_EQ(r.source_count(), 0);
  EXPECT_TRUE(r.rejects().empty());
  EXPECT_TRUE(r.labels(0, 0).empty());
  EXPECT_TRUE(r.provenance().empty());
}

TEST(Archive, LongMetadataTextIsTruncatedOnCharacterBoundary) {
  const Comm c(MPI_COMM_WORLD);
  const auto dir = shared_scratch(c, "truncate");
  ArchiveLayout l = test_layout(static_cast<std::int64_t>(c.size()), false);
  l.meta_text_width = 8;
  {
    ArchiveWriter w = ArchiveWriter::create(dir / "t.h5", c.raw(), l);
    std::vector<float> mag(kPixels, 1.f);
    ChipMeta m;
    m.serial = "ABCDEFGHIJ";
    m.target_type = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";  // five 2-byte characters
    m.polarisation = "VV";
    const std::int32_t label = 2;
    w.write_chips(c.rank(), 1, mag.data(), nullptr, &label, &m, nullptr);
    w.close();
  }
  const ArchiveReader r = ArchiveReader::open(dir / "t.h5", c.raw());
  EXPECT_EQ(r.layout().meta_text_width, 8);
  const auto meta = r.meta(c.rank(), 1);
  EXPECT_EQ(meta.at(0).serial, "ABCDEFGH");
  EXPECT_EQ(meta.at(0).target_type, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
  EXPECT_EQ(meta.at(0).polarisation, "VV");
  EXPECT_EQ(r.valid(c.rank(), 1).at(0), 1);  // a null valid pointer means all valid
}

TEST(Archive, RefusesFilesThatAreNotCompleteArchives) {
  const Comm c(MPI_COMM_WORLD);
  const auto dir = shared_scratch(c, "refuse");
  const auto open = [&](const std::filesystem::path& p) {
    return input_error_of([&] { ArchiveReader::open(p, c.raw()); });
  };

  EXPECT_NE(open(dir / "missing.h5").find("no such file"), std::string::npos) << open(dir / "missing.h5");

  if (c.is_root()) std::ofstream(dir / "text.h5") << "this is not HDF5\n";
  c.barrier();
  EXPECT_NE(open(dir / "text.h5").find("not an HDF5 file"), std::string::npos) << open(dir / "text.h5");

  // Abandoned writer (e.g. an exception during ingest): closed without the complete flag.
  {
    ArchiveWriter w = ArchiveWriter::create(dir / "half.h5", c.raw(), test_layout(4, true));
    const auto [begin, end] = write_share(c, 4);
    write_all_chips(w, c, begin, end, true);
  }
  EXPECT_NE(open(dir / "half.h5").find("incomplete"), std::string::npos) << open(dir / "half.h5");

  // close() refuses to mark an archive whose slots were not all written.
  {
    ArchiveWriter w = ArchiveWriter::create(dir / "gaps.h5", c.raw(), test_layout(10, false));
    const auto [begin, end] = write_share(c, 6);
    write_all_chips(w, c, begin, end, false);
    EXPECT_THROW(w.close(), sarscale::IoError);
  }
  EXPECT_NE(open(dir / "gaps.h5").find("incomplete"), std::string::npos);

  write_test_archive(dir / "good.h5", c.raw(), 9, true);
  if (c.is_root()) {
    // An HDF5 file that is not an archive.
    const hid_t f = H5Fcreate((dir / "other.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    // A newer format version.
    std::filesystem::copy_file(dir / "good.h5", dir / "newer.h5");
    raw_edit(dir / "newer.h5", [](hid_t file) {
      const std::int64_t v = 99;
      const hid_t a = H5Aopen(file, "format_version", H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_INT64, &v);
      H5Aclose(a);
    });
    // A complete archive whose flag was removed.
    std::filesystem::copy_file(dir / "good.h5", dir / "noflag.h5");
    raw_edit(dir / "noflag.h5", [](hid_t file) { H5Adelete(file, "complete"); });
    // A truncated copy (a transfer that stopped half-way).
    std::filesystem::copy_file(dir / "good.h5", dir / "cut.h5");
    std::filesystem::resize_file(dir / "cut.h5", std::filesystem::file_size(dir / "good.h5") / 2);
  }
  c.barrier();
  EXPECT_NE(open(dir / "other.h5").find("not a sarscale archive"), std::string::npos) << open(dir / "other.h5");
  EXPECT_NE(open(dir / "newer.h5").find("format version 99"), std::string::npos) << open(dir / "newer.h5");
  EXPECT_NE(open(dir / "noflag.h5").find("incomplete"), std::string::npos) << open(dir / "noflag.h5");
  EXPECT_NE(open(dir / "cut.h5").find("truncated"), std::string::npos) << open(dir / "cut.h5");
  EXPECT_EQ(open(dir / "good.h5"), "no exception");
}

TEST(Archive, MisuseThrowsOnEveryRankWithoutHanging) {
  const Comm c(MPI_COMM_WORLD);
  const auto dir = shared_scratch(c, "misuse");
  ArchiveLayout bad = test_layout(4, false);
  bad.rows = 0;
  EXPECT_THROW(ArchiveWriter::create(dir / "bad.h5", c.raw(), bad), sarscale::ConfigError);
  ArchiveLayout differs = test_layout(4 + (c.size() > 1 ? c.rank() : 0), false);
  if (c.size() > 1) {
    EXPECT_THROW(ArchiveWriter::create(dir / "differs.h5", c.raw(), differs), sarscale::ConfigError);
  }

  ArchiveWriter w = ArchiveWriter::create(dir / "w.h5", c.raw(), test_layout(4, false));
  std::vector<float> mag(kPixels);
  std::vector<std::int32_t> label(1);
  std::vector<ChipMeta> meta(1);
  // Only the last rank passes an out-of-range block; every rank must throw.
  const std::int64_t first = c.rank() == c.size() - 1 ? 4 : 0;
  EXPECT_THROW(w.write_chips(first, 1, mag.data(), nullptr, label.data(), meta.data(), nullptr), sarscale::ConfigError);
  EXPECT_THROW(w.write_chips(0, 1, mag.data(), mag.data(), label.data(), meta.data(), nullptr), sarscale::ConfigError)
      << "phase given to a layout without phase";
  EXPECT_THROW(w.set_attribute("complete", "1"), sarscale::ConfigError);
  if (c.size() > 1) {
    EXPECT_THROW(w.set_attribute("command_line", "rank " + std::to_string(c.rank())), sarscale::ConfigError);
  }
  std::vector<SourceRecord> sources = test_sources();
  if (c.size() > 1) {
    sources[0].bytes += c.rank();
    EXPECT_THROW(w.write_sources(sources), sarscale::ConfigError);
  }
  w.write_sources(test_sources());
  EXPECT_THROW(w.write_sources(test_sources()), sarscale::ConfigError);

  w.write_chips(0, c.is_root() ? 4 : 0, std::vector<float>(4 * kPixels).data(), nullptr,
                std::vector<std::int32_t>(4).data(), std::vector<ChipMeta>(4).data(), nullptr);
  w.close();
  const ArchiveReader r = ArchiveReader::open(dir / "w.h5", c.raw());
  EXPECT_THROW(r.labels(c.rank() == 0 ? 3 : 0, 2, Transfer::collective), sarscale::ConfigError);
  EXPECT_EQ(r.labels(0, 4, Transfer::collective), std::vector<std::int32_t>(4, 0));
}

TEST(Archive, LargeSourceTableWithOneLongPath) {
  const Comm c(MPI_COMM_WORLD);
  const auto dir = shared_scratch(c, "bigtable");
  // 60,000 sources (many table chunks, spread over the ranks) whose path column is padded
  // to one 3,000-byte path: compression must keep the padded column small.
  std::vector<SourceRecord> sources;
  for (int k = 0; k < 60000; ++k)
    sources.push_back({"/archive/run" + std::to_string(k % 97) + "/scene_" + std::to_string(k) + ".tif", "GTiff",
                       k % 2 ? "sigma0" : "", 4096 + k, k, 1});
  sources[31234].path = "/" + std::string(2999, 'p');
  {
    ArchiveWriter w = ArchiveWriter::create(dir / "big.h5", c.raw(), test_layout(0, false));
    w.write_sources(sources);
    w.close();
  }
  const ArchiveReader r = ArchiveReader::open(dir / "big.h5", c.raw());
  ASSERT_EQ(r.source_count(), 60000);
  EXPECT_TRUE(r.sources() == sources);
  const std::int64_t share = 60000 / c.size();
  const auto mine = r.sources(share * c.rank(), c.rank() == 0 ? share : 0, Transfer::collective);
  EXPECT_TRUE(std::equal(mine.begin(), mine.end(), sources.begin() + share * c.rank()));
  if (c.is_root()) {
    const hid_t f = H5Fopen((dir / "big.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "/sources", H5P_DEFAULT);
    const hid_t t = H5Dget_type(d);
    const double padded = 60000.0 * static_cast<double>(H5Tget_size(t));
    EXPECT_GT(padded, 60000.0 * 3000);
    EXPECT_LT(static_cast<double>(H5Dget_storage_size(d)), padded / 20) << "the sources table is not compressed";
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
  }
  c.barrier();
}

TEST(Archive, InvalidateMarksSlotsOfEveryRank) {
  const Comm c(MPI_COMM_WORLD);
  const auto dir = shared_scratch(c, "invalidate");
  const std::int64_t n = 40;
  {
    ArchiveWriter w = ArchiveWriter::create(dir / "v.h5", c.raw(), test_layout(n, false));
    const auto [begin, end] = write_share(c, n);
    write_all_chips(w, c, begin, end, false);
    // Rank r invalidates [3r, 3r+2) and [20+r, 22+r) (overlapping its neighbours'); the
    // last rank passes nothing.
    std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
    if (c.size() == 1 || c.rank() != c.size() - 1) ranges = {{3 * c.rank(), 2}, {20 + c.rank(), 2}, {0, 0}};
    w.invalidate(ranges);
    w.close();
  }
  std::vector<bool> expect_invalid(static_cast<std::size_t>(n), false);
  for (int r = 0; r < c.size(); ++r) {
    if (c.size() > 1 && r == c.size() - 1) continue;
    for (std::int64_t i : {3 * r, 3 * r + 1, 20 + r, 21 + r}) expect_invalid[static_cast<std::size_t>(i)] = true;
  }
  const ArchiveReader r = ArchiveReader::open(dir / "v.h5", c.raw());
  const auto valid = r.valid(0, n);
  for (std::int64_t i = 0; i < n; ++i)
    EXPECT_EQ(valid[static_cast<std::size_t>(i)], expect_invalid[static_cast<std::size_t>(i)] ? 0 : valid_of(i)) << i;
  expect_chip_meta(r.meta(21, 1).at(0), 21);  // only the flag changes
}
