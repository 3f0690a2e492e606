#include "scorekit/fim_summary.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <functional>

#include "scorekit/error.hpp"
#include "scorekit/rng.hpp"

namespace scorekit {
namespace {

std::vector<double> largest(std::vector<double> values, int k) {
    std::sort(values.begin(), values.end(), std::greater<double>());
    if (static_cast<int>(values.size()) > k) values.resize(k);
    return values;
}

std::vector<double> symmetric_eigenvalues(const RowMatrix& m) {
    Eigen::SelfAdjointEigenSolver<RowMatrix> solver(m, Eigen::EigenvaluesOnly);
    const Vector& values = solver.eigenvalues();
    return std::vector<double>(values.data(), values.data() + values.size());
}

// Cholesky factor L of M + damping I, computed in place in the lower triangle of `factor`,
// because an Eigen::LLT of its own would hold one more matrix of the size of F. A pivot below 1e-13 of the
// largest diagonal entry counts as zero, because a rank-deficient Fisher matrix factors with
// rounding-sized positive pivots.
bool damped_cholesky(const RowMatrix& m, double damping, RowMatrix& factor) {
    factor = m;
    factor.diagonal().array() += damping;
    const double largest = factor.diagonal().maxCoeff();
    Eigen::LLT<Eigen::Ref<RowMatrix>> cholesky(factor);
    if (cholesky.info() != Eigen::Success) return false;
    return factor.diagonal().array().square().minCoeff() > 1e-13 * largest;
}

// The diagonal of a diagonal M + damping I, accepted as damped_cholesky accepts the pivots of
// the same matrix stored dense (they are its diagonal entries).
bool damped_diagonal(const Vector& diagonal, double damping, Vector& damped) {
    damped = diagonal.array() + damping;
    return damped.minCoeff() > 0 && damped.minCoeff() > 1e-13 * damped.maxCoeff();
}

Error singular_log_det(double damping) {
    return Error(describe("cannot compute log det(F + damping I)", "damping " + format_number(damping),
                          "the damped Fisher matrix is singular or not positive definite", "give --damping > 0"));
}

Error singular_solve(double damping) {
    return Error(describe("cannot solve (F + damping I) x = g", "damping " + format_number(damping),
                          "the damped Fisher matrix is singular or not positive definite", "give --damping > 0"));
}

// log det(M + damping I) by Cholesky; throws when the damped matrix is not positive definite.
double damped_log_det(const RowMatrix& m, double damping) {
    RowMatrix factor;
    if (!damped_cholesky(m, damping, factor)) throw singular_log_det(damping);
    return 2 * factor.diagonal().array().log().sum();
}

Vector damped_solve(const RowMatrix& m, const Vector& b, double damping) {
    RowMatrix factor;
    if (!damped_cholesky(m, damping, factor)) throw singular_solve(damping);
    Vector x = factor.triangularView<Eigen::Lower>().solve(b);
    factor.triangularView<Eigen::Lower>().transpose().solveInPlace(x);
    return x;
}

double trace_of(const FisherMatrix& fisher) {
    double trace = 0;
    switch (fisher.representation) {
        case Representation::dense: return fisher.dense.trace();
        case Representation::diag: return fisher.diagonal.sum();
        case Representation::block:
            for (const auto& b : fisher.blocks) trace += b.matrix.trace();
            return trace;
        case Representation::kfac:
            for (const auto& f : fisher.kfac) trace += f.input_factor.trace() * f.gradient_factor.trace();
            return trace;
        case Representation::implicit: break;
    }
    return trace;
}

double frobenius_of(const FisherMatrix& fisher) {
    double squares = 0;
    switch (fisher.representation) {
        case Representation::dense: return fisher.dense.norm();
        case Representation::diag: return fisher.diagonal.norm();
        case Representation::block:
            for (const auto& b : fisher.blocks) squares += b.matrix.squaredNorm();
            return std::sqrt(squares);
        case Representation::kfac:
            for (const auto& f : fisher.kfac) squares += f.input_factor.squaredNorm() * f.gradient_factor.squaredNorm();
            return std::sqrt(squares);
        case Representation::implicit: break;
    }
    return -1;
}

// Eigenvalues of every Kronecker block: products of the factors' eigenvalues.
std::vector<double> kronecker_eigenvalues(const FisherMatrix& fisher) {
    std::vector<double> values;
    for (const auto& f : fisher.kfac) {
        std::vector<double> a = symmetric_eigenvalues(f.input_factor), g = symmetric_eigenvalues(f.gradient_factor);
        for (double x : g) {
            for (double y : a) values.push_back(x * y);
        }
    }
    return values;
}

void add_eigenvalues(const FisherMatrix& fisher, const SummaryRequest& request, FisherSummary& summary) {
    const int k = request.top_k;
    const std::int64_t n = fisher.size();
    auto lanczos = [&] {
        summary.eigen_method = "lanczos";
        summary.top_eigenvalues = lanczos_top_eigenvalues([&](const Vector& v) { return multiply(fisher, v); }, n, k,
                                                          request.lanczos_iterations, request.seed);
    };
    switch (fisher.representation) {
        case Representation::dense:
            if (n > request.max_dense_eigen) return lanczos();
            summary.eigen_method = "dense";
            summary.top_eigenvalues = largest(symmetric_eigenvalues(fisher.dense), k);
            return;
        case Representation::diag:
            summary.eigen_method = "dense";
            summary.top_eigenvalues = largest(std::vector<double>(fisher.diagonal.data(), fisher.diagonal.data() + n), k);
            return;
        case Representation::block: {
            std::vector<double> values;
            for (const auto& b : fisher.blocks) {
                if (b.size > request.max_dense_eigen) return lanczos();
                std::vector<double> block_values = symmetric_eigenvalues(b.matrix);
                values.insert(values.end(), block_values.begin(), block_values.end());
            }
            summary.eigen_method = "dense";
            summary.top_eigenvalues = largest(values, k);
            return;
        }
        case Representation::kfac:
            summary.eigen_method = "kronecker";
            summary.top_eigenvalues = largest(kronecker_eigenvalues(fisher), k);
            return;
        case Representation::implicit: return;
    }
}

double log_det_of(const FisherMatrix& fisher, double damping) {
    double total = 0;
    switch (fisher.representation) {
        case Representation::dense: return damped_log_det(fisher.dense, damping);
        case Representation::diag: {
            // Never as a dense matrix: diag is the representation for models whose P x P matrix
            // does not fit in memory.
            Vector damped;
            if (!damped_diagonal(fisher.diagonal, damping, damped)) throw singular_log_det(damping);
            return damped.array().log().sum();
        }
        case Representation::block:
            for (const auto& b : fisher.blocks) total += damped_log_det(b.matrix, damping);
            return total;
        case Representation::kfac:
            for (double value : kronecker_eigenvalues(fisher)) {
                if (!(value + damping > 0)) {
                    throw Error(describe("cannot compute log det(F + damping I)", "damping " + format_number(damping),
                                         "the damped Kronecker-factored matrix is singular", "give --damping > 0"));
                }
                total += std::log(value + damping);
            }
            return total;
        case Representation::implicit: break;
    }
    throw Error(describe("cannot compute log det(F + damping I) for", "implicit",
                         "the implicit representation stores no matrix", "use --representation dense, block or kfac"));
}

}  // namespace

FisherSummary summarize(const FisherMatrix& fisher, const SummaryRequest& request) {
    FisherSummary summary;
    summary.trace = trace_of(fisher);
    summary.frobenius = frobenius_of(fisher);
    if (request.top_k > 0) add_eigenvalues(fisher, request, summary);
    if (request.log_det) {
        summary.has_log_det = true;
        summary.log_det = log_det_of(fisher, request.damping);
    }
    return summary;
}

std::vector<double> lanczos_top_eigenvalues(const LinearOperator& op, std::int64_t n, int k, int iterations,
                                            std::uint64_t seed) {
    if (iterations <= 0) iterations = std::max(3 * k, 30);
    const std::int64_t steps = std::min<std::int64_t>(n, iterations);
    RowMatrix basis(n, steps);  // column j is the j-th Lanczos vector
    Vector alpha = Vector::Zero(steps), beta = Vector::Zero(steps);

    Rng rng(seed, 7);
    Vector q(n);
    for (std::int64_t i = 0; i < n; ++i) q(i) = rng.normal();
    q.normalize();
    std::int64_t used = 0;
    for (std::int64_t j = 0; j < steps; ++j) {
        basis.col(j) = q;
        used = j + 1;
        Vector w = op(q);
        alpha(j) = q.dot(w);
        // Full reorthogonalisation (twice) keeps the basis orthogonal in floating point.
        for (int pass = 0; pass < 2; ++pass) w -= basis.leftCols(j + 1) * (basis.leftCols(j + 1).transpose() * w);
        double norm = w.norm();
        if (j + 1 == steps) break;
        if (norm <= 1e-12 * std::max(1.0, std::abs(alpha(j)))) break;  // invariant subspace found
        beta(j) = norm;
        q = w / norm;
    }

    RowMatrix tridiagonal = RowMatrix::Zero(used, used);
    for (std::int64_t j = 0; j < used; ++j) {
        tridiagonal(j, j) = alpha(j);
        if (j + 1 < used) tridiagonal(j, j + 1) = tridiagonal(j + 1, j) = beta(j);
    }
    return largest(symmetric_eigenvalues(tridiagonal), k);
}

SolveResult solve_damped(const FisherMatrix& fisher, const Vector& b, double damping) {
    if (b.size() != fisher.size()) {
        throw Error(describe_at("invalid vector", "with " + std::to_string(b.size()) + " entries",
                             "the Fisher matrix has " + std::to_string(fisher.size()) + " rows",
                             "give one entry per parameter"));
    }
    SolveResult result;
    switch (fisher.representation) {
        case Representation::dense: result.x = damped_solve(fisher.dense, b, damping); break;
        case Representation::diag: {
            Vector damped;
            if (!damped_diagonal(fisher.diagonal, damping, damped)) throw singular_solve(damping);
            result.x = b.cwiseQuotient(damped);
            break;
        }
        case Representation::block:
            result.x = Vector::Zero(b.size());
            for (const auto& blk : fisher.blocks) {
                result.x.segment(blk.offset, blk.size) = damped_solve(blk.matrix, b.segment(blk.offset, blk.size), damping);
            }
            break;
        case Representation::kfac:
            result.x = Vector::Zero(b.size());
            for (const auto& f : fisher.kfac) {
                // (G (x) A + damping I)^-1 in the factors' eigenbases: X' = Qg^T X Qa / (g_i a_j + damping).
                Eigen::SelfAdjointEigenSolver<RowMatrix> ga(f.gradient_factor), aa(f.input_factor);
                const std::int64_t columns = f.input_factor.rows();
                RowMatrix x(f.out, columns);
                x.leftCols(f.in) = Eigen::Map<const RowMatrix>(b.data() + f.weight_offset, f.out, f.in);
                if (f.bias_offset >= 0) x.col(f.in) = b.segment(f.bias_offset, f.out);
                RowMatrix rotated = ga.eigenvectors().transpose() * x * aa.eigenvectors();
                RowMatrix denominator = ga.eigenvalues() * aa.eigenvalues().transpose();
                denominator.array() += damping;
                if ((denominator.array() <= 0).any()) {
                    throw Error(describe("cannot solve (F + damping I) x = g", "damping " + format_number(damping),
                                         "the damped Kronecker-factored matrix is singular", "give --damping > 0"));
                }
                RowMatrix solved = ga.eigenvectors() * rotated.cwiseQuotient(denominator) * aa.eigenvectors().transpose();
                Eigen::Map<RowMatrix>(result.x.data() + f.weight_offset, f.out, f.in) = solved.leftCols(f.in);
                if (f.bias_offset >= 0) result.x.segment(f.bias_offset, f.out) = solved.col(f.in);
            }
            break;
        case Representation::implicit:
            throw Error(describe("cannot solve with", "implicit", "the implicit representation stores no matrix",
                                 "use conjugate_gradient with the Fisher operator"));
    }
    Vector residual = multiply(fisher, result.x) + damping * result.x - b;
    result.relative_residual = b.norm() > 0 ? residual.norm() / b.norm() : residual.norm();
    return result;
}

SolveResult conjugate_gradient(const LinearOperator& op, const Vector& b, double damping, double tolerance,
                               int max_iterations) {
    SolveResult result;
    result.x = Vector::Zero(b.size());
    Vector r = b, p = b;
    const double target = tolerance * b.norm();
    double rr = r.squaredNorm();
    result.converged = std::sqrt(rr) <= target;
    for (int iteration = 0; iteration < max_iterations && !result.converged; ++iteration) {
        Vector ap = op(p) + damping * p;
        double curvature = p.dot(ap);
        if (!(curvature > 0)) break;  // (F + damping I) is singular along p
        double step = rr / curvature;
        result.x += step * p;
        r -= step * ap;
        double next = r.squaredNorm();
        result.iterations = iteration + 1;
        if (std::sqrt(next) <= target) result.converged = true;
        p = r + (next / rr) * p;
        rr = next;
    }
    result.relative_residual = b.norm() > 0 ? std::sqrt(rr) / b.norm() : std::sqrt(rr);
    return result;
}

}  // namespace scorekit
