#pragma once
// Training-set augmentation: extra copies of a chip, translated by a few pixels or cropped at
// seeded offsets, made before the feature chain (so every block sees them as it sees chips).
// Pure and deterministic: the copies of a chip depend only on the spec, the chip and its index
// (its archive slot), never on the rank or thread that makes them.
//
// Text form (as preprocess.hpp: ';' separates operations, "name(args)", args positional in the
// order listed or key=value; whitespace is free):
//   "shift(2); shift(4, directions=8); crop(112, count=4)"
// Operations (default in brackets):
//   shift(pixels, directions [4])  `directions` copies translated by `pixels` (>= 1): 4 = up, down,
//       left, right; 8 = those, then up-left, up-right, down-left, down-right (this order). The
//       content moves: the pixel at (r, c) lands at (r + dr, c + dc), e.g. "down" is (+pixels, 0).
//       Vacated rows/columns are filled by edge replication (each takes the value of the nearest
//       chip pixel), so no zero frame appears: a zero (or dB-floor) border would be a feature no
//       original chip has.
//   crop(size, count [1], seed [1])  `count` windows of size ("112" or "112x96", rows x cols) at
//       offsets drawn uniformly in [0, chip - size] per axis from (seed, chip index, operation
//       index, copy) by a counter-based hash (splitmix64): reproducible anywhere, and different
//       for every chip. A crop copy is smaller than the chip: the chain must bring it to the
//       preprocessed size of the originals (a preprocess crop(N), N <= size, does; see
//       chain_for_copies), so its features line up with the originals' column for column.
// Copies of a chip come in spec order (operations, then copies within one). parse_augment fills
// defaults and describe prints canonically: "shift(pixels=2, directions=4); crop(size=112,
// count=4, seed=1)", and parse_augment(describe(s)) == s. Empty text: no augmentation.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sarscale/core/image.hpp"
#include "sarscale/features/chain.hpp"

namespace sarscale::features {

inline constexpr int kMaxAugmentCopies = 1024;  // per chip, over all operations

struct AugmentOp {
  enum class Kind { shift, crop };
  Kind kind = Kind::shift;
  int pixels = 0;          // shift
  int directions = 4;      // shift: 4 or 8
  int rows = 0, cols = 0;  // crop size
  int count = 1;           // crop copies
  std::uint64_t seed = 1;  // crop offsets
  int copies() const { return kind == Kind::shift ? directions : count; }
  bool operator==(const AugmentOp&) const = default;
};

struct AugmentSpec {
  std::vector<AugmentOp> ops;
  bool empty() const { return ops.empty(); }
  int copies() const;  // per chip
  bool operator==(const AugmentSpec&) const = default;
};

// ConfigError naming the offending token (unknown operation or key, bad or missing value, a
// repeated operation, too many copies).
AugmentSpec parse_augment(std::string_view text);
// Canonical text ("" for no augmentation). ConfigError for an invalid spec.
std::string describe(const AugmentSpec& spec);
std::string describe(const AugmentOp& op);  // one operation, e.g. "crop(size=112, count=4, seed=1)"
// Values in range, no operation repeated (shifts by the same pixels count as repeated: one
// shift(p, directions=8) covers shift(p)), at most kMaxAugmentCopies copies. ConfigError.
void validate(const AugmentSpec& spec);
// validate(spec), and every operation fits rows x cols chips: a shift moves less than the chip,
// a crop is no larger than the chip and smaller along at least one axis. ConfigError.
void validate(const AugmentSpec& spec, int rows, int cols);

// Where one copy comes from: out(r, c) = in(clamp(top + r), clamp(left + c)) for a rows x cols
// output (clamped to the chip: edge replication). A shift by (dr, dc) is the chip-sized window
// at (-dr, -dc); a crop the window at its offset.
struct AugmentWindow {
  int top = 0, left = 0;
  int rows = 0, cols = 0;
  bool operator==(const AugmentWindow&) const = default;
};

// The spec.copies() windows of chip `chip_index` of a rows x cols archive, in copy order.
// ConfigError when the spec does not fit the size.
std::vector<AugmentWindow> augment_windows(const AugmentSpec& spec, int rows, int cols, std::uint64_t chip_index);
// One plane (row-major float32 rows x cols) through a window into w.rows * w.cols values.
void extract_window(const float* in, int rows, int cols, const AugmentWindow& w, float* out);
// The copies of a whole chip (magnitude, and phase when present), in copy order.
std::vector<Image> augment(const Image& chip, const AugmentSpec& spec, std::uint64_t chip_index);

// The chain for copies of rows x cols (crops): `chain`'s preprocessing and blocks on that input
// size. ConfigError, naming `what` (e.g. "--augment crop(size=60, ...)"), when the chain does not
// accept that size (e.g. its own crop(64) on 60x60) or would not give the same preprocessed size
// and layout as for the chain's chips (no crop to a fixed size in the preprocessing).
FeatureChain chain_for_copies(const FeatureChain& chain, int rows, int cols, const std::string& what);

}  // namespace sarscale::features
