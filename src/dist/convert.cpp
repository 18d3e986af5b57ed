#include "sarscale/dist/convert.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <exception>
#include <fstream>
#include <map>
#include <optional>

#include "sarscale/dist/output_guard.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/discover.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "sarscale/io/phoenix.hpp"
#include "sarscale/io/raster_writer.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;

json::Value ConvertSummary::to_json() const {
  json::Value v = json::Value::object();
  v["written"] = written;
  v["failed"] = static_cast<std::int64_t>(failed.size());
  return v;
}

namespace {

bool is_hdf5(const fs::path& p) {
  static const char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  char head[8] = {};
  std::ifstream in(p, std::ios::binary);
  return in.read(head, 8) && std::equal(head, head + 8, kSignature);
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

io::Metadata chip_metadata(const ChipMeta& m) {
  io::Metadata md;
  if (!m.target_type.empty()) md["TARGET_TYPE"] = m.target_type;
  if (!m.serial.empty()) md["TARGET_SERIAL"] = m.serial;
  if (!m.polarisation.empty()) md["POLARISATION"] = m.polarisation;
  if (m.azimuth_deg == m.azimuth_deg) md["TARGET_AZIMUTH_DEG"] = number(m.azimuth_deg);
  if (m.depression_deg == m.depression_deg) md["DEPRESSION_DEG"] = number(m.depression_deg);
  md["ORIGINAL_SIZE"] = std::to_string(m.orig_rows) + "x" + std::to_string(m.orig_cols);
  md["TILE_OFFSET"] = std::to_string(m.tile_row) + "," + std::to_string(m.tile_col);
  return md;
}

void write_image(const ConvertConfig& c, const fs::path& stem, const Image& img, const io::Metadata& md,
                 const std::optional<io::Georef>& georef) {
  if (c.format == ConvertConfig::Format::png)
    io::write_png8(stem.string() + ".png", img, c.db ? io::PngScale::db : io::PngScale::linear, c.percentiles, md);
  else
    io::write_gtiff_float(stem.string() + ".tif", img, md, georef);
}

// A GDAL raster as a whole: float32 GeoTIFF in row blocks (never the whole scene in memory),
// or a PNG preview (whole image: meant for chips, refused beyond 64 Mpixel).
std::int64_t convert_raster(const ConvertConfig& c, const fs::path& input, const fs::path& stem) {
  io::GdalRaster raster = io::GdalRaster::open(input);
  io::Metadata md = raster.metadata();
  for (const auto& [k, v] : raster.sar_facts()) md["SAR_" + k] = v;
  md["SOURCE"] = input.string();
  if (c.format == ConvertConfig::Format::png) {
    if (static_cast<double>(raster.rows()) * raster.cols() > 64e6)
      throw InputError(input.string() + ": " + std::to_string(raster.rows()) + "x" + std::to_string(raster.cols()) +
                       " is too large for a PNG preview; use --format gtiff");
    Image img;
    raster.read_window(0, 0, raster.rows(), raster.cols(), img);
    write_image(c, stem, img, md, raster.georef());
    return 1;
  }
  io::RasterWriterOptions opt;
  opt.bands = raster.is_complex() ? 2 : 1;
  io::RasterWriter out(stem.string() + ".tif", raster.rows(), raster.cols(), opt);
  out.copy_georef(raster);
  out.set_metadata(md);
  out.set_band_description(1, "magnitude");
  if (raster.is_complex()) out.set_band_description(2, "phase");
  Image block;
  for (int row0 = 0; row0 < raster.rows(); row0 += 256) {
    const int n = std::min(256, raster.rows() - row0);
    raster.read_window(row0, 0, n, raster.cols(), block);
    out.write_rows(row0, n, block.magnitude.data(), 1);
    if (raster.is_complex()) out.write_rows(row0, n, block.phase.data(), 2);
  }
  out.close();
  return 1;
}

std::int64_t convert_phoenix(const ConvertConfig& c, const fs::path& input, const fs::path& stem) {
  const io::PhoenixChip chip = io::read_phoenix(input);
  io::Metadata md;
  for (const auto& [k, v] : chip.header.fields) md["PHOENIX_" + k] = v;
  md["SOURCE"] = input.string();
  write_image(c, stem, chip.image, md, std::nullopt);
  return 1;
}

// The georeferencing of a source scene, opened once per source however many of its tiles are
// exported; nullopt when it moved or has none (its chips are still exported).
class SourceGeorefs {
 public:
  std::optional<io::Georef> tile(const io::SourceRecord& src, std::int64_t source_index, const ChipMeta& m) {
    auto it = cache_.find(source_index);
    if (it == cache_.end()) it = cache_.emplace(source_index, open(src.path)).first;
    auto g = it->second;
    if (!g) return std::nullopt;
    // Shift the origin to the tile's offset within the scene.
    auto& t = g->geotransform;
    t[0] += m.tile_col * t[1] + m.tile_row * t[2];
    t[3] += m.tile_col * t[4] + m.tile_row * t[5];
    return g;
  }

 private:
  static std::optional<io::Georef> open(const std::string& path) {
    try {
      return io::GdalRaster::open(path).georef();
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  std::map<std::int64_t, std::optional<io::Georef>> cache_;
};

// Where a loose file goes: OUT/<its file name>, plus the format's extension unless the name has it
// already (scene.tif -> scene.tif, not scene.tif.tif; HB03787.000 -> HB03787.000.tif; chip.jpg ->
// chip.jpg.png). Returned without the extension (write_image adds it); "" with a reason in `why`
// when the file cannot go there: it would replace the input itself, or another input of this run
// has the same name. Computed alike on every rank from the same listing.
std::vector<fs::path> loose_file_stems(const ConvertConfig& c, const std::vector<fs::path>& files,
                                       std::vector<std::string>& why) {
  const std::string ext = c.format == ConvertConfig::Format::png ? ".png" : ".tif";
  std::vector<fs::path> stems(files.size());
  why.assign(files.size(), "");
  std::map<fs::path, std::size_t> taken;  // output -> the input that has it
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string name = files[i].filename().string();
    std::string lower = files[i].extension().string();
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    const bool has_ext = lower == ext || (ext == ".tif" && lower == ".tiff");
    const fs::path stem = c.output_dir / (has_ext ? files[i].stem().string() : name);
    const fs::path out = stem.string() + ext;
    std::error_code ec;
    fs::path key = fs::weakly_canonical(out, ec);
    if (ec) key = fs::absolute(out);
    const fs::path input = fs::weakly_canonical(files[i], ec);
    if (!ec && key == input) {
      why[i] = "its output " + out.string() + " is the input itself: choose another --output directory";
    } else if (const auto [it, fresh] = taken.emplace(key, i); !fresh) {
      why[i] = "its output " + out.string() + " is also that of " + files[it->second].string() +
               " (same file name): convert them into different --output directories";
    } else {
      stems[i] = stem;
    }
  }
  return stems;
}

}  // namespace

ConvertSummary run_convert(const Comm& comm, const ConvertConfig& c) {
  if (c.inputs.empty()) throw ConfigError("no input: give --input PATH...");
  if (c.output_dir.empty()) throw ConfigError("--output DIR is required");
  // Nothing is written over an input or into an input folder (a rerun would read it back).
  std::vector<io::RunInput> inputs;
  for (const auto& in : c.inputs) inputs.push_back({in, "--input", true});
  const OutputGuard guard = OutputGuard::claim(
      comm, {{c.output_dir, "--output", {"folder", [](const fs::path&) { return true; }, true}, true}}, inputs, false,
      c.command_line);
  comm.agree_on([&] {  // a failure on rank 0 reaches every rank
    if (comm.is_root()) fs::create_directories(c.output_dir);
  });

  std::string listing;
  comm.agree_on([&] {
    if (comm.is_root()) listing = io::serialize(io::discover_inputs(c.inputs, std::nullopt));
  });
  comm.broadcast(listing);
  const io::DiscoveryResult found = io::deserialize_discovery(listing);

  ConvertSummary summary;
  for (const auto& r : found.rejects) summary.failed.emplace_back(r.path, r.reason);
  std::vector<fs::path> files, archives;
  for (const auto& in : found.inputs) (is_hdf5(in.path) ? archives : files).push_back(in.path);

  std::int64_t written = 0;
  std::vector<std::string> failed;  // pairs: input, reason
  // Loose files: a contiguous share per rank.
  std::vector<std::string> why_not;
  const std::vector<fs::path> stems = loose_file_stems(c, files, why_not);
  const Range mine = block_range(files.size(), comm.size(), comm.rank());
  for (std::size_t i = mine.begin; i < mine.end; ++i) {
    const fs::path& stem = stems[i];
    if (!why_not[i].empty()) {
      failed.insert(failed.end(), {files[i].string(), why_not[i]});
      continue;
    }
    try {
      written +=
          io::looks_like_phoenix(files[i]) ? convert_phoenix(c, files[i], stem) : convert_raster(c, files[i], stem);
    } catch (const std::exception& e) {
      failed.insert(failed.end(), {files[i].string(), e.what()});
    }
  }
  // Archives: opened by all ranks together, chips shared out.
  for (const auto& path : archives) {
    const io::ArchiveReader reader = io::ArchiveReader::open(path, comm.raw());
    const auto& layout = reader.layout();
    const std::int64_t n = c.limit >= 0 ? std::min(c.limit, layout.chips) : layout.chips;
    const Range share = block_range(static_cast<std::size_t>(n), comm.size(), comm.rank());
    const auto sources = reader.sources();
    const auto first = static_cast<std::int64_t>(share.begin), count = static_cast<std::int64_t>(share.size());
    const auto meta = reader.meta(first, count, io::Transfer::independent);
    const auto labels = reader.labels(first, count, io::Transfer::independent);
    const auto valid = reader.valid(first, count, io::Transfer::independent);
    SourceGeorefs georefs;
    Image img;
    img.rows = layout.rows;
    img.cols = layout.cols;
    for (std::int64_t k = 0; k < count; ++k) {
      const auto i = static_cast<std::size_t>(k);
      if (!valid[i]) continue;  // the slot of an input rejected while ingesting
      img.magnitude.resize(img.pixels());
      img.phase.resize(layout.has_phase ? img.pixels() : 0);
      reader.read_chips(first + k, 1, img.magnitude.data(), layout.has_phase ? img.phase.data() : nullptr,
                        io::Transfer::independent);
      io::Metadata md = chip_metadata(meta[i]);
      const std::string cls =
          labels[i] >= 0 ? layout.class_names.at(static_cast<std::size_t>(labels[i])) : "unlabelled";
      md["CLASS"] = cls;
      md["ARCHIVE"] = path.string();
      md["CHIP_INDEX"] = std::to_string(first + k);
      const auto& src = sources.at(static_cast<std::size_t>(meta[i].source_index));
      md["SOURCE"] = src.path;
      char name[64];
      std::snprintf(name, sizeof name, "_%07lld_", static_cast<long long>(first + k));
      const fs::path stem = c.output_dir / (path.stem().string() + name + cls);
      try {
        write_image(
            c, stem, img, md,
            c.format == ConvertConfig::Format::gtiff ? georefs.tile(src, meta[i].source_index, meta[i]) : std::nullopt);
        ++written;
      } catch (const std::exception& e) {
        failed.insert(failed.end(), {stem.string(), e.what()});
      }
    }
  }
  summary.written = comm.sum(written);
  const auto all_failed = comm.allgather_strings(failed);
  for (std::size_t k = 0; k + 1 < all_failed.size(); k += 2)
    summary.failed.emplace_back(all_failed[k], all_failed[k + 1]);
  return summary;
}

}  // namespace sarscale::dist
