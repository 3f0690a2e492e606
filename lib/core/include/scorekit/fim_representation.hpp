// Storage forms of a Fisher matrix over a flat parameter vector theta [P].
//
// theta concatenates the model's parameter tensors in the model's order, each flattened row-major
// (a linear layer's weight [out, in] then its bias [out]); ParameterInfo maps entries back.
//   dense     F [P, P]
//   diag      the diagonal of F [P]
//   block     exact diagonal blocks of F, one per layer (weight and bias together) or per tensor
//   kfac      per linear layer, Kronecker factors A [in + 1, in + 1] (layer inputs with a trailing 1
//             for the bias) and G [out, out] (back-propagated output gradients), so that
//             F[(i, j), (k, l)] ~= G[i, k] * A[j, l] where column j = in is the bias
//             (Martens and Grosse, "Optimizing neural networks with Kronecker-factored approximate
//             curvature", ICML 2015)
//   implicit  nothing stored: products F v are recomputed from the model and data
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scorekit/matrix.hpp"

namespace scorekit {

enum class Representation { dense, diag, block, kfac, implicit };

Representation parse_representation(const std::string& name);
std::string to_string(Representation representation);

enum class BlockGrouping { layer, tensor };

BlockGrouping parse_block_grouping(const std::string& name);
std::string to_string(BlockGrouping grouping);

// One parameter tensor and where its entries sit in theta.
struct ParameterInfo {
    std::string name;                 // as PyTorch names it, e.g. "layers.0.weight"
    std::vector<std::int64_t> shape;  // e.g. {out, in}
    std::int64_t offset = 0;          // first index in theta
    std::int64_t size = 0;            // number of entries
    std::string layer;                // the module that owns it, e.g. "layers.0"
    // The dtype the model file stores it in ("float32", "float16", "bfloat16", ...); empty for
    // models built in code and MLP model files. fim computes in float64 (float32 with --single)
    // whatever it is.
    std::string dtype;
};

// Total number of entries of all tensors.
std::int64_t parameter_count(const std::vector<ParameterInfo>& parameters);

struct FisherBlock {
    std::string name;  // layer or tensor name
    std::int64_t offset = 0;
    std::int64_t size = 0;
    RowMatrix matrix;  // [size, size]
};

// Kronecker factors of one linear layer (see the file comment for the index convention).
struct KfacFactors {
    std::string layer;
    std::int64_t weight_offset = 0;
    std::int64_t bias_offset = -1;  // -1 when the layer has no bias
    std::int64_t out = 0, in = 0;
    RowMatrix input_factor;     // A [in + 1, in + 1]
    RowMatrix gradient_factor;  // G [out, out]
};

struct FisherMatrix {
    Representation representation = Representation::dense;
    std::vector<ParameterInfo> parameters;
    RowMatrix dense;
    Vector diagonal;
    std::vector<FisherBlock> blocks;
    std::vector<KfacFactors> kfac;

    std::int64_t size() const { return parameter_count(parameters); }
};

// Returns F v for a stored representation; throws Error for implicit (it has nothing stored).
Vector multiply(const FisherMatrix& fisher, const Vector& v);

// Expands any stored representation into a dense [P, P] matrix (for checks and small models).
RowMatrix to_dense(const FisherMatrix& fisher);

// Expands one layer's Kronecker factors into the dense block over its weight and bias entries,
// in theta order (weight row-major, then bias).
RowMatrix kfac_block(const KfacFactors& factors);

}  // namespace scorekit
