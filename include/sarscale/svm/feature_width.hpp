#pragma once
// Applying a model to LIBSVM data whose width (largest feature index) differs from the model's.
//
// What svm-predict allows (LIBSVM 3.24: svm-predict.c reads any strictly increasing indices and
// never compares them with the model; svm.cpp's Kernel::k_function walks both sparse rows): a
// feature a row omits is 0, and a feature the support vectors lack is 0 on their side. So data
// narrower than the model (trailing zero features omitted, as sparse files do) and data wider
// than it are both accepted, and a wider row's extra features are *not* ignored: a dot product
// gets nothing from them, but an RBF kernel's distance gains their squares. sarscale computes the
// same (both sides padded with zeros to the wider width: pad_rows, pad_support_vectors).
//
// What sarscale refuses on top (width_mismatch): data whose width shows it was not made for the
// model, i.e. rows that would, were they of the model's kind, almost surely have shown the
// features they lack. Narrower data: a share p of the model's support vectors has a non-zero
// feature beyond the data's width, yet none of the data's n rows has one; wider data: a share q of
// the rows has a non-zero feature beyond the model's width, yet none of its s support vectors
// has one. Refused when the chance of that, (1-p)^n or (1-q)^s, is below 1e-9 (e.g. p = 1: every
// support vector uses a feature no row has; 270 rows of 13 features against a model of 256
// dense features). Sparse files of the model's own kind pass: their rare trailing features are
// as rare in the support vectors.
#include <string>

#include "sarscale/svm/dataset.hpp"
#include "sarscale/svm/model.hpp"

namespace sarscale::svm {

// "" when `data` may be applied to `model` (possibly after padding), else why not, with both
// widths and the evidence; `data_name` names the data in the message.
std::string width_mismatch(const SvmModel& model, const Dataset& data, const std::string& data_name);

// Zero features appended to every row (dim >= data.dim) / to every support vector (dim >= model.dim).
void pad_rows(Dataset& data, int dim);
void pad_support_vectors(SvmModel& model, int dim);

}  // namespace sarscale::svm
