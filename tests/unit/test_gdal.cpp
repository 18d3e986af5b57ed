// GdalRaster and the raster writers, on the real products in ../shared and on scratch files.
#include <cpl_error.h>
#include <gdal.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdio>
#include <fstream>
#include <limits>
#include <numbers>
#include <optional>
#include <thread>

#include "sarscale/core/error.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "sarscale/io/raster_writer.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::ConfigError;
using sarscale::Image;
using sarscale::InputError;
using sarscale::IoError;
using namespace sarscale::io;

namespace {

constexpr const char* kSentinel1 =
    "data/scenes/sentinel1-geotiff/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif";
constexpr double kTwoPi = 2.0 * std::numbers::pi;

// Redirects this process's stderr into a file for the scope, to prove GDAL stays quiet.
class StderrCapture {
 public:
  explicit StderrCapture(const fs::path& file) : file_(file) {
    std::fflush(stderr);
    saved_ = dup(2);
    std::FILE* f = std::fopen(file.c_str(), "w");
    dup2(fileno(f), 2);
    std::fclose(f);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::ifstream in(file_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  fs::path file_;
  int saved_ = -1;
};

// The InputError message of validate(), or "" when it passes; also checks the time bound.
std::string validate_message(const fs::path& path, double max_seconds = 10.0) {
  const auto start = std::chrono::steady_clock::now();
  std::string message;
  try {
    GdalRaster::open(path).validate();
  } catch (const InputError& e) {
    message = e.what();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, max_seconds) << path;
  return message;
}

// The raw bands through GDAL's own API, independently of GdalRaster.
std::vector<float> gdal_band_as_float(const fs::path& path, int band) {
  GDALAllRegister();
  CPLPushErrorHandler(CPLQuietErrorHandler);
  GDALDatasetH h = GDALOpen(path.c_str(), GA_ReadOnly);
  CPLPopErrorHandler();
  EXPECT_NE(h, nullptr);
  const int cols = GDALGetRasterXSize(h), rows = GDALGetRasterYSize(h);
  std::vector<float> v(static_cast<std::size_t>(rows) * cols);
  EXPECT_EQ(
      GDALRasterIO(GDALGetRasterBand(h, band), GF_Read, 0, 0, cols, rows, v.data(), cols, rows, GDT_Float32, 0, 0),
      CE_None);
  GDALClose(h);
  return v;
}

}  // namespace

TEST(Calibration, ParsesAndPrintsEveryName) {
  for (auto c : {Calibration::none, Calibration::sigma0, Calibration::beta0, Calibration::gamma0})
    EXPECT_EQ(parse_calibration(to_string(c)), c);
  EXPECT_EQ(parse_calibration("SIGMA0"), Calibration::sigma0);
  EXPECT_THROW(parse_calibration("sigma"), ConfigError);
  EXPECT_THROW(parse_calibration(""), ConfigError);
}

TEST(GdalRaster, Sentinel1GeoTiffStatisticsFromWindows) {
  SARSCALE_REQUIRE_SHARED(path, kSentinel1);
  const auto r = GdalRaster::open(path);
  EXPECT_EQ(r.rows(), 217);
  EXPECT_EQ(r.cols(), 268);
  EXPECT_EQ(r.bands(), 1);
  EXPECT_FALSE(r.is_complex());
  EXPECT_EQ(r.driver(), "GTiff");
  EXPECT_EQ(r.data_type(), "Float32");
  EXPECT_EQ(r.polarisation(), "VV");  // from the file name
  EXPECT_EQ(r.calibration_applied(), "none");
  ASSERT_TRUE(r.nodata().has_value());
  EXPECT_EQ(*r.nodata(), -99.0);
  EXPECT_NO_THROW(r.validate());

  // 50x70 windows (ragged at the right and bottom edges), combined.
  double sum = 0, lo = std::numeric_limits<double>::max(), hi = -lo;
  std::size_t count = 0;
  Image w;
  for (int r0 = 0; r0 < r.rows(); r0 += 50)
    for (int c0 = 0; c0 < r.cols(); c0 += 70) {
      const int nr = std::min(50, r.rows() - r0), nc = std::min(70, r.cols() - c0);
      r.read_window(r0, c0, nr, nc, w);
      ASSERT_EQ(w.magnitude.size(), static_cast<std::size_t>(nr) * nc);
      EXPECT_FALSE(w.has_phase());
      for (float v : w.magnitude) {
        ASSERT_NE(v, -99.0f);  // no nodata pixels in this scene
        sum += v;
        lo = std::min(lo, static_cast<double>(v));
        hi = std::max(hi, static_cast<double>(v));
        ++count;
      }
    }
  EXPECT_EQ(count, 217u * 268u);
  EXPECT_NEAR(lo, -26.654710769653, 1e-5);
  EXPECT_NEAR(hi, 1.4325850009918, 1e-5);
  EXPECT_NEAR(sum / count, -12.12492953445, 1e-4);
}

TEST(GdalRaster, Sentinel1GeoTiffGeoreferencing) {
  SARSCALE_REQUIRE_SHARED(path, kSentinel1);
  const auto r = GdalRaster::open(path);
  ASSERT_TRUE(r.has_geotransform());
  const auto gt = r.geotransform();
  EXPECT_NEAR(gt[0], 620048.241204, 1e-6);  // gdalinfo: Origin, Pixel Size
  EXPECT_NEAR(gt[1], 20.0, 1e-12);
  EXPECT_EQ(gt[2], 0.0);
  EXPECT_NEAR(gt[3], 4830114.70107, 1e-6);
  EXPECT_EQ(gt[4], 0.0);
  EXPECT_NEAR(gt[5], -20.0, 1e-12);
  const std::string wkt = r.projection_wkt();
  EXPECT_NE(wkt.find("32631"), std::string::npos) << wkt;
  EXPECT_NE(wkt.find("UTM zone 31N"), std::string::npos);
  ASSERT_TRUE(r.georef().has_value());
  EXPECT_EQ(r.georef()->geotransform, gt);
}

TEST(GdalRaster, ReadWindowAtEdgesAndOutside) {
  SARSCALE_REQUIRE_SHARED(path, kSentinel1);
  const auto r = GdalRaster::open(path);
  Image whole, corner, first;
  r.read_window(0, 0, r.rows(), r.cols(), whole);
  r.read_window(r.rows() - 7, r.cols() - 9, 7, 9, corner);
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 9; ++j)
      ASSERT_EQ(corner.magnitude[static_cast<std::size_t>(i) * 9 + j],
                whole.magnitude[static_cast<std::size_t>(r.rows() - 7 + i) * r.cols() + (r.cols() - 9 + j)]);
  r.read_window(0, 0, 1, 1, first);
  EXPECT_EQ(first.magnitude[0], whole.magnitude[0]);
  EXPECT_THROW(r.read_window(r.rows() - 7, 0, 8, 1, corner), std::out_of_range);
  EXPECT_THROW(r.read_window(0, r.cols(), 1, 1, corner), std::out_of_range);
  EXPECT_THROW(r.read_window(-1, 0, 1, 1, corner), std::out_of_range);
  EXPECT_THROW(r.read_window(0, 0, 0, 1, corner), std::out_of_range);
  EXPECT_THROW(r.read_window(0, 0, 1, 1, corner, 2), std::out_of_range);
}

TEST(GdalRaster, SicdComplexMagnitudeAndPhase) {
  SARSCALE_REQUIRE_SHARED(path, "data/scenes/sicd/sar_sicd.ntf");
  const auto r = GdalRaster::open(path);
  EXPECT_EQ(r.driver(), "NITF");
  EXPECT_EQ(r.rows(), 5);
  EXPECT_EQ(r.cols(), 10);
  EXPECT_TRUE(r.is_complex());
  EXPECT_EQ(r.bands(), 1);            // the I/Q pair is one complex band
  EXPECT_EQ(r.polarisation(), "HH");  // NITF title ..._HH_...
  Image img;
  r.read_window(0, 0, 5, 10, img);
  ASSERT_TRUE(img.has_phase());
  const auto in_phase = gdal_band_as_float(path, 1), quadrature = gdal_band_as_float(path, 2);
  EXPECT_FLOAT_EQ(in_phase[0], -2225.9892578125f);  // gdallocationinfo sar_sicd.ntf 0 0
  EXPECT_FLOAT_EQ(quadrature[0], -2656.76904296875f);
  for (std::size_t k = 0; k < img.pixels(); ++k) {
    const double i = in_phase[k], q = quadrature[k];
    EXPECT_NEAR(img.magnitude[k], std::hypot(i, q), 1e-6 * std::hypot(i, q));
    EXPECT_GE(img.phase[k], 0.0f);
    EXPECT_LT(img.phase[k], static_cast<float>(kTwoPi));
    EXPECT_NEAR(img.magnitude[k] * std::cos(img.phase[k]), i, 1e-3 * std::hypot(i, q));
    EXPECT_NEAR(img.magnitude[k] * std::sin(img.phase[k]), q, 1e-3 * std::hypot(i, q));
  }
  // Pixel 0 is in the third quadrant: phase in (pi, 3pi/2).
  EXPECT_GT(img.phase[0], std::numbers::pi);
  EXPECT_LT(img.phase[0], 1.5 * std::numbers::pi);
  EXPECT_NO_THROW(r.validate());
}

TEST(GdalRaster, SafeOpensThroughItsDirectoryAndHasNoCalibration) {
  SARSCALE_REQUIRE_SHARED(path, "data/scenes/safe/test.SAFE");
  const auto r = GdalRaster::open(path);
  EXPECT_EQ(r.driver(), "SAFE");
  EXPECT_EQ(r.rows(), 167);
  EXPECT_EQ(r.cols(), 256);
  EXPECT_EQ(r.bands(), 2);
  EXPECT_EQ(r.data_type(), "UInt16");
  EXPECT_EQ(r.polarisation(1), "VH");
  EXPECT_EQ(r.polarisation(2), "VV");
  EXPECT_EQ(r.gdal_name(), (path / "manifest.safe").string());
  const auto facts = r.sar_facts();
  EXPECT_EQ(facts.at("mission"), "S1A");
  EXPECT_EQ(facts.at("product_type"), "GRD");
  EXPECT_EQ(facts.at("orbit_direction"), "DESCENDING");
  EXPECT_EQ(facts.at("acquisition_start"), "2015-07-05T06:42:41.504840");
  EXPECT_NO_THROW(r.validate());
  Image img;
  r.read_window(160, 250, 7, 6, img, 2);
  EXPECT_EQ(img.magnitude, std::vector<float>(42, 50.0f));  // the cut-down TIFFs hold 50 everywhere
  // Only UNCALIB subdatasets: the calibration XMLs of this test product are empty.
  const auto subs = r.subdatasets();
  ASSERT_EQ(subs.size(), 3u);
  EXPECT_EQ(subs[0].rfind("SENTINEL1_CALIB:UNCALIB:", 0), 0u);
  try {
    GdalRaster::open(path, Calibration::sigma0);
    FAIL() << "sigma0 on a product without calibration LUTs must be an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("product carries no calibration"), std::string::npos) << e.what();
  }
}

TEST(GdalRaster, Radarsat2OpensAndCalibratesThroughItsLuts) {
  SARSCALE_REQUIRE_SHARED(dir, "data/scenes/rs2");
  const auto r = GdalRaster::open(dir / "product.xml");
  EXPECT_EQ(r.driver(), "RS2");
  EXPECT_EQ(r.rows(), 20);
  EXPECT_EQ(r.cols(), 20);
  EXPECT_EQ(r.bands(), 2);
  EXPECT_EQ(r.polarisation(1), "HH");
  EXPECT_EQ(r.polarisation(2), "HV");
  EXPECT_EQ(r.sar_facts().at("incidence_near_deg"), "10");
  Image dn, sigma;
  r.read_window(0, 0, 20, 20, dn);
  EXPECT_EQ(dn.magnitude[0], 107.0f);  // gdal_translate of byte_scanline.tif
  EXPECT_EQ(*std::min_element(dn.magnitude.begin(), dn.magnitude.end()), 74.0f);

  const auto calibrated = GdalRaster::open(dir, Calibration::sigma0);  // the directory works too
  EXPECT_EQ(calibrated.calibration_applied(), "sigma0");
  EXPECT_EQ(calibrated.gdal_name().rfind("RADARSAT_2_CALIB:SIGMA0:", 0), 0u);
  EXPECT_EQ(calibrated.data_type(), "Float32");
  calibrated.read_window(0, 0, 20, 20, sigma);
  for (std::size_t k = 0; k < dn.pixels(); ++k)
    ASSERT_EQ(sigma.magnitude[k], dn.magnitude[k] * dn.magnitude[k]);  // gain 1, offset 0
}

TEST(GdalRaster, TruncatedAndHeaderOnlyProductsAreRejectedQuietly) {
  SARSCALE_REQUIRE_SHARED(scenes, "data/scenes");
  const fs::path scratch = sarscale::test::scratch_dir("gdal-truncated");
  StderrCapture quiet(scratch / "stderr.txt");

  const std::string ottawa = validate_message(scenes / "sar-ceos/ottawa_patch.img");
  const std::string radarsat = validate_message(scenes / "sar-ceos/R1_26161_FN1_F164.D");
  fs::path envisat;
  for (const auto& e : fs::directory_iterator(scenes / "envisat-header-only")) envisat = e.path();
  const std::string header_only = validate_message(envisat);
  const std::string leaked = quiet.text();

  EXPECT_NE(ottawa.find("SAR_CEOS declares 1790x1827 UInt16 but the data end at row 4"), std::string::npos) << ottawa;
  EXPECT_NE(ottawa.find("truncated product"), std::string::npos) << ottawa;
  EXPECT_NE(ottawa.find("ottawa_patch.img"), std::string::npos) << ottawa;
  EXPECT_NE(radarsat.find("SAR_CEOS declares 8192x8192 Byte but the data end at row 3"), std::string::npos) << radarsat;
  EXPECT_NE(radarsat.find("Failed to read scanline 3"), std::string::npos) << radarsat;  // GDAL's own words
  EXPECT_NE(header_only.find("ESAT declares 5177x30308 CInt16 but holds no image data"), std::string::npos)
      << header_only;
  EXPECT_EQ(leaked, "") << "GDAL wrote to stderr";
}

TEST(GdalRaster, OpenSarShipPatchHasTwoFloatBands) {
  SARSCALE_REQUIRE_SHARED(path,
                          "data/opensarship/S1A_IW_GRDH_1SDV_20150902T102505_20150902T102534_007535_00A699_2D00/"
                          "Cargo_x1446_y3299.tif");
  const fs::path scratch = sarscale::test::scratch_dir("gdal-opensarship");
  std::optional<GdalRaster> opened;
  {
    StderrCapture quiet(scratch / "stderr.txt");
    opened.emplace(GdalRaster::open(path));  // the ExtraSamples warning is logged at debug level only
    EXPECT_EQ(quiet.text(), "");
  }
  const GdalRaster& r = *opened;
  EXPECT_EQ(r.bands(), 2);
  EXPECT_EQ(r.rows(), 73);
  EXPECT_EQ(r.cols(), 73);
  EXPECT_EQ(r.data_type(), "Float32");
  EXPECT_FALSE(r.is_complex());
  Image b1, b2;
  r.read_window(0, 0, 73, 73, b1, 1);
  r.read_window(0, 0, 73, 73, b2, 2);
  EXPECT_NEAR(*std::max_element(b1.magnitude.begin(), b1.magnitude.end()), 0.823, 5e-4);  // gdalinfo -mm
  EXPECT_NEAR(*std::max_element(b2.magnitude.begin(), b2.magnitude.end()), 177.736, 5e-4);
  EXPECT_EQ(b2.magnitude, gdal_band_as_float(path, 2));
  EXPECT_NO_THROW(r.validate());
}

TEST(GdalRaster, MstarJpegChipReadsAsBytes) {
  SARSCALE_REQUIRE_SHARED(path, "data/mstar10-train/2S1/hb19377.jpeg");
  const auto r = GdalRaster::open(path);
  EXPECT_EQ(r.driver(), "JPEG");
  EXPECT_EQ(r.data_type(), "Byte");
  EXPECT_EQ(r.rows(), 158);
  EXPECT_EQ(r.cols(), 158);
  Image img;
  r.read_window(0, 0, r.rows(), r.cols(), img);
  float hi = 0;
  for (float v : img.magnitude) {
    ASSERT_EQ(v, std::round(v));
    ASSERT_GE(v, 0.0f);
    ASSERT_LE(v, 255.0f);
    hi = std::max(hi, v);
  }
  EXPECT_GT(hi, 100.0f);  // a target is in the middle
  EXPECT_EQ(img.magnitude, gdal_band_as_float(path, 1));
}

// Issue 12, item 3: a JPEG cut in half decodes with only a libjpeg *warning* ("Premature end of
// JPEG file") and zeros for the missing rows; that read must fail, and the probe must find it.
TEST(GdalRaster, JpegCutInHalfIsADamagedRead) {
  SARSCALE_REQUIRE_SHARED(path, "data/mstar10-train/2S1/hb19377.jpeg");
  const fs::path cut = sarscale::test::scratch_dir("gdal-cut-jpeg") / "cut.jpeg";
  {
    std::ifstream in(path, std::ios::binary);
    std::string bytes(1955, '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::ofstream(cut, std::ios::binary) << bytes;
  }
  const auto r = GdalRaster::open(cut);  // the header is whole: it opens
  Image img;
  try {
    r.read_window(0, 0, r.rows(), r.cols(), img);
    FAIL() << "a read of a cut JPEG passed";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("Premature end of JPEG file"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cut.jpeg"), std::string::npos) << e.what();
  }
  const std::string probe = validate_message(cut);
  EXPECT_NE(probe.find("Premature end of JPEG file"), std::string::npos) << probe;
  EXPECT_EQ(validate_message(path), "");  // the whole file is fine
}

// The allow-list of harmless warnings: libtiff's ExtraSamples note (OpenSARShip) passes, any
// other warning counts as damage.
TEST(GdalErrorCapture, OnlyAllowListedWarningsAreHarmless) {
  detail::GdalErrorCapture capture;
  capture.add(CE_Warning,
              "TIFFReadDirectory:Sum of Photometric type-related color channels and ExtraSamples doesn't match "
              "SamplesPerPixel. Defining non-color channels as ExtraSamples.");
  EXPECT_EQ(capture.damage_warnings(), "");
  capture.add(CE_Warning, "libjpeg: Premature end of JPEG file");
  EXPECT_EQ(capture.damage_warnings(), "libjpeg: Premature end of JPEG file");
  EXPECT_FALSE(capture.has_errors());
}

TEST(GdalRaster, NonRasterAndDirectoriesAreInputErrors) {
  const fs::path dir = sarscale::test::scratch_dir("gdal-nonraster");
  std::ofstream(dir / "notes.bin") << "\x01\x02 this is not a raster";
  try {
    GdalRaster::open(dir / "notes.bin");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("notes.bin: GDAL cannot open it"), std::string::npos) << e.what();
  }
  EXPECT_THROW(GdalRaster::open(dir), InputError);
  EXPECT_THROW(GdalRaster::open(dir / "absent.tif"), InputError);
}

TEST(GdalRaster, ConcurrentReadersKeepTheirErrorsApart) {
  SARSCALE_REQUIRE_SHARED(ceos, "data/scenes/sar-ceos/R1_26161_FN1_F164.D");
  SARSCALE_REQUIRE_SHARED(s1, kSentinel1);
  std::string truncated_error, clean_error = "not run";
  std::thread bad([&] {
    for (int i = 0; i < 5; ++i) truncated_error = validate_message(ceos);
  });
  std::thread good([&] {
    try {
      for (int i = 0; i < 20; ++i) {
        const auto r = GdalRaster::open(s1);
        r.validate();
        Image img;
        r.read_window(0, 0, r.rows(), r.cols(), img);
      }
      clean_error.clear();
    } catch (const std::exception& e) {
      clean_error = e.what();
    }
  });
  bad.join();
  good.join();
  EXPECT_EQ(clean_error, "");
  EXPECT_NE(truncated_error.find("truncated product"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Writers

TEST(RasterWriter, Float32TiledRoundTripInBlocksWithGeoref) {
  const fs::path dir = sarscale::test::scratch_dir("gdal-writer-float");
  const int rows = 300, cols = 270;
  std::vector<float> data(static_cast<std::size_t>(rows) * cols);
  for (std::size_t k = 0; k < data.size(); ++k) data[k] = std::sin(0.001f * static_cast<float>(k)) * 1e3f - 7.25f;
  const Georef georef{{620048.241204, 20, 0, 4830114.70107, 0, -20}, ""};
  {
    RasterWriterOptions options;
    options.compression = "DEFLATE";
    RasterWriter w(dir / "scene.tif", rows, cols, options);
    w.set_georef(georef);
    w.set_metadata({{"SARSCALE_SOURCE", "unit test"}, {"SARSCALE_ROWS", "300"}});
    w.set_band_description(1, "sigma0");
    for (int r0 = 0; r0 < rows; r0 += 128)  // blocks that do not align with the 256 tiles
      w.write_rows(r0, std::min(128, rows - r0), data.data() + static_cast<std::size_t>(r0) * cols);
    EXPECT_TRUE(fs::exists(dir / "scene.tif.part"));
    EXPECT_FALSE(fs::exists(dir / "scene.tif"));
    w.close();
  }
  EXPECT_FALSE(fs::exists(dir / "scene.tif.part"));
  EXPECT_FALSE(fs::exists(dir / "scene.tif.aux.xml"));
  const auto r = GdalRaster::open(dir / "scene.tif");
  EXPECT_EQ(r.rows(), rows);
  EXPECT_EQ(r.cols(), cols);
  EXPECT_EQ(r.block_size(), std::make_pair(256, 256));
  EXPECT_EQ(r.geotransform(), georef.geotransform);
  EXPECT_EQ(r.metadata().at("SARSCALE_SOURCE"), "unit test");
  Image back;
  r.read_window(0, 0, rows, cols, back);
  EXPECT_EQ(back.magnitude, data);
}

TEST(RasterWriter, CopiesGeorefFromASource) {
  SARSCALE_REQUIRE_SHARED(path, kSentinel1);
  const auto src = GdalRaster::open(path);
  Image img;
  src.read_window(0, 0, src.rows(), src.cols(), img);
  const fs::path out = sarscale::test::scratch_dir("gdal-writer-copy") / "copy.tif";
  RasterWriter w(out, src.rows(), src.cols(), {PixelType::float32, 1, false, ""});
  w.copy_georef(src);
  w.write_rows(0, src.rows(), img.magnitude.data());
  w.close();
  const auto back = GdalRaster::open(out);
  EXPECT_EQ(back.geotransform(), src.geotransform());
  EXPECT_NE(back.projection_wkt().find("32631"), std::string::npos);
  Image again;
  back.read_window(0, 0, back.rows(), back.cols(), again);
  EXPECT_EQ(again.magnitude, img.magnitude);
}

TEST(RasterWriter, CInt16RoundTripFromIqAndFromPolar) {
  const fs::path dir = sarscale::test::scratch_dir("gdal-writer-cint16");
  const int rows = 40, cols = 33;
  std::vector<std::int16_t> iq(2u * rows * cols);
  for (std::size_t k = 0; k < iq.size(); ++k)
    iq[k] = static_cast<std::int16_t>((static_cast<int>(k) * 7919) % 20001 - 10000);
  {
    RasterWriter w(dir / "iq.tif", rows, cols, {PixelType::cint16, 1, true, ""});
    for (int r0 = 0; r0 < rows; r0 += 16) w.write_rows_iq(r0, std::min(16, rows - r0), iq.data() + 2u * r0 * cols);
    EXPECT_THROW(w.write_rows(0, 1, std::vector<float>(cols).data()), std::logic_error);
    w.close();
  }
  // Exact I/Q back through GDAL's API, and magnitude/phase through GdalRaster.
  GDALAllRegister();
  GDALDatasetH h = GDALOpen((dir / "iq.tif").c_str(), GA_ReadOnly);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(GDALGetRasterDataType(GDALGetRasterBand(h, 1)), GDT_CInt16);
  std::vector<std::int16_t> back(iq.size());
  ASSERT_EQ(GDALRasterIO(GDALGetRasterBand(h, 1), GF_Read, 0, 0, cols, rows, back.data(), cols, rows, GDT_CInt16, 0, 0),
            CE_None);
  GDALClose(h);
  EXPECT_EQ(back, iq);

  const auto r = GdalRaster::open(dir / "iq.tif");
  EXPECT_TRUE(r.is_complex());
  EXPECT_EQ(r.data_type(), "CInt16");
  Image img;
  r.read_window(0, 0, rows, cols, img);
  for (std::size_t k = 0; k < img.pixels(); ++k) {
    ASSERT_FLOAT_EQ(img.magnitude[k], static_cast<float>(std::hypot(iq[2 * k], iq[2 * k + 1])));
    ASSERT_GE(img.phase[k], 0.0f);
    ASSERT_LT(img.phase[k], static_cast<float>(kTwoPi));
  }

  // Polar -> CInt16 -> polar reproduces the integer I/Q exactly.
  {
    RasterWriter w(dir / "polar.tif", rows, cols, {PixelType::cint16, 1, false, ""});
    w.write_rows_polar(0, rows, img.magnitude.data(), img.phase.data());
    w.close();
  }
  Image polar;
  GdalRaster::open(dir / "polar.tif").read_window(0, 0, rows, cols, polar);
  EXPECT_EQ(polar.magnitude, img.magnitude);

  // CFloat32 keeps magnitude and phase to float precision.
  {
    RasterWriter w(dir / "cfloat.tif", rows, cols, {PixelType::cfloat32, 1, true, "ZSTD"});
    w.write_rows_polar(0, rows, img.magnitude.data(), img.phase.data());
    w.close();
  }
  Image cf;
  const auto cfr = GdalRaster::open(dir / "cfloat.tif");
  EXPECT_EQ(cfr.data_type(), "CFloat32");
  cfr.read_window(0, 0, rows, cols, cf);
  for (std::size_t k = 0; k < cf.pixels(); ++k) {
    ASSERT_NEAR(cf.magnitude[k], img.magnitude[k], 1e-5f * img.magnitude[k] + 1e-6f);
    if (img.magnitude[k] > 0) ASSERT_NEAR(std::cos(cf.phase[k] - img.phase[k]), 1.0, 1e-6);
  }
}

TEST(RasterWriter, ByteClassMapWithColourTable) {
  const fs::path out = sarscale::test::scratch_dir("gdal-writer-byte") / "classes.tif";
  std::vector<std::uint8_t> classes(64 * 48);
  for (std::size_t k = 0; k < classes.size(); ++k) classes[k] = static_cast<std::uint8_t>(k % 10);
  {
    RasterWriter w(out, 48, 64, {PixelType::byte, 1, true, "LZW"});
    w.set_colour_table(1, {{0, 0, 0, 255}, {255, 0, 0, 255}, {0, 255, 0, 128}});
    w.set_band_description(1, "class");
    w.set_metadata_item("CLASS_1", "T72", 1);
    w.write_rows(0, 48, classes.data());
    w.close();
    w.close();  // idempotent
  }
  GDALAllRegister();
  GDALDatasetH h = GDALOpen(out.c_str(), GA_ReadOnly);
  ASSERT_NE(h, nullptr);
  GDALRasterBandH b = GDALGetRasterBand(h, 1);
  GDALColorTableH ct = GDALGetRasterColorTable(b);
  ASSERT_NE(ct, nullptr);
  const GDALColorEntry* e = GDALGetColorEntry(ct, 2);
  EXPECT_EQ(e->c2, 255);
  EXPECT_EQ(std::string(GDALGetDescription(b)), "class");
  EXPECT_EQ(std::string(GDALGetMetadataItem(b, "CLASS_1", nullptr)), "T72");
  GDALClose(h);
  Image img;
  GdalRaster::open(out).read_window(0, 0, 48, 64, img);
  for (std::size_t k = 0; k < classes.size(); ++k) ASSERT_EQ(img.magnitude[k], classes[k]);
}

TEST(RasterWriter, FailuresAreIoErrorsNamingThePathAndUnclosedOutputIsDiscarded) {
  const fs::path dir = sarscale::test::scratch_dir("gdal-writer-fail");
  try {
    RasterWriter w(dir / "missing-dir" / "x.tif", 10, 10);
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("missing-dir/x.tif"), std::string::npos) << e.what();
  }
  EXPECT_THROW(RasterWriter(dir / "y.tif", 0, 10), ConfigError);
  {
    RasterWriter w(dir / "abandoned.tif", 10, 10);
    std::vector<float> row(10, 1.0f);
    w.write_rows(0, 1, row.data());
    EXPECT_THROW(w.write_rows(10, 1, row.data()), std::out_of_range);
  }
  EXPECT_FALSE(fs::exists(dir / "abandoned.tif"));
  EXPECT_FALSE(fs::exists(dir / "abandoned.tif.part"));
}

TEST(WritePng8, LinearAndDbScalingWithPercentiles) {
  const fs::path dir = sarscale::test::scratch_dir("gdal-png");
  Image img;
  img.rows = 10;
  img.cols = 10;
  for (int k = 0; k < 100; ++k) img.magnitude.push_back(static_cast<float>(k + 1));  // 1..100
  write_png8(dir / "linear.png", img, PngScale::linear, {0, 100});
  Image back;
  const auto r = GdalRaster::open(dir / "linear.png");
  EXPECT_EQ(r.driver(), "PNG");
  EXPECT_EQ(r.data_type(), "Byte");
  r.read_window(0, 0, 10, 10, back);
  for (int k = 0; k < 100; ++k) ASSERT_EQ(back.magnitude[k], std::round(k / 99.0 * 255.0)) << k;

  // dB: magnitudes 10^(d/20) for d = 0..99 dB; 0 and NaN pixels map to 0, outside percentiles.
  Image db = img;
  for (int k = 0; k < 100; ++k) db.magnitude[k] = static_cast<float>(std::pow(10.0, k / 20.0));
  db.magnitude[5] = 0.0f;
  db.magnitude[6] = std::numeric_limits<float>::quiet_NaN();
  write_png8(dir / "db.png", db, PngScale::db, {10, 90});
  GdalRaster::open(dir / "db.png").read_window(0, 0, 10, 10, back);
  EXPECT_EQ(back.magnitude[5], 0.0f);
  EXPECT_EQ(back.magnitude[6], 0.0f);
  EXPECT_EQ(back.magnitude[0], 0.0f);     // below the 10th percentile
  EXPECT_EQ(back.magnitude[99], 255.0f);  // above the 90th
  // 98 valid values 0..4, 7..99 dB: p10 at sorted position 9.7 -> 11.7 dB, p90 at 87.3 -> 89.3 dB.
  EXPECT_EQ(back.magnitude[50], std::round((50 - 11.7) / (89.3 - 11.7) * 255.0));
  EXPECT_THROW(write_png8(dir / "bad.png", img, PngScale::db, {50, 50}), ConfigError);
}

TEST(WritePng8, MetadataComesBackThroughGdal) {
  SARSCALE_REQUIRE_SHARED(path, kSentinel1);
  const auto src = GdalRaster::open(path);
  Image img;
  src.read_window(100, 100, 64, 64, img);
  const fs::path out = sarscale::test::scratch_dir("gdal-png-meta") / "chip.png";
  write_png8(out, img, PngScale::linear, {1, 99}, {{"SARSCALE_SOURCE", path.filename().string()}, {"TARGET", "T72"}});
  EXPECT_FALSE(fs::exists(out.string() + ".aux.xml"));
  EXPECT_FALSE(fs::exists(out.string() + ".part"));
  const auto r = GdalRaster::open(out);
  EXPECT_EQ(r.metadata().at("TARGET"), "T72");
  EXPECT_EQ(r.metadata().at("SARSCALE_SOURCE"), path.filename().string());
  std::string info;
  ASSERT_EQ(sarscale::test::run_command("gdalinfo '" + out.string() + "'", &info), 0);
  EXPECT_NE(info.find("TARGET=T72"), std::string::npos) << info;
  Image back;
  r.read_window(0, 0, 64, 64, back);
  EXPECT_EQ(*std::max_element(back.magnitude.begin(), back.magnitude.end()), 255.0f);
  EXPECT_EQ(*std::min_element(back.magnitude.begin(), back.magnitude.end()), 0.0f);
}

TEST(WriteGtiffFloat, MagnitudeAndPhaseBands) {
  const fs::path out = sarscale::test::scratch_dir("gdal-gtiff-float") / "chip.tif";
  Image img;
  img.rows = 6;
  img.cols = 7;
  for (int k = 0; k < 42; ++k) {
    img.magnitude.push_back(0.5f * static_cast<float>(k));
    img.phase.push_back(static_cast<float>(k) * 0.1f);
  }
  const Georef georef{{100, 1, 0, 200, 0, -1}, ""};
  write_gtiff_float(out, img, {{"TARGET", "BMP2"}}, georef);
  const auto r = GdalRaster::open(out);
  EXPECT_EQ(r.bands(), 2);
  EXPECT_EQ(r.metadata().at("TARGET"), "BMP2");
  EXPECT_EQ(r.geotransform(), georef.geotransform);
  Image m, p;
  r.read_window(0, 0, 6, 7, m, 1);
  r.read_window(0, 0, 6, 7, p, 2);
  EXPECT_EQ(m.magnitude, img.magnitude);
  EXPECT_EQ(p.magnitude, img.phase);
  GDALAllRegister();
  GDALDatasetH h = GDALOpen(out.c_str(), GA_ReadOnly);
  EXPECT_EQ(std::string(GDALGetDescription(GDALGetRasterBand(h, 2))), "phase");
  GDALClose(h);
}
