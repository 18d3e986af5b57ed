// `sarscale evaluate --detections`: a detections.csv written by hand (the columns of
// io::Detection, as `sarscale detect` writes them) scored against truth files, every figure worked
// out by hand; a truth file that does not parse names its line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "sarscale/io/crs.hpp"
#include "sarscale/io/raster_writer.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::last_json_line;
using sarscale::test::run_command;
using sarscale::test::run_expect;
using sarscale::test::sarscale_mpi;

namespace {

fs::path scratch(const std::string& name) {
  return sarscale::test::scratch_dir("detection_score_cli_" + name + "_" + std::to_string(getpid()));
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_scene(const fs::path& path, int rows, int cols, bool georeferenced) {
  sarscale::io::RasterWriter w(path, rows, cols);
  if (georeferenced)  // UTM 31N, 2 m pixels: 4 m^2 each
    w.set_georef({{500000.0, 2.0, 0.0, 4650000.0, 0.0, -2.0}, sarscale::io::crs_wkt("EPSG:32631")});
  const std::vector<float> zeros(static_cast<std::size_t>(rows) * cols, 0.0f);
  w.write_rows(0, rows, zeros.data());
  w.close();
}

// A detection row: scene, id, box, centre, area, map_x, map_y, lon, lat (empty: none), peak,
// contrast, score, log10 Pfa, class, probability, clutter probability, target, reason.
std::string detection(const fs::path& scene, int id, double row, double col, double log10_pfa,
                      const std::string& cls, bool target) {
  std::ostringstream s;
  s << scene.string() << ',' << id << ',' << static_cast<int>(row) - 1 << ',' << static_cast<int>(col) - 1 << ','
    << static_cast<int>(row) + 1 << ',' << static_cast<int>(col) + 1 << ',' << row << ',' << col << ",9,,,,,2.5,12,3,"
    << log10_pfa << ',' << cls << ",0.9,0.05," << (target ? 1 : 0) << ",\n";
  return s.str();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(DetectionScoreCli, HandMadeDetectionsAgainstTwoTruthFiles) {
  const fs::path dir = scratch("hand");
  const fs::path a = dir / "a.tif", b = dir / "b.tif", det = dir / "det";
  write_scene(a, 100, 200, true);  // 0.08 km^2
  write_scene(b, 50, 50, false);   // with --pixel-area-m2 0.25: 625 m^2
  fs::create_directories(det);
  write_text(det / "detections.csv",
             "scene,id,row_min,col_min,row_max,col_max,row,col,area,map_x,map_y,lon,lat,peak,contrast_db,score_db,"
             "log10_pfa,class,probability,clutter_probability,target,reason\n" +
                 detection(a, 1, 12.5, 11.5, -9, "tank", true) +      // tank T0 at 2.24 px
                 detection(a, 2, 80.5, 152.5, -6, "truck", true) +    // on the corner reflector
                 detection(a, 3, 50.5, 100.5, -5, "clutter", false) + // on truck T1, rejected as clutter
                 detection(b, 1, 21.5, 20.5, -7, "truck", true) +     // the tank of b, misclassified
                 detection(b, 2, 40.5, 40.5, -3, "tank", true));      // nothing there
  // synth's layout (centres at r + 0.5 once read) for a.tif, by the file's stem; b's by name.
  write_text(dir / "a_targets.csv",
             "index,class_index,class,serial,row,col,azimuth_deg,box_row0,box_col0,box_rows,box_cols,kind\n"
             "0,1,tank,S1,10,10,0,0,0,20,20,target\n"
             "1,2,truck,S2,50,100,0,40,90,20,20,target\n"
             "2,-1,clutter,corner,80,150,0,75,145,10,10,clutter\n");
  write_text(dir / "b.csv", "scene,row,col,class\nb.tif,20.5,20.5,tank\n");

  const std::string out =
      run_expect(sarscale_mpi(2) + " evaluate --detections " + det.string() + " --truth " +
                 (dir / "a_targets.csv").string() + " " + (dir / "b.csv").string() +
                 " --pixel-area-m2 0.25 --roc-log10-pfa -8:-4:2 --report " + (dir / "report").string());
  const std::string summary = last_json_line(out);
  // Declared: a1 -> T0, a2 false alarm (on clutter), b1 -> b's tank (as a truck), b2 false alarm.
  // pd 2/3, precision 2/4, 2 false alarms on 0.080625 km^2, prescreen pd 3/3 (a3 finds T1).
  EXPECT_TRUE(contains(summary, R"("scenes": 2, "rejected_scenes": 0, "truth_targets": 3, "detections": 5, )"
                                R"("declared_targets": 4, "pd": 0.6666666666666666, "precision": 0.5, "false_alarms": 2, )"
                                R"("false_alarms_per_scene": 1, "far_per_km2": 24.806201550387595, )"
                                R"("classification_accuracy": 0.5, "prescreen_pd": 1,)"))
      << out;
  // ROC at -8: a1 alone; at -6: a1, a2, b1; at -4: the same declared, a3 added to the prescreen.
  EXPECT_EQ(read_text(dir / "report" / "roc.csv"),
            "log10_pfa,pd,far_per_km2,false_alarms_per_scene,false_alarms,detections,prescreen_pd,"
            "prescreen_far_per_km2,prescreen_false_alarms_per_scene,prescreen_false_alarms,prescreen_detections\n"
            "-8,0.3333333333333333,0,0,0,1,0.3333333333333333,0,0,0,1\n"
            "-6,0.6666666666666666,12.403100775193797,0.5,1,3,0.6666666666666666,12.403100775193797,0.5,1,3\n"
            "-4,0.6666666666666666,12.403100775193797,0.5,1,3,1,12.403100775193797,0.5,1,4\n");
  const std::string report = read_text(dir / "report" / "scene_report.json");
  // Per scene: a has 1 false alarm on 0.08 km^2 (12.5 per km^2), b 1 on 625 m^2 (1600 per km^2).
  EXPECT_TRUE(contains(report, R"("far_per_km2": 12.5)")) << report;
  EXPECT_TRUE(contains(report, R"("far_per_km2": 1600)")) << report;
  EXPECT_TRUE(contains(report, R"("on_clutter": 1)")) << report;
  EXPECT_TRUE(contains(report, R"("rejected": [])")) << report;

  // Without --pixel-area-m2, b's area is unknown: no total per km^2, and the run says why.
  const std::string no_area = run_expect(sarscale_mpi(1) + " evaluate --detections " +
                                         (det / "detections.csv").string() + " --truth " +
                                         (dir / "a_targets.csv").string() + " " + (dir / "b.csv").string() +
                                         " --report " + (dir / "report2").string());
  EXPECT_TRUE(contains(last_json_line(no_area), R"("far_per_km2": null)")) << no_area;
  EXPECT_TRUE(contains(no_area, "no georeferencing; give --pixel-area-m2")) << no_area;
}

TEST(DetectionScoreCli, BadTruthLineIsNamedAndScenesOnlyInTheTruthCount) {
  const fs::path dir = scratch("bad");
  const fs::path a = dir / "a.tif";
  write_scene(a, 100, 200, true);
  write_text(dir / "detections.csv",
             "scene,id,row_min,col_min,row_max,col_max,row,col,area,map_x,map_y,lon,lat,peak,contrast_db,score_db,"
             "log10_pfa,class,probability,clutter_probability,target,reason\n" +
                 detection(a, 1, 12.5, 11.5, -9, "tank", true));
  write_text(dir / "bad.csv", "scene,row,col,class\na.tif,10.5,10.5,tank\na.tif,x,3,tank\n");
  std::string out;
  const int status = run_command(sarscale_mpi(2) + " evaluate --detections " + (dir / "detections.csv").string() +
                                     " --truth " + (dir / "bad.csv").string() + " --report " + (dir / "r").string(),
                                 &out);
  EXPECT_EQ(status, 1) << out;
  EXPECT_TRUE(contains(out, (dir / "bad.csv").string() + ":3: column 'row': 'x' is not a finite number")) << out;

  // A scene named only by the truth (synth's c_targets.csv, no detection, no file): its target
  // is missed, and the run says so.
  write_text(dir / "c_targets.csv",
             "index,class_index,class,serial,row,col,azimuth_deg,box_row0,box_col0,box_rows,box_cols\n"
             "0,1,tank,S1,10,10,0,0,0,20,20\n");
  write_text(dir / "a.csv", "row,col,class,scene\n10.5,10.5,tank,a.tif\n");
  const std::string ok = run_expect(sarscale_mpi(1) + " evaluate --detections " +
                                    (dir / "detections.csv").string() + " --truth " + (dir / "a.csv").string() + " " +
                                    (dir / "c_targets.csv").string() + " --report " + (dir / "r2").string());
  EXPECT_TRUE(contains(last_json_line(ok), R"("scenes": 2, "rejected_scenes": 0, "truth_targets": 2, "detections": 1, )"
                                           R"("declared_targets": 1, "pd": 0.5, "precision": 1, "false_alarms": 0,)"))
      << ok;
  EXPECT_TRUE(contains(ok, "scene 'c' of the truth has no detection")) << ok;
}
