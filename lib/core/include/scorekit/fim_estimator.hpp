// How the expectation over labels in the Fisher information is evaluated.
//
//   exact      closed-form output-space covariance Lambda through square-root factors S
//              (Lambda = S S^T): one backward pass per factor column, batched over inputs
//   mc:K       K labels sampled from the model per input, each weighted 1/K (unbiased for F)
//   empirical  the data labels: sum_n g(x_n, y_n) g(x_n, y_n)^T. This is the empirical Fisher,
//              which is not an estimate of the Fisher information (Kunstner, Balles and Hennig,
//              "Limitations of the empirical Fisher approximation", NeurIPS 2019).
#pragma once

#include <cstdint>
#include <string>

namespace scorekit {

struct EstimatorSpec {
    enum class Kind { exact, monte_carlo, empirical };
    Kind kind = Kind::exact;
    int samples = 0;  // K for monte_carlo

    bool needs_labels() const { return kind == Kind::empirical; }

    // "exact", "mc:K" or "empirical", as written in outputs.
    std::string name() const;

    // What the computed matrix is, for outputs: "Fisher information" or
    // "empirical Fisher (not an estimate of the Fisher information)".
    std::string quantity() const;
};

// Parses "exact", "mc:K" (K >= 1) or "empirical"; throws UsageError listing the choices.
EstimatorSpec parse_estimator(const std::string& text);

enum class Reduction { sum, mean };

Reduction parse_reduction(const std::string& name);
std::string to_string(Reduction reduction);

}  // namespace scorekit
