#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <map>

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/reference_densities.hpp"
#include "scorekit/score_model.hpp"

namespace scorekit {
namespace {

const char* kSyntax =
    "use e.g. gaussian:mean=0,0;cov=1, gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1, halfplane or exponential";

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        size_t end = text.find(separator, start);
        parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) return parts;
        start = end + 1;
    }
}

std::vector<double> parse_numbers(const std::string& spec, const std::string& text) {
    std::vector<double> values;
    for (const auto& part : split(text, ',')) {
        char* end = nullptr;
        double value = std::strtod(part.c_str(), &end);
        if (part.empty() || *end != '\0' || !std::isfinite(value)) {
            throw UsageError(describe("invalid model", spec, "\"" + part + "\" is not a finite number", kSyntax));
        }
        values.push_back(value);
    }
    return values;
}

// One value: isotropic; D values: diagonal; D*D values: full, row-major.
RowMatrix covariance_from(const std::string& spec, const std::vector<double>& values, Eigen::Index d) {
    RowMatrix cov = RowMatrix::Zero(d, d);
    if (values.size() == 1) {
        cov.diagonal().setConstant(values[0]);
    } else if (static_cast<Eigen::Index>(values.size()) == d) {
        for (Eigen::Index j = 0; j < d; ++j) cov(j, j) = values[j];
    } else if (static_cast<Eigen::Index>(values.size()) == d * d) {
        cov = Eigen::Map<const RowMatrix>(values.data(), d, d);
    } else {
        throw UsageError(describe("invalid model", spec,
                                  "a covariance needs 1, " + std::to_string(d) + " or " + std::to_string(d * d) +
                                      " values, got " + std::to_string(values.size()),
                                  kSyntax));
    }
    return cov;
}

}  // namespace

bool is_analytic_model_spec(const std::string& spec) {
    return spec.rfind("gaussian:", 0) == 0 || spec.rfind("gmm:", 0) == 0 || is_reference_density_spec(spec);
}

std::unique_ptr<GaussianMixtureModel> parse_analytic_model(const std::string& spec) {
    bool single = spec.rfind("gaussian:", 0) == 0;
    std::string body = spec.substr(spec.find(':') + 1);
    std::map<std::string, std::string> fields;
    for (const auto& item : split(body, ';')) {
        size_t equals = item.find('=');
        if (equals == std::string::npos) {
            throw UsageError(describe("invalid model", spec, "\"" + item + "\" is not key=value", kSyntax));
        }
        const std::string key = item.substr(0, equals);
        if (fields.count(key)) {
            throw UsageError(describe("invalid model", spec, "key \"" + key + "\" is given twice", kSyntax));
        }
        fields[key] = item.substr(equals + 1);
    }
    const std::vector<std::string> allowed = single ? std::vector<std::string>{"mean", "cov"}
                                                    : std::vector<std::string>{"weights", "means", "covs"};
    for (const auto& [key, value] : fields) {
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
            throw UsageError(describe("invalid model", spec, "unknown key \"" + key + "\"", kSyntax));
        }
    }

    std::vector<std::string> mean_texts = split(fields[single ? "mean" : "means"], '/');
    std::vector<double> weights = single ? std::vector<double>{1.0} : parse_numbers(spec, fields["weights"]);
    if (mean_texts.size() != weights.size()) {
        throw UsageError(describe("invalid model", spec,
                                  std::to_string(weights.size()) + " weights but " + std::to_string(mean_texts.size()) +
                                      " means", kSyntax));
    }
    std::vector<std::vector<double>> means;
    for (const auto& text : mean_texts) means.push_back(parse_numbers(spec, text));
    const auto d = static_cast<Eigen::Index>(means[0].size());
    RowMatrix mean_matrix(static_cast<Eigen::Index>(means.size()), d);
    for (size_t c = 0; c < means.size(); ++c) {
        if (static_cast<Eigen::Index>(means[c].size()) != d) {
            throw UsageError(describe("invalid model", spec, "means have different dimensions", kSyntax));
        }
        mean_matrix.row(static_cast<Eigen::Index>(c)) = Eigen::Map<const Eigen::RowVectorXd>(means[c].data(), d);
    }

    std::string cov_text = fields.count(single ? "cov" : "covs") ? fields[single ? "cov" : "covs"] : "1";
    std::vector<std::string> cov_texts = split(cov_text, '/');
    if (cov_texts.size() != 1 && cov_texts.size() != weights.size()) {
        throw UsageError(describe("invalid model", spec, "give one covariance or one per component", kSyntax));
    }
    std::vector<RowMatrix> covariances;
    for (size_t c = 0; c < weights.size(); ++c) {
        covariances.push_back(covariance_from(spec, parse_numbers(spec, cov_texts[cov_texts.size() == 1 ? 0 : c]), d));
    }
    try {
        return std::make_unique<GaussianMixtureModel>(weights, mean_matrix, covariances);
    } catch (const Error& e) {
        throw UsageError(describe("invalid model", spec, e.what(), kSyntax));
    }
}

std::unique_ptr<ScoreModel> make_analytic_model(const std::string& spec) {
    if (spec.rfind("gaussian:", 0) == 0 || spec.rfind("gmm:", 0) == 0) return parse_analytic_model(spec);
    if (is_reference_density_spec(spec)) return parse_reference_density(spec);
    throw UsageError(describe("invalid model", spec, "not an analytic model specification", kSyntax));
}

std::unique_ptr<GaussianMixtureModel> read_analytic_model(const Hdf5Reader& file) {
    Array weights = file.read_array("/model/weights");
    RowMatrix means = file.read_matrix("/model/means");
    Array covs = file.read_array("/model/covariances");
    const auto k = static_cast<std::int64_t>(weights.values.size());
    const auto d = static_cast<std::int64_t>(means.cols());
    if (means.rows() != k || covs.shape.size() != 3 || covs.shape[0] != k || covs.shape[1] != d || covs.shape[2] != d) {
        throw Error(describe("invalid model file", file.path(),
                             "expected weights [K], means [K, D] and covariances [K, D, D]",
                             "rewrite the model with matching shapes"));
    }
    std::vector<RowMatrix> covariances;
    for (std::int64_t c = 0; c < k; ++c) {
        covariances.push_back(Eigen::Map<const RowMatrix>(covs.values.data() + c * d * d, d, d));
    }
    return std::make_unique<GaussianMixtureModel>(weights.values, means, covariances);
}

void write_analytic_model(Hdf5Writer& file, const GaussianMixtureModel& model) {
    const auto k = static_cast<std::int64_t>(model.weights().size());
    const auto d = static_cast<std::int64_t>(model.dim());
    file.create_group("/model");
    file.write_attribute("/model", "kind", model.kind());
    file.write_attribute("/model", "dim", d);
    file.write_vector("/model/weights", model.weights());
    file.write_matrix("/model/means", model.means());
    std::vector<double> covs;
    for (const auto& cov : model.covariances()) covs.insert(covs.end(), cov.data(), cov.data() + d * d);
    file.write_array("/model/covariances", {k, d, d}, covs.data());
}

}  // namespace scorekit
