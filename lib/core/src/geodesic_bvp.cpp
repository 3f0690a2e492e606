// Batched boundary-value geodesic solver: preconditioned L-BFGS on the discrete midpoint energy.
// See geodesic.hpp for the discretisation and the convergence tests.
#include "scorekit/geodesic.hpp"

#include <Eigen/Cholesky>
#include <Eigen/LU>

#include <algorithm>
#include <cmath>
#include <limits>

#include "scorekit/error.hpp"

namespace scorekit {
namespace {

constexpr double kArmijo = 1e-4;
constexpr int kMaxBacktracks = 40;
// Energies that differ by less than this fraction are equal up to rounding in the segment sum.
constexpr double kEnergySlack = 1e-14;
// Solver state per batch, in doubles; bounds memory for large D or many pairs.
constexpr double kStateBudget = 1 << 24;
// Up to this dimension the preconditioner uses the full metric blocks g(m_i). Above it, the
// block solve would cost O(T D^3) per application, so the scalar scale c_i replaces g(m_i).
constexpr Eigen::Index kMaxBlockDimension = 16;
// A pair whose energy fell by less than its rounding level over this many accepted steps has
// stalled at the model's precision.
constexpr int kStallWindow = 10;

// Block LDL^T factorisation of the block-tridiagonal path Laplacian with blocks G_i, one per
// segment. For each interior node k it stores the inverse pivot M_k^-1 and the upper factor
// U_k = -M_k^-1 G_{k+1} as rows of D * D values, row-major. The couplings G_k are read from the
// blocks matrix that the factor was built from.
struct BlockFactor {
    RowMatrix inverse_pivots;  // [T - 2, D * D]
    RowMatrix upper;           // [T - 3, D * D]
};

struct PairState {
    Eigen::Index pair = 0;
    double chord = 0;
    RowMatrix x, gradient, direction, trial, trial_gradient;  // [T - 2, D]
    Vector weights, trial_weights;                           // [T - 1]
    RowMatrix blocks, trial_blocks;                          // [T - 1, D * D] in block mode
    BlockFactor factor;                                      // of `blocks`, in block mode
    double energy = 0, trial_energy = 0, slope = 0, step = 1;
    bool trial_finite = false;
    int backtracks = 0;
    bool reset_tried = false;
    int iterations = 0;
    std::vector<double> recent_energies;  // ring buffer of the last kStallWindow accepted energies
    bool done = false;
    GeodesicStatus status = GeodesicStatus::converged;
    // L-BFGS corrections in a ring buffer.
    std::vector<RowMatrix> s_history, y_history;
    std::vector<double> rho;
    int stored = 0, newest = -1;
};

double dot(const RowMatrix& a, const RowMatrix& b) { return a.cwiseProduct(b).sum(); }

// Factors the block path Laplacian: diagonal blocks G_k + G_{k+1}, off-diagonal -G_{k+1}.
// N is the block size D when it is a compile-time constant (D <= 3), which lets Eigen keep the
// D x D blocks in registers, and Eigen::Dynamic handles the other sizes. Reuses the storage of
// `factor`, which keeps the same sizes from one step to the next.
template <int N>
void factor_blocks_sized(const RowMatrix& blocks, Eigen::Index d, BlockFactor& factor) {
    using Block = Eigen::Matrix<double, N, N, Eigen::RowMajor>;
    using ConstBlockMap = Eigen::Map<const Block>;
    using BlockMap = Eigen::Map<Block>;
    const Eigen::Index n = blocks.rows() - 1;
    factor.inverse_pivots.resize(n, d * d);
    factor.upper.resize(std::max<Eigen::Index>(n - 1, 0), d * d);
    Block pivot(d, d);
    for (Eigen::Index k = 0; k < n; ++k) {
        pivot = ConstBlockMap(blocks.row(k).data(), d, d) + ConstBlockMap(blocks.row(k + 1).data(), d, d);
        // Schur complement M_k = A_k - G_k M_{k-1}^-1 G_k, written with U_{k-1} = -M_{k-1}^-1 G_k.
        if (k > 0) {
            pivot.noalias() += ConstBlockMap(blocks.row(k).data(), d, d) *
                               ConstBlockMap(factor.upper.row(k - 1).data(), d, d);
        }
        BlockMap inverse(factor.inverse_pivots.row(k).data(), d, d);
        if constexpr (N != Eigen::Dynamic && N <= 4) {
            inverse = pivot.inverse();  // closed form for fixed sizes up to 4
        } else {
            inverse = pivot.llt().solve(Block::Identity(d, d));
        }
        if (k + 1 < n) {
            BlockMap(factor.upper.row(k).data(), d, d).noalias() =
                -inverse * ConstBlockMap(blocks.row(k + 1).data(), d, d);
        }
    }
}

// Solves (2 / h) L delta = r with the block factorisation (block Thomas algorithm).
template <int N>
RowMatrix solve_blocks_sized(const BlockFactor& factor, const RowMatrix& blocks, const RowMatrix& r, double h) {
    using Block = Eigen::Matrix<double, N, N, Eigen::RowMajor>;
    using Column = Eigen::Matrix<double, N, 1>;
    using ConstBlockMap = Eigen::Map<const Block>;
    const Eigen::Index n = r.rows(), d = r.cols();
    // Rows of the row-major r and delta, and blocks, are mapped at fixed size so that Eigen
    // unrolls the products for D <= 3.
    using ColumnMap = Eigen::Map<Column>;
    using ConstColumnMap = Eigen::Map<const Column>;
    RowMatrix delta(n, d);
    Column rhs(d);
    for (Eigen::Index k = 0; k < n; ++k) {
        rhs = ConstColumnMap(r.data() + k * d, d);
        if (k > 0) {
            rhs.noalias() += ConstBlockMap(blocks.data() + k * d * d, d, d) * ConstColumnMap(delta.data() + (k - 1) * d, d);
        }
        ColumnMap(delta.data() + k * d, d).noalias() = ConstBlockMap(factor.inverse_pivots.data() + k * d * d, d, d) * rhs;
    }
    for (Eigen::Index k = n - 2; k >= 0; --k) {
        ColumnMap(delta.data() + k * d, d).noalias() -=
            ConstBlockMap(factor.upper.data() + k * d * d, d, d) * ConstColumnMap(delta.data() + (k + 1) * d, d);
    }
    delta *= h / 2;
    return delta;
}

void factor_blocks(const RowMatrix& blocks, Eigen::Index d, BlockFactor& factor) {
    switch (d) {
        case 1: factor_blocks_sized<1>(blocks, d, factor); break;
        case 2: factor_blocks_sized<2>(blocks, d, factor); break;
        case 3: factor_blocks_sized<3>(blocks, d, factor); break;
        default: factor_blocks_sized<Eigen::Dynamic>(blocks, d, factor); break;
    }
}

RowMatrix solve_blocks(const BlockFactor& factor, const RowMatrix& blocks, const RowMatrix& r, double h) {
    switch (r.cols()) {
        case 1: return solve_blocks_sized<1>(factor, blocks, r, h);
        case 2: return solve_blocks_sized<2>(factor, blocks, r, h);
        case 3: return solve_blocks_sized<3>(factor, blocks, r, h);
        default: return solve_blocks_sized<Eigen::Dynamic>(factor, blocks, r, h);
    }
}

// Solves (2 / h) L delta = r for the weighted path Laplacian L with edge weights c (one per
// segment) and fixed ends, one tridiagonal system shared by all D columns (Thomas algorithm).
RowMatrix precondition(const RowMatrix& r, const Vector& c, double h) {
    const Eigen::Index n = r.rows();
    RowMatrix delta(n, r.cols());
    Vector upper(n);
    for (Eigen::Index k = 0; k < n; ++k) {
        const double diagonal = c(k) + c(k + 1);
        const double below = k > 0 ? -c(k) : 0.0;
        const double pivot = diagonal - (k > 0 ? below * upper(k - 1) : 0.0);
        upper(k) = -c(k + 1) / pivot;
        delta.row(k) = r.row(k);
        if (k > 0) delta.row(k) -= below * delta.row(k - 1);
        delta.row(k) /= pivot;
    }
    for (Eigen::Index k = n - 2; k >= 0; --k) delta.row(k) -= upper(k) * delta.row(k + 1);
    return (h / 2) * delta;
}

void clear_history(PairState& state) {
    state.stored = 0;
    state.newest = -1;
}

void push_history(PairState& state, RowMatrix s, RowMatrix y, int memory) {
    const double sy = dot(s, y);
    if (!(sy > 1e-12 * std::sqrt(dot(s, s) * dot(y, y)))) return;  // keeps the inverse Hessian positive definite
    if (state.s_history.size() < static_cast<size_t>(memory)) {
        state.s_history.resize(static_cast<size_t>(memory));
        state.y_history.resize(static_cast<size_t>(memory));
        state.rho.resize(static_cast<size_t>(memory));
    }
    state.newest = (state.newest + 1) % memory;
    state.s_history[static_cast<size_t>(state.newest)] = std::move(s);
    state.y_history[static_cast<size_t>(state.newest)] = std::move(y);
    state.rho[static_cast<size_t>(state.newest)] = 1 / sy;
    state.stored = std::min(state.stored + 1, memory);
}

// L-BFGS two-loop recursion with the path-Laplacian preconditioner as the initial inverse Hessian.
RowMatrix lbfgs_direction(const PairState& state, double h, int memory) {
    RowMatrix q = state.gradient;
    std::vector<double> alpha(static_cast<size_t>(state.stored));
    for (int j = 0; j < state.stored; ++j) {
        const auto slot = static_cast<size_t>((state.newest - j + memory) % memory);
        alpha[static_cast<size_t>(j)] = state.rho[slot] * dot(state.s_history[slot], q);
        q -= alpha[static_cast<size_t>(j)] * state.y_history[slot];
    }
    RowMatrix r = state.blocks.size() > 0 ? solve_blocks(state.factor, state.blocks, q, h) : precondition(q, state.weights, h);
    for (int j = state.stored - 1; j >= 0; --j) {
        const auto slot = static_cast<size_t>((state.newest - j + memory) % memory);
        const double b = state.rho[slot] * dot(state.y_history[slot], r);
        r += (alpha[static_cast<size_t>(j)] - b) * state.s_history[slot];
    }
    return -r;
}

class BatchSolver {
public:
    BatchSolver(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                const GeodesicOptions& options)
        : metric_(metric), starts_(starts), ends_(ends), options_(options), segments_(options.nodes - 1),
          h_(1.0 / segments_),
          tolerance_(std::max(options.tolerance, 10.0 * options.nodes * metric.model().score_precision())),
          block_mode_(starts.cols() <= kMaxBlockDimension),
          energy_noise_(10.0 * std::sqrt(static_cast<double>(options.nodes)) * metric.model().score_precision()) {}

    // Evaluates energy, gradient and weights at each state's trial interior.
    void evaluate(const std::vector<PairState*>& states) {
        const Eigen::Index d = starts_.cols();
        const auto count = static_cast<Eigen::Index>(states.size());
        midpoints_.resize(count * segments_, d);
        steps_.resize(count * segments_, d);
        for (Eigen::Index j = 0; j < count; ++j) {
            // Rows base .. base + T - 2 take the left nodes first, then become midpoints and steps.
            const PairState& state = *states[static_cast<size_t>(j)];
            const Eigen::Index base = j * segments_, interior = segments_ - 1;
            midpoints_.row(base) = starts_.row(state.pair);
            midpoints_.middleRows(base + 1, interior) = state.trial;
            steps_.middleRows(base, interior) = state.trial;
            steps_.row(base + interior) = ends_.row(state.pair);
            steps_.middleRows(base, segments_) -= midpoints_.middleRows(base, segments_);
            midpoints_.middleRows(base, segments_) += 0.5 * steps_.middleRows(base, segments_);
        }
        metric_.segment_terms(midpoints_, steps_, terms_, block_mode_);

        for (Eigen::Index j = 0; j < count; ++j) {
            PairState& state = *states[static_cast<size_t>(j)];
            const Eigen::Index base = j * segments_;
            state.trial_energy = terms_.quadratic.segment(base, segments_).sum() / h_;
            state.trial_weights = terms_.scale.segment(base, segments_);
            if (block_mode_) state.trial_blocks = terms_.tensors.middleRows(base, segments_);
            RowMatrix& g = state.trial_gradient;
            g.resize(segments_ - 1, d);
            for (Eigen::Index k = 0; k + 1 < segments_; ++k) {
                g.row(k) = (2 * terms_.metric_v.row(base + k) + 0.5 * terms_.gradient.row(base + k) -
                            2 * terms_.metric_v.row(base + k + 1) + 0.5 * terms_.gradient.row(base + k + 1)) /
                           h_;
            }
            state.trial_finite = std::isfinite(state.trial_energy) && g.allFinite() &&
                                 state.trial_weights.allFinite() && (state.trial_weights.array() > 0).all();
        }
    }

    // Moves the trial point into the current point and tests convergence.
    void accept(PairState& state) {
        if (state.x.size() > 0) {
            push_history(state, state.trial - state.x, state.trial_gradient - state.gradient, options_.memory);
        }
        std::swap(state.x, state.trial);
        std::swap(state.gradient, state.trial_gradient);
        std::swap(state.weights, state.trial_weights);
        std::swap(state.blocks, state.trial_blocks);
        if (block_mode_) factor_blocks(state.blocks, starts_.cols(), state.factor);
        state.energy = state.trial_energy;

        RowMatrix displacement = preconditioned(state, state.gradient);
        if (displacement.cwiseAbs().maxCoeff() <= tolerance_ * state.chord || stalled(state)) {
            finish(state, GeodesicStatus::converged);
            return;
        }
        if (state.iterations >= options_.max_iterations) {
            finish(state, GeodesicStatus::max_iterations);
            return;
        }
        state.direction = lbfgs_direction(state, h_, options_.memory);
        state.slope = dot(state.gradient, state.direction);
        if (!(state.slope < 0)) {
            clear_history(state);
            state.direction = -displacement;
            state.slope = dot(state.gradient, state.direction);
        }
        state.step = 1;
        state.backtracks = 0;
        state.reset_tried = false;
    }

    // Handles a trial that did not decrease the energy enough.
    void reject(PairState& state) {
        if (++state.backtracks <= kMaxBacktracks) {
            double shrink = 0.5;
            const double rise = state.trial_energy - state.energy - state.slope * state.step;
            if (state.trial_finite && rise > 0) {
                // Minimiser of the quadratic through E(0), E'(0) and E(step), kept in [0.1, 0.5] step.
                shrink = std::clamp(-state.slope * state.step / (2 * rise), 0.1, 0.5);
            }
            state.step *= shrink;
            return;
        }
        if (!state.reset_tried) {
            clear_history(state);
            state.direction = -preconditioned(state, state.gradient);
            state.slope = dot(state.gradient, state.direction);
            state.step = 1;
            state.backtracks = 0;
            state.reset_tried = true;
            return;
        }
        finish(state, GeodesicStatus::line_search);
    }

    // Records the current energy and tests whether the last kStallWindow steps lowered it by
    // less than the rounding level of the energy sum, 10 sqrt(T) score_precision() |E|.
    bool stalled(PairState& state) const {
        auto& recent = state.recent_energies;
        const auto slot = static_cast<size_t>(state.iterations % kStallWindow);
        const bool full = recent.size() == static_cast<size_t>(kStallWindow);
        const double before = full ? recent[slot] : 0.0;
        if (!full) {
            recent.push_back(state.energy);
            return false;
        }
        recent[slot] = state.energy;
        return before - state.energy <= energy_noise_ * std::abs(state.energy);
    }

    RowMatrix preconditioned(const PairState& state, const RowMatrix& r) const {
        return block_mode_ ? solve_blocks(state.factor, state.blocks, r, h_) : precondition(r, state.weights, h_);
    }

    void finish(PairState& state, GeodesicStatus status) {
        state.status = status;
        state.done = true;
    }

private:
    const ScoreMetric& metric_;
    const RowMatrix& starts_;
    const RowMatrix& ends_;
    const GeodesicOptions& options_;
    const Eigen::Index segments_;
    const double h_;
    const double tolerance_;
    const bool block_mode_;
    const double energy_noise_;
    RowMatrix midpoints_, steps_;
    SegmentTerms terms_;
};

}  // namespace

void check_geodesic_options(const GeodesicOptions& options) {
    if (options.nodes < 3) {
        throw UsageError(describe("invalid --nodes", std::to_string(options.nodes), "a path needs at least 3 nodes",
                                  "pass --nodes 3 or more"));
    }
    if (options.batch_size < 1) {
        throw UsageError(describe("invalid --batch-size", std::to_string(options.batch_size),
                                  "a chunk needs at least one pair", "pass --batch-size 1 or more"));
    }
    if (!(options.tolerance > 0) || !std::isfinite(options.tolerance)) {
        throw UsageError(describe("invalid --tolerance", format_number(options.tolerance), "must be a finite number that is positive"));
    }
    if (!(options.resolution > 0) || !std::isfinite(options.resolution)) {
        throw UsageError(describe("invalid --resolution", format_number(options.resolution), "must be a finite number that is positive"));
    }
    if (options.max_iterations < 1) {
        throw UsageError(describe("invalid --max-iterations", std::to_string(options.max_iterations), "must be a whole number of at least 1"));
    }
    if (options.memory < 1) {
        // Not a command-line option: only library callers can set it.
        throw UsageError(describe("invalid L-BFGS memory", std::to_string(options.memory), "must be at least 1"));
    }
}

namespace {

// Midpoint and Simpson lengths of finished paths, and the final status of each.
void measure(const ScoreMetric& metric, const RowMatrix& paths, Eigen::Index first, Eigen::Index count, int nodes,
             const GeodesicOptions& options, GeodesicBatch& batch) {
    const Eigen::Index d = paths.cols(), segments = nodes - 1;
    RowMatrix midpoints(count * segments, d), steps(count * segments, d), left(count * segments, d),
        right(count * segments, d);
    for (Eigen::Index j = 0; j < count; ++j) {
        const Eigen::Index base = (first + j) * nodes;
        for (Eigen::Index i = 0; i < segments; ++i) {
            const Eigen::Index row = j * segments + i;
            left.row(row) = paths.row(base + i);
            right.row(row) = paths.row(base + i + 1);
        }
    }
    midpoints = 0.5 * (left + right);
    steps = right - left;
    Vector middle = metric.squared_norms(midpoints, steps).cwiseSqrt();
    Vector at_left = metric.squared_norms(left, steps).cwiseSqrt();
    Vector at_right = metric.squared_norms(right, steps).cwiseSqrt();

    for (Eigen::Index j = 0; j < count; ++j) {
        const Eigen::Index p = first + j;
        const double length = middle.segment(j * segments, segments).sum();
        const double simpson = (at_left.segment(j * segments, segments).sum() + 4 * length +
                                at_right.segment(j * segments, segments).sum()) / 6;
        batch.lengths(p) = length;
        batch.energies(p) = middle.segment(j * segments, segments).squaredNorm() * segments;
        auto& status = batch.status[static_cast<size_t>(p)];
        if (!std::isfinite(length) || !std::isfinite(simpson)) {
            status = GeodesicStatus::not_finite;
        } else if (status == GeodesicStatus::converged && std::abs(simpson - length) > options.resolution * length) {
            status = GeodesicStatus::unresolved;
        }
    }
}

}  // namespace

std::string describe_status(GeodesicStatus status) {
    switch (status) {
        case GeodesicStatus::converged: return "converged";
        case GeodesicStatus::max_iterations: return "iteration limit reached";
        case GeodesicStatus::line_search: return "line search found no decrease before the tolerance was met";
        case GeodesicStatus::not_finite: return "the metric is not finite on the path";
        case GeodesicStatus::unresolved: return "the nodes do not resolve the path (midpoint and Simpson lengths differ)";
    }
    return "unknown";
}

Eigen::Index GeodesicBatch::unconverged_count() const {
    return static_cast<Eigen::Index>(std::count_if(status.begin(), status.end(),
                                                   [](GeodesicStatus s) { return s != GeodesicStatus::converged; }));
}

std::vector<std::pair<Eigen::Index, Eigen::Index>> upper_triangle_pairs(Eigen::Index n) {
    std::vector<std::pair<Eigen::Index, Eigen::Index>> pairs;
    pairs.reserve(static_cast<size_t>(n * (n - 1) / 2));
    for (Eigen::Index i = 0; i < n; ++i) {
        for (Eigen::Index j = i + 1; j < n; ++j) pairs.emplace_back(i, j);
    }
    return pairs;
}

GeodesicBatch solve_geodesics(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                              const GeodesicOptions& options, const PairProgress& progress) {
    require_geodesic_metric(metric.kind());
    check_geodesic_options(options);
    if (starts.rows() != ends.rows() || starts.cols() != metric.dim() || ends.cols() != metric.dim()) {
        throw Error(describe_at("cannot solve geodesics", "with " + std::to_string(starts.rows()) + " pairs",
                             "start and end points need the same count and the model's dimension " +
                                 std::to_string(metric.dim()),
                             "check the input points"));
    }
    const Eigen::Index pairs = starts.rows(), d = starts.cols(), nodes = options.nodes;
    GeodesicBatch batch;
    batch.nodes = options.nodes;
    batch.paths.resize(pairs * nodes, d);
    batch.lengths = Vector::Zero(pairs);
    batch.energies = Vector::Zero(pairs);
    batch.iterations.assign(static_cast<size_t>(pairs), 0);
    batch.status.assign(static_cast<size_t>(pairs), GeodesicStatus::converged);

    const double per_pair = (2.0 * options.memory + 12) * static_cast<double>(nodes * d);
    const auto budget_chunk = static_cast<Eigen::Index>(std::max(1.0, std::floor(kStateBudget / per_pair)));
    const Eigen::Index chunk = std::min<Eigen::Index>(options.batch_size, budget_chunk);
    std::int64_t finished = 0;
    BatchSolver solver(metric, starts, ends, options);

    for (Eigen::Index first = 0; first < pairs; first += chunk) {
        const Eigen::Index count = std::min(chunk, pairs - first);
        std::vector<PairState> states(static_cast<size_t>(count));
        std::vector<PairState*> active;
        for (Eigen::Index j = 0; j < count; ++j) {
            PairState& state = states[static_cast<size_t>(j)];
            state.pair = first + j;
            state.chord = (ends.row(state.pair) - starts.row(state.pair)).norm();
            state.trial.resize(nodes - 2, d);
            for (Eigen::Index k = 1; k + 1 < nodes; ++k) {
                const double t = static_cast<double>(k) / static_cast<double>(nodes - 1);
                state.trial.row(k - 1) = (1 - t) * starts.row(state.pair) + t * ends.row(state.pair);
            }
            if (state.chord == 0) {
                state.x = state.trial;
                state.done = true;
            } else {
                active.push_back(&state);
            }
        }

        // Round 0 evaluates the straight start; every later round one trial step per pair.
        bool first_round = true;
        while (!active.empty()) {
            solver.evaluate(active);
            for (PairState* state : active) {
                if (first_round) {
                    if (!state->trial_finite) {
                        state->x = state->trial;
                        solver.finish(*state, GeodesicStatus::not_finite);
                    } else {
                        solver.accept(*state);
                    }
                    continue;
                }
                const bool decreased = state->trial_finite &&
                                       state->trial_energy <= state->energy + kArmijo * state->step * state->slope +
                                                                  kEnergySlack * std::abs(state->energy);
                if (decreased) {
                    ++state->iterations;
                    solver.accept(*state);
                } else {
                    solver.reject(*state);
                }
            }
            first_round = false;

            std::vector<PairState*> still_active;
            for (PairState* state : active) {
                if (state->done) {
                    ++finished;
                } else {
                    state->trial = state->x + state->step * state->direction;
                    still_active.push_back(state);
                }
            }
            active.swap(still_active);
        }

        for (const PairState& state : states) {
            const Eigen::Index base = state.pair * nodes;
            batch.paths.row(base) = starts.row(state.pair);
            batch.paths.block(base + 1, 0, nodes - 2, d) = state.x;
            batch.paths.row(base + nodes - 1) = ends.row(state.pair);
            batch.iterations[static_cast<size_t>(state.pair)] = state.iterations;
            batch.status[static_cast<size_t>(state.pair)] = state.status;
            if (state.chord == 0) ++finished;
        }
        measure(metric, batch.paths, first, count, options.nodes, options, batch);
        if (progress) progress(finished, pairs);
    }
    return batch;
}

}  // namespace scorekit
