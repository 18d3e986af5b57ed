#pragma once
// Input discovery: turns the user's input specs (files, directories, glob patterns, and an
// --input-list file) into the list of products to ingest, the rejects, and the files that
// were found but are not inputs of their own. Every file found lands in exactly one of
// `inputs` (as itself or as the entry file of its product), `rejects` or `skipped`.
//
// THE RULES (all of them live in discover.cpp, applied in this order):
//
// Specs
//  * A spec naming an existing path is taken literally (even if it holds glob characters).
//    Otherwise a spec holding * ? [ { or a leading ~ is a glob pattern, expanded with
//    glob(3) (GLOB_BRACE | GLOB_TILDE); a pattern that matches nothing is rejected.
//  * "**" as a whole path component matches zero or more directories (as bash's globstar):
//    "data/**/*.tif" globs "*.tif" in data and in every directory below it. Hidden
//    directories are not entered. "**" inside a component ("a**b") is a plain "*".
//  * Directories are searched recursively, following symbolic links (each directory once).
//    Hidden directories (".git", ".snapshot") are not searched and are listed as skipped.
//    A directory that holds no files at all is rejected as "empty directory", whether a
//    spec names it (or a glob matches it) or it lies deeper in a tree being searched (only
//    the deepest empty ones: a folder holding nothing but an empty folder is not empty).
//  * --input-list FILE: one spec per line; blank lines and lines starting with '#' are
//    ignored; surrounding whitespace is trimmed; relative specs are relative to the current
//    directory. An unreadable list file is a ConfigError.
//  * Rejected specs: nonexistent paths ("no such file or directory"), broken symbolic links,
//    unreadable files or directories ("permission denied"), special files such as FIFOs or
//    sockets ("not a regular file": reading them could block), empty directories, globs
//    matching nothing.
//
// Files, in order (the first rule that applies wins):
//  1. Multi-file products are one input, named by their entry file; their other files are
//     skipped as "part of product <entry>":
//       - Sentinel-1 SAFE: the nearest directory, up to 3 levels above the file, that is
//         named *.SAFE or holds manifest.safe; the entry is its manifest.safe (a *.SAFE
//         directory without one is rejected, its files skipped);
//       - RADARSAT-2: the file's directory or its parent holds product.xml; entry product.xml.
//  2. Hidden files (name starts with '.') are skipped.
//  3. Sidecars are skipped: *.aux.xml *.ovr *.aux *.msk *.md5 *.sha1 *.sha256 *.sha512
//     *.tfw *.tifw *.tiffw *.wld *.jgw *.jpgw *.pgw *.pngw *.prj *.rpb *.imd *_rpc.txt,
//     and documents and tables: *.txt *.md *.pdf *.html *.htm *.log *.xsd *.xsl *.csv *.json.
//  4. CEOS ancillary files beside their data file are "part of product <data file>":
//     <stem>.{L,T,V,N,LDR,TRL,VOL,NUL} beside <stem>.{D,DAT,RAW,IMG}; LEA_*, VDF_*, TRA_*,
//     NUL_*, VOL_* beside a DAT_* file; LED-*, TRL-*, VOL-* beside an IMG-* file.
//  5. Raw-format headers: <stem>.hdr beside <stem> or <stem>.<ext> is part of that file.
//  6. *.xml beside image files (any file in the same directory that rules 2-5 keep and that
//     is not XML) is skipped as metadata (e.g. OpenSARShip's Ship.xml). An XML file alone
//     in its directory is an input (GDAL may know it as a product).
//  7. A file that cannot be read is rejected ("permission denied").
//  8. A path reaching a file already taken under another name (same device and inode, e.g.
//     through a symbolic link) is skipped as "same file as <path>".
//  9. Everything else is an input.
//
// Paths are absolute and lexically normal (symbolic links are kept as named, not resolved).
// Results are sorted by path and free of duplicates, so every rank that runs this on the
// same file system gets the same result; serialize()/deserialize_discovery() carry it
// through a broadcast instead.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sarscale::io {

struct DiscoveredInput {
  std::filesystem::path path;     // the file to open (the entry file of a multi-file product)
  std::uintmax_t size_bytes = 0;  // the file's size; a product's: all its files together
  bool operator==(const DiscoveredInput&) const = default;
};

struct DiscoveryReject {
  std::string path;    // the path, or the spec when it names nothing (a glob, a missing file)
  std::string reason;  // "no such file or directory", "empty directory", ...
  bool operator==(const DiscoveryReject&) const = default;
};

struct SkippedFile {
  std::filesystem::path path;
  std::string reason;  // "part of product /x/manifest.safe", "sidecar file", "hidden file", ...
  bool operator==(const SkippedFile&) const = default;
};

struct DiscoveryResult {
  std::vector<DiscoveredInput> inputs;
  std::vector<DiscoveryReject> rejects;
  std::vector<SkippedFile> skipped;
  bool operator==(const DiscoveryResult&) const = default;
};

// Applies the rules above. Never throws for bad specs (they become rejects); throws
// ConfigError when `input_list` cannot be read.
DiscoveryResult discover_inputs(const std::vector<std::string>& specs,
                                const std::optional<std::filesystem::path>& input_list = std::nullopt);

// The specs of an --input-list file (rules above). Throws ConfigError when unreadable.
std::vector<std::string> read_input_list(const std::filesystem::path& list_file);

// A byte string holding the whole result, for an MPI broadcast, and its inverse (throws
// std::invalid_argument on malformed data).
std::string serialize(const DiscoveryResult& result);
DiscoveryResult deserialize_discovery(const std::string& bytes);

}  // namespace sarscale::io
