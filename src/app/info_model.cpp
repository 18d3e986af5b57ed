// `sarscale info` on a model file: the machine, its classes and feature chain, and how it was
// trained (provenance: data, C, class weights, augmentation, the CV summary).
#include <iomanip>
#include <iostream>

#include "sarscale/app/commands.hpp"
#include "sarscale/core/json.hpp"
#include "sarscale/io/model_file.hpp"

namespace sarscale::app {

int info_model(const dist::Comm& comm, const std::string& path, bool as_json) {
  if (!comm.is_root()) return 0;  // a small file: rank 0 alone reads it
  const io::ModelFile m = io::read_model_file(path);
  const svm::SvmModel& s = m.svm;
  if (as_json) {
    json::Value v = json::Value::object();
    v["model"] = path;
    v["kernel"] = svm::to_string(s.kernel.type);
    v["gamma"] = s.kernel.gamma;
    v["dim"] = static_cast<std::int64_t>(s.dim);
    v["classes"] = json::Value::array();
    for (const auto& c : m.class_names) v["classes"].push_back(c);
    v["total_sv"] = s.total_sv();
    v["probability"] = s.has_probability();
    v["chain"] = m.chain;
    v["fingerprint"] = m.fingerprint;
    v["provenance"] = json::Value::object();
    for (const auto& [k, val] : m.provenance) v["provenance"][k] = val;
    std::cout << v.dump() << std::endl;
    return 0;
  }
  std::cout << "model       " << path << "\n"
            << "svm         " << svm::to_string(s.kernel.type) << " kernel, gamma " << s.kernel.gamma << ", " << s.dim
            << " features, " << s.classes() << " classes, " << s.total_sv() << " support vectors"
            << (s.has_probability() ? ", probabilities" : "") << "\n";
  for (const auto& c : m.class_names) std::cout << "  " << c << "\n";
  if (!m.chain.empty()) std::cout << "chain       " << m.chain << "\n";
  if (!m.fingerprint.empty()) std::cout << "fingerprint " << m.fingerprint << "\n";
  std::cout << "provenance\n";
  for (const auto& [k, v] : m.provenance) {
    std::string one_line = v;
    for (auto& c : one_line)
      if (c == '\n') c = ';';
    std::cout << "  " << std::left << std::setw(20) << k << one_line << "\n";
  }
  return 0;
}

}  // namespace sarscale::app
