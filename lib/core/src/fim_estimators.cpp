// The batched Fisher engine: per batch, output-space vectors from the likelihood (fim_likelihood),
// per-example gradients through the network, accumulated into the requested representation. A
// linear stack is computed here on plain arrays (fim_stack_engine, fim_stack_products); a general
// TorchScript module by autograd in the torch layer (fim_backend.hpp).
#include <algorithm>

#include "fim_likelihood.hpp"
#include "fim_model.hpp"
#include "fim_stack_engine.hpp"
#include "scorekit/error.hpp"
#include "scorekit/fim.hpp"

namespace scorekit {
namespace {

void check_request(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                   const FisherProblem& problem, Representation representation) {
    if (inputs.rows() == 0) throw Error(describe("cannot compute the Fisher information", "0 inputs", "give at least one input"));
    if (problem.estimator.needs_labels() && labels.size() == 0) {
        throw UsageError(describe("missing labels for", "--estimator empirical",
                                  "the empirical Fisher uses the data labels",
                                  "give --labels, or use --estimator exact or mc:K for the Fisher information"));
    }
    if (labels.size() != 0 && labels.rows() != inputs.rows()) {
        throw Error(describe("labels do not match the inputs",
                             std::to_string(labels.rows()) + " labels for " + std::to_string(inputs.rows()) + " inputs",
                             "give one label row per input"));
    }
    if (representation == Representation::kfac && !model.is_linear_stack()) {
        throw UsageError(describe("cannot compute kfac for", model.source(), model.kfac_obstacle(),
                                  "use --representation diag, block or dense"));
    }
    if (representation == Representation::implicit) {
        throw UsageError(describe("invalid representation", "implicit", "it stores no matrix",
                                  "use FisherOperator for matrix-free products"));
    }
}

std::int64_t output_width(FisherModel::Impl& model, const RowMatrix& inputs, bool single_precision) {
    check_input_width(model, inputs);
    if (model.stack) return model.weights.back().rows();
    return model.module->output_width(inputs.topRows(1), single_precision);
}

// Throws Error when a result of `model` contains NaN or infinite entries. Finite outputs can still
// give such gradients (an overflow in a backward product), and a matrix of inf or NaN written
// with status 0 would look like a result.
void check_finite_result(const FisherModel& model, bool finite) {
    if (finite) return;
    throw Error(describe("cannot compute the Fisher information of", model.source(),
                         "the per-example gradients overflow to infinite or NaN values",
                         "check the model's parameters and the scale of the inputs"));
}

bool is_finite(const FisherMatrix& fisher) {
    bool finite = fisher.dense.allFinite() && fisher.diagonal.allFinite();
    for (const auto& block : fisher.blocks) finite = finite && block.matrix.allFinite();
    for (const auto& factors : fisher.kfac) {
        finite = finite && factors.input_factor.allFinite() && factors.gradient_factor.allFinite();
    }
    return finite;
}

FisherMatrix compute_checked(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                             const FisherProblem& problem, Representation representation, BlockGrouping grouping) {
    FisherModel::Impl& impl = *model.impl();
    if (!impl.stack) return impl.module->compute(inputs, labels, problem, representation, grouping);
    if (representation == Representation::diag || representation == Representation::kfac) {
        return compute_stack_fisher(impl, inputs, labels, problem, representation);
    }
    return compute_stack_blocks(impl, inputs, labels, problem, representation, grouping);
}

}  // namespace

FisherMatrix compute_fisher(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                            const FisherProblem& problem, Representation representation, BlockGrouping grouping) {
    check_request(model, inputs, labels, problem, representation);
    FisherModel::Impl& impl = *model.impl();
    const std::int64_t outputs = output_width(impl, inputs, problem.single_precision);
    check_outputs_and_labels(impl.source, outputs, labels, problem);
    check_fisher_memory(model, problem, representation, grouping, outputs, /*factorised=*/false, problem.max_memory);

    FisherMatrix fisher = compute_checked(model, inputs, labels, problem, representation, grouping);
    check_finite_result(model, is_finite(fisher));
    return fisher;
}

FisherOperator::FisherOperator(FisherModel model, RowMatrix inputs, Labels labels, FisherProblem problem)
    : model_(std::move(model)), inputs_(std::move(inputs)), labels_(std::move(labels)), problem_(problem) {
    check_request(model_, inputs_, labels_, problem_, Representation::diag);
    FisherModel::Impl& impl = *model_.impl();
    const std::int64_t outputs = output_width(impl, inputs_, problem_.single_precision);
    check_outputs_and_labels(impl.source, outputs, labels_, problem_);
    check_fisher_memory(model_, problem_, Representation::implicit, BlockGrouping::layer, outputs, false,
                        problem_.max_memory);
}

Vector FisherOperator::apply(const Vector& v) const {
    if (v.size() != size()) {
        throw Error(describe_at("invalid vector", "with " + std::to_string(v.size()) + " entries",
                             "the model has " + std::to_string(size()) + " parameters", "give one entry per parameter"));
    }
    FisherModel::Impl& impl = *model_.impl();
    Vector product = impl.stack ? stack_fisher_product(impl, v, inputs_, labels_, problem_)
                                : impl.module->product(v, inputs_, labels_, problem_);
    check_finite_result(model_, product.allFinite());
    if (problem_.reduction == Reduction::mean) product /= static_cast<double>(inputs_.rows());
    return product;
}

Vector FisherOperator::diagonal() const {
    return compute_fisher(model_, inputs_, labels_, problem_, Representation::diag).diagonal;
}

Vector log_likelihood_gradient(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                               const FisherProblem& problem) {
    FisherProblem empirical = problem;
    empirical.estimator = EstimatorSpec{EstimatorSpec::Kind::empirical, 0};
    check_request(model, inputs, labels, empirical, Representation::diag);
    FisherModel::Impl& impl = *model.impl();
    check_outputs_and_labels(impl.source, output_width(impl, inputs, problem.single_precision), labels, empirical);

    Vector gradient = impl.stack ? stack_log_likelihood_gradient(impl, inputs, labels, empirical)
                                 : impl.module->log_likelihood_gradient(inputs, labels, empirical);
    check_finite_result(model, gradient.allFinite());
    if (problem.reduction == Reduction::mean) gradient /= static_cast<double>(inputs.rows());
    return gradient;
}

}  // namespace scorekit
