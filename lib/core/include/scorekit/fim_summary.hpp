// Summaries of a Fisher matrix and the linear algebra behind them: trace, Frobenius norm, top
// eigenvalues (dense eigensolver or Lanczos), log det(F + damping I) and damped solves.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "scorekit/fim_representation.hpp"
#include "scorekit/matrix.hpp"

namespace scorekit {

using LinearOperator = std::function<Vector(const Vector&)>;

struct SummaryRequest {
    int top_k = 0;
    bool log_det = false;
    double damping = 0;
    int lanczos_iterations = 0;  // 0 = min(P, max(3 * top_k, 30))
    std::uint64_t seed = 0;      // Lanczos start vector
    // Dense eigenproblems larger than this use Lanczos on products instead.
    std::int64_t max_dense_eigen = 3000;
};

struct FisherSummary {
    double trace = 0;
    double frobenius = -1;  // < 0 when not available (implicit)
    std::vector<double> top_eigenvalues;  // largest first
    std::string eigen_method;             // "dense", "lanczos", "kronecker" or empty
    bool has_log_det = false;
    double log_det = 0;  // log det(F + damping I)
};

// Summarises a stored representation. The values describe the representation's own matrix
// (a diagonal or Kronecker approximation is summarised as that approximation).
FisherSummary summarize(const FisherMatrix& fisher, const SummaryRequest& request);

// Top-k eigenvalues of a symmetric positive semi-definite operator of size n by Lanczos with full
// reorthogonalisation, `iterations` steps from a seeded random start. Largest first.
std::vector<double> lanczos_top_eigenvalues(const LinearOperator& op, std::int64_t n, int k, int iterations,
                                            std::uint64_t seed);

struct SolveResult {
    Vector x;
    int iterations = 0;
    double relative_residual = 0;
    bool converged = true;
};

// Solves (F + damping I) x = b for a stored representation (Cholesky per dense block, exact
// Kronecker eigendecomposition for kfac). Throws Error when the damped matrix is singular.
SolveResult solve_damped(const FisherMatrix& fisher, const Vector& b, double damping);

// Conjugate gradients on (op + damping I) x = b, stopping at relative residual `tolerance`.
SolveResult conjugate_gradient(const LinearOperator& op, const Vector& b, double damping, double tolerance,
                               int max_iterations);

}  // namespace scorekit
