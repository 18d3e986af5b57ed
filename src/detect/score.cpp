#include "sarscale/detect/score.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>

#include "sarscale/core/error.hpp"

namespace sarscale::detect {

void ScoreParams::validate() const {
  if (!(match_radius_px > 0) || !std::isfinite(match_radius_px))
    throw ConfigError("the match radius must be a positive number of pixels, got " + std::to_string(match_radius_px));
  for (double t : roc_log10_pfa)
    if (std::isnan(t)) throw ConfigError("a ROC threshold (log10 Pfa) is not a number");
}

MatchCounts& MatchCounts::operator+=(const MatchCounts& o) {
  detections += o.detections;
  matched += o.matched;
  false_alarms += o.false_alarms;
  duplicates += o.duplicates;
  on_clutter += o.on_clutter;
  return *this;
}

std::optional<double> ratio(std::int64_t numerator, std::int64_t denominator) {
  if (denominator == 0) return std::nullopt;
  return static_cast<double>(numerator) / static_cast<double>(denominator);
}

namespace {

// A detection in the gate of a truth object, and how far from its centre.
struct GatedPair {
  double distance = 0;
  std::size_t detection = 0;
  std::size_t truth = 0;
};

bool in_gate(const io::Detection& d, const io::TruthObject& t, double distance, const ScoreParams& p) {
  if (distance <= p.match_radius_px) return true;
  if (!p.match_footprint || t.box_rows <= 0 || t.box_cols <= 0) return false;
  return d.row >= static_cast<double>(t.box_row0) && d.row < static_cast<double>(t.box_row0 + t.box_rows) &&
         d.col >= static_cast<double>(t.box_col0) && d.col < static_cast<double>(t.box_col0 + t.box_cols);
}

// Every gated (detection, truth) pair of the scene, sorted for the greedy one-to-one matching.
std::vector<GatedPair> gated_pairs(const SceneInput& in, const ScoreParams& p) {
  std::vector<GatedPair> pairs;
  for (std::size_t i = 0; i < in.detections.size(); ++i)
    for (std::size_t j = 0; j < in.truth.size(); ++j) {
      const double dist = std::hypot(in.detections[i].row - in.truth[j].row, in.detections[i].col - in.truth[j].col);
      if (in_gate(in.detections[i], in.truth[j], dist, p)) pairs.push_back({dist, i, j});
    }
  std::sort(pairs.begin(), pairs.end(), [](const GatedPair& a, const GatedPair& b) {
    return std::tie(a.distance, a.detection, a.truth) < std::tie(b.distance, b.detection, b.truth);
  });
  return pairs;
}

// The matching of the detections `use` selects: which truth target each one is paired with
// (npos: none), and the counts.
struct Matching {
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::vector<std::size_t> target_of;  // per detection
  std::vector<double> distance_of;     // per detection, when paired
  MatchCounts counts;
};

template <typename Use>
Matching match(const SceneInput& in, const std::vector<GatedPair>& pairs, Use use) {
  Matching m;
  m.target_of.assign(in.detections.size(), Matching::npos);
  m.distance_of.assign(in.detections.size(), 0.0);
  std::vector<bool> truth_taken(in.truth.size(), false);
  for (const auto& pr : pairs) {  // targets, one to one, nearest first
    if (!in.truth[pr.truth].target || !use(in.detections[pr.detection])) continue;
    if (truth_taken[pr.truth] || m.target_of[pr.detection] != Matching::npos) continue;
    truth_taken[pr.truth] = true;
    m.target_of[pr.detection] = pr.truth;
    m.distance_of[pr.detection] = pr.distance;
  }
  // Why each unpaired detection is a false alarm: a split target first, then known clutter.
  std::vector<char> duplicate(in.detections.size(), 0), on_clutter(in.detections.size(), 0);
  for (const auto& pr : pairs) {
    if (m.target_of[pr.detection] != Matching::npos) continue;
    (in.truth[pr.truth].target ? duplicate : on_clutter)[pr.detection] = 1;
  }
  for (std::size_t i = 0; i < in.detections.size(); ++i) {
    if (!use(in.detections[i])) continue;
    ++m.counts.detections;
    if (m.target_of[i] != Matching::npos) {
      ++m.counts.matched;
      continue;
    }
    ++m.counts.false_alarms;
    if (duplicate[i]) ++m.counts.duplicates;
    else if (on_clutter[i]) ++m.counts.on_clutter;
  }
  return m;
}

void check_positions(const SceneInput& in) {
  for (const auto& t : in.truth)
    if (!std::isfinite(t.row) || !std::isfinite(t.col))
      throw InputError(in.scene + ": truth line " + std::to_string(t.line) +
                       " has no pixel position on the scene (map truth must be located first)");
  for (const auto& d : in.detections)
    if (!std::isfinite(d.row) || !std::isfinite(d.col))
      throw InputError(in.scene + ": detection " + std::to_string(d.id) + " has no finite centre");
}

// Declared targets (io::Detection::target) and every detection, optionally up to a threshold.
auto declared(double threshold) {
  return [threshold](const io::Detection& d) { return d.target && d.log10_pfa <= threshold; };
}
auto prescreened(double threshold) {
  return [threshold](const io::Detection& d) { return d.log10_pfa <= threshold; };
}

}  // namespace

SceneScore score_scene(const SceneInput& in, const ScoreParams& params) {
  params.validate();
  check_positions(in);
  SceneScore s;
  s.scene = in.scene;
  s.area_km2 = in.area_km2;
  for (const auto& t : in.truth) ++(t.target ? s.truth_targets : s.truth_clutter);
  const auto pairs = gated_pairs(in, params);
  constexpr double kAll = INFINITY;

  const Matching decl = match(in, pairs, declared(kAll));
  s.declared = decl.counts;
  s.prescreen = match(in, pairs, prescreened(kAll)).counts;
  for (std::size_t i = 0; i < in.detections.size(); ++i) {
    if (decl.target_of[i] == Matching::npos) continue;
    s.distances.push_back(decl.distance_of[i]);
    ++s.confusion[{in.truth[decl.target_of[i]].class_name, in.detections[i].class_name}];
  }
  std::vector<double> thresholds = params.roc_log10_pfa;
  std::sort(thresholds.begin(), thresholds.end());
  for (double t : thresholds)
    s.roc.push_back({t, match(in, pairs, declared(t)).counts, match(in, pairs, prescreened(t)).counts});
  return s;
}

SceneScore sum_scores(const std::vector<SceneScore>& scenes) {
  SceneScore total;
  total.scenes = 0;
  total.area_km2 = 0.0;
  for (const auto& s : scenes) {
    total.scenes += s.scenes;
    total.truth_targets += s.truth_targets;
    total.truth_clutter += s.truth_clutter;
    if (total.area_km2 && s.area_km2) *total.area_km2 += *s.area_km2;
    else total.area_km2.reset();
    total.declared += s.declared;
    total.prescreen += s.prescreen;
    total.distances.insert(total.distances.end(), s.distances.begin(), s.distances.end());
    for (const auto& [key, n] : s.confusion) total.confusion[key] += n;
    if (total.roc.empty()) {
      total.roc = s.roc;
      continue;
    }
    for (std::size_t k = 0; k < s.roc.size() && k < total.roc.size(); ++k) {
      total.roc[k].declared += s.roc[k].declared;
      total.roc[k].prescreen += s.roc[k].prescreen;
    }
  }
  if (scenes.empty()) total.area_km2.reset();
  return total;
}

ScoreReport score_scenes(const std::vector<SceneInput>& inputs, const ScoreParams& params) {
  ScoreReport r;
  r.params = params;
  std::sort(r.params.roc_log10_pfa.begin(), r.params.roc_log10_pfa.end());
  for (const auto& in : inputs) r.scenes.push_back(score_scene(in, params));
  r.total = sum_scores(r.scenes);
  return r;
}

// ---- report ---------------------------------------------------------------------------------

namespace {

json::Value optional_number(const std::optional<double>& v) { return v ? json::Value(*v) : json::Value(); }

std::optional<double> per_area(std::int64_t count, const std::optional<double>& area_km2) {
  if (!area_km2 || !(*area_km2 > 0)) return std::nullopt;
  return static_cast<double>(count) / *area_km2;
}

json::Value counts_json(const MatchCounts& c, std::int64_t truth_targets, const SceneScore& s) {
  json::Value v = json::Value::object();
  v["detections"] = c.detections;
  v["matched"] = c.matched;
  v["false_alarms"] = c.false_alarms;
  v["duplicates"] = c.duplicates;
  v["on_clutter"] = c.on_clutter;
  v["pd"] = optional_number(ratio(c.matched, truth_targets));
  v["precision"] = optional_number(ratio(c.matched, c.detections));
  v["far_per_km2"] = optional_number(per_area(c.false_alarms, s.area_km2));
  v["false_alarms_per_scene"] = optional_number(ratio(c.false_alarms, s.scenes));
  return v;
}

json::Value localisation_json(std::vector<double> d) {
  json::Value v = json::Value::object();
  v["count"] = d.size();
  if (d.empty()) {
    v["mean"] = nullptr, v["median"] = nullptr, v["max"] = nullptr;
    return v;
  }
  std::sort(d.begin(), d.end());
  double sum = 0;
  for (double x : d) sum += x;
  const std::size_t n = d.size();
  v["mean"] = sum / static_cast<double>(n);
  v["median"] = n % 2 ? d[n / 2] : 0.5 * (d[n / 2 - 1] + d[n / 2]);
  v["max"] = d.back();
  return v;
}

json::Value classification_json(const SceneScore& s) {
  std::set<std::string> labels;
  std::int64_t matched = 0, correct = 0;
  for (const auto& [key, n] : s.confusion) {
    labels.insert(key.first);
    labels.insert(key.second);
    matched += n;
    if (key.first == key.second) correct += n;
  }
  json::Value v = json::Value::object();
  v["matched"] = matched;
  v["correct"] = correct;
  v["accuracy"] = optional_number(ratio(correct, matched));
  json::Value names = json::Value::array();
  for (const auto& l : labels) names.push_back(l);
  v["classes"] = names;
  json::Value rows = json::Value::array();  // rows: truth class, columns: detected class
  for (const auto& truth : labels) {
    json::Value row = json::Value::array();
    for (const auto& detected : labels) {
      const auto it = s.confusion.find({truth, detected});
      row.push_back(it == s.confusion.end() ? 0 : it->second);
    }
    rows.push_back(row);
  }
  v["confusion"] = rows;
  return v;
}

}  // namespace

json::Value SceneScore::to_json() const {
  json::Value v = json::Value::object();
  if (!scene.empty()) v["scene"] = scene;
  v["scenes"] = scenes;
  v["truth_targets"] = truth_targets;
  v["truth_clutter"] = truth_clutter;
  v["area_km2"] = optional_number(area_km2);
  v["declared"] = counts_json(declared, truth_targets, *this);
  v["prescreen"] = counts_json(prescreen, truth_targets, *this);
  v["classification"] = classification_json(*this);
  v["localisation_px"] = localisation_json(distances);
  json::Value roc_points = json::Value::array();
  for (const auto& p : roc) {
    json::Value point = json::Value::object();
    point["log10_pfa"] = p.log10_pfa;
    point["declared"] = counts_json(p.declared, truth_targets, *this);
    point["prescreen"] = counts_json(p.prescreen, truth_targets, *this);
    roc_points.push_back(point);
  }
  v["roc"] = roc_points;
  return v;
}

json::Value ScoreReport::to_json() const {
  json::Value v = json::Value::object();
  json::Value p = json::Value::object();
  p["match_radius_px"] = params.match_radius_px;
  p["match_footprint"] = params.match_footprint;
  json::Value thresholds = json::Value::array();
  for (double t : params.roc_log10_pfa) thresholds.push_back(t);
  p["roc_log10_pfa"] = thresholds;
  v["params"] = p;
  v["total"] = total.to_json();
  json::Value list = json::Value::array();
  for (const auto& s : scenes) list.push_back(s.to_json());
  v["scenes"] = list;
  return v;
}

std::string ScoreReport::roc_csv() const {
  std::ostringstream out;
  const auto number = [&out](double v) {  // the shortest text that reads back as v
    char buf[64];
    out << std::string_view(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  };
  const auto cell = [&](const std::optional<double>& v) {
    if (v) number(*v);  // empty cell: unknown (no targets, no area)
  };
  const auto columns = [&](const MatchCounts& c) {
    cell(ratio(c.matched, total.truth_targets));
    out << ',';
    cell(per_area(c.false_alarms, total.area_km2));
    out << ',';
    cell(ratio(c.false_alarms, total.scenes));
    out << ',' << c.false_alarms << ',' << c.detections;
  };
  out << "log10_pfa,pd,far_per_km2,false_alarms_per_scene,false_alarms,detections,"
         "prescreen_pd,prescreen_far_per_km2,prescreen_false_alarms_per_scene,prescreen_false_alarms,"
         "prescreen_detections\n";
  for (const auto& p : total.roc) {
    number(p.log10_pfa);
    out << ',';
    columns(p.declared);
    out << ',';
    columns(p.prescreen);
    out << '\n';
  }
  return out.str();
}

}  // namespace sarscale::detect
