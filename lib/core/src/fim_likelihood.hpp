// Output-space vectors of the Fisher estimators (private to the core layer; the torch layer
// includes it too).
//
// For outputs f [B, C] each estimator gives vectors e [R, B, C] with
//   sum_r e[r, n] e[r, n]^T = the estimator's output-space matrix for input n,
// so that the per-example parameter gradients J_n^T e[r, n] carry the whole computation.
#pragma once

#include <cstdint>

#include "scorekit/fim.hpp"

namespace scorekit {

// Number of vectors R per input for the exact estimator C - 1 (categorical, whose Lambda has rank
// C - 1), C (gaussian) or 1 (bernoulli); K for mc:K and 1 for empirical.
std::int64_t vectors_per_input(const FisherProblem& problem, std::int64_t outputs);

// Output-space vectors of the estimator: f [B, C] and `labels` [B, 1] or [B, C] row-major (null
// unless the estimator needs them), e [R, B, C] with R = vectors_per_input(problem, C).
void output_vectors(const double* f, std::int64_t batch, std::int64_t outputs, const double* labels,
                    const FisherProblem& problem, std::uint64_t first_row, double* e);

// Throws Error naming the input (1-based, counted over the whole data, shards included) and the
// output of the first entry of f [B, C] that is NaN or infinite. output_vectors calls it.
void check_finite_outputs(const double* f, std::int64_t batch, std::int64_t outputs, const FisherProblem& problem,
                          std::uint64_t first_row);

// d log p(y | f) / df for the given labels, e [B, C].
void log_likelihood_output_gradient(const double* f, std::int64_t batch, std::int64_t outputs, const double* labels,
                                    const FisherProblem& problem, double* e);

// Checks the output width against the likelihood and the labels against both; throws Error
// naming the row of an invalid label.
void check_outputs_and_labels(const std::string& source, std::int64_t outputs, const Labels& labels,
                              const FisherProblem& problem);

}  // namespace scorekit
