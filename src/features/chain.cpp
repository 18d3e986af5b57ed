// Feature chain: block specs (text form, canonical values), layout, per-thread compute and the
// OpenMP batch. Definitions of the blocks are in hog.hpp, gabor.hpp and blocks.hpp.
#include "sarscale/features/chain.hpp"

#include <omp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <limits>
#include <utility>

#include "sarscale/core/error.hpp"
#include "sarscale/features/blocks.hpp"
#include "sarscale/features/gabor.hpp"
#include "sarscale/features/hog.hpp"
#include "sarscale/features/preprocess.hpp"
#include "text.hpp"

namespace sarscale::features {
namespace {

// Bump when a block's computation changes, so fingerprints of old features no longer match.
constexpr std::string_view kFormatVersion = "sarscale-feature-chain/1";

using detail::format_number;
using detail::trim;

// Parsers of one value: return the canonical text or throw ConfigError(reason) (the caller adds context).
using Canonicaliser = std::function<std::string(std::string_view)>;

long long parse_integer(std::string_view token, long long lo, long long hi) {
  long long v = 0;
  auto res = std::from_chars(token.data(), token.data() + token.size(), v);
  if (token.empty() || res.ec != std::errc() || res.ptr != token.data() + token.size())
    throw ConfigError("expected an integer");
  if (v < lo || v > hi) throw ConfigError("out of range " + std::to_string(lo) + ".." + std::to_string(hi));
  return v;
}

double parse_real(std::string_view token, double lo, double hi, bool open_lo = false) {
  double v = 0;
  auto res = std::from_chars(token.data(), token.data() + token.size(), v);
  if (token.empty() || res.ec != std::errc() || res.ptr != token.data() + token.size() || !std::isfinite(v))
    throw ConfigError("expected a finite number");
  if (v < lo || v > hi || (open_lo && v == lo))
    throw ConfigError("out of range " + std::string(open_lo ? "(" : "[") + format_number(lo) + ", " +
                      format_number(hi) + "]");
  return v;
}

Canonicaliser integer(long long lo, long long hi) {
  return [=](std::string_view t) { return std::to_string(parse_integer(t, lo, hi)); };
}

Canonicaliser real(double lo, double hi, bool open_lo = false) {
  return [=](std::string_view t) { return format_number(parse_real(t, lo, hi, open_lo)); };
}

std::pair<int, int> parse_size(std::string_view t, int lo, int hi) {
  const std::size_t x = t.find('x');
  if (x == std::string_view::npos) {
    const int n = static_cast<int>(parse_integer(trim(t), lo, hi));
    return {n, n};
  }
  return {static_cast<int>(parse_integer(trim(t.substr(0, x)), lo, hi)),
          static_cast<int>(parse_integer(trim(t.substr(x + 1)), lo, hi))};
}

// "N" for square sizes, "RxC" otherwise.
Canonicaliser size(int lo, int hi) {
  return [=](std::string_view t) {
    const auto [r, c] = parse_size(t, lo, hi);
    return r == c ? std::to_string(r) : std::to_string(r) + "x" + std::to_string(c);
  };
}

bool parse_bool(std::string_view t) {
  if (t == "true" || t == "1" || t == "yes") return true;
  if (t == "false" || t == "0" || t == "no") return false;
  throw ConfigError("expected true/false/1/0/yes/no");
}

Canonicaliser boolean() {
  return [](std::string_view t) { return std::string(parse_bool(t) ? "true" : "false"); };
}

Canonicaliser one_of(std::vector<std::string> words) {
  return [=](std::string_view t) {
    for (const std::string& w : words)
      if (t == w) return w;
    std::string known;
    for (const std::string& w : words) known += (known.empty() ? "" : "|") + w;
    throw ConfigError("expected " + known);
  };
}

std::vector<double> parse_frequencies(std::string_view t) {
  std::vector<double> out;
  while (true) {
    const std::size_t slash = std::min(t.find('/'), t.size());
    out.push_back(parse_real(trim(t.substr(0, slash)), 0, 0.5, true));
    if (slash == t.size()) break;
    t = t.substr(slash + 1);
  }
  return out;
}

Canonicaliser frequency_list() {
  return [](std::string_view t) {
    std::string out;
    for (double f : parse_frequencies(t)) out += (out.empty() ? "" : "/") + format_number(f);
    return out;
  };
}

struct KeySpec {
  const char* key;
  const char* fallback;  // canonical default
  Canonicaliser canonical;
};

struct BlockKind {
  const char* name;
  std::vector<KeySpec> keys;
};

const std::vector<BlockKind>& block_kinds() {
  static const std::vector<BlockKind> kinds = {
      {"hog",
       {{"orientations", "9", integer(1, kMaxHogOrientations)},
        {"cell", "8", size(1, kMaxHogCellSize)},
        {"block", "3", size(1, kMaxHogBlockCells)},
        {"norm", "L2-Hys", one_of({"L1", "L1-sqrt", "L2", "L2-Hys"})},
        {"sqrt", "false", boolean()}}},
      {"gabor",
       {{"frequencies", "0.1/0.2/0.4", frequency_list()},
        {"orientations", "4", integer(1, 360)},
        {"bandwidth", "1", real(0, 100, true)},
        {"grid", "2", integer(0, 64)},
        {"method", "auto", one_of({"auto", "direct", "fft"})}}},
      {"pixels",
       {{"size", "16", size(1, kMaxPixelsSize)}, {"db", "false", boolean()}, {"floor", "-60", real(-1e6, 1e6)}}},
      {"stats",
       {{"bins", "64", integer(2, 65536)},
        {"topk", "16", integer(1, std::numeric_limits<int>::max())},
        {"sigma", "3", real(0, 1e6)}}},
  };
  return kinds;
}

const BlockKind& find_kind(std::string_view name) {
  for (const BlockKind& k : block_kinds())
    if (name == k.name) return k;
  throw ConfigError("feature blocks: unknown block '" + std::string(name) + "' (known: hog, gabor, pixels, stats)");
}

const KeySpec* find_key(const BlockKind& kind, std::string_view key) {
  for (const KeySpec& k : kind.keys)
    if (key == k.key) return &k;
  return nullptr;
}

std::string canonical_value(const BlockKind& kind, const KeySpec& key, std::string_view value) {
  try {
    return key.canonical(trim(value));
  } catch (const ConfigError& e) {
    throw ConfigError("feature blocks: bad value '" + std::string(value) + "' for " + kind.name + "." + key.key + " (" +
                      e.what() + ")");
  }
}

// Defaults filled, every value canonical; ConfigError for unknown names and keys or bad values.
FeatureBlockSpec normalise(const FeatureBlockSpec& in) {
  const BlockKind& kind = find_kind(in.name);
  FeatureBlockSpec out{in.name, {}};
  for (const auto& [key, value] : in.params) {
    const KeySpec* spec = find_key(kind, key);
    if (!spec) throw ConfigError("feature blocks: unknown parameter '" + key + "' of block " + in.name);
    out.params[key] = canonical_value(kind, *spec, value);
  }
  for (const KeySpec& k : kind.keys) out.params.try_emplace(k.key, k.fallback);
  return out;
}

const std::string& param(const FeatureBlockSpec& block, const char* key) { return block.params.at(key); }

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::vector<FeatureBlockSpec> parse_blocks(std::string_view text) {
  std::vector<FeatureBlockSpec> blocks;
  const auto fail = [&](std::string_view token, const std::string& why) {
    throw ConfigError("feature blocks: " + why + " at '" + std::string(token) + "' in \"" + std::string(text) + "\"");
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find(';', pos), text.size());
    const std::string_view item = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (item.empty()) continue;
    std::size_t n = 0;
    while (n < item.size() && (std::isalnum(static_cast<unsigned char>(item[n])) || item[n] == '_')) ++n;
    const std::string_view name = item.substr(0, n);
    if (name.empty()) fail(item, "expected a block name");
    const BlockKind& kind = find_kind(name);
    FeatureBlockSpec block{std::string(name), {}};
    const std::string_view rest = trim(item.substr(n));
    if (!rest.empty()) {
      if (rest.front() != '(' || rest.back() != ')') fail(rest, "expected '(key=value, ...)' after " + block.name);
      std::string_view args = trim(rest.substr(1, rest.size() - 2));
      while (!args.empty()) {
        const std::size_t comma = std::min(args.find(','), args.size());
        const std::string_view arg = trim(args.substr(0, comma));
        args = comma < args.size() ? args.substr(comma + 1) : std::string_view();
        const std::size_t eq = arg.find('=');
        if (eq == std::string_view::npos) fail(arg.empty() ? rest : arg, "expected key=value");
        const std::string key(trim(arg.substr(0, eq)));
        const KeySpec* spec = find_key(kind, key);
        if (!spec) fail(arg, "unknown parameter of " + block.name);
        if (block.params.count(key)) fail(arg, "repeated parameter");
        block.params[key] = canonical_value(kind, *spec, arg.substr(eq + 1));
      }
    }
    blocks.push_back(normalise(block));
  }
  return blocks;
}

std::string describe_block_params(const FeatureBlockSpec& block) {
  const FeatureBlockSpec canonical = normalise(block);
  std::string out;
  for (const KeySpec& k : find_kind(block.name).keys)
    out += (out.empty() ? "" : ", ") + std::string(k.key) + "=" + canonical.params.at(k.key);
  return out;
}

std::string describe_blocks(const std::vector<FeatureBlockSpec>& blocks) {
  std::string out;
  for (const FeatureBlockSpec& b : blocks)
    out += (out.empty() ? "" : "; ") + b.name + "(" + describe_block_params(b) + ")";
  return out;
}

ChainSpec make_chain_spec(std::string_view preprocess, std::string_view blocks, int rows, int cols) {
  if (rows < 1 || cols < 1)
    throw ConfigError("feature chain: chip size must be positive, got " + std::to_string(rows) + "x" +
                      std::to_string(cols));
  ChainSpec spec{describe_chain(parse_chain(preprocess)), parse_blocks(blocks), rows, cols};
  if (spec.blocks.empty()) throw ConfigError("feature chain: no feature blocks configured");
  return spec;
}

std::string describe(const ChainSpec& spec) {
  return "chip=" + std::to_string(spec.rows) + "x" + std::to_string(spec.cols) +
         " | preprocess=" + describe_chain(parse_chain(spec.preprocess)) + " | blocks=" + describe_blocks(spec.blocks);
}

ChainSpec parse_chain_spec(std::string_view text) {
  std::map<std::string, std::string_view> parts;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t end = std::min(text.find('|', pos), text.size());
    const std::string_view part = trim(text.substr(pos, end - pos));
    pos = end + 1;
    const std::size_t eq = part.find('=');
    const std::string key(trim(part.substr(0, eq)));
    if (eq == std::string_view::npos || (key != "chip" && key != "preprocess" && key != "blocks"))
      throw ConfigError("feature chain: expected chip=, preprocess= or blocks= at '" + std::string(part) + "' in \"" +
                        std::string(text) + "\"");
    if (!parts.emplace(key, trim(part.substr(eq + 1))).second)
      throw ConfigError("feature chain: repeated part '" + key + "' in \"" + std::string(text) + "\"");
  }
  for (const char* key : {"chip", "blocks"})
    if (!parts.count(key))
      throw ConfigError("feature chain: missing part '" + std::string(key) + "=' in \"" + std::string(text) + "\"");
  std::pair<int, int> chip;
  try {
    chip = parse_size(parts["chip"], 1, 1 << 20);
  } catch (const ConfigError& e) {
    throw ConfigError("feature chain: bad chip size '" + std::string(parts["chip"]) + "' (" + e.what() + ")");
  }
  return make_chain_spec(parts["preprocess"], parts["blocks"], chip.first, chip.second);
}

// ---------------------------------------------------------------------------------------------------------------

namespace {

enum class Kind { kHog, kGabor, kPixels, kStats };

struct Block {
  Kind kind;
  std::string name;
  std::size_t offset = 0, length = 0;
  HogParams hog;
  std::unique_ptr<GaborBank> gabor;
  std::unique_ptr<PixelsBlock> pixels;
  std::unique_ptr<StatsBlock> stats;
};

}  // namespace

struct FeatureChain::Impl {
  ChainSpec spec;
  std::vector<PreprocessStep> preprocess;
  int feature_rows = 0, feature_cols = 0;
  std::vector<Block> blocks;
  std::vector<BlockLayout> layout;
  std::size_t length = 0;
  std::string description;
};

struct FeatureChain::Workspace::State {
  Preprocessor preprocessor;
  std::vector<float> image;                        // the preprocessed chip
  std::vector<std::unique_ptr<HogExtractor>> hog;  // per block (null for other kinds)
  std::vector<GaborBank::Workspace> gabor;         // per block (empty for other kinds)
  StatsBlock::Scratch stats;
};

FeatureChain::Workspace::Workspace() = default;
FeatureChain::Workspace::~Workspace() = default;
FeatureChain::Workspace::Workspace(Workspace&&) noexcept = default;
FeatureChain::Workspace& FeatureChain::Workspace::operator=(Workspace&&) noexcept = default;

FeatureChain::FeatureChain(const ChainSpec& spec) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  if (spec.blocks.empty()) throw ConfigError("feature chain: no feature blocks configured");
  m.preprocess = parse_chain(spec.preprocess);
  m.spec = ChainSpec{describe_chain(m.preprocess), {}, spec.rows, spec.cols};
  for (const FeatureBlockSpec& b : spec.blocks) m.spec.blocks.push_back(normalise(b));
  if (spec.rows < 1 || spec.cols < 1)
    throw ConfigError("feature chain: chip size must be positive, got " + std::to_string(spec.rows) + "x" +
                      std::to_string(spec.cols));
  const Preprocessor probe(m.preprocess, spec.rows, spec.cols);
  m.feature_rows = probe.out_rows();
  m.feature_cols = probe.out_cols();
  const int fr = m.feature_rows, fc = m.feature_cols;
  for (const FeatureBlockSpec& b : m.spec.blocks) {
    Block block{};
    block.name = b.name;
    try {
      if (b.name == "hog") {
        block.kind = Kind::kHog;
        HogParams& h = block.hog;
        h.orientations = std::stoi(param(b, "orientations"));
        std::tie(h.cell_rows, h.cell_cols) = parse_size(param(b, "cell"), 1, kMaxHogCellSize);
        std::tie(h.block_rows, h.block_cols) = parse_size(param(b, "block"), 1, kMaxHogBlockCells);
        h.norm = parse_hog_block_norm(param(b, "norm"));
        h.transform_sqrt = parse_bool(param(b, "sqrt"));
        block.length = hog_length(h, fr, fc);
      } else if (b.name == "gabor") {
        block.kind = Kind::kGabor;
        GaborBankOptions options;
        options.grid = std::stoi(param(b, "grid"));
        const std::string& method = param(b, "method");
        options.method = method == "direct" ? Convolution::kDirect
                         : method == "fft"  ? Convolution::kFft
                                            : Convolution::kAuto;
        block.gabor = std::make_unique<GaborBank>(
            gabor_bank_params(parse_frequencies(param(b, "frequencies")), std::stoi(param(b, "orientations")),
                              std::stod(param(b, "bandwidth"))),
            fr, fc, options);
        block.length = block.gabor->feature_length();
      } else if (b.name == "pixels") {
        block.kind = Kind::kPixels;
        PixelsParams p;
        std::tie(p.rows, p.cols) = parse_size(param(b, "size"), 1, kMaxPixelsSize);
        p.db = parse_bool(param(b, "db"));
        p.floor = parse_real(param(b, "floor"), -1e6, 1e6);
        block.pixels = std::make_unique<PixelsBlock>(p, fr, fc);
        block.length = block.pixels->length();
      } else {
        block.kind = Kind::kStats;
        StatsParams p;
        p.bins = std::stoi(param(b, "bins"));
        p.topk = std::stoi(param(b, "topk"));
        p.sigma = parse_real(param(b, "sigma"), 0, 1e6);
        block.stats = std::make_unique<StatsBlock>(p, fr, fc);
        block.length = block.stats->length();
      }
    } catch (const ConfigError& e) {
      throw ConfigError("feature chain: block " + b.name + "(" + describe_block_params(b) + ") on the " +
                        std::to_string(fr) + "x" + std::to_string(fc) + " preprocessed chip: " + e.what());
    }
    block.offset = m.length;
    m.length += block.length;
    m.layout.push_back({b.name, block.offset, block.length, describe_block_params(b)});
    m.blocks.push_back(std::move(block));
  }
  m.description = describe(m.spec);
}

FeatureChain::~FeatureChain() = default;
FeatureChain::FeatureChain(FeatureChain&&) noexcept = default;
FeatureChain& FeatureChain::operator=(FeatureChain&&) noexcept = default;

const ChainSpec& FeatureChain::spec() const { return impl_->spec; }
int FeatureChain::rows() const { return impl_->spec.rows; }
int FeatureChain::cols() const { return impl_->spec.cols; }
int FeatureChain::feature_rows() const { return impl_->feature_rows; }
int FeatureChain::feature_cols() const { return impl_->feature_cols; }
std::size_t FeatureChain::length() const { return impl_->length; }
const std::vector<BlockLayout>& FeatureChain::layout() const { return impl_->layout; }
std::string FeatureChain::description() const { return impl_->description; }

std::string FeatureChain::fingerprint() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(fnv1a64(std::string(kFormatVersion) + "\n" + impl_->description)));
  return buf;
}

FeatureChain::Workspace FeatureChain::workspace() const {
  const Impl& m = *impl_;
  Workspace ws;
  ws.state_ = std::unique_ptr<Workspace::State>(
      new Workspace::State{Preprocessor(m.preprocess, m.spec.rows, m.spec.cols),
                           std::vector<float>(static_cast<std::size_t>(m.feature_rows) * m.feature_cols),
                           {},
                           {},
                           {}});
  for (const Block& b : m.blocks) {
    ws.state_->hog.push_back(
        b.kind == Kind::kHog ? std::make_unique<HogExtractor>(b.hog, m.feature_rows, m.feature_cols) : nullptr);
    ws.state_->gabor.push_back(b.kind == Kind::kGabor ? b.gabor->workspace() : GaborBank::Workspace());
  }
  return ws;
}

std::string FeatureChain::compute(const float* chip, float* out, Workspace& workspace) const {
  const Impl& m = *impl_;
  if (!workspace.state_)
    throw Error("FeatureChain::compute: empty workspace (make one with FeatureChain::workspace())");
  Workspace::State& s = *workspace.state_;
  std::string reason = s.preprocessor.apply(chip, s.image.data());
  for (std::size_t i = 0; i < m.blocks.size() && reason.empty(); ++i) {
    const Block& b = m.blocks[i];
    float* slice = out + b.offset;
    try {
      switch (b.kind) {
        case Kind::kHog:
          s.hog[i]->compute(s.image.data(), slice);
          break;
        case Kind::kGabor:
          b.gabor->features(s.image.data(), slice, s.gabor[i]);
          break;
        case Kind::kPixels:
          b.pixels->compute(s.image.data(), slice);
          break;
        case Kind::kStats:
          b.stats->compute(s.image.data(), slice, s.stats);
          break;
      }
    } catch (const InputError& e) {  // data-dependent (e.g. negative pixels with hog sqrt): flag the chip
      reason = b.name + " block: " + e.what();
      break;
    }
    const auto bad = std::count_if(slice, slice + b.length, [](float v) { return !std::isfinite(v); });
    if (bad > 0) reason = b.name + " block produced " + std::to_string(bad) + " non-finite value(s)";
  }
  if (!reason.empty()) std::fill_n(out, m.length, 0.0f);
  return reason;
}

std::string FeatureChain::compute(const float* chip, float* out) {
  if (!own_workspace_) own_workspace_ = std::make_unique<Workspace>(workspace());
  return compute(chip, out, *own_workspace_);
}

std::vector<std::string> FeatureChain::compute_batch(const float* chips, std::size_t count, float* out,
                                                     int threads) const {
  std::vector<std::string> reasons(count);
  if (count == 0) return reasons;
  const std::size_t chip_size = static_cast<std::size_t>(rows()) * cols();
  std::vector<std::exception_ptr> errors(count);  // per chip, so the lowest index can win
  std::exception_ptr setup_error;
  // Thread count: the caller's `threads`, else OpenMP's default (OMP_NUM_THREADS / omp_get_max_threads()).
  const int team = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel num_threads(team)
  {
    std::unique_ptr<Workspace> ws;
    try {
      ws = std::make_unique<Workspace>(workspace());
    } catch (...) {
#pragma omp critical(sarscale_feature_chain_setup)
      if (!setup_error) setup_error = std::current_exception();
    }
#pragma omp for schedule(dynamic, 1)
    for (long long i = 0; i < static_cast<long long>(count); ++i) {
      if (!ws) continue;
      const auto chip = static_cast<std::size_t>(i);
      try {
        reasons[chip] = compute(chips + chip * chip_size, out + chip * length(), *ws);
      } catch (...) {
        errors[chip] = std::current_exception();
      }
    }
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  if (setup_error) std::rethrow_exception(setup_error);
  return reasons;
}

}  // namespace sarscale::features
