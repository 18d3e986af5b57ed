#include "sarscale/io/discover.hpp"

#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "sarscale/core/error.hpp"

namespace sarscale::io {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------
// Name helpers and the rule tables (see discover.hpp)

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with_ci(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && upper(s.substr(s.size() - suffix.size())) == upper(suffix);
}

bool starts_with_ci(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && upper(s.substr(0, prefix.size())) == upper(prefix);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool is_hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

const std::vector<std::string> kSidecarSuffixes = {".aux.xml", ".ovr",  ".aux",  ".msk",   ".md5", ".sha1",   ".sha256",
                                                   ".sha512",  ".tfw",  ".tifw", ".tiffw", ".wld", ".jgw",    ".jpgw",
                                                   ".pgw",     ".pngw", ".prj",  ".rpb",   ".imd", "_rpc.txt"};
const std::vector<std::string> kDocumentSuffixes = {".txt", ".md",  ".pdf", ".html", ".htm",
                                                    ".log", ".xsd", ".xsl", ".csv",  ".json"};

// "sidecar file", "document", or "" for anything else.
std::string sidecar_kind(const std::string& name) {
  for (const auto& s : kSidecarSuffixes)
    if (ends_with_ci(name, s)) return "sidecar file";
  for (const auto& s : kDocumentSuffixes)
    if (ends_with_ci(name, s)) return "document";
  return "";
}

bool is_xml(const std::string& name) { return ends_with_ci(name, ".xml"); }

std::pair<std::string, std::string> split_extension(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return {name, ""};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

const std::set<std::string> kCeosAncillaryExtensions = {"L", "T", "V", "N", "LDR", "TRL", "VOL", "NUL"};
const std::set<std::string> kCeosDataExtensions = {"D", "DAT", "RAW", "IMG"};
// {ancillary prefixes, data-file prefix}: ERS/ENVISAT-style and ALOS-style CEOS naming.
const std::vector<std::pair<std::vector<std::string>, std::string>> kCeosPrefixes = {
    {{"LEA_", "VDF_", "TRA_", "NUL_", "VOL_"}, "DAT_"},
    {{"LED-", "TRL-", "VOL-"}, "IMG-"},
};

std::string file_type_name(fs::file_type t) {
  switch (t) {
    case fs::file_type::fifo:
      return "fifo";
    case fs::file_type::socket:
      return "socket";
    case fs::file_type::block:
      return "block device";
    case fs::file_type::character:
      return "character device";
    default:
      return "unknown file type";
  }
}

std::string reason_of(int err) {
  if (err == EACCES || err == EPERM) return "permission denied";
  if (err == ENOENT) return "no such file or directory";
  return std::strerror(err);
}

std::string reason_of(const std::error_code& ec) { return reason_of(ec.value()); }

fs::path absolute_normal(const fs::path& p) {
  std::error_code ec;
  fs::path a = fs::absolute(p, ec);
  if (ec) a = p;
  a = a.lexically_normal();
  if (a.has_relative_path() && a.filename().empty()) a = a.parent_path();  // "dir/" -> "dir"
  return a;
}

bool has_glob_magic(const std::string& s) {
  return s.find_first_of("*?[{") != std::string::npos || (!s.empty() && s[0] == '~');
}

std::string glob_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::strchr("\\*?[]{}~", c)) out += '\\';
    out += c;
  }
  return out;
}

std::vector<std::string> glob_simple(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), GLOB_BRACE | GLOB_TILDE, nullptr, &g) == 0)
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  return out;
}

using InodeKey = std::pair<dev_t, ino_t>;

std::optional<InodeKey> inode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return std::nullopt;
  return InodeKey{st.st_dev, st.st_ino};
}

// ---------------------------------------------------------------------------------------

class Discoverer {
 public:
  void expand_spec(const std::string& raw_spec);
  void classify_all();
  DiscoveryResult result() const;

 private:
  struct Entry {
    std::string name;
    bool is_dir = false;
  };
  // A directory's listing and the facts the rules ask about it, computed once per directory
  // (directories of 10^5 chips would make per-file scans quadratic).
  struct DirInfo {
    std::vector<Entry> entries;  // sorted by name
    bool has_manifest = false;
    bool has_product_xml = false;
    std::optional<bool> image_beside;
  };
  struct Product {
    fs::path root;
    fs::path entry;
    bool valid = true;
  };

  void take_named(const fs::path& path);
  std::size_t walk(const fs::path& dir);
  std::vector<std::string> expand_pattern(const std::string& pattern);
  void directories_below(const fs::path& base, std::set<InodeKey>& seen, std::vector<fs::path>& out);

  DirInfo& dir_info(const fs::path& dir);
  const std::vector<Entry>& listing(const fs::path& dir) { return dir_info(dir).entries; }
  std::optional<Product> product_of(const fs::path& file);
  std::optional<fs::path> ceos_data_file(const fs::path& dir, const std::string& name);
  std::optional<fs::path> header_target(const fs::path& dir, const std::string& name);
  bool has_image_beside(const fs::path& dir);
  std::uintmax_t tree_size(const fs::path& root);

  void classify(const fs::path& file);
  void add_input(const fs::path& path, std::uintmax_t size);
  void reject(const std::string& path, const std::string& reason) { rejects_.emplace(path, reason); }
  void skip(const fs::path& path, const std::string& reason) { skipped_.emplace(path.string(), reason); }

  std::set<std::string> candidates_;        // regular files found, as absolute normal paths
  std::map<InodeKey, std::size_t> walked_;  // directory -> entries found below it
  std::set<InodeKey> walking_;              // directories whose walk has not finished
  std::map<std::string, DirInfo> dirs_;
  std::map<std::string, std::uintmax_t> inputs_;
  std::map<InodeKey, std::string> input_inodes_;
  std::set<std::pair<std::string, std::string>> rejects_;
  std::map<std::string, std::string> skipped_;
};

void Discoverer::expand_spec(const std::string& raw_spec) {
  const std::string spec = trim(raw_spec);
  if (spec.empty()) return;
  const fs::path literal = absolute_normal(spec);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(literal, ec))) {
    take_named(literal);
    return;
  }
  if (!has_glob_magic(spec)) {
    reject(literal.string(), "no such file or directory");
    return;
  }
  const auto matches = expand_pattern(spec);
  if (matches.empty()) {
    reject(spec, "glob pattern matched nothing");
    return;
  }
  for (const auto& m : matches) take_named(absolute_normal(m));
}

void Discoverer::take_named(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) {
    std::error_code lec;
    reject(path.string(),
           fs::is_symlink(fs::symlink_status(path, lec)) ? "broken symbolic link" : "no such file or directory");
    return;
  }
  if (fs::is_directory(status)) {
    if (walk(path) == 0) reject(path.string(), "empty directory");
  } else if (fs::is_regular_file(status)) {
    candidates_.insert(path.string());
  } else {
    reject(path.string(), "not a regular file (" + file_type_name(status.type()) + ")");
  }
}

// Collects the files below `dir`; returns how many entries (files, special files, hidden
// directories, unreadable ones) the tree holds, so that 0 means "no files at all".
std::size_t Discoverer::walk(const fs::path& dir) {
  const auto key = inode_of(dir);
  if (!key) {
    reject(dir.string(), reason_of(errno));
    return 1;
  }
  // A directory reached again through a link loop is still being walked: it is not empty
  // (it holds the link), and its contents are counted where the walk started.
  if (walking_.count(*key)) return 1;
  if (auto it = walked_.find(*key); it != walked_.end()) return it->second;  // seen before
  walked_[*key] = 0;
  walking_.insert(*key);

  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    reject(dir.string(), reason_of(ec));
    walked_[*key] = 1;
    walking_.erase(*key);
    return 1;
  }
  std::size_t count = 0;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path p = it->path();
    const std::string name = p.filename().string();
    // The type comes from readdir's d_type (no stat per file on parallel file systems)
    // except for symbolic links and the rare special cases.
    std::error_code sec;
    if (it->is_regular_file(sec)) {
      candidates_.insert(p.string());
      ++count;
    } else if (it->is_directory(sec)) {
      if (is_hidden(name)) {
        skip(p, "hidden directory (not searched)");
        ++count;
      } else if (const std::size_t below = walk(p); below == 0) {
        // An empty folder deep in the tree is accounted for like one named on the command line.
        reject(p.string(), "empty directory");
        ++count;
      } else {
        count += below;
      }
    } else {
      const auto status = fs::status(p, sec);
      std::error_code lec;
      if (!fs::exists(status))
        reject(p.string(), fs::is_symlink(fs::symlink_status(p, lec)) ? "broken symbolic link" : reason_of(sec));
      else
        reject(p.string(), "not a regular file (" + file_type_name(status.type()) + ")");
      ++count;
    }
  }
  if (ec) {
    reject(dir.string(), "listing the directory failed: " + reason_of(ec));
    ++count;
  }
  walked_[*key] = count;
  walking_.erase(*key);
  return count;
}

// glob(3), plus "**" components matching any depth of non-hidden directories.
std::vector<std::string> Discoverer::expand_pattern(const std::string& pattern) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto slash = pattern.find('/', start);
    parts.push_back(pattern.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  const auto star2 = std::find(parts.begin(), parts.end(), "**");
  if (star2 == parts.end()) return glob_simple(pattern);

  auto join = [](auto first, auto last) {
    std::string s;
    for (auto i = first; i != last; ++i) s += (i == first ? "" : "/") + *i;
    return s;
  };
  const std::string prefix = join(parts.begin(), star2);
  const std::string rest = join(star2 + 1, parts.end());

  std::vector<std::string> bases;
  if (prefix.empty())
    bases.push_back(star2 == parts.begin() ? "." : "/");  // "**/x" or "/**/x"
  else
    for (const auto& b : glob_simple(prefix)) bases.push_back(b);

  std::set<std::string> out;
  for (const auto& base : bases) {
    std::error_code ec;
    if (!fs::is_directory(base, ec)) continue;
    if (rest.empty()) {  // "dir/**": everything below dir
      out.insert(base);
      continue;
    }
    std::set<InodeKey> seen;
    std::vector<fs::path> dirs;
    directories_below(base, seen, dirs);
    for (const auto& d : dirs)
      for (const auto& m : expand_pattern(glob_escape(d.string()) + "/" + rest)) out.insert(m);
  }
  return {out.begin(), out.end()};
}

void Discoverer::directories_below(const fs::path& base, std::set<InodeKey>& seen, std::vector<fs::path>& out) {
  const auto key = inode_of(base);
  if (!key || !seen.insert(*key).second) return;
  out.push_back(base);
  std::error_code ec;
  for (fs::directory_iterator it(base, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code dec;
    if (!is_hidden(it->path().filename().string()) && it->is_directory(dec)) directories_below(it->path(), seen, out);
  }
}

// ---------------------------------------------------------------------------------------
// Classification

Discoverer::DirInfo& Discoverer::dir_info(const fs::path& dir) {
  const std::string key = dir.string();
  if (auto it = dirs_.find(key); it != dirs_.end()) return it->second;
  DirInfo info;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code dec;
    Entry e{it->path().filename().string(), it->is_directory(dec)};
    if (!e.is_dir && e.name == "manifest.safe") info.has_manifest = true;
    if (!e.is_dir && e.name == "product.xml") info.has_product_xml = true;
    info.entries.push_back(std::move(e));
  }
  std::sort(info.entries.begin(), info.entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return dirs_.emplace(key, std::move(info)).first->second;
}

std::optional<Discoverer::Product> Discoverer::product_of(const fs::path& file) {
  constexpr int kSafeDepth = 3;  // manifest.safe at most 3 directories above a member
  constexpr int kRs2Depth = 1;   // product.xml in the member's directory or its parent
  fs::path dir = file.parent_path();
  for (int depth = 0; depth <= kSafeDepth && dir.has_relative_path(); ++depth, dir = dir.parent_path()) {
    const DirInfo& info = dir_info(dir);
    if (info.has_manifest || ends_with_ci(dir.filename().string(), ".SAFE"))
      return Product{dir, dir / "manifest.safe", info.has_manifest};
    if (depth <= kRs2Depth && info.has_product_xml) return Product{dir, dir / "product.xml", true};
  }
  return std::nullopt;
}

std::optional<fs::path> Discoverer::ceos_data_file(const fs::path& dir, const std::string& name) {
  const auto& entries = listing(dir);
  const auto [stem, ext] = split_extension(name);
  if (kCeosAncillaryExtensions.count(upper(ext))) {
    for (const auto& e : entries) {
      if (e.is_dir || e.name == name) continue;
      const auto [s, x] = split_extension(e.name);
      if (upper(s) == upper(stem) && kCeosDataExtensions.count(upper(x))) return dir / e.name;
    }
  }
  for (const auto& [ancillary, data_prefix] : kCeosPrefixes) {
    if (std::none_of(ancillary.begin(), ancillary.end(), [&](const std::string& p) { return starts_with_ci(name, p); }))
      continue;
    for (const auto& e : entries)
      if (!e.is_dir && starts_with_ci(e.name, data_prefix)) return dir / e.name;
  }
  return std::nullopt;
}

std::optional<fs::path> Discoverer::header_target(const fs::path& dir, const std::string& name) {
  if (!ends_with_ci(name, ".hdr") || name.size() <= 4) return std::nullopt;
  const std::string stem = name.substr(0, name.size() - 4);
  for (const auto& e : listing(dir)) {
    if (e.is_dir || e.name == name) continue;
    if (e.name == stem ||
        (e.name.rfind(stem + ".", 0) == 0 && !ends_with_ci(e.name, ".hdr") && sidecar_kind(e.name).empty()))
      return dir / e.name;
  }
  return std::nullopt;
}

bool Discoverer::has_image_beside(const fs::path& dir) {
  DirInfo& info = dir_info(dir);
  if (info.image_beside) return *info.image_beside;
  bool found = false;
  for (const auto& e : info.entries) {
    if (e.is_dir || is_hidden(e.name) || is_xml(e.name) || !sidecar_kind(e.name).empty()) continue;
    if (ceos_data_file(dir, e.name) || header_target(dir, e.name)) continue;
    found = true;
    break;
  }
  info.image_beside = found;
  return found;
}

std::uintmax_t Discoverer::tree_size(const fs::path& root) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec)) {
      const auto size = it->file_size(fec);
      if (!fec) total += size;
    }
  }
  return total;
}

void Discoverer::add_input(const fs::path& path, std::uintmax_t size) {
  const std::string key = path.string();
  if (inputs_.count(key)) return;
  if (::access(path.c_str(), R_OK) != 0) {
    reject(key, reason_of(errno));
    return;
  }
  if (const auto inode = inode_of(path)) {
    const auto [it, fresh] = input_inodes_.emplace(*inode, key);
    if (!fresh) {
      skip(path, "same file as " + it->second);
      return;
    }
  }
  inputs_[key] = size;
}

void Discoverer::classify(const fs::path& file) {
  const std::string name = file.filename().string();
  const fs::path dir = file.parent_path();

  if (const auto product = product_of(file)) {  // rule 1
    if (!product->valid) {
      reject(product->root.string(), "SAFE directory without manifest.safe");
      skip(file, "part of rejected product " + product->root.string());
      return;
    }
    if (!inputs_.count(product->entry.string())) add_input(product->entry, tree_size(product->root));
    if (file != product->entry) skip(file, "part of product " + product->entry.string());
    return;
  }
  if (is_hidden(name)) return skip(file, "hidden file");                             // rule 2
  if (const auto kind = sidecar_kind(name); !kind.empty()) return skip(file, kind);  // rule 3
  if (const auto data = ceos_data_file(dir, name))                                   // rule 4
    return skip(file, "part of product " + data->string());
  if (const auto data = header_target(dir, name)) return skip(file, "header of " + data->string());  // rule 5
  if (is_xml(name) && has_image_beside(dir)) return skip(file, "metadata file beside images");       // rule 6

  struct stat st {};
  if (::access(file.c_str(), R_OK) != 0 || ::stat(file.c_str(), &st) != 0)  // rule 7
    return reject(file.string(), reason_of(errno));
  add_input(file, static_cast<std::uintmax_t>(st.st_size));  // rules 8, 9
}

void Discoverer::classify_all() {
  for (const auto& file : candidates_) classify(file);
}

DiscoveryResult Discoverer::result() const {
  DiscoveryResult r;
  for (const auto& [path, size] : inputs_) r.inputs.push_back({path, size});
  for (const auto& [path, reason] : rejects_) r.rejects.push_back({path, reason});
  for (const auto& [path, reason] : skipped_)
    if (!inputs_.count(path)) r.skipped.push_back({path, reason});
  return r;
}

// ---------------------------------------------------------------------------------------
// Serialisation: "SDR1" then, per list, a count and length-prefixed fields (little-endian u64).

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

void put_str(std::string& out, const std::string& s) {
  put_u64(out, s.size());
  out += s;
}

class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  std::uint64_t u64() {
    need(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return v;
  }
  std::string str() {
    const auto n = u64();
    need(n);
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  void need(std::uint64_t n) const {
    if (n > bytes_.size() - pos_) throw std::invalid_argument("serialized discovery result is truncated");
  }
  bool done() const { return pos_ == bytes_.size(); }
  std::size_t remaining() const { return bytes_.size() - pos_; }

 private:
  const std::string& bytes_;
  std::size_t pos_ = 0;
};

constexpr const char* kMagic = "SDR1";

}  // namespace

std::vector<std::string> read_input_list(const fs::path& list_file) {
  std::ifstream in(list_file);
  if (!in) throw ConfigError("--input-list " + list_file.string() + ": cannot read it: " + reason_of(errno));
  std::vector<std::string> specs;
  std::string line;
  while (std::getline(in, line)) {
    const std::string spec = trim(line);
    if (spec.empty() || spec[0] == '#') continue;
    specs.push_back(spec);
  }
  if (in.bad()) throw ConfigError("--input-list " + list_file.string() + ": read error");
  return specs;
}

DiscoveryResult discover_inputs(const std::vector<std::string>& specs, const std::optional<fs::path>& input_list) {
  std::vector<std::string> all = specs;
  if (input_list) {
    const auto listed = read_input_list(*input_list);
    all.insert(all.end(), listed.begin(), listed.end());
  }
  Discoverer d;
  for (const auto& spec : all) d.expand_spec(spec);
  d.classify_all();
  return d.result();
}

std::string serialize(const DiscoveryResult& result) {
  std::string out = kMagic;
  put_u64(out, result.inputs.size());
  for (const auto& i : result.inputs) {
    put_str(out, i.path.string());
    put_u64(out, i.size_bytes);
  }
  put_u64(out, result.rejects.size());
  for (const auto& r : result.rejects) {
    put_str(out, r.path);
    put_str(out, r.reason);
  }
  put_u64(out, result.skipped.size());
  for (const auto& s : result.skipped) {
    put_str(out, s.path.string());
    put_str(out, s.reason);
  }
  return out;
}

DiscoveryResult deserialize_discovery(const std::string& bytes) {
  if (bytes.compare(0, 4, kMagic) != 0) throw std::invalid_argument("not a serialized discovery result");
  const std::string body = bytes.substr(4);
  Reader in(body);
  DiscoveryResult r;
  // Each entry takes at least 16 bytes: a count larger than the data left is corrupt.
  auto count = [&] {
    const auto n = in.u64();
    if (n > in.remaining() / 16) throw std::invalid_argument("serialized discovery result is corrupt");
    return n;
  };
  for (auto n = count(); n > 0; --n) {
    DiscoveredInput i;
    i.path = in.str();
    i.size_bytes = in.u64();
    r.inputs.push_back(std::move(i));
  }
  for (auto n = count(); n > 0; --n) {
    DiscoveryReject j;
    j.path = in.str();
    j.reason = in.str();
    r.rejects.push_back(std::move(j));
  }
  for (auto n = count(); n > 0; --n) {
    SkippedFile s;
    s.path = in.str();
    s.reason = in.str();
    r.skipped.push_back(std::move(s));
  }
  if (!in.done()) throw std::invalid_argument("serialized discovery result has trailing bytes");
  return r;
}

}  // namespace sarscale::io
