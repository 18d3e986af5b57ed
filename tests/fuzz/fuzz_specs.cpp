// libFuzzer harness for the text specs users type: the preprocessing chain, the feature blocks,
// the planes, the whole chain text stored in feature and model files, the augmentation and
// acquisition-shift specs, the --grid of train and chip sizes (NxM). Every input goes through
// every parser (one corpus serves all: a valid spec of one kind is a near miss for the others).
// A refusal must be a sarscale::ConfigError; what is accepted must be canonical after one
// round (describe(parse(describe(parse(t)))) == describe(parse(t)), parse(describe(s)) == s),
// and a grid holds only finite, usable values. Chains small enough to build are built, so
// that the size checks of FeatureChain meet what the parsers let through.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/dist/train_stage.hpp"
#include "sarscale/features/acquisition_shift.hpp"
#include "sarscale/features/augment.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/features/planes.hpp"
#include "sarscale/features/preprocess.hpp"

namespace {

using namespace sarscale;
using namespace sarscale::features;

void require(bool ok, const char* what) {
  if (!ok) throw std::logic_error(what);
}

// Runs one parser; ConfigError is the expected refusal.
template <typename F>
void refused_or_checked(F&& f) {
  try {
    f();
  } catch (const ConfigError&) {
  }
}

void chain_spec(std::string_view text) {
  const ChainSpec spec = parse_chain_spec(text);
  const std::string canonical = describe(spec);
  require(parse_chain_spec(canonical) == spec, "chain: parse(describe(s)) != s");
  // Building allocates per pixel and per block: only for chip sizes a test would use.
  if (static_cast<std::int64_t>(spec.rows) * spec.cols <= 64 * 64) {
    const FeatureChain chain(spec);
    require(chain.length() > 0, "a built chain has no features");
  }
}

void grid(const std::string& text) {
  const dist::Grid g = dist::Grid::parse(text);
  for (const double c : g.C) require(std::isfinite(c) && c > 0, "grid: accepted a C that is not finite and > 0");
  for (const double v : g.gamma) require(std::isfinite(v) && v >= 0, "grid: accepted a gamma not finite and >= 0");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(bytes), size);
  refused_or_checked([&] {
    const auto steps = parse_chain(text);
    require(parse_chain(describe_chain(steps)) == steps, "preprocess: parse(describe(s)) != s");
  });
  refused_or_checked([&] {
    const auto blocks = parse_blocks(text);
    require(parse_blocks(describe_blocks(blocks)) == blocks, "blocks: parse(describe(s)) != s");
  });
  refused_or_checked([&] {
    const auto planes = parse_planes(text);
    require(parse_planes(describe_planes(planes)) == planes, "planes: parse(describe(s)) != s");
  });
  refused_or_checked([&] { chain_spec(text); });
  refused_or_checked([&] {
    const AugmentSpec spec = parse_augment(text);
    require(parse_augment(describe(spec)) == spec, "augment: parse(describe(s)) != s");
    require(spec.copies() <= kMaxAugmentCopies, "augment: more copies than the limit");
  });
  refused_or_checked([&] {
    const AcquisitionShiftSpec spec = parse_acquisition_shift(text);
    require(parse_acquisition_shift(describe(spec)) == spec, "shift: parse(describe(s)) != s");
  });
  refused_or_checked([&] { grid(text); });
  refused_or_checked([&] {
    const auto [rows, cols] = app::parse_size(text, "--size");
    require(rows > 0 && cols > 0, "size: accepted a non-positive size");
  });
  return 0;
}
