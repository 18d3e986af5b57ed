// Input discovery: specs, globs, product rules, rejects, and accounting for every file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "sarscale/core/error.hpp"
#include "sarscale/io/discover.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace sarscale::io;

namespace {

void write_file(const fs::path& p, std::size_t bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << std::string(bytes, 'x');
}

std::vector<std::string> input_paths(const DiscoveryResult& r) {
  std::vector<std::string> out;
  for (const auto& i : r.inputs) out.push_back(i.path.string());
  return out;
}

std::map<std::string, std::string> reject_map(const DiscoveryResult& r) {
  std::map<std::string, std::string> out;
  for (const auto& j : r.rejects) out[j.path] = j.reason;
  return out;
}

std::map<std::string, std::string> skipped_map(const DiscoveryResult& r) {
  std::map<std::string, std::string> out;
  for (const auto& s : r.skipped) out[s.path.string()] = s.reason;
  return out;
}

// A scratch tree exercising every rule in discover.hpp, one per test (ctest runs the
// cases of this file as concurrent processes).
fs::path make_tree() {
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const fs::path root = sarscale::test::scratch_dir("discover-" + test) / "tree";
  write_file(root / "a.tif", 10);
  write_file(root / "b.tif", 20);
  write_file(root / "a.tif.aux.xml", 5);
  write_file(root / ".hidden", 1);
  write_file(root / "notes.txt", 1);
  write_file(root / "Ship.xml", 3);
  write_file(root / "sub/c.tif", 30);
  write_file(root / "sub/deep/d.jpeg", 40);
  fs::create_directories(root / "empty");
  write_file(root / "ceos/X.D", 100);
  write_file(root / "ceos/X.L", 50);
  write_file(root / "ceos/X.T", 5);
  write_file(root / "ceos2/DAT_01.001", 100);
  write_file(root / "ceos2/LEA_01.001", 50);
  write_file(root / "ceos2/VDF_DAT.001", 5);
  write_file(root / "envi/img.dat", 64);
  write_file(root / "envi/img.hdr", 6);
  write_file(root / "P.SAFE/manifest.safe", 1000);
  write_file(root / "P.SAFE/measurement/m.tiff", 200);
  write_file(root / "P.SAFE/annotation/calibration/c.xml", 30);
  write_file(root / "bad.SAFE/measurement/x.tiff", 7);
  write_file(root / "rs2/product.xml", 500);
  write_file(root / "rs2/imagery_HH.tif", 400);
  write_file(root / "rs2/lut.xml", 60);
  write_file(root / "rs2/schemas/s.xsd", 9);
  write_file(root / "xmlonly/alone.xml", 11);
  write_file(root / ".git/config", 2);
  fs::create_symlink("a.tif", root / "link.tif");
  fs::create_symlink("nowhere", root / "dangling");
  fs::create_directory_symlink(".", root / "loop");
  EXPECT_EQ(mkfifo((root / "fifo").c_str(), 0644), 0);
  return root;
}

}  // namespace

TEST(Discover, ScratchTreeFollowsEveryRule) {
  const fs::path root = make_tree();
  const auto r = discover_inputs({root.string()});
  const std::string R = root.string() + "/";

  EXPECT_EQ(input_paths(r),
            (std::vector<std::string>{R + "P.SAFE/manifest.safe", R + "a.tif", R + "b.tif", R + "ceos/X.D",
                                      R + "ceos2/DAT_01.001", R + "envi/img.dat", R + "rs2/product.xml",
                                      R + "sub/c.tif", R + "sub/deep/d.jpeg", R + "xmlonly/alone.xml"}));
  ASSERT_EQ(r.inputs.size(), 10u);
  EXPECT_EQ(r.inputs[0].size_bytes, 1230u);  // the whole SAFE product
  EXPECT_EQ(r.inputs[1].size_bytes, 10u);
  EXPECT_EQ(r.inputs[6].size_bytes, 500u + 400 + 60 + 9);  // RADARSAT-2 product

  EXPECT_EQ(reject_map(r), (std::map<std::string, std::string>{{R + "bad.SAFE", "SAFE directory without manifest.safe"},
                                                               {R + "dangling", "broken symbolic link"},
                                                               {R + "empty", "empty directory"},
                                                               {R + "fifo", "not a regular file (fifo)"}}));

  const std::string safe = R + "P.SAFE/manifest.safe", rs2 = R + "rs2/product.xml";
  EXPECT_EQ(skipped_map(r), (std::map<std::string, std::string>{
                                {R + ".git", "hidden directory (not searched)"},
                                {R + ".hidden", "hidden file"},
                                {R + "P.SAFE/annotation/calibration/c.xml", "part of product " + safe},
                                {R + "P.SAFE/measurement/m.tiff", "part of product " + safe},
                                {R + "Ship.xml", "metadata file beside images"},
                                {R + "a.tif.aux.xml", "sidecar file"},
                                {R + "bad.SAFE/measurement/x.tiff", "part of rejected product " + R + "bad.SAFE"},
                                {R + "ceos/X.L", "part of product " + R + "ceos/X.D"},
                                {R + "ceos/X.T", "part of product " + R + "ceos/X.D"},
                                {R + "ceos2/LEA_01.001", "part of product " + R + "ceos2/DAT_01.001"},
                                {R + "ceos2/VDF_DAT.001", "part of product " + R + "ceos2/DAT_01.001"},
                                {R + "envi/img.hdr", "header of " + R + "envi/img.dat"},
                                {R + "link.tif", "same file as " + R + "a.tif"},
                                {R + "notes.txt", "document"},
                                {R + "rs2/imagery_HH.tif", "part of product " + rs2},
                                {R + "rs2/lut.xml", "part of product " + rs2},
                                {R + "rs2/schemas/s.xsd", "part of product " + rs2}}));

  // Accounting: every file of the tree (outside the hidden directory) is in exactly one list.
  std::multiset<std::string> listed;
  for (const auto& i : r.inputs) listed.insert(i.path.string());
  for (const auto& j : r.rejects) listed.insert(j.path);
  for (const auto& s : r.skipped) listed.insert(s.path.string());
  std::size_t files = 0;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    if (it->path().filename() == ".git") it.disable_recursion_pending();
    if (it->is_directory() && !it->is_symlink()) continue;
    if (it->path().filename() == "loop") continue;  // the directory link back to the root
    ++files;
    EXPECT_EQ(listed.count(it->path().string()), 1u) << it->path();
  }
  EXPECT_EQ(files, 28u);
}

TEST(Discover, MixedSpecsAreSortedAndDeduplicated) {
  const fs::path root = make_tree();
  const std::string R = root.string() + "/";
  const auto r =
      discover_inputs({R + "sub/", R + "*.tif", R + "**/*.jpeg", R + "a.tif", R + "sub/../a.tif", R + "sub/c.tif"});
  EXPECT_EQ(input_paths(r),
            (std::vector<std::string>{R + "a.tif", R + "b.tif", R + "sub/c.tif", R + "sub/deep/d.jpeg"}));
  EXPECT_TRUE(r.rejects.empty());
  EXPECT_EQ(skipped_map(r), (std::map<std::string, std::string>{{R + "link.tif", "same file as " + R + "a.tif"}}));
}

TEST(Discover, GlobsBracesAndGlobstar) {
  const fs::path root = make_tree();
  const std::string R = root.string() + "/";
  EXPECT_EQ(input_paths(discover_inputs({R + "{a,b}.tif"})), (std::vector<std::string>{R + "a.tif", R + "b.tif"}));
  // "**" matches zero directories too, does not enter hidden ones, and survives the link loop.
  EXPECT_EQ(input_paths(discover_inputs({R + "**/a.tif"})), (std::vector<std::string>{R + "a.tif"}));
  EXPECT_EQ(input_paths(discover_inputs({R + "**/*.jpeg"})), (std::vector<std::string>{R + "sub/deep/d.jpeg"}));
  EXPECT_EQ(input_paths(discover_inputs({R + "**/config"})), std::vector<std::string>{});
  EXPECT_EQ(input_paths(discover_inputs({R + "sub/**"})),
            (std::vector<std::string>{R + "sub/c.tif", R + "sub/deep/d.jpeg"}));
  // A glob that reaches into a SAFE product yields the product.
  const auto safe = discover_inputs({R + "P.SAFE/measurement/*.tiff"});
  EXPECT_EQ(input_paths(safe), (std::vector<std::string>{R + "P.SAFE/manifest.safe"}));
  EXPECT_EQ(safe.skipped.size(), 1u);
}

TEST(Discover, RejectsNonexistentEmptyAndUnmatched) {
  const fs::path root = make_tree();
  const std::string R = root.string() + "/";
  const auto r = discover_inputs({R + "nope.tif", R + "*.nothing", R + "empty", R + "a.tif", R + "fifo"});
  EXPECT_EQ(input_paths(r), (std::vector<std::string>{R + "a.tif"}));
  EXPECT_EQ(reject_map(r), (std::map<std::string, std::string>{{R + "*.nothing", "glob pattern matched nothing"},
                                                               {R + "empty", "empty directory"},
                                                               {R + "fifo", "not a regular file (fifo)"},
                                                               {R + "nope.tif", "no such file or directory"}}));
  EXPECT_TRUE(discover_inputs({}).inputs.empty());
}

// Empty folders deep in a tree are rejects, as a top-level one is (only the deepest: "outer"
// holds an empty folder, so it is not empty itself); a link loop is not an empty folder.
TEST(Discover, EmptyFoldersDeepInATreeAreRejects) {
  const fs::path root = sarscale::test::scratch_dir("discover-deep-empty") / "tree";
  write_file(root / "x/chip.tif", 8);
  fs::create_directories(root / "x/y/z");
  fs::create_directories(root / "outer/inner");
  fs::create_directories(root / "only-loop");
  fs::create_directory_symlink("..", root / "only-loop/up");
  const std::string R = root.string() + "/";
  const auto r = discover_inputs({root.string()});
  EXPECT_EQ(input_paths(r), (std::vector<std::string>{R + "x/chip.tif"}));
  EXPECT_EQ(reject_map(r), (std::map<std::string, std::string>{{R + "outer/inner", "empty directory"},
                                                               {R + "x/y/z", "empty directory"}}));
  // The same folders named directly: the top one is the reject.
  EXPECT_EQ(reject_map(discover_inputs({R + "outer/inner"})),
            (std::map<std::string, std::string>{{R + "outer/inner", "empty directory"}}));
  EXPECT_EQ(reject_map(discover_inputs({R + "outer"})),
            (std::map<std::string, std::string>{{R + "outer/inner", "empty directory"}}));
}

TEST(Discover, InputListFile) {
  const fs::path root = make_tree();
  const std::string R = root.string() + "/";
  const fs::path list = root.parent_path() / "inputs.txt";
  std::ofstream(list) << "# inputs for a test\n\n   " << R << "a.tif   \n"
                      << R << "sub\n  # indented comment\n"
                      << R << "missing.tif\r\n";
  EXPECT_EQ(read_input_list(list), (std::vector<std::string>{R + "a.tif", R + "sub", R + "missing.tif"}));
  const auto r = discover_inputs({R + "b.tif"}, list);
  EXPECT_EQ(input_paths(r),
            (std::vector<std::string>{R + "a.tif", R + "b.tif", R + "sub/c.tif", R + "sub/deep/d.jpeg"}));
  EXPECT_EQ(reject_map(r).at(R + "missing.tif"), "no such file or directory");
  EXPECT_THROW(discover_inputs({}, root / "no-such-list.txt"), sarscale::ConfigError);
}

TEST(Discover, UnreadableFilesAndDirectoriesAreRejected) {
  const fs::path dir = sarscale::test::scratch_dir("discover-perm") / "perm";
  write_file(dir / "ok.tif", 4);
  write_file(dir / "secret.tif", 4);
  write_file(dir / "locked/inside.tif", 4);
  fs::permissions(dir / "secret.tif", fs::perms::none);
  fs::permissions(dir / "locked", fs::perms::none);

  DiscoveryResult r;
  if (geteuid() != 0) {
    r = discover_inputs({dir.string()});
  } else {
    // Root reads everything: run the discovery in a child that drops to nobody (65534).
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
      const std::string bytes = serialize(discover_inputs({dir.string()}));
      const bool ok = write(fds[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
      _exit(ok ? 0 : 4);
    }
    ::close(fds[1]);
    std::string bytes;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) bytes.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 3) GTEST_SKIP() << "cannot drop root privileges to test unreadable files";
    ASSERT_EQ(WEXITSTATUS(status), 0);
    r = deserialize_discovery(bytes);
  }
  fs::permissions(dir / "locked", fs::perms::owner_all);  // let the scratch area be cleaned
  const std::string D = dir.string() + "/";
  EXPECT_EQ(input_paths(r), (std::vector<std::string>{D + "ok.tif"}));
  EXPECT_EQ(reject_map(r), (std::map<std::string, std::string>{{D + "locked", "permission denied"},
                                                               {D + "secret.tif", "permission denied"}}));
}

TEST(Discover, DeterministicAndSerializable) {
  const fs::path root = make_tree();
  const auto a = discover_inputs({root.string(), root.string() + "/*.nothing"});
  const auto b = discover_inputs({root.string() + "/*.nothing", root.string()});
  EXPECT_EQ(a, b);
  const std::string bytes = serialize(a);
  EXPECT_EQ(deserialize_discovery(bytes), a);
  EXPECT_THROW(deserialize_discovery(bytes.substr(0, bytes.size() - 3)), std::invalid_argument);
  EXPECT_THROW(deserialize_discovery("XXXX"), std::invalid_argument);
  EXPECT_THROW(deserialize_discovery(bytes + "z"), std::invalid_argument);
}

TEST(Discover, RealScenesFollowTheProductRules) {
  SARSCALE_REQUIRE_SHARED(scenes, "data/scenes");
  const auto r = discover_inputs({scenes.string()});
  const std::string S = scenes.string() + "/";
  EXPECT_EQ(input_paths(r), (std::vector<std::string>{
                                S + "envisat-header-only/"
                                    "ASA_IMS_1PNESA20040703_205338_000000182028_00172_12250_00001672562030318361237.N1",
                                S + "rs2/product.xml", S + "safe/test.SAFE/manifest.safe",
                                S + "sar-ceos/R1_26161_FN1_F164.D", S + "sar-ceos/ottawa_patch.img",
                                S + "sentinel1-geotiff/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif",
                                S + "sicd/sar_sicd.ntf"}));
  EXPECT_TRUE(r.rejects.empty());
  const auto skipped = skipped_map(r);
  EXPECT_EQ(skipped.size(), 10u);
  EXPECT_EQ(skipped.at(S + "sar-ceos/R1_26161_FN1_F164.L"), "part of product " + S + "sar-ceos/R1_26161_FN1_F164.D");
  EXPECT_EQ(skipped.at(S + "rs2/lut.xml"), "part of product " + S + "rs2/product.xml");
  EXPECT_EQ(skipped.at(S + "sentinel1-geotiff/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif.aux.xml"),
            "sidecar file");
  for (const auto& i : r.inputs)
    if (i.path.filename() == "manifest.safe") EXPECT_EQ(i.size_bytes, 75483u);  // all 7 files of test.SAFE
}

TEST(Discover, RealChipCollections) {
  SARSCALE_REQUIRE_SHARED(ships, "data/opensarship");
  SARSCALE_REQUIRE_SHARED(mstar, "data/mstar10-train");
  const auto s = discover_inputs({ships.string()});
  EXPECT_EQ(s.inputs.size(), 299u);
  EXPECT_EQ(s.skipped.size(), 6u);  // one Ship.xml per scene
  for (const auto& k : s.skipped) EXPECT_EQ(k.reason, "metadata file beside images") << k.path;
  EXPECT_TRUE(s.rejects.empty());
  const auto m = discover_inputs({(mstar / "*").string()});
  EXPECT_EQ(m.inputs.size(), 2746u);
  EXPECT_TRUE(m.rejects.empty());
  EXPECT_TRUE(m.skipped.empty());
  EXPECT_TRUE(std::is_sorted(m.inputs.begin(), m.inputs.end(),
                             [](const auto& x, const auto& y) { return x.path.string() < y.path.string(); }));
}
