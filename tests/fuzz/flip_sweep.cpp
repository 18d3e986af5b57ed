// A deterministic sweep beside the fuzzer's random one: every seed of corpus/hdf5 with single
// bytes inverted, every byte of its last 256 (where HDF5 puts the groups' link heaps and B-trees
// that the model's and feature file's readers walk: the byte flips that crashed `info`, issue 12
// item 11) and every 89th byte elsewhere, each through the hdf5 harness (all of sarscale's
// readers). A refusal is a sarscale::Error; any other exception, a crash or a sanitizer report
// fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size);

TEST(FuzzCorpusHdf5, SeedsWithOneByteInverted) {
  const std::filesystem::path dir = SARSCALE_FUZZ_CORPUS_DIR;
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("seed-", 0) != 0) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ++seeds;
    const std::size_t tail = original.size() > 256 ? original.size() - 256 : 0;
    for (std::size_t at = 0; at < original.size(); at += at >= tail ? 1 : 89) {
      std::string damaged = original;
      damaged[at] = static_cast<char>(~damaged[at]);
      SCOPED_TRACE(entry.path().filename().string() + " byte " + std::to_string(at));
      EXPECT_NO_THROW(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(damaged.data()), damaged.size()));
      if (::testing::Test::HasFailure()) return;  // one report is enough to debug
    }
  }
  EXPECT_GE(seeds, 4);
}
