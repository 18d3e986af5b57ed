// Training-set augmentation (see augment.hpp): the text form, the copy windows of a chip and the
// chain that reads crops.
#include "sarscale/features/augment.hpp"

#include <algorithm>

#include "sarscale/core/error.hpp"
#include "counter_hash.hpp"
#include "text.hpp"

namespace sarscale::features {
namespace {

using detail::OpSyntax;
using detail::parse_whole;
using detail::trim;

constexpr long long kMaxPixels = 1 << 20;

const std::vector<OpSyntax>& syntaxes() {
  static const std::vector<OpSyntax> s = {{"shift", {"pixels", "directions"}}, {"crop", {"size", "count", "seed"}}};
  return s;
}

// Uniform in [0, span] from (seed, chip, operation, copy, axis).
int draw(std::uint64_t seed, std::uint64_t chip, std::uint64_t op, std::uint64_t copy, std::uint64_t axis, int span) {
  using detail::mix;
  return detail::uniform_int(mix(mix(mix(mix(mix(seed) ^ chip) ^ op) ^ copy) ^ axis), span);
}

std::string size_text(int rows, int cols) {
  return rows == cols ? std::to_string(rows) : std::to_string(rows) + "x" + std::to_string(cols);
}

}  // namespace

int AugmentSpec::copies() const {
  long long n = 0;
  for (const AugmentOp& op : ops) n += op.copies();
  return static_cast<int>(std::min<long long>(n, 1LL << 30));
}

std::string describe(const AugmentOp& op) {
  if (op.kind == AugmentOp::Kind::shift)
    return "shift(pixels=" + std::to_string(op.pixels) + ", directions=" + std::to_string(op.directions) + ")";
  return "crop(size=" + size_text(op.rows, op.cols) + ", count=" + std::to_string(op.count) +
         ", seed=" + std::to_string(op.seed) + ")";
}

std::string describe(const AugmentSpec& spec) {
  validate(spec);
  std::string out;
  for (const AugmentOp& op : spec.ops) out += (out.empty() ? "" : "; ") + describe(op);
  return out;
}

void validate(const AugmentSpec& spec) {
  long long copies = 0;
  for (std::size_t i = 0; i < spec.ops.size(); ++i) {
    const AugmentOp& op = spec.ops[i];
    const bool shift = op.kind == AugmentOp::Kind::shift;
    if (shift && (op.pixels < 1 || op.pixels > kMaxPixels))
      throw ConfigError("augment: shift needs pixels in 1.." + std::to_string(kMaxPixels) + ", got " +
                        std::to_string(op.pixels));
    if (shift && op.directions != 4 && op.directions != 8)
      throw ConfigError("augment: shift directions must be 4 or 8, got " + std::to_string(op.directions));
    if (!shift && (op.rows < 1 || op.cols < 1 || op.rows > kMaxPixels || op.cols > kMaxPixels))
      throw ConfigError("augment: crop size must be positive, got " + std::to_string(op.rows) + "x" +
                        std::to_string(op.cols));
    if (!shift && (op.count < 1 || op.count > kMaxAugmentCopies))
      throw ConfigError("augment: crop count must be in 1.." + std::to_string(kMaxAugmentCopies) + ", got " +
                        std::to_string(op.count));
    for (std::size_t j = 0; j < i; ++j) {
      const AugmentOp& other = spec.ops[j];
      if (other == op || (shift && other.kind == op.kind && other.pixels == op.pixels))
        throw ConfigError("augment: " + describe(op) + " repeats " + describe(other) +
                          (shift ? " (one shift with directions=8 covers the 4 directions too)" : ""));
    }
    copies += op.copies();
  }
  if (copies > kMaxAugmentCopies)
    throw ConfigError("augment: " + std::to_string(copies) + " copies per chip; at most " +
                      std::to_string(kMaxAugmentCopies));
}

void validate(const AugmentSpec& spec, int rows, int cols) {
  validate(spec);
  for (const AugmentOp& op : spec.ops) {
    const std::string chip = std::to_string(rows) + "x" + std::to_string(cols) + " chips";
    if (op.kind == AugmentOp::Kind::shift) {
      if (op.pixels >= rows || op.pixels >= cols)
        throw ConfigError("augment: " + describe(op) + " moves the content out of " + chip);
    } else if (op.rows > rows || op.cols > cols) {
      throw ConfigError("augment: " + describe(op) + " is larger than the archive's " + chip);
    } else if (op.rows == rows && op.cols == cols) {
      throw ConfigError("augment: " + describe(op) + " of " + chip + " leaves no room to move: every copy would be " +
                        "the chip itself");
    }
  }
}

AugmentSpec parse_augment(std::string_view text) {
  AugmentSpec spec;
  const auto fail = [&](std::string_view token, const std::string& why) { detail::fail_at("augment", text, token, why); };
  for (detail::OpText& item : detail::split_ops(text, syntaxes(), "augment", true)) {
    const std::string_view name = item.syntax->name;
    auto& args = item.args;
    const auto integer = [&](const char* key, long long fallback, long long lo, long long hi) -> long long {
      const auto it = args.find(key);
      if (it == args.end()) return fallback;
      long long v = 0;
      if (!parse_whole(it->second, v) || v < lo || v > hi)
        fail(it->second, std::string("expected an integer in ") + std::to_string(lo) + ".." + std::to_string(hi) +
                             " for " + std::string(name) + "." + key);
      return v;
    };
    AugmentOp op;
    if (name == "shift") {
      if (!args.count("pixels")) fail(item.item, "shift needs pixels, e.g. shift(2)");
      op.kind = AugmentOp::Kind::shift;
      op.pixels = static_cast<int>(integer("pixels", 0, 1, kMaxPixels));
      op.directions = static_cast<int>(integer("directions", 4, 4, 8));
      if (op.directions != 4 && op.directions != 8) fail(args["directions"], "shift directions must be 4 or 8");
    } else {
      if (!args.count("size")) fail(item.item, "crop needs a size, e.g. crop(112) or crop(112x96)");
      op.kind = AugmentOp::Kind::crop;
      const std::string_view size = args["size"];
      const std::size_t x = size.find('x');
      long long r = 0, c = 0;
      const bool ok = x == std::string_view::npos
                          ? parse_whole(size, r) && (c = r, true)
                          : parse_whole(trim(size.substr(0, x)), r) && parse_whole(trim(size.substr(x + 1)), c);
      if (!ok || r < 1 || c < 1 || r > kMaxPixels || c > kMaxPixels)
        fail(size, "expected a crop size N or RxC (positive integers)");
      op.rows = static_cast<int>(r);
      op.cols = static_cast<int>(c);
      op.count = static_cast<int>(integer("count", 1, 1, kMaxAugmentCopies));
      if (const auto it = args.find("seed"); it != args.end() && !parse_whole(it->second, op.seed))
        fail(it->second, "expected a non-negative integer for crop.seed");
    }
    spec.ops.push_back(op);
  }
  validate(spec);
  return spec;
}

std::vector<AugmentWindow> augment_windows(const AugmentSpec& spec, int rows, int cols, std::uint64_t chip_index) {
  validate(spec, rows, cols);
  std::vector<AugmentWindow> out;
  out.reserve(static_cast<std::size_t>(spec.copies()));
  for (std::size_t i = 0; i < spec.ops.size(); ++i) {
    const AugmentOp& op = spec.ops[i];
    if (op.kind == AugmentOp::Kind::shift) {
      const int p = op.pixels;
      // (dr, dc) of up, down, left, right, up-left, up-right, down-left, down-right.
      static constexpr int kMoves[8][2] = {{-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {-1, 1}, {1, -1}, {1, 1}};
      for (int d = 0; d < op.directions; ++d) out.push_back({-kMoves[d][0] * p, -kMoves[d][1] * p, rows, cols});
    } else {
      for (int k = 0; k < op.count; ++k)
        out.push_back({draw(op.seed, chip_index, i, static_cast<std::uint64_t>(k), 0, rows - op.rows),
                       draw(op.seed, chip_index, i, static_cast<std::uint64_t>(k), 1, cols - op.cols), op.rows,
                       op.cols});
    }
  }
  return out;
}

void extract_window(const float* in, int rows, int cols, const AugmentWindow& w, float* out) {
  // Columns [c0, c1) of the output read the chip directly; the ones outside repeat its edge.
  const int c0 = std::clamp(-w.left, 0, w.cols), c1 = std::clamp(cols - w.left, c0, w.cols);
  for (int r = 0; r < w.rows; ++r) {
    const float* src = in + static_cast<std::size_t>(std::clamp(w.top + r, 0, rows - 1)) * cols;
    float* dst = out + static_cast<std::size_t>(r) * w.cols;
    std::fill(dst, dst + c0, src[0]);
    std::copy(src + w.left + c0, src + w.left + c1, dst + c0);
    std::fill(dst + c1, dst + w.cols, src[cols - 1]);
  }
}

std::vector<Image> augment(const Image& chip, const AugmentSpec& spec, std::uint64_t chip_index) {
  if (chip.magnitude.size() != chip.pixels() || (chip.has_phase() && chip.phase.size() != chip.pixels()))
    throw Error("augment: the chip's planes do not hold rows x cols values");
  std::vector<Image> copies;
  for (const AugmentWindow& w : augment_windows(spec, chip.rows, chip.cols, chip_index)) {
    Image c;
    c.rows = w.rows;
    c.cols = w.cols;
    c.magnitude.resize(c.pixels());
    extract_window(chip.magnitude.data(), chip.rows, chip.cols, w, c.magnitude.data());
    if (chip.has_phase()) {
      c.phase.resize(c.pixels());
      extract_window(chip.phase.data(), chip.rows, chip.cols, w, c.phase.data());
    }
    copies.push_back(std::move(c));
  }
  return copies;
}

FeatureChain chain_for_copies(const FeatureChain& chain, int rows, int cols, const std::string& what) {
  const std::string size = std::to_string(rows) + "x" + std::to_string(cols);
  ChainSpec spec = chain.spec();
  spec.rows = rows;
  spec.cols = cols;
  try {
    FeatureChain copies(spec);
    if (copies.feature_rows() != chain.feature_rows() || copies.feature_cols() != chain.feature_cols() ||
        copies.layout() != chain.layout())
      throw ConfigError("the preprocessing turns them into " + std::to_string(copies.feature_rows()) + "x" +
                        std::to_string(copies.feature_cols()) + " images but the " + std::to_string(chain.rows()) +
                        "x" + std::to_string(chain.cols()) + " chips into " + std::to_string(chain.feature_rows()) +
                        "x" + std::to_string(chain.feature_cols()) +
                        ", so their features would not line up; add a centre crop no larger than the copies "
                        "to the preprocessing (e.g. crop(" +
                        std::to_string(std::min(rows, cols)) + ")), or augment with shift");
    return copies;
  } catch (const ConfigError& e) {
    throw ConfigError(what + ": the feature chain does not fit " + size + " copies: " + e.what());
  }
}

}  // namespace sarscale::features
