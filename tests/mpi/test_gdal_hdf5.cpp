// Debian's GDAL links the serial HDF5 while sarscale writes through the parallel one: both
// libraries load into one process. This checks that the parallel build wins symbol resolution
// and that GDAL reads and collective HDF5 writes work together in one MPI job.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include "mpi_test_support.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "sarscale/io/raster_writer.hpp"

namespace fs = std::filesystem;
using namespace sarscale;

TEST(GdalAndParallelHdf5, ParallelLibraryResolvesHdf5Symbols) {
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&H5Fcreate), &info), 0);
  EXPECT_NE(std::string(info.dli_fname).find("openmpi"), std::string::npos)
      << "H5Fcreate resolved to " << info.dli_fname << ": the serial HDF5 came first in link order";
#ifndef H5_HAVE_PARALLEL
  FAIL() << "compiled against a serial HDF5 (H5_HAVE_PARALLEL unset)";
#endif
}

TEST(GdalAndParallelHdf5, GeoTiffWindowsReadByGdalRoundTripThroughACollectiveArchive) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const fs::path dir = sarscale::test::shared_scratch_dir(comm, "gdal_hdf5");
  const fs::path tif = dir / "ramp.tif", h5 = dir / "tiles.h5";
  constexpr int kRows = 96, kCols = 80, kTile = 16;
  auto value = [](int r, int c) { return static_cast<float>(r * 1000 + c) * 0.5f; };
  if (comm.is_root()) {
    io::RasterWriter w(tif, kRows, kCols);
    std::vector<float> rows(static_cast<std::size_t>(kRows) * kCols);
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kCols; ++c) rows[static_cast<std::size_t>(r) * kCols + c] = value(r, c);
    w.write_rows(0, kRows, rows.data());
    w.close();
  }
  comm.barrier();

  // Every rank reads its share of 16x16 tiles through GDAL and writes them collectively.
  const int grid_r = kRows / kTile, grid_c = kCols / kTile, tiles = grid_r * grid_c;
  io::ArchiveLayout layout;
  layout.chips = tiles;
  layout.rows = layout.cols = kTile;
  {
    io::ArchiveWriter writer = io::ArchiveWriter::create(h5, comm.raw(), layout);
    const dist::Range mine = dist::block_range(static_cast<std::size_t>(tiles), comm.size(), comm.rank());
    const io::GdalRaster raster = io::GdalRaster::open(tif);
    std::vector<float> mags;
    std::vector<std::int32_t> labels;
    std::vector<ChipMeta> meta;
    Image tile;
    for (std::size_t t = mine.begin; t < mine.end; ++t) {
      const int r0 = static_cast<int>(t) / grid_c * kTile, c0 = static_cast<int>(t) % grid_c * kTile;
      raster.read_window(r0, c0, kTile, kTile, tile);
      mags.insert(mags.end(), tile.magnitude.begin(), tile.magnitude.end());
      labels.push_back(static_cast<std::int32_t>(t % 3));
      ChipMeta m;
      m.tile_row = r0;
      m.tile_col = c0;
      meta.push_back(m);
    }
    writer.write_chips(static_cast<std::int64_t>(mine.begin), static_cast<std::int64_t>(mine.size()), mags.data(),
                       nullptr, labels.data(), meta.data(), nullptr);
    writer.close();
  }

  const io::ArchiveReader reader = io::ArchiveReader::open(h5, comm.raw());
  std::vector<float> all(static_cast<std::size_t>(tiles) * kTile * kTile);
  reader.read_chips(0, tiles, all.data(), nullptr);
  const auto meta = reader.meta(0, tiles);
  for (int t = 0; t < tiles; ++t) {
    const auto& m = meta[static_cast<std::size_t>(t)];
    for (int i = 0; i < kTile; ++i)
      for (int j = 0; j < kTile; ++j)
        ASSERT_EQ(all[(static_cast<std::size_t>(t) * kTile + i) * kTile + j], value(m.tile_row + i, m.tile_col + j))
            << "tile " << t;
  }
}

TEST(GdalAndParallelHdf5, RealSentinel1SceneThroughGdalIntoTheArchive) {
  SARSCALE_REQUIRE_SHARED(tif, "data/scenes/sentinel1-geotiff/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif");
  const dist::Comm comm(MPI_COMM_WORLD);
  const io::GdalRaster raster = io::GdalRaster::open(tif);
  ASSERT_EQ(raster.rows(), 217);
  ASSERT_EQ(raster.cols(), 268);
  // Rank r writes rows r, r+P, ... as 1 x 268 "chips"; the archive must hold the scene exactly.
  const fs::path h5 = sarscale::test::shared_scratch_dir(comm, "s1_rows") / "rows.h5";
  io::ArchiveLayout layout;
  layout.chips = raster.rows();
  layout.rows = 1;
  layout.cols = raster.cols();
  {
    io::ArchiveWriter writer = io::ArchiveWriter::create(h5, comm.raw(), layout);
    const dist::Range mine = dist::block_range(static_cast<std::size_t>(raster.rows()), comm.size(), comm.rank());
    Image block;
    if (!mine.empty())
      raster.read_window(static_cast<int>(mine.begin), 0, static_cast<int>(mine.size()), raster.cols(), block);
    std::vector<std::int32_t> labels(mine.size(), -1);
    std::vector<ChipMeta> meta(mine.size());
    writer.write_chips(static_cast<std::int64_t>(mine.begin), static_cast<std::int64_t>(mine.size()),
                       block.magnitude.data(), nullptr, labels.data(), meta.data(), nullptr);
    writer.close();
  }
  const io::ArchiveReader reader = io::ArchiveReader::open(h5, comm.raw());
  std::vector<float> scene(static_cast<std::size_t>(raster.rows()) * raster.cols());
  reader.read_chips(0, raster.rows(), scene.data(), nullptr);
  double lo = 1e9, hi = -1e9, sum = 0;
  for (float v : scene) {
    lo = std::min<double>(lo, v);
    hi = std::max<double>(hi, v);
    sum += v;
  }
  // The values ../shared/README.md states for this scene.
  EXPECT_NEAR(lo, -26.65, 0.01);
  EXPECT_NEAR(hi, 1.43, 0.01);
  EXPECT_NEAR(sum / static_cast<double>(scene.size()), -12.12, 0.01);
}
