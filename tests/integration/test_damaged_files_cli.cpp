// Damaged and mistaken input files, end to end (issue 12): `sarscale info` on sarscale files with
// one byte flipped exits 1 naming the file (never a signal, never a raw HDF5 error stack); a
// damaged model is blamed as such, not the features computed with it; a chip archive or feature
// file given where a model belongs is named for what it is (no advice about a --model-format
// those commands do not have); a Phoenix header declaring 65536 x 65536 pixels is refused from
// its declared size, whatever --tiling says, instead of being read whole.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>

#include "sarscale/io/model_file.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::run_command;
using sarscale::test::run_expect;
using sarscale::test::sarscale_binary;

namespace {

// Small real files of every kind, made once for the suite.
class DamagedFilesCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(sarscale::test::scratch_dir("damaged_files_cli_" + std::to_string(getpid())));
    const std::string s = sarscale_binary(), d = dir_->string();
    run_expect(s + " synth --kind chips --count 12 --classes 3 --chip-size 16 --seed 1 -o " + d + "/chips");
    run_expect(s + " ingest --input " + d + "/chips --output " + d + "/archive.h5 --chip-size 16");
    run_expect(s + " features -a " + d + "/archive.h5 -o " + d + "/features.h5 --blocks 'pixels(size=4); stats'" +
               " --fit-pca --pca-components 3");
    run_expect(s + " train --features " + d + "/features.h5 --model " + d + "/model.h5");
  }
  static void TearDownTestSuite() { delete dir_; }

  static fs::path file(const std::string& name) { return *dir_ / name; }

  // A copy of `name` with the byte at `offset` (from the end when negative) inverted.
  static fs::path flipped(const std::string& name, long offset) {
    std::ifstream in(file(name), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const long at = offset < 0 ? static_cast<long>(bytes.size()) + offset : offset;
    bytes[static_cast<std::size_t>(at)] = static_cast<char>(~bytes[static_cast<std::size_t>(at)]);
    const fs::path out = file("flipped-" + std::to_string(offset) + "-" + name);
    std::ofstream(out, std::ios::binary) << bytes;
    return out;
  }

  static fs::path* dir_;
};
fs::path* DamagedFilesCli::dir_ = nullptr;

// What a refusal must look like: exit 1, the file named, no HDF5 function names of a raw stack.
void expect_clean_refusal(int status, const std::string& output, const fs::path& path) {
  ASSERT_TRUE(status == 0 || status == 1) << "exit status " << status << " (a signal?) on " << path << "\n"
                                          << output;
  if (status == 0) return;  // the flip hit bytes no reader looks at (padding, unused space)
  EXPECT_NE(output.find(path.string()), std::string::npos) << output;
  EXPECT_FALSE(std::regex_search(output, std::regex("H5[A-Z]?[A-Za-z_]*_(protect|load|iterate)|H5Aiterate2")))
      << "a raw HDF5 error stack: " << output;
}

}  // namespace

TEST_F(DamagedFilesCli, InfoOnAFlippedByteExitsOneNamingTheFile) {
  // Near the end of a model sit its /svm group's link heap and B-tree: the byte flips that made
  // `info` segfault in H5Lget_name_by_idx (item 11), then offsets spread over each file.
  struct Case {
    const char* name;
    std::vector<long> offsets;
  };
  const std::vector<Case> cases = {
      {"model.h5", {-60, -70, -77, -78, -79, -80, -81, -90, -100, -130, -200, 100, 400, 1000, 2000, 5000}},
      {"features.h5", {-60, -78, -200, 100, 400, 1000, 2000, 5000}},
      {"archive.h5", {-78, -200, 100, 400, 1000, 2000, 5000}}};
  int refused = 0;
  for (const auto& c : cases)
    for (const long offset : c.offsets) {
      const fs::path damaged = flipped(c.name, offset);
      std::string out;
      const int status = run_command(sarscale_binary() + " info " + damaged.string(), &out);
      SCOPED_TRACE(std::string(c.name) + " offset " + std::to_string(offset));
      expect_clean_refusal(status, out, damaged);
      refused += status == 1;
      fs::remove(damaged);
    }
  EXPECT_GE(refused, 10) << "too few flips were refused for the test to mean much";
}

TEST_F(DamagedFilesCli, AnInconsistentModelIsBlamedNotTheFeaturesComputedWithIt) {
  // A model whose PCA no longer matches its fingerprint (as a flipped bit in its data would
  // leave it): evaluate and predict must say the model is damaged, before computing anything.
  sarscale::io::ModelFile m = sarscale::io::read_model_file(file("model.h5"));
  ASSERT_TRUE(m.pca.count("mean")) << "the model has no fitted PCA to damage";
  m.pca["mean"][0] += 1.0;
  const fs::path bad = file("inconsistent.model.h5");
  sarscale::io::write_model_file(bad, m);
  const std::string s = sarscale_binary();
  for (const std::string& command :
       {s + " evaluate --archive " + file("archive.h5").string() + " --model " + bad.string() + " --report " +
            file("report-bad").string(),
        s + " predict --archive " + file("archive.h5").string() + " --model " + bad.string() + " --output " +
            file("predict-bad").string()}) {
    std::string out;
    EXPECT_EQ(run_command(command, &out), 1) << command << "\n" << out;
    EXPECT_NE(out.find("model " + bad.string() + " is damaged or inconsistent"), std::string::npos) << out;
    EXPECT_EQ(out.find("computed with another chain"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(file("report-bad/features.h5"))) << "features were computed with a damaged model";
  }
}

TEST_F(DamagedFilesCli, AFileGivenAsAModelIsNamedForWhatItIs) {
  const std::string s = sarscale_binary();
  std::ofstream(file("notes.txt")) << "not a model\n";
  run_expect(s + " synth --kind scene --width 512 --height 512 --targets 1 --out " + file("scene.tif").string());
  struct Case {
    std::string model, expect;
  };
  for (const Case& c : {Case{file("archive.h5").string(), "is a sarscale chip archive, not a model"},
                        Case{file("features.h5").string(), "is a sarscale feature file, not a model"},
                        Case{file("notes.txt").string(), "is not a model written by `sarscale train`"}}) {
    for (const std::string& command :
         {s + " evaluate --archive " + file("archive.h5").string() + " --model " + c.model + " --report " +
              file("report-x").string(),
          s + " predict --archive " + file("archive.h5").string() + " --model " + c.model + " --output " +
              file("predict-x").string(),
          s + " predict --scene " + file("scene.tif").string() + " --model " + c.model + " --output " +
              file("map-x.tif").string()}) {
      std::string out;
      EXPECT_EQ(run_command(command, &out), 1) << command << "\n" << out;
      EXPECT_NE(out.find(c.expect), std::string::npos) << command << "\n" << out;
      EXPECT_EQ(out.find("--model-format"), std::string::npos) << "advice about an option " << command
                                                                << " does not have:\n" << out;
    }
  }
}

TEST_F(DamagedFilesCli, WarmStartFromAnArchiveSaysItIsNotAModel) {
  std::string out;
  const std::string command = sarscale_binary() + " train --features " + file("features.h5").string() +
                              " --warm-start " + file("archive.h5").string() + " --model " +
                              file("warm.model.h5").string();
  EXPECT_EQ(run_command(command, &out), 1) << out;
  EXPECT_NE(out.find(file("archive.h5").string() + " is a sarscale chip archive, not a model"), std::string::npos)
      << out;
  EXPECT_EQ(out.find("unknown keyword"), std::string::npos) << out;
}

TEST_F(DamagedFilesCli, APhoenixHeaderOf65536SquaredIsRefusedFromItsSize) {
  // A header declaring 65536 x 65536 pixels with phase, on a sparse file of the size it
  // declares (32 GiB that take no disk): the reader must not try to hold it as one chip.
  const fs::path seed =
      fs::path(SARSCALE_SOURCE_DIR) / "tests/fuzz/corpus/phoenix/seed-header-65536x65536-no-pixels.phx";
  const fs::path big = file("big/huge.phx");
  fs::create_directories(big.parent_path());
  fs::copy_file(seed, big, fs::copy_options::overwrite_existing);
  fs::resize_file(big, fs::file_size(seed) + std::uintmax_t{2} * 65536 * 65536 * 4);
  // A memory limit turns an attempt to read it whole into a quick failure rather than a swapping
  // machine (not under ASan, which reserves terabytes of address space).
  const std::string limit = std::getenv("ASAN_OPTIONS") ? "" : "ulimit -v 4000000; ";
  for (const char* tiling : {"never", "auto"}) {
    std::string out;
    const std::string command = limit + sarscale_binary() + " ingest --input " + big.string() + " --output " +
                                file(std::string("big-") + tiling + ".h5").string() + " --tiling " + tiling +
                                " --strict";
    EXPECT_EQ(run_command(command, &out), 1) << out;
    EXPECT_NE(out.find(big.string() + ": 65536 x 65536 pixels read whole as one chip would take 32768 MiB"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("more than the 256 MiB one chip may cost"), std::string::npos) << out;
  }
}
