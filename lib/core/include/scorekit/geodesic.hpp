// Boundary-value geodesics: minimum-energy curves between given end points.
//
// A curve is T nodes x_0 .. x_{T-1} with fixed ends and parameter step h = 1 / (T - 1). The
// solver minimises the discrete energy E = sum_i dx_i^T g(m_i) dx_i / h with g evaluated at the
// segment midpoints m_i, which is second order in h (left-node evaluation, as in Stochman, is
// first order). It starts from the straight segment and runs L-BFGS on the interior nodes,
// preconditioned by the weighted path Laplacian (2 / h) sum_i c_i |dx_i|^2 with c_i the metric
// scale at the midpoints, which removes the O(T^2) conditioning of the energy. The pairs are
// solved in chunks of `batch_size`, one chunk after the other, and the pairs of a chunk share
// one model call per round. Pairs never interact, so the chunking changes only how long a chunk
// takes, not any result (exactly so for models whose scores are computed row by row).
//
// A pair counts as converged when the preconditioned gradient, a Newton-like node displacement,
// is at most `tolerance` times the chord length |y - x| at every node, and when the midpoint
// length agrees with a Simpson-rule length (metric also at the nodes) to `resolution`. The second
// test catches paths that the nodes cannot resolve, such as an infimum that no curve attains.
// A pair whose energy stopped falling at the rounding level of the model's scores (see
// ScoreModel::score_precision) over 10 accepted steps also counts as converged, because float32
// networks cannot reach a double-precision node tolerance.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "scorekit/metric.hpp"

namespace scorekit {

struct GeodesicOptions {
    int nodes = 101;             // T, both end points included (>= 3)
    // Max node displacement relative to the chord length. The solver raises it to
    // 10 T score_precision() when that is larger, the level where rounding in the energy
    // gradient stops progress (1.2e-4 at T = 101 for float32 models, 2e-13 in double).
    double tolerance = 1e-8;
    int max_iterations = 1000;   // accepted L-BFGS steps per pair
    double resolution = 0.01;    // max relative gap between the midpoint and Simpson lengths
    int memory = 8;              // L-BFGS correction pairs
    // Pairs solved together. Larger chunks spread each model call over more rows; smaller ones
    // report progress more often. The solver also caps a chunk at 2^24 doubles of state.
    int batch_size = 16;
};

enum class GeodesicStatus {
    converged,
    max_iterations,     // iteration limit reached
    line_search,        // no step decreased the energy before the tolerance was met
    not_finite,         // the metric is infinite or NaN on the path (for example outside the support)
    unresolved,         // midpoint and Simpson lengths disagree: too few nodes for this path
};

// A short English description of a status, for messages.
std::string describe_status(GeodesicStatus status);

struct GeodesicBatch {
    int nodes = 0;                        // T
    RowMatrix paths;                      // [P * T, D]; pair p is rows p*T .. p*T + T - 1
    Vector lengths;                       // [P] midpoint-rule length
    Vector energies;                      // [P] discrete energy E
    std::vector<int> iterations;          // [P]
    std::vector<GeodesicStatus> status;   // [P]
    bool converged(Eigen::Index p) const { return status[static_cast<size_t>(p)] == GeodesicStatus::converged; }
    Eigen::Index unconverged_count() const;
};

// Called with (pairs finished, pairs in total) after each chunk of pairs.
using PairProgress = std::function<void(std::int64_t, std::int64_t)>;

// Solves the boundary-value problem from each row of `starts` to the same row of `ends` [P, D].
// Throws UsageError for outer or invalid options; an unconverged pair is reported in `status`,
// never thrown.
GeodesicBatch solve_geodesics(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                              const GeodesicOptions& options, const PairProgress& progress = {});

// Throws UsageError for fewer than 3 nodes or a non-positive tolerance, resolution, iteration
// limit, memory or batch size.
void check_geodesic_options(const GeodesicOptions& options);

// Pairs (i, j), i < j, of n points in row-major order of the upper triangle.
std::vector<std::pair<Eigen::Index, Eigen::Index>> upper_triangle_pairs(Eigen::Index n);

}  // namespace scorekit
