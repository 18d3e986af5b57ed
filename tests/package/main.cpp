// Uses the installed headers and libraries: a pure plan (dist) and the Phoenix writer/reader (io).
// archive.hpp needs C++20 (defaulted comparisons): the consumer sets no standard, so this builds
// only when the package exports cxx_std_20.
#include <cstdio>
#include <filesystem>
#include <sarscale/core/version.hpp>
#include <sarscale/io/archive.hpp>
#include <sarscale/dist/partition.hpp>
#include <sarscale/io/phoenix.hpp>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const auto b = sarscale::dist::weighted_boundaries({1, 2, 3, 4}, 2);
  sarscale::Image img;
  img.rows = 3;
  img.cols = 2;
  img.magnitude = {1, 2, 3, 4, 5, 6};
  const std::filesystem::path file = std::filesystem::path(argv[1]) / "tiny.phx";
  sarscale::io::PhoenixHeader fields;
  fields.set("TargetType", "probe");
  sarscale::io::write_phoenix(file, fields, img);
  const auto back = sarscale::io::read_phoenix(file);
  std::printf("sarscale %s boundaries %zu %zu %zu rows %d type %s\n", sarscale::kVersion, b[0], b[1], b[2],
              back.header.rows, back.header.get("TargetType").c_str());
  const sarscale::io::SourceRecord source{file.string(), "Phoenix", "", 0, 0, 1};
  const sarscale::io::SourceRecord copy = source;
  return back.image.magnitude == img.magnitude && copy == source ? 0 : 1;
}
