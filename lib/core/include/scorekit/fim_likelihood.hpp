// Likelihoods p(y | f(x, theta)) over a model's outputs f, and the analytic normal family used to
// check Fisher computations against closed forms.
//
// Fisher information in output space (per input) is Lambda = E_y[d log p / df (d log p / df)^T]:
//   categorical  f = logits [C], p = softmax(f):      Lambda = diag(p) - p p^T
//   bernoulli    f = one logit, p = sigmoid(f):        Lambda = p (1 - p)
//   gaussian     f = mean [C], y ~ N(f, sigma^2 I):    Lambda = I / sigma^2
#pragma once

#include <string>

namespace scorekit {

enum class Likelihood { categorical, bernoulli, gaussian };

// Parses "categorical", "bernoulli" or "gaussian"; throws UsageError listing the choices.
Likelihood parse_likelihood(const std::string& name);
std::string to_string(Likelihood likelihood);

// The parameterisation of N(mu, sigma^2) whose Fisher information the normal family computes.
enum class NormalParameterisation { mu_sigma, mu_log_sigma, mu_variance };

// One normal distribution N(mu, sigma^2) with parameters theta in the chosen parameterisation,
// written `normal:mu=M,sigma=S[,parameters=mu-sigma|mu-log-sigma|mu-variance]`.
struct NormalFamily {
    double mu = 0;
    double sigma = 1;
    NormalParameterisation parameterisation = NormalParameterisation::mu_sigma;

    // Parameter names in order: mu, then sigma, log_sigma or variance.
    std::string mu_name() const { return "mu"; }
    std::string scale_name() const;
};

bool is_normal_family_spec(const std::string& spec);

// Parses a `normal:` specification; throws UsageError naming the invalid field.
NormalFamily parse_normal_family(const std::string& spec);

std::string to_string(NormalParameterisation parameterisation);

}  // namespace scorekit
