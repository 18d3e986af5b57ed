// The reader of golden reference files used by the feature tests.
#include <gtest/gtest.h>

#include "h5_reference.hpp"
#include "test_support.hpp"

TEST(H5Reference, ReadsGroupsDatasetsAndAttributes) {
  SARSCALE_REQUIRE_SHARED(file, "reference/hog_skimage.h5");
  const sarscale::test::H5Reference ref(file);
  const auto groups = ref.groups();
  EXPECT_EQ(groups.size(), 9u);  // the cases ../shared/README.md describes
  ASSERT_EQ(groups.front(), "L1");
  const auto input = ref.dataset("L1/input");
  EXPECT_EQ(input.shape, (std::vector<std::uint64_t>{128, 128}));
  EXPECT_EQ(ref.dataset("L1/expected").values.size(), 8100u);
  EXPECT_EQ(ref.text("L1", "block_norm"), "L1");
  EXPECT_EQ(ref.numbers("L1", "pixels_per_cell").size(), 2u);
  EXPECT_EQ(ref.number("L1", "orientations"), 9.0);
  EXPECT_EQ(ref.number("L1", "transform_sqrt"), 0.0);  // an h5py boolean (HDF5 enum)
  EXPECT_TRUE(ref.has_attribute("/", "generator"));
  EXPECT_THROW(ref.dataset("nope"), std::runtime_error);
}
