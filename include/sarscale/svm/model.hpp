#pragma once
// A trained multi-class C-SVC in LIBSVM's layout (so it converts to and from LIBSVM's text
// model format exactly): k classes, one-vs-one binary machines for every pair i < j.
//
// Support vectors are grouped by class (sv_count[c] consecutive rows for class c, classes in
// `labels` order). sv_coef is (k-1) x total_sv: for the machine of classes (i, j), the
// coefficients y*alpha of class i's SVs are in row j-1 and those of class j's SVs in row i;
// rho[p] for pair p enumerates (0,1), (0,2), ..., (0,k-1), (1,2), ... The decision value of
// machine p is sum coef * K(sv, x) - rho[p]; positive votes for class i.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sarscale/svm/kernel.hpp"

namespace sarscale::svm {

struct SvmModel {
  KernelParams kernel;
  int dim = 0;                              // features per row
  std::vector<std::int32_t> labels;         // class labels, LIBSVM's internal order
  std::vector<std::int32_t> sv_count;       // support vectors per class
  std::vector<double> support_vectors;      // total_sv x dim, row-major
  std::vector<double> sv_coef;              // (k-1) x total_sv, row-major
  std::vector<double> rho;                  // k(k-1)/2
  std::vector<double> prob_a, prob_b;       // k(k-1)/2 each, or empty (no probability model)
  std::vector<std::int64_t> sv_indices;     // training row of each SV (0-based), or empty when unknown
  std::map<std::string, std::string> info;  // provenance: training command, data, figures

  int classes() const { return static_cast<int>(labels.size()); }
  std::int64_t total_sv() const;
  bool has_probability() const { return !prob_a.empty(); }
  // ConfigError naming the first array whose size does not fit the others.
  void check() const;
};

}  // namespace sarscale::svm
