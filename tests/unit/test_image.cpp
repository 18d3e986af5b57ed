#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "sarscale/core/image.hpp"

using sarscale::Image;

namespace {
Image ramp(int rows, int cols, bool phase) {
  Image img;
  img.rows = rows;
  img.cols = cols;
  img.magnitude.resize(img.pixels());
  std::iota(img.magnitude.begin(), img.magnitude.end(), 0.0f);
  if (phase) img.phase.assign(img.pixels(), 1.0f);
  return img;
}
}  // namespace

TEST(FitToSize, CentreCropTakesTheMiddle) {
  const Image in = ramp(5, 6, true);
  const Image out = sarscale::fit_to_size(in, 3, 2);
  ASSERT_EQ(out.magnitude.size(), 6u);
  // rows 1..3, cols 2..3 of the 5x6 ramp
  EXPECT_EQ(out.magnitude, (std::vector<float>{8, 9, 14, 15, 20, 21}));
  EXPECT_EQ(out.phase, std::vector<float>(6, 1.0f));
}

TEST(FitToSize, PadIsZeroAndCentred) {
  const Image in = ramp(1, 2, false);
  const Image out = sarscale::fit_to_size(in, 3, 4);
  EXPECT_EQ(out.magnitude, (std::vector<float>{0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0}));
  EXPECT_FALSE(out.has_phase());
}

TEST(FitToSize, SameSizeIsIdentity) {
  const Image in = ramp(4, 4, true);
  EXPECT_EQ(sarscale::fit_to_size(in, 4, 4).magnitude, in.magnitude);
}

TEST(FitToSize, MixedCropAndPad) {
  const Image in = ramp(4, 1, false);  // column 0..3
  const Image out = sarscale::fit_to_size(in, 2, 3);
  EXPECT_EQ(out.magnitude, (std::vector<float>{0, 1, 0, 0, 2, 0}));
}

TEST(CountNonfinite, CountsBothPlanes) {
  Image img = ramp(2, 2, true);
  img.magnitude[1] = std::nanf("");
  img.phase[3] = INFINITY;
  EXPECT_EQ(sarscale::count_nonfinite(img), 2u);
}
