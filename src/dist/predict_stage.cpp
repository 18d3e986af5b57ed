#include "sarscale/dist/predict_stage.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "sarscale/core/error.hpp"
#include "sarscale/dist/evaluate_stage.hpp"
#include "sarscale/dist/output_guard.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/hdf5_util.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/svm/predict.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;

namespace {

// What `predict --archive` writes in its folder, so that a rerun may replace it.
io::OutputKind predictions_folder_kind() {
  return io::folder_kind("folder of sarscale predictions (predictions.csv, predictions.h5, features.h5)",
                         {"predictions.csv", "predictions.h5", "features.h5"});
}

// Serial HDF5 from rank 0: the table of every chip's prediction.
void write_predictions_h5(const fs::path& path, const std::vector<std::string>& class_names,
                          const std::vector<std::int32_t>& predicted, const std::vector<std::uint8_t>& flags,
                          const std::vector<double>& decision, std::size_t pairs, const std::vector<double>& prob,
                          const std::vector<std::int32_t>& prob_classes) {
  const std::size_t classes = prob_classes.size();
  namespace h5 = io::h5;
  h5::QuietErrors quiet;
  const fs::path tmp = path.string() + ".tmp";
  {
    h5::Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
                    "cannot create " + tmp.string());
    const hid_t f = file.get();
    const h5::RowTransfer self(MPI_COMM_SELF, false);
    const auto n = static_cast<hsize_t>(predicted.size());
    h5::write_string_attribute(f, "format", "sarscale-predictions");
    h5::write_int_attribute(f, "format_version", 1);
    const h5::Handle label = h5::create_dataset(f, "/predicted", H5T_STD_I32LE, {n}, {});
    h5::write_rows(self, label.get(), H5T_NATIVE_INT32, 0, static_cast<std::int64_t>(n), predicted.data());
    const h5::Handle flag = h5::create_dataset(f, "/flag", H5T_STD_U8LE, {n}, {});
    h5::write_rows(self, flag.get(), H5T_NATIVE_UINT8, 0, static_cast<std::int64_t>(n), flags.data());
    const h5::Handle dec =
        h5::create_dataset(f, "/decision_values", H5T_IEEE_F64LE, {n, static_cast<hsize_t>(pairs)}, {});
    h5::write_rows(self, dec.get(), H5T_NATIVE_DOUBLE, 0, static_cast<std::int64_t>(n), decision.data());
    if (!prob.empty()) {
      const h5::Handle p =
          h5::create_dataset(f, "/probabilities", H5T_IEEE_F64LE, {n, static_cast<hsize_t>(classes)}, {});
      h5::write_rows(self, p.get(), H5T_NATIVE_DOUBLE, 0, static_cast<std::int64_t>(n), prob.data());
      // Column j of /probabilities is class index probability_classes[j] (the model's order).
      const h5::Handle pc =
          h5::create_dataset(f, "/probability_classes", H5T_STD_I32LE, {static_cast<hsize_t>(classes)}, {});
      h5::write_rows(self, pc.get(), H5T_NATIVE_INT32, 0, static_cast<std::int64_t>(classes), prob_classes.data());
    }
    h5::write_string_array(f, MPI_COMM_SELF, self, "/class_names", class_names);
    h5::write_int_attribute(f, "complete", 1);
    file.close("closing " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw IoError("cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
}

}  // namespace

json::Value PredictSummary::to_json() const {
  json::Value v = json::Value::object();
  v["rows"] = rows;
  v["predicted"] = predicted;
  v["flagged_chips"] = flagged;
  v["invalid_slots"] = invalid_slots;
  v["probabilities"] = probabilities;
  v["seconds"] = seconds;
  v["csv"] = csv.string();
  v["h5"] = h5.string();
  return v;
}

PredictSummary run_predict_archive(const Comm& comm, const PredictConfig& cfg) {
  const auto t0 = std::chrono::steady_clock::now();
  if (cfg.archive.empty() || cfg.model.empty() || cfg.output_dir.empty())
    throw ConfigError("predict on an archive needs --archive, --model and --output (a directory)");
  const OutputGuard guard = OutputGuard::claim(
      comm, {{cfg.output_dir, "--output", predictions_folder_kind(), true}},
      {{cfg.archive, "--archive", false}, {cfg.model, "--model", false}}, cfg.overwrite, cfg.command_line);
  const io::ModelFile model = io::read_model_file(cfg.model);
  if (model.chain.empty())
    throw ConfigError("model " + cfg.model.string() + " carries no feature chain: it applies to LIBSVM data (--data)");
  comm.agree_on([&] {  // a failure on rank 0 reaches every rank
    if (comm.is_root()) fs::create_directories(cfg.output_dir);
  });
  const fs::path features = features_for_model(comm, model, cfg.model, cfg.archive, cfg.output_dir / "features.h5",
                                               cfg.threads, cfg.command_line, cfg.fresh);
  const io::FeatureReader r = io::FeatureReader::open(features, comm.raw());
  const io::FeatureLayout& l = r.layout();
  const Range mine = block_range(static_cast<std::size_t>(l.rows), comm.size(), comm.rank());
  const auto first = static_cast<std::int64_t>(mine.begin), n = static_cast<std::int64_t>(mine.size());
  std::vector<float> x(static_cast<std::size_t>(n * l.dim));
  r.read_features(first, n, x.data());
  const std::vector<std::uint8_t> flags = r.flags(first, n);
  const bool with_prob = model.svm.has_probability();
  const svm::Predictions p = svm::predict(model.svm, x.data(), n, with_prob, cfg.threads);
  std::vector<std::int32_t> labels = p.labels;
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (flags[i] != 0) labels[i] = -1;  // no prediction from a flagged chip's zero features

  const std::vector<std::int32_t> all_labels = comm.gatherv(labels, 0);
  const std::vector<std::uint8_t> all_flags = comm.gatherv(flags, 0);
  const std::vector<double> all_dec = comm.gatherv(p.decision_values, 0);
  const std::vector<double> all_prob = comm.gatherv(p.probabilities, 0);

  PredictSummary s;
  s.rows = l.rows;
  s.probabilities = with_prob;
  s.csv = cfg.output_dir / "predictions.csv";
  s.h5 = cfg.output_dir / "predictions.h5";
  if (comm.is_root()) {
    // Where each chip came from, for the CSV (rank 0 alone: independent reads).
    const io::ArchiveReader archive = io::ArchiveReader::open(cfg.archive, MPI_COMM_SELF);
    const auto meta = archive.meta(0, l.rows, io::Transfer::independent);
    const auto sources = archive.sources();
    std::ostringstream csv;
    csv << "row,source,tile_row,tile_col,predicted_class" << (with_prob ? ",probability" : "") << ",status\n";
    const std::size_t k = model.class_names.size();
    const auto kk = static_cast<std::size_t>(model.svm.classes());  // classes the model was trained on
    for (std::int64_t i = 0; i < l.rows; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const auto& m = meta[u];
      const std::string source = m.source_index >= 0 && static_cast<std::size_t>(m.source_index) < sources.size()
                                     ? sources[static_cast<std::size_t>(m.source_index)].path
                                     : "";
      const std::int32_t c = all_labels[u];
      const char* status = all_flags[u] == static_cast<std::uint8_t>(io::RowFlag::invalid_slot) ? "invalid slot"
                           : all_flags[u] != 0                                                  ? "flagged chip"
                                                                                                : "predicted";
      csv << i << ",\"" << source << "\"," << m.tile_row << "," << m.tile_col << ","
          << (c >= 0 && static_cast<std::size_t>(c) < k ? model.class_names[static_cast<std::size_t>(c)] : "");
      if (with_prob) {
        double best = 0;
        for (std::size_t j = 0; j < kk && c >= 0; ++j) best = std::max(best, all_prob[u * kk + j]);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.6f", best);
        csv << "," << (c >= 0 ? buf : "");
      }
      csv << "," << status << "\n";
      if (c >= 0) ++s.predicted;
      if (all_flags[u] == static_cast<std::uint8_t>(io::RowFlag::invalid_slot))
        ++s.invalid_slots;
      else if (all_flags[u] != 0)
        ++s.flagged;
    }
    io::write_file_atomically(s.csv, csv.str());
    write_predictions_h5(s.h5, model.class_names, all_labels, all_flags, all_dec, kk * (kk - 1) / 2, all_prob,
                         model.svm.labels);
  }
  s.seconds = comm.max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return s;
}

}  // namespace sarscale::dist
