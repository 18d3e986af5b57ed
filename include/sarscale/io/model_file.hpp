#pragma once
// The model file: one HDF5 file with everything `predict` and `evaluate` need (format:
// docs/model-format.md): the SVM (LIBSVM's layout, svm/model.hpp), the class names, the feature
// chain and its fitted standardisation/PCA exactly as the training features were computed (with
// their fingerprint), and the training provenance (parameters, cross-validation table).
// Written and read by one process (the model is small); a missing, foreign, truncated or
// inconsistent file gives an InputError, never a crash.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "sarscale/svm/model.hpp"

namespace sarscale::io {

inline constexpr int kModelFormatVersion = 1;
inline constexpr const char* kModelFormatName = "sarscale-model";

struct ModelFile {
  svm::SvmModel svm;
  std::vector<std::string> class_names;  // name of label k (feature files' labels are indices); may be empty
  std::string chain;                     // canonical feature chain ("" for models trained on LIBSVM text data)
  std::string fingerprint;               // of the features the model was trained on ("" when unknown)
  std::map<std::string, std::vector<double>> pca;  // fitted standardisation/PCA arrays (empty: none)
  std::map<std::string, std::string> provenance;   // command line, data, parameters, CV results (JSON)
};

// Writes atomically: to PATH.tmp, then renamed over PATH, so a reader never sees half a model.
void write_model_file(const std::filesystem::path& path, const ModelFile& model);
ModelFile read_model_file(const std::filesystem::path& path);

}  // namespace sarscale::io
