// LIBSVM text formats: data and model readers/writers, the real LIBSVM 3.24 files in ../shared
// (byte-for-byte model round trips, benchmark data sets), and every refusal with its message.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>

#include "sarscale/core/error.hpp"
#include "sarscale/svm/libsvm_format.hpp"
#include "test_support.hpp"

namespace sarscale::svm::detail {
// Not public API (libsvm_format.cpp): the readers with a chosen cap on dense values.
Dataset parse_libsvm_data_capped(std::string_view text, const std::string& where, int min_dim,
                                 std::int64_t max_dense_values);
SvmModel parse_libsvm_model_capped(std::string_view text, const std::string& where, int min_dim,
                                   std::int64_t max_dense_values);
}  // namespace sarscale::svm::detail

namespace {

using namespace sarscale::svm;

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The message of the InputError `f` throws ("" and a test failure when it throws nothing or
// something else).
std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const sarscale::InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected an InputError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected an InputError, nothing was thrown";
  return "";
}

// `message` starts with "prefix" (file:line: ) and contains `part`.
#define EXPECT_MESSAGE(message, prefix, part)                         \
  do {                                                                \
    const std::string m_ = (message);                                 \
    EXPECT_EQ(m_.rfind(prefix, 0), 0u) << "message: " << m_;          \
    EXPECT_NE(m_.find(part), std::string::npos) << "message: " << m_; \
  } while (0)

std::string data_error(const std::string& text) {
  return input_error([&] { parse_libsvm_data(text, "d.txt"); });
}
std::string model_error(const std::string& text) {
  return input_error([&] { parse_libsvm_model(text, "m.model"); });
}

// ---- data ------------------------------------------------------------------------------------

TEST(LibsvmData, ParsesLabelsSparseIndicesCommentsAndBlankLines) {
  const std::string text =
      "# a header comment\n"
      "+1 1:0.5 3:-2\n"
      "\n"
      "-1 2:1e-3   # trailing comment\r\n"
      "1.0\tqid:7 1:3 4:0\n"
      "-1.0 \t \r\n"
      "  0 2:+4.25  \n";
  const Dataset d = parse_libsvm_data(text, "t");
  ASSERT_EQ(d.rows, 5);
  EXPECT_EQ(d.dim, 4);  // index 4 appears (with a zero value): dim counts it
  EXPECT_EQ(d.labels, (std::vector<std::int32_t>{1, -1, 1, -1, 0}));
  const std::vector<double> expect = {0.5, 0, -2, 0, 0, 1e-3, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 4.25, 0, 0};
  EXPECT_EQ(d.x, expect);
}

TEST(LibsvmData, KeepsEveryDigitOfADouble) {
  const Dataset d = parse_libsvm_data("1 1:0.1 2:0.12345678901234567 3:1e-300 4:1e-400\n", "t");
  EXPECT_EQ(d.x[0], 0.1);
  EXPECT_EQ(d.x[1], 0.12345678901234567);
  EXPECT_EQ(d.x[2], 1e-300);
  EXPECT_EQ(d.x[3], 0.0);  // below the smallest double: 0, as strtod gives
}

TEST(LibsvmData, MinDimAndEmptyText) {
  EXPECT_EQ(parse_libsvm_data("1 2:1\n", "t", 10).dim, 10);
  EXPECT_EQ(parse_libsvm_data("1 12:1\n", "t", 10).dim, 12);
  const Dataset empty = parse_libsvm_data("", "t", 3);
  EXPECT_EQ(empty.rows, 0);
  EXPECT_EQ(empty.dim, 3);
  const Dataset labels_only = parse_libsvm_data("3\n4\n", "t");
  EXPECT_EQ(labels_only.rows, 2);
  EXPECT_EQ(labels_only.dim, 0);
  EXPECT_EQ(labels_only.labels, (std::vector<std::int32_t>{3, 4}));
}

TEST(LibsvmData, LabelMinusOnePointZero) {
  // ijcnn1's training file writes -1.0/1.0, its test file -1/1: the same labels.
  const Dataset a = parse_libsvm_data("-1.0 1:1\n1.0 1:2\n", "t");
  const Dataset b = parse_libsvm_data("-1 1:1\n1 1:2\n", "t");
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.labels, (std::vector<std::int32_t>{-1, 1}));
}

TEST(LibsvmData, RefusesMalformedLinesNamingFileAndLine) {
  EXPECT_MESSAGE(data_error("1 1:1\n1.5 1:1\n"), "d.txt:2: ", "label '1.5' is not an integer");
  EXPECT_MESSAGE(data_error("\n# c\nabc 1:1\n"), "d.txt:3: ", "label 'abc' is not a number");
  EXPECT_MESSAGE(data_error("nan 1:1\n"), "d.txt:1: ", "label 'nan' is not a finite number");
  EXPECT_MESSAGE(data_error("1e12 1:1\n"), "d.txt:1: ", "is not an integer");
  EXPECT_MESSAGE(data_error("1 0:1\n"), "d.txt:1: ", "is not positive");
  EXPECT_MESSAGE(data_error("1 -2:1\n"), "d.txt:1: ", "is not positive");
  EXPECT_MESSAGE(data_error("1 1:1\n1 3:1 3:2\n"),
                 "d.txt:2: ", "feature index 3 after 3: indices must be strictly increasing");
  EXPECT_MESSAGE(data_error("1 3:1 2:2\n"), "d.txt:1: ", "feature index 2 after 3");
  EXPECT_MESSAGE(data_error("1 1:abc\n"), "d.txt:1: ", "value of feature 1 'abc' is not a number");
  EXPECT_MESSAGE(data_error("1 1:1.5x\n"), "d.txt:1: ", "is not a number");
  EXPECT_MESSAGE(data_error("1 1:\n"), "d.txt:1: ", "is not a number");
  EXPECT_MESSAGE(data_error("1 1:nan\n"), "d.txt:1: ", "'nan' is not a finite number");
  EXPECT_MESSAGE(data_error("1 1:inf\n"), "d.txt:1: ", "'inf' is not a finite number");
  EXPECT_MESSAGE(data_error("1 1:-Infinity\n"), "d.txt:1: ", "is not a finite number");
  EXPECT_MESSAGE(data_error("1 1:1e400\n"), "d.txt:1: ", "'1e400' is out of range");
  EXPECT_MESSAGE(data_error("1 10000001:1\n"), "d.txt:1: ", "is above the limit 10000000");
  EXPECT_MESSAGE(data_error("1 99999999999999999999:1\n"), "d.txt:1: ", "is above the limit");
  EXPECT_MESSAGE(data_error("1 5\n"), "d.txt:1: ", "expected index:value, found '5'");
  EXPECT_MESSAGE(data_error("1 a:1\n"), "d.txt:1: ", "bad feature index in 'a:1'");
  EXPECT_MESSAGE(data_error("1 +3:1\n"), "d.txt:1: ", "bad feature index");
  EXPECT_MESSAGE(data_error("1 1:0x10\n"), "d.txt:1: ", "is not a number");
  EXPECT_MESSAGE(data_error("1 1:2\n\n\n1 2:1 1:1\r\n"), "d.txt:4: ", "strictly increasing");
  // Binary garbage is quoted readably.
  EXPECT_MESSAGE(data_error(std::string("1 1:\x01\xff", 6)), "d.txt:1: ", "'\\x01\\xff'");
}

TEST(LibsvmData, RefusesWhatCannotBeHeldDensely) {
  const std::string text = "1 100:1\n1 100:1\n";
  EXPECT_EQ(detail::parse_libsvm_data_capped(text, "t", 0, 200).rows, 2);
  EXPECT_MESSAGE(input_error([&] { detail::parse_libsvm_data_capped(text, "t", 0, 199); }),
                 "t: ", "2 rows x 100 features is too large to hold densely");
}

TEST(LibsvmData, WritesZerosOmittedAndIntegerLabels) {
  Dataset d;
  d.rows = 3;
  d.dim = 3;
  d.x = {0.5, 0, -2, 0, 0, 0, 1e-5, 0.1f, 3};
  d.labels = {1, -1, 7};
  std::ostringstream out;
  write_libsvm_data(out, d);
  EXPECT_EQ(out.str(), "1 1:0.5 3:-2\n-1\n7 1:1e-05 2:0.10000000149011612 3:3\n");
}

TEST(LibsvmData, WriteReadRoundTripIsExact) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  Dataset d;
  d.rows = 200;
  d.dim = 37;
  d.x.resize(static_cast<std::size_t>(d.rows * d.dim));
  for (std::size_t i = 0; i < d.x.size(); ++i) {
    const double v = normal(rng) * std::pow(10.0, static_cast<int>(i % 41) - 20);
    d.x[i] = i % 3 == 0 ? 0.0 : i % 3 == 1 ? v : static_cast<float>(v);  // doubles and float32 values
  }
  for (std::int64_t r = 0; r < d.rows; ++r) d.labels.push_back(static_cast<std::int32_t>(r % 5) - 2);
  std::ostringstream out;
  write_libsvm_data(out, d);
  const Dataset back = parse_libsvm_data(out.str(), "round trip", d.dim);
  EXPECT_EQ(back.rows, d.rows);
  EXPECT_EQ(back.dim, d.dim);
  EXPECT_EQ(back.labels, d.labels);
  EXPECT_EQ(back.x, d.x);
}

TEST(LibsvmData, WriteRefusesInconsistentOrNonFiniteData) {
  Dataset d;
  d.rows = 1;
  d.dim = 2;
  d.x = {1, std::nan("")};
  d.labels = {1};
  std::ostringstream out;
  EXPECT_THROW(write_libsvm_data(out, d), sarscale::ConfigError);
  d.x = {1};
  EXPECT_THROW(write_libsvm_data(out, d), sarscale::ConfigError);
}

TEST(LibsvmData, ReadsGzipAndPlainFiles) {
  const auto dir = sarscale::test::scratch_dir("libsvm_format_gz_" + std::to_string(getpid()));
  const std::string text = "1 1:0.25 5:2\n-1 2:1\n";
  {
    std::ofstream(dir / "plain.txt") << text;
    gzFile gz = gzopen((dir / "d.gz").c_str(), "wb");
    ASSERT_NE(gz, nullptr);
    ASSERT_EQ(gzwrite(gz, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
    ASSERT_EQ(gzclose(gz), Z_OK);
  }
  for (const char* name : {"plain.txt", "d.gz"}) {
    const Dataset d = read_libsvm_data(dir / name);
    EXPECT_EQ(d.rows, 2) << name;
    EXPECT_EQ(d.dim, 5) << name;
    EXPECT_EQ(d.x[4], 2.0) << name;
  }
  // A gzip file cut short, a missing file and a directory are InputErrors naming the path.
  const std::string gz = slurp(dir / "d.gz");
  std::ofstream(dir / "cut.gz", std::ios::binary) << gz.substr(0, gz.size() - 10);
  EXPECT_MESSAGE(input_error([&] { read_libsvm_data(dir / "cut.gz"); }), (dir / "cut.gz").string() + ": ", "truncated");
  EXPECT_MESSAGE(input_error([&] { read_libsvm_data(dir / "absent.txt"); }), (dir / "absent.txt").string() + ": ",
                 "cannot open");
  EXPECT_MESSAGE(input_error([&] { read_libsvm_data(dir); }), dir.string() + ": ", "is a directory");
  // Errors in a file name the file.
  std::ofstream(dir / "bad.txt") << "1 1:1\n1 1:x\n";
  EXPECT_MESSAGE(input_error([&] { read_libsvm_data(dir / "bad.txt"); }),
                 (dir / "bad.txt").string() + ":2: ", "is not a number");
}

// A share of the rows (a rank's, in distributed training) streams through in 1 MiB chunks: the
// kept rows equal those of the whole parse, lines cut by a chunk boundary included, the
// dimension is the whole file's, and errors in rows not kept are still found.
TEST(LibsvmData, ReadsAShareOfTheRowsStreamed) {
  const auto dir = sarscale::test::scratch_dir("libsvm_format_share_" + std::to_string(getpid()));
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  std::string text = "# a comment line\n\n";
  for (int r = 0; r < 30000; ++r) {  // ~1.8 MB: the stream crosses chunk boundaries
    text += (r % 3 == 0 ? "-1" : "+1");
    for (int k = 1; k <= 6; ++k) text += " " + std::to_string(k + (r % 7 == 0 ? 10 : 0)) + ":" + std::to_string(u(rng));
    text += r % 11 == 0 ? "  # trailing\r\n" : "\n";
  }
  text += "1 40:0.5";  // no final newline; the largest index is on the last line
  std::ofstream(dir / "big.txt") << text;
  {
    gzFile gz = gzopen((dir / "big.gz").c_str(), "wb");
    ASSERT_NE(gz, nullptr);
    ASSERT_EQ(gzwrite(gz, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
    ASSERT_EQ(gzclose(gz), Z_OK);
  }
  const Dataset whole = read_libsvm_data(dir / "big.txt");
  ASSERT_EQ(whole.rows, 30001);
  ASSERT_EQ(whole.dim, 40);
  for (const char* name : {"big.txt", "big.gz"}) {
    std::vector<std::int64_t> kept_rows;
    const Dataset share = read_libsvm_data(dir / name, 0, [&](std::int64_t r) {
      if (r % 4 != 1) return false;
      kept_rows.push_back(r);
      return true;
    });
    EXPECT_EQ(share.dim, 40) << name;
    ASSERT_EQ(share.rows, 7500) << name;
    ASSERT_EQ(static_cast<std::int64_t>(kept_rows.size()), share.rows);
    const Dataset expected = whole.subset(kept_rows);
    EXPECT_EQ(share.labels, expected.labels) << name;
    EXPECT_EQ(share.x, expected.x) << name;
  }
  std::ofstream(dir / "bad.txt") << "1 1:1\n1 1:1\n1 1:x\n";
  EXPECT_MESSAGE(input_error([&] { read_libsvm_data(dir / "bad.txt", 0, [](std::int64_t r) { return r == 0; }); }),
                 (dir / "bad.txt").string() + ":3: ", "is not a number");
}

// ---- the benchmark data sets (../shared) -------------------------------------------------------

std::int64_t count_label(const Dataset& d, std::int32_t label) {
  return std::count(d.labels.begin(), d.labels.end(), label);
}

TEST(LibsvmData, Ijcnn1Training) {
  SARSCALE_REQUIRE_SHARED(path, "data/libsvm-benchmarks/ijcnn1.gz");
  const Dataset d = read_libsvm_data(path);
  EXPECT_EQ(d.rows, 49990);
  EXPECT_EQ(d.dim, 22);
  EXPECT_EQ(count_label(d, -1), 45137);  // written -1.0
  EXPECT_EQ(count_label(d, 1), 4853);    // written 1.0
  // First line: "-1.0 6:1 11:-0.731854 12:0.173431 13:0.0 14:0.00027 ..."
  EXPECT_EQ(d.x[5], 1.0);
  EXPECT_EQ(d.x[10], -0.731854);
  EXPECT_EQ(d.x[12], 0.0);
  EXPECT_EQ(d.x[13], 0.00027);
}

TEST(LibsvmData, Ijcnn1TestIsReadQuickly) {
  SARSCALE_REQUIRE_SHARED(path, "data/libsvm-benchmarks/ijcnn1.t.gz");
  const auto start = std::chrono::steady_clock::now();
  const Dataset d = read_libsvm_data(path);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(d.rows, 91701);
  EXPECT_EQ(d.dim, 22);
  EXPECT_EQ(count_label(d, 1), 8712);
  EXPECT_EQ(count_label(d, -1), 82989);
  RecordProperty("read_seconds", std::to_string(seconds));
  // ~0.15 s here; the bound leaves room for a loaded machine and sanitizer builds.
  EXPECT_LT(seconds, 5.0);
}

TEST(LibsvmData, A9a) {
  SARSCALE_REQUIRE_SHARED(train, "data/libsvm-benchmarks/a9a.gz");
  SARSCALE_REQUIRE_SHARED(test, "data/libsvm-benchmarks/a9a.t.gz");
  const Dataset d = read_libsvm_data(train);
  EXPECT_EQ(d.rows, 32561);
  EXPECT_EQ(d.dim, 123);  // the largest index of the training file is 123 (as in the test file)
  EXPECT_EQ(count_label(d, 1), 7841);
  const Dataset t = read_libsvm_data(test, d.dim);
  EXPECT_EQ(t.rows, 16281);
  EXPECT_EQ(t.dim, 123);
}

TEST(LibsvmData, W8aAndHeartScale) {
  SARSCALE_REQUIRE_SHARED(w8a, "data/libsvm-benchmarks/w8a.gz");
  SARSCALE_REQUIRE_SHARED(heart, "data/libsvm-benchmarks/heart_scale.gz");
  const Dataset w = read_libsvm_data(w8a);
  EXPECT_EQ(w.rows, 49749);
  EXPECT_EQ(w.dim, 300);
  const Dataset h = read_libsvm_data(heart);
  EXPECT_EQ(h.rows, 270);
  EXPECT_EQ(h.dim, 13);
  EXPECT_EQ(count_label(h, 1), 120);
  EXPECT_EQ(count_label(h, -1), 150);
}

// ---- models ----------------------------------------------------------------------------------

// A 3-class sigmoid model with probabilities; values chosen to need all 17 digits.
SvmModel small_model() {
  SvmModel m;
  m.kernel = {KernelType::sigmoid, 3, 0.1, -0.25};
  m.dim = 4;
  m.labels = {2, -1, 7};
  m.sv_count = {1, 2, 1};
  m.support_vectors = {0.5,  0, -1.25, 0,  //
                       0,    0, 0,     0,  //
                       1e-7, 2, 0,     3,  //
                       0,    0, 0,     0.1};
  m.sv_coef = {1.0 / 3, -0.5, 0.25,     0,  //
               0.1,     0,    -2.0 / 3, -1};
  m.rho = {0.1, -1e-20, 123456.789};
  m.prob_a = {-1.5, -2, -3};
  m.prob_b = {0.01, 0, 1.0 / 7};
  return m;
}

TEST(LibsvmModel, FormatsAsSvmSaveModel) {
  const std::string text = format_libsvm_model(small_model());
  EXPECT_EQ(text,
            "svm_type c_svc\n"
            "kernel_type sigmoid\n"
            "gamma 0.10000000000000001\n"
            "coef0 -0.25\n"
            "nr_class 3\n"
            "total_sv 4\n"
            "rho 0.10000000000000001 -9.9999999999999995e-21 123456.789\n"
            "label 2 -1 7\n"
            "probA -1.5 -2 -3\n"
            "probB 0.01 0 0.14285714285714285\n"
            "nr_sv 1 2 1\n"
            "SV\n"
            "0.33333333333333331 0.10000000000000001 1:0.5 3:-1.25 \n"
            "-0.5 0 \n"
            "0.25 -0.66666666666666663 1:1e-07 2:2 4:3 \n"
            "0 -1 4:0.1 \n");
}

TEST(LibsvmModel, RoundTripsExactly) {
  const SvmModel m = small_model();
  const std::string text = format_libsvm_model(m);
  const SvmModel back = parse_libsvm_model(text, "t");
  EXPECT_EQ(back.kernel, m.kernel);
  EXPECT_EQ(back.dim, m.dim);
  EXPECT_EQ(back.labels, m.labels);
  EXPECT_EQ(back.sv_count, m.sv_count);
  EXPECT_EQ(back.support_vectors, m.support_vectors);  // all have <= 8 digits
  EXPECT_EQ(back.sv_coef, m.sv_coef);
  EXPECT_EQ(back.rho, m.rho);
  EXPECT_EQ(back.prob_a, m.prob_a);
  EXPECT_EQ(back.prob_b, m.prob_b);
  EXPECT_EQ(format_libsvm_model(back), text);
  EXPECT_EQ(parse_libsvm_model(text, "t", 9).dim, 9);
  EXPECT_EQ(format_libsvm_model(parse_libsvm_model(text, "t", 9)), text);
}

TEST(LibsvmModel, OtherKernelsAndOneClass) {
  SvmModel m = small_model();
  m.kernel = {KernelType::polynomial, 2, 0.5, 1};
  EXPECT_NE(format_libsvm_model(m).find("kernel_type polynomial\ndegree 2\ngamma 0.5\ncoef0 1\nnr_class"),
            std::string::npos);
  m.kernel = {KernelType::linear, 3, 0, 0};
  EXPECT_NE(format_libsvm_model(m).find("kernel_type linear\nnr_class"), std::string::npos);
  m.kernel.type = KernelType::rbf;
  m.kernel.gamma = 2;
  m.prob_a.clear();
  m.prob_b.clear();
  const std::string rbf = format_libsvm_model(m);
  EXPECT_NE(rbf.find("kernel_type rbf\ngamma 2\nnr_class"), std::string::npos);
  EXPECT_EQ(rbf.find("probA"), std::string::npos);
  EXPECT_EQ(format_libsvm_model(parse_libsvm_model(rbf, "t")), rbf);
  // Training data of one class: LIBSVM 3.24 saves a model with no machine and no SV.
  const std::string one =
      "svm_type c_svc\nkernel_type rbf\ngamma 0.5\nnr_class 1\ntotal_sv 0\nrho\nlabel 4\nnr_sv 0\nSV\n";
  const SvmModel single = parse_libsvm_model(one, "t");
  EXPECT_EQ(single.classes(), 1);
  EXPECT_TRUE(single.rho.empty());
  EXPECT_EQ(format_libsvm_model(single), one);
}

TEST(LibsvmModel, FileRoundTrip) {
  const auto dir = sarscale::test::scratch_dir("libsvm_format_model_" + std::to_string(getpid()));
  write_libsvm_model(dir / "m.model", small_model());
  EXPECT_EQ(slurp(dir / "m.model"), format_libsvm_model(small_model()));
  EXPECT_EQ(read_libsvm_model(dir / "m.model").rho, small_model().rho);
  EXPECT_THROW(write_libsvm_model(dir / "no" / "such" / "dir.model", small_model()), sarscale::IoError);
}

TEST(LibsvmModel, FormatRefusesInconsistentModels) {
  SvmModel m = small_model();
  m.sv_coef.pop_back();
  EXPECT_THROW(format_libsvm_model(m), sarscale::ConfigError);
  m = small_model();
  m.rho.push_back(1);
  EXPECT_THROW(format_libsvm_model(m), sarscale::ConfigError);
  m = small_model();
  m.support_vectors.pop_back();
  EXPECT_THROW(format_libsvm_model(m), sarscale::ConfigError);
  m = small_model();
  m.prob_b.clear();
  EXPECT_THROW(format_libsvm_model(m), sarscale::ConfigError);
  m = small_model();
  m.sv_count[0] = 5;
  EXPECT_THROW(format_libsvm_model(m), sarscale::ConfigError);
  m = small_model();
  m.rho[1] = std::numeric_limits<double>::infinity();
  EXPECT_THROW(format_libsvm_model(m), sarscale::ConfigError);
  EXPECT_THROW(format_libsvm_model(SvmModel{}), sarscale::ConfigError);
}

// A valid binary RBF model; the malformed cases below edit it.
const std::string kModel =
    "svm_type c_svc\n"      // 1
    "kernel_type rbf\n"     // 2
    "gamma 0.5\n"           // 3
    "nr_class 2\n"          // 4
    "total_sv 3\n"          // 5
    "rho 0.25\n"            // 6
    "label 1 -1\n"          // 7
    "nr_sv 2 1\n"           // 8
    "SV\n"                  // 9
    "1 1:0.5 3:1 \n"        // 10
    "0.5 2:-1 \n"           // 11
    "-1.5 1:2 2:3 3:4 \n";  // 12

std::string edit(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

TEST(LibsvmModel, ParsesTheReferenceShape) {
  const SvmModel m = parse_libsvm_model(kModel, "m.model");
  EXPECT_EQ(m.dim, 3);
  EXPECT_EQ(m.support_vectors, (std::vector<double>{0.5, 0, 1, 0, -1, 0, 2, 3, 4}));
  EXPECT_EQ(m.sv_coef, (std::vector<double>{1, 0.5, -1.5}));
  EXPECT_EQ(format_libsvm_model(m), kModel);
  // CRLF, tabs and blank lines are tolerated; keywords may come in any order.
  std::string crlf;
  for (const char c : kModel) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_EQ(format_libsvm_model(parse_libsvm_model(crlf, "t")), kModel);
  EXPECT_EQ(
      format_libsvm_model(parse_libsvm_model(edit(edit(kModel, "gamma 0.5\n", ""), "SV\n", "gamma\t0.5\n\nSV\n"), "t")),
      kModel);
}

TEST(LibsvmModel, RefusesTruncatedAndInconsistentModels) {
  EXPECT_MESSAGE(model_error(kModel.substr(0, kModel.find("SV\n"))), "m.model:8: ", "no 'SV' line");
  EXPECT_MESSAGE(model_error(""), "m.model:1: ", "no 'SV' line");
  EXPECT_MESSAGE(model_error(kModel.substr(0, kModel.find("-1.5"))),
                 "m.model:11: ", "truncated model: 2 support vectors, total_sv says 3");
  EXPECT_MESSAGE(model_error(kModel + "1 1:1 \n"), "m.model:13: ", "more support vectors than total_sv 3");
  EXPECT_MESSAGE(model_error(edit(kModel, "nr_sv 2 1", "nr_sv 2 2")),
                 "m.model:8: ", "nr_sv adds up to 4 but total_sv is 3");
  EXPECT_MESSAGE(model_error(edit(kModel, "nr_sv 2 1", "nr_sv 3")),
                 "m.model:8: ", "nr_sv has 1 values, nr_class needs 2");
  EXPECT_MESSAGE(model_error(edit(kModel, "nr_sv 2 1", "nr_sv 4 -1")), "m.model:8: ", "negative count");
  EXPECT_MESSAGE(model_error(edit(kModel, "rho 0.25", "rho 0.25 1")),
                 "m.model:6: ", "rho has 2 values, nr_class needs 1");
  EXPECT_MESSAGE(model_error(edit(kModel, "rho 0.25", "rho")), "m.model:6: ", "rho has 0 values");
  EXPECT_MESSAGE(model_error(edit(kModel, "label 1 -1", "label 1")), "m.model:7: ", "label has 1 values");
  EXPECT_MESSAGE(model_error(edit(kModel, "label 1 -1", "label 1 1")), "m.model:7: ", "label 1 appears twice");
  EXPECT_MESSAGE(model_error(edit(kModel, "label 1 -1\n", "")), "m.model:8: ", "no 'label' line");
  EXPECT_MESSAGE(model_error(edit(kModel, "gamma 0.5\n", "")), "m.model:8: ", "no 'gamma' line");
  EXPECT_MESSAGE(model_error(edit(kModel, "rho 0.25\n", "rho 0.25\nprobA 1\n")),
                 "m.model:", "probA and probB must come together");
  EXPECT_MESSAGE(model_error(edit(kModel, "rho 0.25\n", "rho 0.25\nrho 0.25\n")),
                 "m.model:7: ", "'rho' given twice (first on line 6)");
  EXPECT_MESSAGE(model_error(edit(kModel, "rho 0.25\n", "rho 0.25\nprob_density_marks 1\n")),
                 "m.model:7: ", "unknown keyword 'prob_density_marks'");
  EXPECT_MESSAGE(model_error(edit(kModel, "SV\n", "SV 1\n")), "m.model:9: ", "unexpected '1' after 'SV'");
}

TEST(LibsvmModel, RefusesWrongCoefficientCounts) {
  // Binary: one coefficient per line; a 3-class model needs two.
  EXPECT_MESSAGE(model_error(edit(kModel, "0.5 2:-1", "2:-1")),
                 "m.model:11: ", "support vector 2 has 0 coefficients, nr_class 2 needs 1");
  EXPECT_MESSAGE(model_error(edit(kModel, "0.5 2:-1", "0.5 0.5 2:-1")),
                 "m.model:11: ", "expected index:value, found '0.5' (more than 1 coefficients?)");
  const std::string three =
      "svm_type c_svc\nkernel_type linear\nnr_class 3\ntotal_sv 3\nrho 1 2 3\nlabel 1 2 3\n"
      "nr_sv 1 1 1\nSV\n1 2 1:1 \n1 1:1 \n1 2 1:1 \n";
  EXPECT_MESSAGE(model_error(three), "m.model:10: ", "support vector 2 has 1 coefficients, nr_class 3 needs 2");
}

TEST(LibsvmModel, RefusesOtherSvmTypesAndKernels) {
  for (const char* type : {"nu_svc", "one_class", "epsilon_svr", "nu_svr"})
    EXPECT_MESSAGE(model_error(edit(kModel, "c_svc", type)),
                   "m.model:1: ", std::string("svm_type '") + type + "': only C-SVC models are supported");
  EXPECT_MESSAGE(model_error(edit(kModel, "c_svc", "weird")), "m.model:1: ", "unknown svm_type 'weird': only C-SVC");
  EXPECT_MESSAGE(model_error(edit(kModel, "svm_type c_svc\n", "")), "m.model:", "no 'svm_type' line");
  EXPECT_MESSAGE(model_error(edit(kModel, "kernel_type rbf", "kernel_type precomputed")),
                 "m.model:2: ", "kernel_type 'precomputed': only linear, polynomial, rbf and sigmoid");
  EXPECT_MESSAGE(model_error(edit(kModel, "kernel_type rbf", "kernel_type gauss")),
                 "m.model:2: ", "unknown kernel_type");
  EXPECT_MESSAGE(model_error(edit(kModel, "kernel_type rbf", "kernel_type polynomial")),
                 "m.model:", "no 'degree' line");
}

TEST(LibsvmModel, RefusesGarbageNumbers) {
  EXPECT_MESSAGE(model_error(edit(kModel, "rho 0.25", "rho abc")), "m.model:6: ", "rho 'abc' is not a number");
  EXPECT_MESSAGE(model_error(edit(kModel, "rho 0.25", "rho nan")), "m.model:6: ", "rho 'nan' is not a finite number");
  EXPECT_MESSAGE(model_error(edit(kModel, "gamma 0.5", "gamma 1e999")), "m.model:3: ", "out of range");
  EXPECT_MESSAGE(model_error(edit(kModel, "gamma 0.5", "gamma -1")), "m.model:3: ", "gamma must not be negative");
  EXPECT_MESSAGE(model_error(edit(kModel, "gamma 0.5", "gamma 0.5 0.6")),
                 "m.model:3: ", "gamma needs one value, found 2");
  EXPECT_MESSAGE(model_error(edit(kModel, "nr_class 2", "nr_class two")),
                 "m.model:4: ", "nr_class 'two' is not a 32-bit integer");
  EXPECT_MESSAGE(model_error(edit(kModel, "nr_class 2", "nr_class 0")), "m.model:4: ", "must be at least 1");
  EXPECT_MESSAGE(model_error(edit(kModel, "total_sv 3", "total_sv -3")), "m.model:5: ", "must be at least 0");
  EXPECT_MESSAGE(model_error(edit(kModel, "total_sv 3", "total_sv 99999999999")),
                 "m.model:5: ", "is not a 32-bit integer");
  EXPECT_MESSAGE(model_error(edit(kModel, "label 1 -1", "label 1 x")),
                 "m.model:7: ", "label 'x' is not a 32-bit integer");
  EXPECT_MESSAGE(model_error(edit(kModel, "0.5 2:-1", "0.5x 2:-1")),
                 "m.model:11: ", "coefficient '0.5x' is not a number");
  EXPECT_MESSAGE(model_error(edit(kModel, "0.5 2:-1", "0.5 2:y")),
                 "m.model:11: ", "value of feature 2 'y' is not a number");
  EXPECT_MESSAGE(model_error(edit(kModel, "0.5 2:-1", "0.5 2:-1 1:1")), "m.model:11: ", "strictly increasing");
  EXPECT_MESSAGE(model_error(edit(kModel, "0.5 2:-1", "0.5 0:-1")), "m.model:11: ", "is not positive");
  EXPECT_MESSAGE(model_error(edit(kModel, "0.5 2:-1", "0.5 20000000:-1")), "m.model:11: ", "above the limit");
  EXPECT_MESSAGE(model_error(std::string("\x7f"
                                         "ELF\x02\x01\x01\0\0",
                                         9)),
                 "m.model:1: ", "unknown keyword '\\x7fELF");
}

TEST(LibsvmModel, LyingHeadersAllocateNothingLarge) {
  // Counts are checked against the text before anything is sized by them.
  EXPECT_MESSAGE(
      model_error(edit(edit(kModel, "total_sv 3", "total_sv 2000000000"), "nr_sv 2 1", "nr_sv 1000000000 1000000000")),
      "m.model:12: ", "truncated model: 3 support vectors, total_sv says 2000000000");
  EXPECT_MESSAGE(model_error(edit(kModel, "nr_class 2", "nr_class 2147483647")),
                 "m.model:7: ", "label has 2 values, nr_class needs 2147483647");
  const std::string wide = edit(kModel, "1 1:0.5 3:1 ", "1 1:0.5 9999999:1 ");
  EXPECT_MESSAGE(input_error([&] { detail::parse_libsvm_model_capped(wide, "m.model", 0, 1 << 20); }),
                 "m.model: ", "3 support vectors x 9999999 features is too large");
}

// ---- the real LIBSVM 3.24 models (../shared) --------------------------------------------------

void expect_byte_for_byte(const std::filesystem::path& path) {
  const std::string original = slurp(path);
  const SvmModel m = read_libsvm_model(path);
  const std::string again = format_libsvm_model(m);
  ASSERT_EQ(again.size(), original.size()) << path;
  EXPECT_TRUE(again == original) << path << ": format_libsvm_model(read_libsvm_model()) differs";
}

TEST(LibsvmModelReference, BinaryRbfByteForByte) {
  SARSCALE_REQUIRE_SHARED(path, "reference/libsvm/binary_rbf.model");
  expect_byte_for_byte(path);
  const SvmModel m = read_libsvm_model(path);
  EXPECT_EQ(m.kernel.type, KernelType::rbf);
  EXPECT_EQ(m.kernel.gamma, 0.019999999552965164);
  EXPECT_EQ(m.sv_count, (std::vector<std::int32_t>{121, 131}));
  EXPECT_EQ(m.labels, (std::vector<std::int32_t>{1, -1}));
  EXPECT_EQ(m.dim, 50);
  EXPECT_EQ(m.rho, std::vector<double>{0.62318858583234227});
  EXPECT_EQ(m.sv_coef[0], 0.0051526631774678339);
  EXPECT_EQ(m.support_vectors[0], -0.82443692);
}

TEST(LibsvmModelReference, BinaryPolyByteForByte) {
  SARSCALE_REQUIRE_SHARED(path, "reference/libsvm/binary_poly.model");
  expect_byte_for_byte(path);
  const SvmModel m = read_libsvm_model(path);
  EXPECT_EQ(m.kernel, (KernelParams{KernelType::polynomial, 3, 0.019999999552965164, 1.0}));
  EXPECT_EQ(m.sv_count, (std::vector<std::int32_t>{83, 88}));
}

TEST(LibsvmModelReference, BinaryLinearByteForByte) {
  SARSCALE_REQUIRE_SHARED(path, "reference/libsvm/binary_linear.model");
  expect_byte_for_byte(path);
  const SvmModel m = read_libsvm_model(path);
  EXPECT_EQ(m.kernel.type, KernelType::linear);
  EXPECT_EQ(m.sv_coef.size(), 96u);
}

TEST(LibsvmModelReference, Mstar10ByteForByte) {
  SARSCALE_REQUIRE_SHARED(path, "reference/libsvm/mstar10.model");
  expect_byte_for_byte(path);
  const SvmModel m = read_libsvm_model(path);
  EXPECT_EQ(m.classes(), 10);
  EXPECT_EQ(m.labels, (std::vector<std::int32_t>{1, 5, 3, 6, 2, 7, 4, 9, 0, 8}));
  EXPECT_EQ(m.rho.size(), 45u);
  EXPECT_EQ(m.sv_coef.size(), 9u * 1921u);
  EXPECT_EQ(m.support_vectors.size(), 1921u * 50u);
  // First SV line: "0 0 0 0 0 0 0 0.47615615347180179 0 1:-0.44978639 ..."; row 7 of sv_coef.
  EXPECT_EQ(m.sv_coef[7 * 1921], 0.47615615347180179);
  EXPECT_EQ(m.support_vectors[0], -0.44978639);
}

}  // namespace
