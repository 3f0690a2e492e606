// The interface between fim in the core library and the torch layer (libscorekit_score), which
// the core opens with dlopen only for a TorchScript file that it cannot read as a linear stack by
// itself (torchscript_archive.cpp). The torch layer exports
//   extern "C" scorekit::FisherBackend scorekit_fisher_backend_v1();
// and the backend loads general TorchScript modules and differentiates them with autograd.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "scorekit/fim.hpp"

namespace scorekit {

// One child of a module whose class is named Sequential, as LibTorch lists it.
struct SequentialChild {
    std::string name;  // attribute name: "0", "1", ...
    std::string kind;  // class name without its module path: "Linear", "ReLU", "Softplus", ...
    RowMatrix weight;  // nn.Linear: [out, in] in float64
    Vector bias;       // nn.Linear: [out]; empty when the layer has no bias
    bool has_bias = false;
    // nn.Linear: the dtypes the file stores weight and bias in ("float32", "float16", ...).
    std::string weight_dtype, bias_dtype;
    std::map<std::string, double> attributes;  // numeric attributes (beta, threshold, alpha, negative_slope)
};

// A TorchScript module loaded by LibTorch. The core calls it from one thread at a time.
class FisherModule {
public:
    virtual ~FisherModule() = default;

    // Named parameters in module order, with offsets into the flat parameter vector.
    virtual const std::vector<ParameterInfo>& parameters() const = 0;

    // The `dim` attribute of the module, 0 when it has none.
    virtual int input_dim() const = 0;

    // The class name without its module path ("Sequential" for an nn.Sequential).
    virtual std::string type_name() const = 0;

    // The children in module order (the core reads a Sequential's children as a linear stack).
    virtual std::vector<SequentialChild> children() const = 0;

    // f(x) [N, C] computed in float32 or float64 (a 1-D output becomes one column); throws Error
    // when forward fails.
    virtual RowMatrix forward(const RowMatrix& inputs, bool single_precision) = 0;

    // Returns C of the outputs [1, C] for the first input row. Throws Error when forward fails or
    // does not return a 2-D tensor with one row.
    virtual std::int64_t output_width(const RowMatrix& inputs, bool single_precision) = 0;

    // F in the dense, diag or block representation by autograd, one input at a time.
    virtual FisherMatrix compute(const RowMatrix& inputs, const Labels& labels, const FisherProblem& problem,
                                 Representation representation, BlockGrouping grouping) = 0;

    // F v, summed over inputs (the caller divides for reduction mean).
    virtual Vector product(const Vector& v, const RowMatrix& inputs, const Labels& labels,
                           const FisherProblem& problem) = 0;

    // sum_n grad_theta log p(y_n | x_n) for the problem's likelihood (the caller divides for mean).
    virtual Vector log_likelihood_gradient(const RowMatrix& inputs, const Labels& labels,
                                           const FisherProblem& problem) = 0;

    virtual Vector parameter_vector() const = 0;
    virtual void set_parameter_vector(const Vector& theta) = 0;
};

// Loads a TorchScript module; throws Error naming the file when LibTorch cannot load it or when it
// has no parameters (a frozen module).
using FisherBackend = std::unique_ptr<FisherModule> (*)(const std::string& path);

}  // namespace scorekit
