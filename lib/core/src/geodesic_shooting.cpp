// Exponential map (Dormand-Prince 5(4) integration of the geodesic equation) and logarithmic
// map (Newton shooting seeded by the boundary-value solver).
#include "scorekit/geodesic_shooting.hpp"

#include <Eigen/LU>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "scorekit/error.hpp"

namespace scorekit {
namespace {

// Dormand and Prince (1980) coefficients: stages a, fifth-order weights b (which equal the
// last stage row, so the last stage is the next step's first), and b - b* for the error.
constexpr std::array<std::array<double, 6>, 6> kA = {{
    {1.0 / 5, 0, 0, 0, 0, 0},
    {3.0 / 40, 9.0 / 40, 0, 0, 0, 0},
    {44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0, 0},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0, 0},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656, 0},
    {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
}};
constexpr std::array<double, 7> kError = {71.0 / 57600,      0,           -71.0 / 16695, 71.0 / 1920,
                                          -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

// The first-order system y = (x, v), y' = (v, a(x, v)), for a subset of the rows, with frozen
// rows held still.
class GeodesicSystem {
public:
    GeodesicSystem(const ScoreMetric& metric, const std::vector<char>& frozen) : metric_(metric), frozen_(frozen) {}

    // Derivatives at (x, v), whose row i is row rows[i] of the whole batch.
    void derivative(const RowMatrix& x, const RowMatrix& v, const std::vector<Eigen::Index>& rows, RowMatrix& dx,
                    RowMatrix& dv) const {
        dx = v;
        dv = metric_.accelerations(x, v);
        for (size_t i = 0; i < rows.size(); ++i) {
            if (frozen_[static_cast<size_t>(rows[i])]) {
                dx.row(static_cast<Eigen::Index>(i)).setZero();
                dv.row(static_cast<Eigen::Index>(i)).setZero();
            }
        }
    }

private:
    const ScoreMetric& metric_;
    const std::vector<char>& frozen_;
};

// Error ratio of each row: max over components of |error| / (tol (1 + max(|old|, |new|))).
Vector row_error(const RowMatrix& error, const RowMatrix& before, const RowMatrix& after, double tolerance) {
    RowMatrix scale = (before.cwiseAbs().cwiseMax(after.cwiseAbs()).array() + 1.0) * tolerance;
    Vector result = error.cwiseAbs().cwiseQuotient(scale).rowwise().maxCoeff();
    for (Eigen::Index i = 0; i < result.size(); ++i) {
        if (!std::isfinite(result(i)) || !after.row(i).allFinite()) result(i) = std::numeric_limits<double>::infinity();
    }
    return result;
}

RowMatrix gather(const RowMatrix& all, const std::vector<Eigen::Index>& rows) {
    RowMatrix part(static_cast<Eigen::Index>(rows.size()), all.cols());
    for (size_t i = 0; i < rows.size(); ++i) part.row(static_cast<Eigen::Index>(i)) = all.row(rows[i]);
    return part;
}

void scatter(const RowMatrix& part, const std::vector<Eigen::Index>& rows, RowMatrix& all) {
    for (size_t i = 0; i < rows.size(); ++i) all.row(rows[i]) = part.row(static_cast<Eigen::Index>(i));
}

// Integrates groups of consecutive rows, each group with its own adaptive step size and step
// count. The rows of a group take the same steps, because the worst of them sets the step: the
// log map's base shot and its perturbed shots then differ only by their start, so their
// differences form a smooth Jacobian. A group's result does not depend on the other groups in
// the batch, so a run split into chunks or shards gives the same rows. Every step evaluates the
// model once per stage for the rows of all groups that are still moving.
class Integrator {
public:
    Integrator(const ScoreMetric& metric, const ExpMapOptions& options, Eigen::Index rows, Eigen::Index group_size,
               double first_step)
        : options_(options),
          group_size_(group_size),
          groups_(rows / group_size),
          frozen_(static_cast<size_t>(rows), 0),
          step_(static_cast<size_t>(groups_), first_step),
          steps_taken_(static_cast<size_t>(groups_), 0),
          system_(metric, frozen_) {}

    const std::vector<char>& frozen() const { return frozen_; }

    // Advances every group of (x, v) from t to t + span.
    void advance(RowMatrix& x, RowMatrix& v, double span) {
        if (kx0_.rows() == 0) {
            std::vector<Eigen::Index> all(static_cast<size_t>(x.rows()));
            for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<Eigen::Index>(i);
            system_.derivative(x, v, all, kx0_, kv0_);
        }
        std::vector<double> done(static_cast<size_t>(groups_), 0.0);
        std::vector<Eigen::Index> moving;
        for (Eigen::Index g = 0; g < groups_; ++g) {
            if (!group_frozen(g)) moving.push_back(g);
        }
        while (!moving.empty()) {
            moving = step_groups(x, v, span, moving, done);
        }
    }

private:
    bool group_frozen(Eigen::Index g) const {
        for (Eigen::Index r = g * group_size_; r < (g + 1) * group_size_; ++r) {
            if (!frozen_[static_cast<size_t>(r)]) return false;
        }
        return true;
    }

    void freeze_group(Eigen::Index g) {
        for (Eigen::Index r = g * group_size_; r < (g + 1) * group_size_; ++r) frozen_[static_cast<size_t>(r)] = 1;
    }

    // Tries one step of each group in `moving` and returns the groups that have not reached
    // `span` yet.
    std::vector<Eigen::Index> step_groups(RowMatrix& x, RowMatrix& v, double span, const std::vector<Eigen::Index>& moving,
                                          std::vector<double>& done) {
        std::vector<Eigen::Index> groups, rows;
        for (Eigen::Index g : moving) {
            if (++steps_taken_[static_cast<size_t>(g)] > options_.max_steps) {
                freeze_group(g);
                continue;
            }
            groups.push_back(g);
            for (Eigen::Index r = g * group_size_; r < (g + 1) * group_size_; ++r) rows.push_back(r);
        }
        if (groups.empty()) return groups;

        // Each row's step h, the step of its group (shortened to end the span exactly).
        const auto count = static_cast<Eigen::Index>(rows.size());
        Vector h(count);
        for (size_t k = 0; k < groups.size(); ++k) {
            const auto g = static_cast<size_t>(groups[k]);
            const double group_step = std::min(step_[g], span - done[g]);
            h.segment(static_cast<Eigen::Index>(k) * group_size_, group_size_).setConstant(group_step);
        }
        const RowMatrix x0 = gather(x, rows), v0 = gather(v, rows);
        kx_[0] = gather(kx0_, rows);
        kv_[0] = gather(kv0_, rows);
        RowMatrix x1, v1;  // the fifth-order solution, the last stage point
        for (int stage = 0; stage < 6; ++stage) {
            RowMatrix xs = x0, vs = v0;
            for (int j = 0; j <= stage; ++j) {
                const double a = kA[static_cast<size_t>(stage)][static_cast<size_t>(j)];
                if (a == 0) continue;
                xs.array() += kx_[j].array().colwise() * (a * h).array();
                vs.array() += kv_[j].array().colwise() * (a * h).array();
            }
            system_.derivative(xs, vs, rows, kx_[stage + 1], kv_[stage + 1]);
            if (stage == 5) {
                x1 = std::move(xs);
                v1 = std::move(vs);
            }
        }
        RowMatrix error_x = RowMatrix::Zero(count, x.cols()), error_v = error_x;
        for (int j = 0; j < 7; ++j) {
            error_x.array() += kx_[j].array().colwise() * (kError[static_cast<size_t>(j)] * h).array();
            error_v.array() += kv_[j].array().colwise() * (kError[static_cast<size_t>(j)] * h).array();
        }
        const Vector ratio = row_error(error_x, x0, x1, options_.tolerance)
                                 .cwiseMax(row_error(error_v, v0, v1, options_.tolerance));

        std::vector<Eigen::Index> unfinished, restarted;
        for (size_t k = 0; k < groups.size(); ++k) {
            const Eigen::Index g = groups[k], first = static_cast<Eigen::Index>(k) * group_size_;
            const auto gi = static_cast<size_t>(g);
            double worst = 0;
            for (Eigen::Index i = first; i < first + group_size_; ++i) {
                if (!frozen_[static_cast<size_t>(rows[static_cast<size_t>(i)])]) worst = std::max(worst, ratio(i));
            }
            const double step = h(first);
            if (worst <= 1) {
                for (Eigen::Index i = first; i < first + group_size_; ++i) {
                    const Eigen::Index r = rows[static_cast<size_t>(i)];
                    x.row(r) = x1.row(i);
                    v.row(r) = v1.row(i);
                    kx0_.row(r) = kx_[6].row(i);
                    kv0_.row(r) = kv_[6].row(i);
                }
                done[gi] = step == span - done[gi] ? span : done[gi] + step;
                step_[gi] = step * std::clamp(0.9 * std::pow(std::max(worst, 1e-10), -0.2), 0.2, 5.0);
                if (done[gi] < span) unfinished.push_back(g);
                continue;
            }
            step_[gi] = step * std::clamp(0.9 * std::pow(worst, -0.2), 0.1, 0.5);
            if (step_[gi] < 1e-14 * (1 + span)) {
                // Rows that fail even at a tiny step (non-finite metric) are frozen; the rest go on.
                for (Eigen::Index i = first; i < first + group_size_; ++i) {
                    if (ratio(i) > 1) frozen_[static_cast<size_t>(rows[static_cast<size_t>(i)])] = 1;
                }
                for (Eigen::Index r = g * group_size_; r < (g + 1) * group_size_; ++r) restarted.push_back(r);
                step_[gi] = span / 16;
            }
            if (!group_frozen(g)) unfinished.push_back(g);
        }
        if (!restarted.empty()) {
            // The derivatives of rows that were just frozen become zero.
            RowMatrix dx, dv;
            system_.derivative(gather(x, restarted), gather(v, restarted), restarted, dx, dv);
            scatter(dx, restarted, kx0_);
            scatter(dv, restarted, kv0_);
        }
        return unfinished;
    }

    const ExpMapOptions& options_;
    const Eigen::Index group_size_, groups_;
    std::vector<char> frozen_;
    std::vector<double> step_;     // next step size of each group
    std::vector<int> steps_taken_; // steps tried by each group, accepted or not
    GeodesicSystem system_;
    RowMatrix kx0_, kv0_;          // derivative at each row's current point (first stage of its next step)
    std::array<RowMatrix, 7> kx_, kv_;  // stage derivatives of the rows of the current step
};

// Integrates from each row of x with initial velocity the same row of v, in groups of
// `group_size` consecutive rows that share their step sizes, and returns the paths.
ExpMapResult integrate(const ScoreMetric& metric, const RowMatrix& x, const RowMatrix& v, const ExpMapOptions& options,
                       Eigen::Index group_size) {
    const Eigen::Index n = x.rows(), d = x.cols(), nodes = options.nodes;
    ExpMapResult result;
    result.nodes = options.nodes;
    result.paths.resize(n * nodes, d);
    RowMatrix position = x, velocity = v;
    Integrator integrator(metric, options, n, group_size, std::min(0.01, 1.0 / static_cast<double>(nodes - 1)));

    for (Eigen::Index k = 0; k < nodes; ++k) {
        if (k > 0) integrator.advance(position, velocity, 1.0 / static_cast<double>(nodes - 1));
        for (Eigen::Index i = 0; i < n; ++i) result.paths.row(i * nodes + k) = position.row(i);
    }
    result.ends = position;
    result.end_velocities = velocity;
    result.ok.resize(static_cast<size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) {
        result.ok[static_cast<size_t>(i)] = !integrator.frozen()[static_cast<size_t>(i)] && position.row(i).allFinite();
    }
    return result;
}

void check_integration(const ScoreMetric& metric, const RowMatrix& x, const RowMatrix& v,
                       const ExpMapOptions& options) {
    require_geodesic_metric(metric.kind());
    if (options.nodes < 2) {
        throw UsageError(describe("invalid --nodes", std::to_string(options.nodes), "must be a whole number of at least 2"));
    }
    if (!(options.tolerance > 0) || !std::isfinite(options.tolerance)) {
        throw UsageError(describe("invalid --ode-tolerance", format_number(options.tolerance), "must be a finite number that is positive"));
    }
    if (options.max_steps < 1) {
        // Not a command-line option: only library callers can set it.
        throw UsageError(describe("invalid integration step limit", std::to_string(options.max_steps), "must be at least 1"));
    }
    if (x.rows() != v.rows() || x.cols() != metric.dim() || v.cols() != metric.dim()) {
        throw Error(describe_at("cannot integrate geodesics", "with " + std::to_string(x.rows()) + " points",
                             "points and velocities need the same count and the model's dimension " +
                                 std::to_string(metric.dim()),
                             "check the input"));
    }
}

// End points of exp_x(v) for many shots, integrated in groups of `group_size` shots that share
// their step sizes, with failed shots set to NaN.
RowMatrix shoot(const ScoreMetric& metric, const RowMatrix& x, const RowMatrix& v, const ExpMapOptions& options,
                Eigen::Index group_size) {
    ExpMapOptions ends_only = options;
    ends_only.nodes = 2;
    check_integration(metric, x, v, ends_only);
    ExpMapResult result = integrate(metric, x, v, ends_only, group_size);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        if (!result.ok[static_cast<size_t>(i)]) result.ends.row(i).setConstant(std::numeric_limits<double>::quiet_NaN());
    }
    return result.ends;
}

// Shots of one Newton iteration: for each pair a group of D + 1 shots, from velocity v and from
// v + epsilon e_b for b = 1..D, that share their step sizes.
struct ShotGroups {
    RowMatrix velocities;  // [pairs, D] the v of each group
    Vector epsilon;        // [pairs] the difference step of each group
    RowMatrix landed;      // [pairs * (D + 1), D] end points, NaN where a shot failed
};

ShotGroups shoot_groups(const ScoreMetric& metric, const RowMatrix& starts, const std::vector<Eigen::Index>& pairs,
                        const RowMatrix& velocities, double difference_step, const ExpMapOptions& options) {
    const Eigen::Index d = starts.cols(), count = static_cast<Eigen::Index>(pairs.size());
    ShotGroups groups;
    groups.velocities = velocities;
    groups.epsilon.resize(count);
    RowMatrix x(count * (d + 1), d), v(count * (d + 1), d);
    for (Eigen::Index j = 0; j < count; ++j) {
        groups.epsilon(j) = difference_step * std::max(1.0, velocities.row(j).cwiseAbs().maxCoeff());
        for (Eigen::Index b = 0; b <= d; ++b) {
            x.row(j * (d + 1) + b) = starts.row(pairs[static_cast<size_t>(j)]);
            v.row(j * (d + 1) + b) = velocities.row(j);
            if (b > 0) v(j * (d + 1) + b, b - 1) += groups.epsilon(j);
        }
    }
    groups.landed = shoot(metric, x, v, options, d + 1);
    return groups;
}

// Newton shooting from the rows `active` of `starts` to the same rows of `targets`, from the
// velocities in `result`, until the miss is below options.tolerance times `chords`. Updates the
// velocities, residuals, iteration counts and flags of those rows in `result`.
//
// A Newton step is tried with its D + 1 shots, and an accepted step's shots give the next
// Jacobian. The miss that accepts a step is then the next iteration's miss, from the same
// integration steps. Checking a trial with a single shot instead made its miss differ from the
// next group's by the integration error, which an unstable geodesic flow amplified to 5e-5 of
// |y - x| on a model of iris, so the miss rose and fell without converging.
void shoot_with_newton(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& targets,
                       const Vector& chords, std::vector<Eigen::Index> active, const LogMapOptions& options,
                       LogMapResult& result) {
    const Eigen::Index d = starts.cols();
    // The relative difference step of the Jacobian. 1e-7 suits double-precision models. A float32
    // network's end points are rough at about its precision times |y - x|, and a step of 1e-7
    // left differences of that size, so the Jacobian was noise and Newton stalled.
    const double difference_step = std::max(1e-7, 100 * metric.model().score_precision());
    const std::vector<int> earlier_iterations = result.iterations;
    const auto pair_rows = [&](const std::vector<Eigen::Index>& pairs) {
        RowMatrix rows(static_cast<Eigen::Index>(pairs.size()), d);
        for (size_t j = 0; j < pairs.size(); ++j) rows.row(static_cast<Eigen::Index>(j)) = result.velocities.row(pairs[j]);
        return rows;
    };
    ShotGroups current = shoot_groups(metric, starts, active, pair_rows(active), difference_step, options.integration);

    for (int iteration = 0; iteration <= options.max_iterations && !active.empty(); ++iteration) {
        const auto count = static_cast<Eigen::Index>(active.size());
        std::vector<Eigen::Index> trials;  // indices j into `active` of the pairs that take a step
        RowMatrix steps(count, d);
        for (Eigen::Index j = 0; j < count; ++j) {
            const Eigen::Index p = active[static_cast<size_t>(j)];
            const Eigen::RowVectorXd miss = current.landed.row(j * (d + 1)) - targets.row(p);
            result.residuals(p) = miss.norm();
            result.iterations[static_cast<size_t>(p)] = earlier_iterations[static_cast<size_t>(p)] + iteration;
            if (result.residuals(p) <= options.tolerance * chords(p)) {
                result.converged[static_cast<size_t>(p)] = 1;
                continue;
            }
            if (iteration == options.max_iterations || !std::isfinite(result.residuals(p))) continue;
            Eigen::MatrixXd jacobian(d, d);
            for (Eigen::Index b = 0; b < d; ++b) {
                jacobian.col(b) = (current.landed.row(j * (d + 1) + b + 1) - current.landed.row(j * (d + 1))).transpose() /
                                  current.epsilon(j);
            }
            steps.row(j) = -jacobian.partialPivLu().solve(miss.transpose()).transpose();
            trials.push_back(j);
        }

        // Halve each Newton step while it lands farther from the target than the current shot.
        ShotGroups next;
        next.velocities.resize(static_cast<Eigen::Index>(trials.size()), d);
        next.epsilon.resize(next.velocities.rows());
        next.landed.resize(next.velocities.rows() * (d + 1), d);
        std::vector<char> accepted(trials.size(), 0);
        std::vector<size_t> pending(trials.size());
        for (size_t k = 0; k < pending.size(); ++k) pending[k] = k;
        double fraction = 1;
        for (int halving = 0; halving < 12 && !pending.empty(); ++halving, fraction /= 2) {
            std::vector<Eigen::Index> pairs;
            RowMatrix velocities(static_cast<Eigen::Index>(pending.size()), d);
            for (size_t q = 0; q < pending.size(); ++q) {
                const Eigen::Index j = trials[pending[q]], p = active[static_cast<size_t>(j)];
                pairs.push_back(p);
                velocities.row(static_cast<Eigen::Index>(q)) = result.velocities.row(p) + fraction * steps.row(j);
            }
            ShotGroups shot = shoot_groups(metric, starts, pairs, velocities, difference_step, options.integration);
            std::vector<size_t> still;
            for (size_t q = 0; q < pending.size(); ++q) {
                const size_t k = pending[q];
                const auto row = static_cast<Eigen::Index>(q);
                const double miss = (shot.landed.row(row * (d + 1)) - targets.row(pairs[q])).norm();
                if (std::isfinite(miss) && miss < result.residuals(pairs[q])) {
                    const auto slot = static_cast<Eigen::Index>(k);
                    accepted[k] = 1;
                    next.velocities.row(slot) = shot.velocities.row(row);
                    next.epsilon(slot) = shot.epsilon(row);
                    next.landed.middleRows(slot * (d + 1), d + 1) = shot.landed.middleRows(row * (d + 1), d + 1);
                } else {
                    still.push_back(k);
                }
            }
            pending.swap(still);
        }

        // A pair that no fraction of its Newton step brought closer has stalled, at the precision
        // of the integration or of a float32 network. Another iteration would repeat the same
        // shots, so it stops here, unconverged.
        std::vector<Eigen::Index> moving;
        ShotGroups accepted_groups;
        accepted_groups.velocities.resize(static_cast<Eigen::Index>(std::count(accepted.begin(), accepted.end(), 1)), d);
        accepted_groups.epsilon.resize(accepted_groups.velocities.rows());
        accepted_groups.landed.resize(accepted_groups.velocities.rows() * (d + 1), d);
        for (size_t k = 0; k < trials.size(); ++k) {
            if (!accepted[k]) continue;
            const auto slot = static_cast<Eigen::Index>(k), row = static_cast<Eigen::Index>(moving.size());
            const Eigen::Index p = active[static_cast<size_t>(trials[k])];
            result.velocities.row(p) = next.velocities.row(slot);
            accepted_groups.velocities.row(row) = next.velocities.row(slot);
            accepted_groups.epsilon(row) = next.epsilon(slot);
            accepted_groups.landed.middleRows(row * (d + 1), d + 1) = next.landed.middleRows(slot * (d + 1), d + 1);
            moving.push_back(p);
        }
        active.swap(moving);
        current = std::move(accepted_groups);
    }
}

// Shoots the pairs `retry` again by continuation along the boundary-value paths gamma of
// `guess`, for a shot from the first guess that diverges so fast that Newton stalls (an unstable
// geodesic flow turned the first guess's small error into a miss of 0.8 |y - x| on a model of
// iris). It solves exp_x(u) = gamma(tau) for tau = 1/8, 1/4, 1/2, each from the last solution
// scaled by the ratio of the taus, then the real target. Short shots diverge less, so each stage
// starts close to its solution. A pair's result is replaced where the continuation got closer.
void continue_along_path(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                         const Vector& chords, const std::vector<Eigen::Index>& retry, const GeodesicBatch& guess,
                         const RowMatrix& first_guess, const LogMapOptions& options, LogMapResult& result) {
    const Eigen::Index nodes = guess.nodes;
    LogMapResult staged = result;
    double previous_tau = 1;
    for (Eigen::Index p : retry) staged.velocities.row(p) = first_guess.row(p);
    for (const Eigen::Index divisor : {8, 4, 2, 1}) {
        const Eigen::Index node = (nodes - 1) / divisor;
        const double tau = static_cast<double>(node) / static_cast<double>(nodes - 1);
        RowMatrix targets = ends;
        Vector stage_chords = chords;
        for (Eigen::Index p : retry) {
            targets.row(p) = guess.paths.row(p * nodes + node);
            stage_chords(p) = (targets.row(p) - starts.row(p)).norm();
            // The velocity that reaches gamma(tau) at t = 1 is tau times the geodesic's.
            staged.velocities.row(p) *= tau / previous_tau;
            staged.converged[static_cast<size_t>(p)] = 0;
        }
        previous_tau = tau;
        const std::vector<Eigen::Index> moving = [&] {
            std::vector<Eigen::Index> rows;
            for (Eigen::Index p : retry) {
                if (stage_chords(p) > 0) rows.push_back(p);
            }
            return rows;
        }();
        shoot_with_newton(metric, starts, targets, stage_chords, moving, options, staged);
    }
    for (Eigen::Index p : retry) {
        const bool closer = staged.residuals(p) < result.residuals(p) ||
                            (!std::isfinite(result.residuals(p)) && std::isfinite(staged.residuals(p)));
        if (staged.converged[static_cast<size_t>(p)] || closer) {
            result.velocities.row(p) = staged.velocities.row(p);
            result.residuals(p) = staged.residuals(p);
            result.converged[static_cast<size_t>(p)] = staged.converged[static_cast<size_t>(p)];
        }
        result.iterations[static_cast<size_t>(p)] = staged.iterations[static_cast<size_t>(p)];
    }
}

}  // namespace

double default_ode_tolerance(double precision) { return std::max(1e-10, precision / 10); }

double default_shooting_tolerance(double precision) { return std::max(1e-9, 10 * precision); }

ExpMapResult exponential_map(const ScoreMetric& metric, const RowMatrix& x, const RowMatrix& v,
                             const ExpMapOptions& options) {
    check_integration(metric, x, v, options);
    return integrate(metric, x, v, options, 1);
}

bool longer_than_boundary_path(double length, double boundary_length, double boundary_error) {
    return std::isfinite(boundary_length) && length > boundary_length * (1 + kLongerGeodesicMargin) + boundary_error;
}

namespace {

// Sets the geodesic lengths |v|_g(x) of `result`. Pairs whose log map looks longer than the
// boundary-value path are solved again with 2 T - 1 nodes, so that boundary_lengths gets the finer
// length and boundary_errors kBoundaryErrorFactor times the change, a bound on its error.
// A pair whose finer solve does not converge keeps the coarse length and the error infinity, so
// that it is not named.
void measure_log_maps(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                      const LogMapOptions& options, LogMapResult& result) {
    result.lengths = metric.squared_norms(starts, result.velocities).cwiseSqrt();
    const Eigen::Index pairs = starts.rows();
    result.boundary_errors = Vector::Zero(pairs);
    std::vector<Eigen::Index> suspects;
    for (Eigen::Index p = 0; p < pairs; ++p) {
        if (result.converged[static_cast<size_t>(p)] &&
            longer_than_boundary_path(result.lengths(p), result.boundary_lengths(p), 0)) {
            suspects.push_back(p);
        }
    }
    if (suspects.empty()) return;

    const auto count = static_cast<Eigen::Index>(suspects.size());
    RowMatrix x(count, starts.cols()), y(count, starts.cols());
    for (Eigen::Index k = 0; k < count; ++k) {
        x.row(k) = starts.row(suspects[static_cast<size_t>(k)]);
        y.row(k) = ends.row(suspects[static_cast<size_t>(k)]);
    }
    GeodesicOptions finer = options.boundary;
    finer.nodes = 2 * options.boundary.nodes - 1;
    const GeodesicBatch refined = solve_geodesics(metric, x, y, finer);
    for (Eigen::Index k = 0; k < count; ++k) {
        const Eigen::Index p = suspects[static_cast<size_t>(k)];
        if (!refined.converged(k)) {
            result.boundary_errors(p) = std::numeric_limits<double>::infinity();
            continue;
        }
        result.boundary_errors(p) = kBoundaryErrorFactor * std::abs(refined.lengths(k) - result.boundary_lengths(p));
        result.boundary_lengths(p) = refined.lengths(k);
    }
}

}  // namespace

LogMapResult logarithmic_map(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                             const LogMapOptions& options) {
    GeodesicBatch guess = solve_geodesics(metric, starts, ends, options.boundary);
    const Eigen::Index pairs = starts.rows(), d = starts.cols(), nodes = guess.nodes;
    const double h = 1.0 / static_cast<double>(nodes - 1);
    LogMapResult result;
    result.velocities.resize(pairs, d);
    result.residuals = Vector::Zero(pairs);
    result.iterations.assign(static_cast<size_t>(pairs), 0);
    result.converged.assign(static_cast<size_t>(pairs), 0);
    for (Eigen::Index p = 0; p < pairs; ++p) {
        const Eigen::Index base = p * nodes;
        result.velocities.row(p) =
            (-3 * guess.paths.row(base) + 4 * guess.paths.row(base + 1) - guess.paths.row(base + 2)) / (2 * h);
    }
    const RowMatrix first_guess = result.velocities;

    std::vector<Eigen::Index> active;
    for (Eigen::Index p = 0; p < pairs; ++p) {
        if ((ends.row(p) - starts.row(p)).norm() == 0) {
            result.velocities.row(p).setZero();
            result.converged[static_cast<size_t>(p)] = 1;
        } else {
            active.push_back(p);
        }
    }
    result.boundary_lengths = guess.lengths;
    for (Eigen::Index p = 0; p < pairs; ++p) {
        if (!guess.converged(p)) result.boundary_lengths(p) = std::numeric_limits<double>::quiet_NaN();
    }
    const Vector chords = (ends - starts).rowwise().norm();
    shoot_with_newton(metric, starts, ends, chords, active, options, result);

    // A miss within 10 times the model's rounding of |y - x| is at the precision of the model, so
    // neither a better start nor a tighter integration can improve on it.
    const double rounding = 10 * metric.model().score_precision();
    std::vector<Eigen::Index> retry;
    for (Eigen::Index p : active) {
        if (!result.converged[static_cast<size_t>(p)] && !(result.residuals(p) <= rounding * chords(p))) retry.push_back(p);
    }
    if (retry.empty()) {
        measure_log_maps(metric, starts, ends, options, result);
        return result;
    }
    // The stages need a path of at least 9 nodes, so that t = 1/8 falls on a node after the start.
    if (nodes >= 9) continue_along_path(metric, starts, ends, chords, retry, guess, first_guess, options, result);

    // A shot's end point moves by the integration error when its step sizes change, and an
    // unstable flow amplifies that error: on the iris model, Newton at an integration tolerance of
    // 1.2e-8 stalled at a miss of 3e-5 |y - x|. Pairs that are still unconverged go on from their
    // best velocity with integration tolerances 10 and 100 times smaller, but not below 1/1000 of
    // the model's precision, where the step sizes collapse under rounding noise.
    LogMapOptions tighter = options;
    const double finest = metric.model().score_precision() / 1000;
    for (int round = 0; round < 2 && tighter.integration.tolerance / 10 >= finest; ++round) {
        tighter.integration.tolerance /= 10;
        std::vector<Eigen::Index> stalled;
        for (Eigen::Index p : retry) {
            if (!result.converged[static_cast<size_t>(p)] && std::isfinite(result.residuals(p))) stalled.push_back(p);
        }
        if (stalled.empty()) break;
        shoot_with_newton(metric, starts, ends, chords, stalled, tighter, result);
    }
    measure_log_maps(metric, starts, ends, options, result);
    return result;
}

}  // namespace scorekit
