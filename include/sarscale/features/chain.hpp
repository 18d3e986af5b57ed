#pragma once
// The feature chain: preprocessing, then feature blocks concatenated in configured order. The chain
// is described by text, stored with the features, and its fingerprint lets a model refuse features
// computed by a different chain.
//
// Blocks text: blocks separated by ';', each "name" or "name(key=value, ...)", e.g.
//   "hog(orientations=9, cell=8, block=2, norm=L2-Hys); gabor(frequencies=0.1/0.2/0.4, orientations=4, grid=2);
//    pixels(size=16, db=1); stats(bins=64)"
// Blocks and parameters (default in brackets; sizes are "N" or "RxC"; booleans true/false/1/0/yes/no):
//   hog(orientations [9], cell [8], block [3], norm [L2-Hys], sqrt [false])
//       skimage.feature.hog with pixels_per_cell=cell, cells_per_block=block, block_norm=norm
//       (L1, L1-sqrt, L2, L2-Hys), transform_sqrt=sqrt (see hog.hpp).
//   gabor(frequencies [0.1/0.2/0.4], orientations [4], bandwidth [1], grid [2], method [auto])
//       GaborBank of every frequency ('/'-separated, cycles/pixel, each in (0, 0.5]) x orientation k*pi/n, pooled
//       mean and std of |response| over the chip and a grid x grid partition; method auto|direct|fft
//       (see gabor.hpp).
//   pixels(size [16], db [false], floor [-60])     area-averaged down-sampling (see blocks.hpp).
//   stats(bins [64], topk [16], sigma [3])          chip statistics (see blocks.hpp).
//   ship(method [cfar], k [3], drop [3], grow [1], spacing [1], scale [20], floor [-100], topk [8])
//       the ship's region on a patch: area, length and width along its principal axes (metres at
//       `spacing` metres per pixel, "N" or "RxC"), and per plane peak, mean, top-k mean, total and
//       sea level in dB (see ship.hpp; wants linear, non-negative planes).
//   ship_pixels(method [cfar], k [3], drop [3], grow [1], size [8x16], window [16x48], db [true], scale [20],
//               floor [-100])
//       a thumbnail of `window` pixels around the ship, turned to its principal axis (ship.hpp).
// In chains with planes (below), every block also takes on=P1/P2/... (the planes it is computed on,
// default all, in chain order) and the ship blocks detect=P (the plane the ship is found on, default
// the first of on); the canonical text then always states them.
// Parsing fills every default and prints values canonically, so describe_blocks(parse_blocks(t))
// is the canonical text and parse_blocks(describe_blocks(b)) == b.
//
// Whole chain text (what is stored with the features), parts separated by " | ":
//   "chip=128x128 | preprocess=db(floor=-60, scale=20); crop(rows=88, cols=88) | blocks=hog(...); stats(...)"
// chip is the input chip size; preprocess may be empty (see preprocess.hpp for its syntax); the
// blocks see the preprocessed chip (its size after crop/multilook).
//
// Chips of several bands (features/planes.hpp): an optional part after chip,
//   "chip=64x64 | planes=vh, vv, ratio=vh/vv | preprocess=crop(rows=48, cols=48) | blocks=ship(...); ..."
// names the planes: input bands by name, and planes derived from them. The chain then reads those
// bands (bands(): in order of first mention) and its input chip is their planes, one after the
// other. The preprocessing runs on every plane separately; per-plane blocks (hog, gabor, pixels,
// stats) are computed on each plane of their on= list and concatenated plane after plane, their
// layout entries named "pixels[vh]", "pixels[vv]", ...; a ship block gives "ship" (geometry) and
// "ship[vh]", ... (per plane), ship_pixels gives "ship_pixels[vh]", .... A chain without planes= is
// the single-plane chain of before: same text, same fingerprint, same features.
#include <cstddef>
#include <cstdint>
#include <map>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sarscale/features/planes.hpp"

namespace sarscale::features {

struct FeatureBlockSpec {
  std::string name;
  std::map<std::string, std::string> params;  // canonical values once parsed
  bool operator==(const FeatureBlockSpec&) const = default;
};

struct ChainSpec {
  std::string preprocess;  // canonical preprocess chain text ("" = none)
  std::vector<FeatureBlockSpec> blocks;
  int rows = 0;  // input chip size
  int cols = 0;
  std::vector<PlaneSpec> planes;  // empty: one unnamed plane, the chip
  bool operator==(const ChainSpec&) const = default;
};

// ConfigError naming the offending token (unknown block or key, bad value, missing '=', repeated key).
// Empty text gives no blocks.
std::vector<FeatureBlockSpec> parse_blocks(std::string_view text);
// Canonical text of blocks (defaults filled, canonical values). ConfigError for an invalid spec.
std::string describe_blocks(const std::vector<FeatureBlockSpec>& blocks);
// Canonical "key=value, ..." of one block's parameters (no name), as in BlockLayout::params.
std::string describe_block_params(const FeatureBlockSpec& block);

// A canonical ChainSpec from its parts (ConfigError for bad text, non-positive size or no blocks,
// on=/detect= naming planes the chain does not have, or given without planes).
ChainSpec make_chain_spec(std::string_view preprocess, std::string_view blocks, int rows, int cols,
                          std::string_view planes = {});
// The whole-chain text form above, and back (ConfigError naming the bad part).
ChainSpec parse_chain_spec(std::string_view text);
std::string describe(const ChainSpec& spec);

struct BlockLayout {
  std::string name;
  std::size_t offset = 0;
  std::size_t length = 0;
  std::string params;  // canonical parameter text
  bool operator==(const BlockLayout&) const = default;
};

class FeatureChain {
 public:
  // Canonicalises and validates the spec against the chip size (ConfigError): parameters, the
  // preprocessed size, each block fitting it (e.g. HOG needs at least one block of cells).
  // Builds the shared, read-only parts (Gabor kernels, spectra and FFT plans) once.
  explicit FeatureChain(const ChainSpec& spec);
  ~FeatureChain();
  FeatureChain(FeatureChain&&) noexcept;
  FeatureChain& operator=(FeatureChain&&) noexcept;
  FeatureChain(const FeatureChain&) = delete;
  FeatureChain& operator=(const FeatureChain&) = delete;

  const ChainSpec& spec() const;  // canonical
  int rows() const;               // input chip size (of each plane)
  int cols() const;
  // The input bands, by name, in the order their planes come in a chip; empty for a chain without
  // planes (one unnamed plane). input_planes(): planes per input chip (at least 1).
  const std::vector<std::string>& bands() const;
  int input_planes() const;
  int feature_rows() const;  // chip size the blocks see (after preprocessing)
  int feature_cols() const;
  std::size_t length() const;
  const std::vector<BlockLayout>& layout() const;
  std::string description() const;  // describe(spec())
  // Hex FNV-1a 64 of a format version and description(): equal strings mean the same features.
  std::string fingerprint() const;

  // Per-thread state: the Preprocessor, HogExtractors, Gabor workspaces and buffers.
  class Workspace {
   public:
    Workspace();
    ~Workspace();
    Workspace(Workspace&&) noexcept;
    Workspace& operator=(Workspace&&) noexcept;
    struct State;

   private:
    friend class FeatureChain;
    std::unique_ptr<State> state_;
  };
  Workspace workspace() const;

  // One chip of input_planes() planes of rows() x cols() (row-major float32, plane after plane) ->
  // length() values in `out`, always finite.
  // Returns "" or why the chip is unusable (preprocessing's reason, a block error, or a block
  // yielding non-finite values); `out` is then all zero.
  std::string compute(const float* chip, float* out, Workspace& workspace) const;
  std::string compute(const float* chip, float* out);  // uses an internal workspace: one thread only

  // `count` contiguous chips (each input_planes() planes) -> count * length() values; returns one
  // reason per chip ("" = usable).
  // OpenMP over chips with `threads` threads (0: omp_get_max_threads(), i.e. OMP_NUM_THREADS), one
  // Workspace per thread. Each chip is computed by one thread with the same code path, so the
  // output is bitwise identical for any thread count. Unexpected errors are rethrown after the
  // region (the lowest chip index wins).
  // `registrations` (optional): per chip, where a pose step of the preprocessing found the target
  // (Preprocessor::registration(); chains on one plane only), else empty.
  std::vector<std::string> compute_batch(const float* chips, std::size_t count, float* out, int threads = 0,
                                         std::vector<std::optional<std::array<double, 2>>>* registrations = nullptr) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Workspace> own_workspace_;
};

}  // namespace sarscale::features
