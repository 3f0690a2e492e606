// The score-model interface: s(x, sigma) = grad_x log p_sigma(x), with p_sigma the data density
// convolved with N(0, sigma^2 I) in the model's standardised coordinates.
//
// Every model maps points x = location + scale * z to standardised coordinates z. Trained
// models set location and scale to the training data's mean and standard deviation, and their
// noise levels are in z units; analytic models have location 0 and scale 1. Scores and
// log-densities are always returned in data coordinates x.
#pragma once

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

    // Standardisation x = location + scale * z, per dimension.
    virtual Vector location() const { return Vector::Zero(dim()); }
    virtual Vector scale() const { return Vector::Ones(dim()); }
};

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

    const std::vector<double>& weights() const { return weights_; }
    const RowMatrix& means() const { return means_; }
    const std::vector<RowMatrix>& covariances() const { return covariances_; }

    // Draws n exact samples (for tests and quality checks).
    RowMatrix sample(int n, std::uint64_t seed) const;

private:
    // Fills log N_k(x_i) + log w_k into `log_terms` [N, K] and, if `score` is non-null, the score.
    void evaluate(const RowMatrix& x, double sigma, RowMatrix& log_terms, RowMatrix* score) const;

    std::vector<double> weights_;
    RowMatrix means_;
    std::vector<RowMatrix> covariances_;
};

// Parses an analytic model given on the command line:
//   gaussian:mean=1,-1;cov=2,0.5,0.5,1
//   gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1/0.5,2
// A covariance is one value (isotropic), D values (diagonal) or D*D values (full, row-major);
// in `covs` components are separated by `/`, and a single entry is shared by all components.
// Throws UsageError naming the bad part.
std::unique_ptr<GaussianMixtureModel> parse_analytic_model(const std::string& spec);

// Whether `spec` names an analytic model on the command line (starts with gaussian: or gmm:).
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
