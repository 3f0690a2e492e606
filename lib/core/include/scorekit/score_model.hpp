// The score-model interface: s(x, sigma) = grad_x log p_sigma(x), with p_sigma the data density
// convolved with N(0, sigma^2 I) in the model's standardised coordinates.
//
// Every model maps points x = location + scale * z to standardised coordinates z. Trained
// models set location and scale to the training data's mean and standard deviation, and their
// noise levels are in z units; analytic models have location 0 and scale 1. Scores and
// log-densities are always returned in data coordinates x.
#pragma once

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "scorekit/matrix.hpp"

namespace scorekit {

class ScoreModel {
public:
    virtual ~ScoreModel() = default;

    virtual int dim() const = 0;
    virtual std::string kind() const = 0;

    // Scores of the rows of x ([N, D]) at noise level sigma (>= 0). Returns [N, D].
    // A model that is not noise-conditional ignores sigma.
    virtual RowMatrix score(const RowMatrix& x, double sigma) const = 0;

    // Whether log_density() is available (analytic models).
    virtual bool has_log_density() const { return false; }

    // log p_sigma of the rows of x, normalised, in data coordinates. Throws Error when the model
    // has no log-density.
    virtual Vector log_density(const RowMatrix& x, double sigma) const;

    // The noise levels the model was trained on, largest first; empty for analytic models,
    // which are exact at every sigma.
    virtual std::vector<double> noise_levels() const { return {}; }

    // Whether sigma changes the score (false for a TorchScript module that takes only x).
    virtual bool noise_conditional() const { return true; }

    // The sigma used when the user gives none: the smallest trained level, or 0 when exact.
    double default_sigma() const;

    // Throws Error naming `spec` when dim() is unknown (0): a TorchScript module without a `dim`
    // attribute, used by a tool that cannot take the dimension from its input.
    void require_dimension(const std::string& spec) const;

    // Standardisation x = location + scale * z, per dimension.
    virtual Vector location() const { return Vector::Zero(dim()); }
    virtual Vector scale() const { return Vector::Ones(dim()); }

    // Relative rounding error of score() values: machine epsilon of double by default. A model
    // that computes in float32 returns 2^-23, because finite-difference steps and the geodesic
    // solver's tolerance floor are derived from it.
    virtual double score_precision() const { return std::numeric_limits<double>::epsilon(); }

    // Derivatives of the score in data coordinates, J(x) = ds/dx with J(a, b) = ds_a / dx_b.
    // The defaults use central finite differences of score() with the step
    // h = cbrt(score_precision()) * max(1, |x|_inf, scale_inf) per point, which leaves a relative
    // error near score_precision()^(2/3) (1e-10 in double) for smooth scores. Models with exact or
    // automatic derivatives override them. All three take and return row-major batches, one
    // point per row.

    // Whether J(x) is symmetric because the score is the exact gradient of log p (analytic
    // models). A learned score need not be a gradient field, so the default is false.
    virtual bool symmetric_jacobian() const { return false; }

    // Jacobians at the rows of x [N, D]. Returns [N, D * D], and row i contains J(x_i) row-major.
    // Default: 2 D score evaluations per point, batched.
    virtual RowMatrix score_jacobian(const RowMatrix& x, double sigma) const;

    // Directional derivatives J(x_i) v_i for the rows of x and v [N, D]. Returns [N, D].
    // Default: 2 score evaluations per point.
    virtual RowMatrix score_jvp(const RowMatrix& x, const RowMatrix& v, double sigma) const;

    // Vector-Jacobian products J(x_i)^T u_i. Returns [N, D]. Default: J u when the Jacobian is
    // symmetric, otherwise the full finite-difference Jacobian (2 D score evaluations per point).
    virtual RowMatrix score_vjp(const RowMatrix& x, const RowMatrix& u, double sigma) const;
};

// Throws Error naming `source` unless every noise level is finite and positive and the levels are
// sorted largest first (equal neighbours allowed), as default_sigma() and annealed sampling
// expect.
void check_noise_levels(const std::vector<double>& levels, const std::string& source);

// Gaussian mixture sum_k w_k N(mu_k, Sigma_k); a single Gaussian is K = 1.
// Exact under noise: p_sigma has covariances Sigma_k + sigma^2 I.
class GaussianMixtureModel : public ScoreModel {
public:
    // weights [K] (normalised here), means [K, D], covariances K matrices [D, D] (positive definite).
    GaussianMixtureModel(std::vector<double> weights, RowMatrix means, std::vector<RowMatrix> covariances);

    int dim() const override { return static_cast<int>(means_.cols()); }
    std::string kind() const override { return weights_.size() == 1 ? "gaussian" : "gmm"; }
    RowMatrix score(const RowMatrix& x, double sigma) const override;
    bool has_log_density() const override { return true; }
    Vector log_density(const RowMatrix& x, double sigma) const override;

    // Exact derivatives: J = sum_k r_k (s_k s_k^T - C_k^-1) - s s^T with responsibilities r_k,
    // component scores s_k and perturbed covariances C_k = Sigma_k + sigma^2 I.
    bool symmetric_jacobian() const override { return true; }
    RowMatrix score_jacobian(const RowMatrix& x, double sigma) const override;
    RowMatrix score_jvp(const RowMatrix& x, const RowMatrix& v, double sigma) const override;
    RowMatrix score_vjp(const RowMatrix& x, const RowMatrix& u, double sigma) const override {
        return score_jvp(x, u, sigma);
    }

    const std::vector<double>& weights() const { return weights_; }
    const RowMatrix& means() const { return means_; }
    const std::vector<RowMatrix>& covariances() const { return covariances_; }

    // Draws n exact samples (for tests and quality checks).
    RowMatrix sample(int n, std::uint64_t seed) const;

private:
    // Per-sigma factors of each component k for score() and evaluate(): the precision C_k^-1
    // of C_k = Sigma_k + sigma^2 I, and log w_k - (D log(2 pi) + log det C_k) / 2.
    struct PerturbedComponents {
        std::vector<RowMatrix> precisions;
        std::vector<double> log_constants;
    };
    struct ComponentCache;

    // Returns the components at sigma. They are computed on the first call for each sigma and
    // cached, so samplers that call score() once per step, or once per row block on several
    // threads, factorise each covariance only once. Safe to call from several threads.
    std::shared_ptr<const PerturbedComponents> perturbed_components(double sigma) const;

    void check_dimension(const RowMatrix& x) const;

    // Fills log N_k(x_i) + log w_k into `log_terms` [N, K] and, if `score` is non-null, the score.
    // With `component_scores` non-null it also keeps each component's score s_k [N, D].
    void evaluate(const RowMatrix& x, double sigma, RowMatrix& log_terms, RowMatrix* score,
                  std::vector<RowMatrix>* component_scores = nullptr) const;

    // Responsibilities r_k(x_i) [N, K] from the output of evaluate().
    static RowMatrix responsibilities(const RowMatrix& log_terms);

    std::vector<double> weights_;
    RowMatrix means_;
    std::vector<RowMatrix> covariances_;
    // Shared by copies, which is safe because the cached values depend only on the members
    // above, and these never change after construction.
    std::shared_ptr<ComponentCache> cache_;
};

// Parses an analytic model given on the command line:
//   gaussian:mean=1,-1;cov=2,0.5,0.5,1
//   gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1/0.5,2
// A covariance is one value (isotropic), D values (diagonal) or D*D values (full, row-major);
// in `covs` components are separated by `/`, and a single entry is shared by all components.
// Throws UsageError naming the bad part.
std::unique_ptr<GaussianMixtureModel> parse_analytic_model(const std::string& spec);

// Whether `spec` names an analytic model on the command line: gaussian:, gmm:, or one of the
// reference densities halfplane and exponential (see reference_densities.hpp).
bool is_analytic_model_spec(const std::string& spec);

// Builds any analytic model named on the command line (see is_analytic_model_spec).
std::unique_ptr<ScoreModel> make_analytic_model(const std::string& spec);

class Hdf5Reader;
class Hdf5Writer;

// Reads and writes the /model group of an analytic model file (kind gaussian or gmm):
// datasets weights [K], means [K, D], covariances [K, D, D].
std::unique_ptr<GaussianMixtureModel> read_analytic_model(const Hdf5Reader& file);
void write_analytic_model(Hdf5Writer& file, const GaussianMixtureModel& model);

}  // namespace scorekit
