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
#include "sarscale/features/ship.hpp"
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

// Reals in "N" or "RxC" form (e.g. pixel spacing 10 or 2.3x14).
Canonicaliser real_size(double lo, double hi) {
  return [=](std::string_view t) {
    const std::size_t x = t.find('x');
    if (x == std::string_view::npos) return format_number(parse_real(trim(t), lo, hi, true));
    const double r = parse_real(trim(t.substr(0, x)), lo, hi, true),
                 c = parse_real(trim(t.substr(x + 1)), lo, hi, true);
    return r == c ? format_number(r) : format_number(r) + "x" + format_number(c);
  };
}

// Plane names of on= ('/'-separated) and detect=, lowercase; checked against the chain's planes later.
Canonicaliser plane_names(bool list) {
  return [=](std::string_view t) {
    std::string out;
    std::size_t count = 0;
    while (true) {
      const std::size_t slash = std::min(t.find('/'), t.size());
      std::string name(trim(t.substr(0, slash)));
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!is_plane_name(name))
        throw ConfigError("expected " + std::string(list ? "plane names A/B/..." : "a plane name"));
      out += (out.empty() ? "" : "/") + name;
      ++count;
      if (slash == t.size()) break;
      t = t.substr(slash + 1);
    }
    if (!list && count > 1) throw ConfigError("expected one plane name");
    return out;
  };
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
  // on= and detect=: "" unless the chain has planes, and then left out of the text when empty, so
  // the canonical text of single-plane chains is what it was before planes existed.
  bool plane_key = false;
};

KeySpec on_key() { return {"on", "", plane_names(true), true}; }

// Parameters of the ship detection, shared by both ship blocks.
std::vector<KeySpec> ship_keys(std::vector<KeySpec> own) {
  std::vector<KeySpec> keys = {{"method", "cfar", one_of({"cfar", "otsu"})},
                               {"k", "3", real(0, 100)},
                               {"drop", "3", real(0, 60, true)},
                               {"grow", "1", integer(0, 16)}};
  keys.insert(keys.end(), own.begin(), own.end());
  keys.push_back({"detect", "", plane_names(false), true});
  keys.push_back(on_key());
  return keys;
}

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
        {"sqrt", "false", boolean()},
        on_key()}},
      {"gabor",
       {{"frequencies", "0.1/0.2/0.4", frequency_list()},
        {"orientations", "4", integer(1, 360)},
        {"bandwidth", "1", real(0, 100, true)},
        {"grid", "2", integer(0, 64)},
        {"method", "auto", one_of({"auto", "direct", "fft"})},
        on_key()}},
      {"pixels",
       {{"size", "16", size(1, kMaxPixelsSize)},
        {"db", "false", boolean()},
        {"floor", "-60", real(-1e6, 1e6)},
        on_key()}},
      {"stats",
       {{"bins", "64", integer(2, 65536)},
        {"topk", "16", integer(1, std::numeric_limits<int>::max())},
        {"sigma", "3", real(0, 1e6)},
        on_key()}},
      {"ship", ship_keys({{"spacing", "1", real_size(0, 1e4)},
                          {"scale", "20", real(0, 100, true)},
                          {"floor", "-100", real(-1e6, 1e6)},
                          {"topk", "8", integer(1, std::numeric_limits<int>::max())}})},
      {"ship_pixels", ship_keys({{"size", "8x16", size(1, 4096)},
                                 {"window", "16x48", size(1, 4096)},
                                 {"db", "true", boolean()},
                                 {"scale", "20", real(0, 100, true)},
                                 {"floor", "-100", real(-1e6, 1e6)}})},
  };
  return kinds;
}

const BlockKind& find_kind(std::string_view name) {
  for (const BlockKind& k : block_kinds())
    if (name == k.name) return k;
  throw ConfigError("feature blocks: unknown block '" + std::string(name) +
                    "' (known: hog, gabor, pixels, stats, ship, ship_pixels)");
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
    // An empty plane key is its default (the chain fills it in when it has planes).
    out.params[key] = spec->plane_key && trim(value).empty() ? std::string() : canonical_value(kind, *spec, value);
  }
  for (const KeySpec& k : kind.keys) out.params.try_emplace(k.key, k.fallback);
  return out;
}

const std::string& param(const FeatureBlockSpec& block, const char* key) { return block.params.at(key); }

bool is_ship_kind(const std::string& name) { return name == "ship" || name == "ship_pixels"; }

std::vector<std::string> split_planes(const std::string& list) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < list.size()) {
    const std::size_t end = std::min(list.find('/', pos), list.size());
    out.push_back(list.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// In a chain with planes: on= defaults to every plane, detect= (ship blocks) to the first of on=,
// and both must name planes of the chain. Without planes neither may be given.
FeatureBlockSpec resolve_planes(FeatureBlockSpec b, const std::vector<PlaneSpec>& planes) {
  const auto where = [&] { return "feature blocks: " + b.name + "(" + describe_block_params(b) + "): "; };
  if (planes.empty()) {
    for (const char* key : {"on", "detect"})
      if (b.params.count(key) && !b.params.at(key).empty())
        throw ConfigError(where() + key + "= names planes, but the chain has none (add planes= to it)");
    return b;
  }
  std::string all;
  for (const PlaneSpec& p : planes) all += (all.empty() ? "" : "/") + p.name;
  if (b.params.at("on").empty()) b.params["on"] = all;
  if (is_ship_kind(b.name) && b.params.at("detect").empty())
    b.params["detect"] = split_planes(b.params.at("on")).front();
  std::vector<std::string> named = split_planes(b.params.at("on"));
  if (is_ship_kind(b.name)) named.push_back(b.params.at("detect"));
  for (const std::string& n : named)
    if (std::none_of(planes.begin(), planes.end(), [&](const PlaneSpec& p) { return p.name == n; }))
      throw ConfigError(where() + "no plane '" + n + "' in the chain (planes: " + describe_planes(planes) + ")");
  return b;
}

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
    if (!k.plane_key || !canonical.params.at(k.key).empty())
      out += (out.empty() ? "" : ", ") + std::string(k.key) + "=" + canonical.params.at(k.key);
  return out;
}

std::string describe_blocks(const std::vector<FeatureBlockSpec>& blocks) {
  std::string out;
  for (const FeatureBlockSpec& b : blocks)
    out += (out.empty() ? "" : "; ") + b.name + "(" + describe_block_params(b) + ")";
  return out;
}

ChainSpec make_chain_spec(std::string_view preprocess, std::string_view blocks, int rows, int cols,
                          std::string_view planes) {
  if (rows < 1 || cols < 1)
    throw ConfigError("feature chain: chip size must be positive, got " + std::to_string(rows) + "x" +
                      std::to_string(cols));
  ChainSpec spec{describe_chain(parse_chain(preprocess)), parse_blocks(blocks), rows, cols, parse_planes(planes)};
  if (spec.blocks.empty()) throw ConfigError("feature chain: no feature blocks configured");
  for (FeatureBlockSpec& b : spec.blocks) b = resolve_planes(b, spec.planes);
  return spec;
}

std::string describe(const ChainSpec& spec) {
  // The planes part only where there are planes: the text of single-plane chains is unchanged.
  const std::string planes = spec.planes.empty() ? "" : " | planes=" + describe_planes(spec.planes);
  return "chip=" + std::to_string(spec.rows) + "x" + std::to_string(spec.cols) + planes +
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
    if (eq == std::string_view::npos || (key != "chip" && key != "planes" && key != "preprocess" && key != "blocks"))
      throw ConfigError("feature chain: expected chip=, planes=, preprocess= or blocks= at '" + std::string(part) +
                        "' in \"" + std::string(text) + "\"");
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
  return make_chain_spec(parts["preprocess"], parts["blocks"], chip.first, chip.second, parts["planes"]);
}

// ---------------------------------------------------------------------------------------------------------------

namespace {

enum class Kind { kHog, kGabor, kPixels, kStats, kShip, kShipPixels };

struct Block {
  Kind kind;
  std::string name;
  std::size_t offset = 0, length = 0;
  std::size_t per_plane = 0;  // values per plane of on (per-plane kinds)
  std::vector<int> on;        // planes it is computed on (indices into the chain's planes)
  int detect = 0;             // ship kinds: the plane the ship is found on
  HogParams hog;
  std::unique_ptr<GaborBank> gabor;
  std::unique_ptr<PixelsBlock> pixels;
  std::unique_ptr<StatsBlock> stats;
  std::unique_ptr<ShipBlock> ship;
  std::unique_ptr<ShipPixelsBlock> ship_pixels;
};

ShipDetectParams ship_detect_params(const FeatureBlockSpec& b) {
  ShipDetectParams d;
  d.method = param(b, "method") == "otsu" ? ShipDetectParams::Method::otsu : ShipDetectParams::Method::cfar;
  d.k = parse_real(param(b, "k"), 0, 100);
  d.drop = parse_real(param(b, "drop"), 0, 60, true);
  d.grow = std::stoi(param(b, "grow"));
  return d;
}

// The block of spec `b` on fr x fc planes, `planes` of them measured (its length set).
Block make_block(const FeatureBlockSpec& b, int fr, int fc, int planes) {
  Block block{};
  block.name = b.name;
  if (b.name == "hog") {
    block.kind = Kind::kHog;
    HogParams& h = block.hog;
    h.orientations = std::stoi(param(b, "orientations"));
    std::tie(h.cell_rows, h.cell_cols) = parse_size(param(b, "cell"), 1, kMaxHogCellSize);
    std::tie(h.block_rows, h.block_cols) = parse_size(param(b, "block"), 1, kMaxHogBlockCells);
    h.norm = parse_hog_block_norm(param(b, "norm"));
    h.transform_sqrt = parse_bool(param(b, "sqrt"));
    block.per_plane = hog_length(h, fr, fc);
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
    block.per_plane = block.gabor->feature_length();
  } else if (b.name == "pixels") {
    block.kind = Kind::kPixels;
    PixelsParams p;
    std::tie(p.rows, p.cols) = parse_size(param(b, "size"), 1, kMaxPixelsSize);
    p.db = parse_bool(param(b, "db"));
    p.floor = parse_real(param(b, "floor"), -1e6, 1e6);
    block.pixels = std::make_unique<PixelsBlock>(p, fr, fc);
    block.per_plane = block.pixels->length();
  } else if (b.name == "stats") {
    block.kind = Kind::kStats;
    StatsParams p;
    p.bins = std::stoi(param(b, "bins"));
    p.topk = std::stoi(param(b, "topk"));
    p.sigma = parse_real(param(b, "sigma"), 0, 1e6);
    block.stats = std::make_unique<StatsBlock>(p, fr, fc);
    block.per_plane = block.stats->length();
  } else if (b.name == "ship") {
    block.kind = Kind::kShip;
    ShipParams p;
    p.detect = ship_detect_params(b);
    const std::string& spacing = param(b, "spacing");
    const std::size_t x = spacing.find('x');
    p.spacing_rows = std::stod(spacing.substr(0, x));
    p.spacing_cols = x == std::string::npos ? p.spacing_rows : std::stod(spacing.substr(x + 1));
    p.scale = parse_real(param(b, "scale"), 0, 100, true);
    p.floor = parse_real(param(b, "floor"), -1e6, 1e6);
    p.topk = std::stoi(param(b, "topk"));
    block.ship = std::make_unique<ShipBlock>(p, fr, fc, planes);
    block.length = block.ship->length();
  } else {
    block.kind = Kind::kShipPixels;
    ShipPixelsParams p;
    p.detect = ship_detect_params(b);
    std::tie(p.out_rows, p.out_cols) = parse_size(param(b, "size"), 1, 4096);
    std::tie(p.window_rows, p.window_cols) = parse_size(param(b, "window"), 1, 4096);
    p.db = parse_bool(param(b, "db"));
    p.scale = parse_real(param(b, "scale"), 0, 100, true);
    p.floor = parse_real(param(b, "floor"), -1e6, 1e6);
    block.ship_pixels = std::make_unique<ShipPixelsBlock>(p, fr, fc, planes);
    block.per_plane = block.ship_pixels->per_plane();
  }
  if (block.kind != Kind::kShip) block.length = block.per_plane * static_cast<std::size_t>(planes);
  return block;
}

// The layout entries of a block: one per block without planes; with planes, one per plane
// ("pixels[vh]"), the ship block's geometry first ("ship").
void add_layout(const Block& block, const FeatureBlockSpec& spec, const std::vector<PlaneSpec>& planes,
                std::vector<BlockLayout>& layout) {
  const std::string params = describe_block_params(spec);
  if (planes.empty()) {
    layout.push_back({block.name, block.offset, block.length, params});
    return;
  }
  std::size_t offset = block.offset;
  std::size_t per = block.per_plane;
  if (block.kind == Kind::kShip) {
    layout.push_back({block.name, offset, kShipGeometryLength, params});
    offset += kShipGeometryLength;
    per = kShipPlaneLength;
  }
  for (const int p : block.on) {
    layout.push_back({block.name + "[" + planes[static_cast<std::size_t>(p)].name + "]", offset, per, params});
    offset += per;
  }
}

int plane_index(const std::vector<PlaneSpec>& planes, const std::string& name) {
  for (std::size_t i = 0; i < planes.size(); ++i)
    if (planes[i].name == name) return static_cast<int>(i);
  throw Error("feature chain: no plane '" + name + "'");
}

}  // namespace

struct FeatureChain::Impl {
  ChainSpec spec;
  std::vector<PreprocessStep> preprocess;
  std::vector<std::string> bands;  // input bands (empty: one unnamed plane)
  int planes = 1;                  // planes the blocks may see
  int feature_rows = 0, feature_cols = 0;
  std::vector<Block> blocks;
  std::vector<BlockLayout> layout;
  std::size_t length = 0;
  std::string description;
};

struct FeatureChain::Workspace::State {
  Preprocessor preprocessor;
  std::vector<std::vector<float>> images;          // the preprocessed planes
  std::vector<float> derived;                      // a derived plane before preprocessing
  std::vector<std::unique_ptr<HogExtractor>> hog;  // per block (null for other kinds)
  std::vector<GaborBank::Workspace> gabor;         // per block (empty for other kinds)
  StatsBlock::Scratch stats;
  ShipScratch ship;
};

FeatureChain::Workspace::Workspace() = default;
FeatureChain::Workspace::~Workspace() = default;
FeatureChain::Workspace::Workspace(Workspace&&) noexcept = default;
FeatureChain::Workspace& FeatureChain::Workspace::operator=(Workspace&&) noexcept = default;

FeatureChain::FeatureChain(const ChainSpec& spec) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  if (spec.blocks.empty()) throw ConfigError("feature chain: no feature blocks configured");
  m.preprocess = parse_chain(spec.preprocess);
  m.spec = ChainSpec{describe_chain(m.preprocess), {}, spec.rows, spec.cols, spec.planes};
  for (const FeatureBlockSpec& b : spec.blocks) m.spec.blocks.push_back(resolve_planes(normalise(b), spec.planes));
  if (spec.rows < 1 || spec.cols < 1)
    throw ConfigError("feature chain: chip size must be positive, got " + std::to_string(spec.rows) + "x" +
                      std::to_string(spec.cols));
  m.bands = plane_bands(spec.planes);
  m.planes = std::max<int>(1, static_cast<int>(spec.planes.size()));
  const Preprocessor probe(m.preprocess, spec.rows, spec.cols);
  m.feature_rows = probe.out_rows();
  m.feature_cols = probe.out_cols();
  const int fr = m.feature_rows, fc = m.feature_cols;
  for (const FeatureBlockSpec& b : m.spec.blocks) {
    std::vector<int> on = {0};
    int detect = 0;
    if (!spec.planes.empty()) {
      on.clear();
      for (const std::string& name : split_planes(param(b, "on"))) on.push_back(plane_index(spec.planes, name));
      if (is_ship_kind(b.name)) detect = plane_index(spec.planes, param(b, "detect"));
    }
    Block block;
    try {
      block = make_block(b, fr, fc, static_cast<int>(on.size()));
    } catch (const ConfigError& e) {
      throw ConfigError("feature chain: block " + b.name + "(" + describe_block_params(b) + ") on the " +
                        std::to_string(fr) + "x" + std::to_string(fc) + " preprocessed chip: " + e.what());
    }
    block.on = on;
    block.detect = detect;
    block.offset = m.length;
    m.length += block.length;
    add_layout(block, b, spec.planes, m.layout);
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
const std::vector<std::string>& FeatureChain::bands() const { return impl_->bands; }
int FeatureChain::input_planes() const { return std::max<int>(1, static_cast<int>(impl_->bands.size())); }
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
  const auto plane = static_cast<std::size_t>(m.feature_rows) * static_cast<std::size_t>(m.feature_cols);
  Workspace ws;
  ws.state_ = std::unique_ptr<Workspace::State>(new Workspace::State{
      Preprocessor(m.preprocess, m.spec.rows, m.spec.cols),
      std::vector<std::vector<float>>(static_cast<std::size_t>(m.planes), std::vector<float>(plane)),
      std::vector<float>(m.spec.planes.empty() ? 0 : static_cast<std::size_t>(m.spec.rows) * m.spec.cols),
      {},
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

namespace {

// Block `i` of the chain on the preprocessed planes, into `slice`. InputError for data it cannot use.
void compute_block(const Block& b, std::size_t i, FeatureChain::Workspace::State& s, float* slice) {
  if (b.kind == Kind::kShip || b.kind == Kind::kShipPixels) {
    std::vector<const float*> planes;
    for (const int p : b.on) planes.push_back(s.images[static_cast<std::size_t>(p)].data());
    const float* detect = s.images[static_cast<std::size_t>(b.detect)].data();
    if (b.kind == Kind::kShip)
      b.ship->compute(detect, planes, slice, s.ship);
    else
      b.ship_pixels->compute(detect, planes, slice, s.ship);
    return;
  }
  for (std::size_t j = 0; j < b.on.size(); ++j) {
    const float* image = s.images[static_cast<std::size_t>(b.on[j])].data();
    float* out = slice + j * b.per_plane;
    switch (b.kind) {
      case Kind::kHog:
        s.hog[i]->compute(image, out);
        break;
      case Kind::kGabor:
        b.gabor->features(image, out, s.gabor[i]);
        break;
      case Kind::kPixels:
        b.pixels->compute(image, out);
        break;
      default:
        b.stats->compute(image, out, s.stats);
        break;
    }
  }
}

}  // namespace

std::string FeatureChain::compute(const float* chip, float* out, Workspace& workspace) const {
  const Impl& m = *impl_;
  if (!workspace.state_)
    throw Error("FeatureChain::compute: empty workspace (make one with FeatureChain::workspace())");
  Workspace::State& s = *workspace.state_;
  std::string reason;
  if (m.spec.planes.empty()) {
    reason = s.preprocessor.apply(chip, s.images[0].data());
  } else {
    // Planes from the input bands (before preprocessing), then the preprocessing on each.
    const std::size_t px = static_cast<std::size_t>(m.spec.rows) * static_cast<std::size_t>(m.spec.cols);
    std::vector<const float*> bands;
    for (std::size_t j = 0; j < m.bands.size(); ++j) bands.push_back(chip + j * px);
    for (std::size_t p = 0; p < m.spec.planes.size() && reason.empty(); ++p) {
      const PlaneSpec& plane = m.spec.planes[p];
      const float* source =
          bands[static_cast<std::size_t>(std::find(m.bands.begin(), m.bands.end(), plane.a) - m.bands.begin())];
      if (plane.op != PlaneSpec::Op::band) {
        derive_plane(plane, m.bands, bands, px, s.derived.data());
        source = s.derived.data();
      }
      reason = s.preprocessor.apply(source, s.images[p].data());
      if (!reason.empty()) reason = "plane " + plane.name + ": " + reason;
    }
  }
  for (std::size_t i = 0; i < m.blocks.size() && reason.empty(); ++i) {
    const Block& b = m.blocks[i];
    float* slice = out + b.offset;
    try {
      compute_block(b, i, s, slice);
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

std::vector<std::string> FeatureChain::compute_batch(
    const float* chips, std::size_t count, float* out, int threads,
    std::vector<std::optional<std::array<double, 2>>>* registrations) const {
  std::vector<std::string> reasons(count);
  if (registrations != nullptr) registrations->assign(count, std::nullopt);
  const bool one_plane = impl_->spec.planes.empty();
  if (count == 0) return reasons;
  const std::size_t chip_size = static_cast<std::size_t>(input_planes()) * rows() * cols();
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
        if (registrations != nullptr && one_plane && reasons[chip].empty())
          (*registrations)[chip] = ws->state_->preprocessor.registration();
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
