// Replays every file of one harness's corpus (tests/fuzz/corpus/<name>: seeds, inputs the
// fuzzer kept, and inputs it once crashed on) through that harness, so any compiler and every
// CI run exercise them. A finding shows as an exception (the harness's invariants), a crash or
// a sanitizer report in the sanitizer build.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size);

TEST(SARSCALE_FUZZ_SUITE, EveryCorpusFile) {
  const std::filesystem::path dir = SARSCALE_FUZZ_CORPUS_DIR;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());  // a stable order, for reproducible runs
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    const std::string input = bytes.str();
    SCOPED_TRACE(file.filename().string());
    EXPECT_NO_THROW(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()));
  }
  EXPECT_GE(files.size(), 3u) << "the corpus " << dir << " is missing its seeds";
}
