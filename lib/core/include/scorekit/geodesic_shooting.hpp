// Initial-value geodesics: the exponential map by integrating x'' = -Gamma(x)[x', x'] over
// t in [0, 1], and the logarithmic map by shooting (Newton's method on the initial velocity).
#pragma once

#include <vector>

#include "scorekit/geodesic.hpp"

namespace scorekit {

// The default tolerances for a model whose scores have the relative rounding error `precision`
// (ScoreModel::score_precision()). A double-precision model gets 1e-10 per integration step and
// 1e-9 for the log map's miss. A float32 network's accelerations carry rounding noise near its
// precision 2^-23, so a step tolerance below it only makes the step controller chase that noise:
// on a model of Old Faithful a shot took 60 times the CPU time at 1e-10 as at 1.2e-8, and the shot's
// end point stayed rough at 2e-8 to 4e-7 of |y - x| as a function of v. Such a model gets
// precision / 10 per step and 10 * precision for the miss.
double default_ode_tolerance(double precision);
double default_shooting_tolerance(double precision);

struct ExpMapOptions {
    int nodes = 101;            // path samples at t = k / (nodes - 1), both ends included (>= 2)
    double tolerance = 1e-10;   // relative and absolute error per adaptive step (Dormand-Prince 5(4))
    int max_steps = 100000;     // adaptive steps per geodesic before giving up
};

struct ExpMapResult {
    int nodes = 0;
    RowMatrix paths;          // [N * nodes, D]
    RowMatrix ends;           // [N, D] position at t = 1
    RowMatrix end_velocities; // [N, D] velocity at t = 1
    std::vector<char> ok;     // [N] 0 where the integration failed (non-finite state or step limit)
};

// Integrates from each row of x with initial velocity the same row of v. Each row has its own
// adaptive step sizes, so its result does not depend on the other rows, and one model call per
// stage serves all rows still moving. Throws UsageError for outer.
ExpMapResult exponential_map(const ScoreMetric& metric, const RowMatrix& x, const RowMatrix& v,
                             const ExpMapOptions& options);

struct LogMapOptions {
    GeodesicOptions boundary;   // the boundary-value solve that gives the first guess
    ExpMapOptions integration;  // integration of each shot (only the end point is kept)
    double tolerance = 1e-9;    // max |exp_x(v) - y| relative to |y - x|
    int max_iterations = 20;    // Newton steps
};

struct LogMapResult {
    RowMatrix velocities;        // [P, D] log_x(y), the initial velocity of the geodesic
    Vector lengths;              // [P] |v|_{g(x)}, the geodesic length for t in [0, 1]
    Vector residuals;            // [P] |exp_x(v) - y|
    std::vector<int> iterations; // [P] Newton steps of all attempts
    std::vector<char> converged; // [P]
    // [P] length of the boundary-value path, NaN if it did not converge. For a pair whose log map
    // is longer by more than kLongerGeodesicMargin, the length of a second solve with 2 T - 1
    // nodes, so that a coarse path's discretisation error does not count as a longer geodesic.
    Vector boundary_lengths;
    // [P] estimated bound on the discretisation error of boundary_lengths: kBoundaryErrorFactor
    // times the change from T to 2 T - 1 nodes for a pair solved twice, else 0.
    Vector boundary_errors;
};

// The change of a boundary-value length from T to 2 T - 1 nodes underestimates the error of the
// finer length while the nodes are too few for the error to fall as 1 / T^2. On a score-train
// model of Old Faithful, a pair's lengths at 21, 41, 81 and 161 nodes were 9.746, 9.764, 9.786 and
// 9.802 against 9.8035, so the 41-node error was 2.2 times the change. The error bound takes 4.
constexpr double kBoundaryErrorFactor = 4;

// Shooting can reach a geodesic that is not the shortest, which the length check names. A log map
// counts as longer when |v|_g exceeds the boundary-value length by more than this fraction plus
// that length's estimated discretisation error. The margin covers the float32 rounding of a
// trained model's lengths (about 1e-6 relative) and the integration error of the shots.
// NOTE: measured on Old Faithful pairs of a score-train model: a gap of 1e-3 at 101 nodes that
// fell to 1.5e-5 at 401 nodes (the same geodesic) and one of 1.0e-2 at every node count (a longer
// geodesic). A longer geodesic whose gap lies below the error bound is not named, and a coarse
// path whose error exceeds that bound can still be named.
constexpr double kLongerGeodesicMargin = 1e-4;

// Whether a log map of length `length` is longer than its boundary-value path of length
// `boundary_length` and estimated error `boundary_error` by more than kLongerGeodesicMargin
// (false when boundary_length is NaN, for a path that did not converge).
bool longer_than_boundary_path(double length, double boundary_length, double boundary_error);

// Shoots from each start to the same row of `ends`. The first guess is the one-sided
// second-order difference (-3 x_0 + 4 x_1 - x_2) / (2 h) at the start of the boundary-value
// path. Newton steps use a forward-difference Jacobian of the exponential map, which costs
// D + 1 shots per pair and step, integrated as one batch. Its step is
// max(1e-7, 100 * score_precision()) * max(1, |v|_inf), so that for a float32 network the
// differences stand 100 times above the rounding noise of the end points. A step is halved
// while the miss grows, at most 12 times, and a pair whose miss no halving reduces has stalled.
// A pair that stalls above 10 * score_precision() * |y - x| is shot again by continuation along
// the boundary-value path, then with integration tolerances 10 and 100 times smaller (not below
// score_precision() / 1000). Each
// attempt has up to max_iterations Newton steps, and iterations counts them all.
LogMapResult logarithmic_map(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                             const LogMapOptions& options);

}  // namespace scorekit
