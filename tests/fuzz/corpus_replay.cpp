// Replays every file of tests/fuzz/corpus (hand-made seeds and inputs the fuzzer once crashed
// on) through the libFuzzer harness, so any compiler and every CI run exercise them.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size);

TEST(FuzzCorpus, EveryFileThroughBothParsers) {
  const std::filesystem::path dir = SARSCALE_FUZZ_CORPUS_DIR;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    const std::string input = bytes.str();
    EXPECT_NO_THROW(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()))
        << entry.path();
    ++files;
  }
  EXPECT_GE(files, 10) << "the seed corpus is missing files";
}
