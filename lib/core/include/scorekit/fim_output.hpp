// Output of a Fisher computation: an HDF5 file that h5py users can map back to layers, and the
// one-line text summary printed on standard output.
//
// HDF5 layout (all matrices float64, row-major):
//   /fisher                     group; attributes quantity, estimator, likelihood, sigma, reduction,
//                               representation, block_grouping, model, num_inputs, num_parameters,
//                               parameter_names (newline-separated, theta order)
//   /fisher/matrix              dense F [P, P]
//   /fisher/diagonal            diag F [P]
//   /fisher/blocks/<k>          block k [n, n]; attributes name, offset, size
//   /fisher/kfac/<layer>/A, /G  Kronecker factors; attributes weight_offset, bias_offset, out, in
//   /fisher/product             F v for --vector;   /fisher/vector   v
//   /fisher/natural_gradient    (F + damping I)^-1 g for --solve;   /fisher/gradient   g
//                               attributes damping, converged (0 when conjugate gradients stopped
//                               at their iteration limit), iterations, relative_residual
//   /parameters/<name>          the tensor's shape; attributes offset, size, layer, index, and
//                               dtype (the model file's, e.g. float16) when the file states it
//   /summary                    attributes trace, frobenius, log_det, damping; dataset top_eigenvalues
#pragma once

#include <string>
#include <vector>

#include "scorekit/fim_estimator.hpp"
#include "scorekit/fim_likelihood.hpp"
#include "scorekit/fim_representation.hpp"
#include "scorekit/fim_summary.hpp"

namespace scorekit {

// Metadata recorded with every output.
struct FisherRecord {
    std::string model;
    EstimatorSpec estimator;
    std::string likelihood;  // e.g. "categorical" or "normal (mu, log_sigma)"
    double sigma = 0;        // gaussian likelihood only; 0 otherwise
    Reduction reduction = Reduction::sum;
    Representation representation = Representation::diag;
    BlockGrouping grouping = BlockGrouping::layer;
    std::int64_t num_inputs = 0;
    double damping = 0;
    std::string shard;              // "I/N" for a shard of the inputs (--shard), empty otherwise
    std::int64_t total_inputs = 0;  // inputs of the whole data set that the shard is part of
};

struct FisherExtras {
    Vector vector, product;           // --vector
    Vector gradient, natural_gradient;  // --solve
    bool has_product = false, has_solution = false;
    SolveResult solve;                  // how the solve ended (its x is natural_gradient)
};

// Reads the matrix (dense, diag, block or kfac) and the record of a file that fim or
// merge-shards.py fisher wrote. Throws Error naming the file when it contains no stored matrix.
FisherMatrix read_fisher_file(const std::string& path, FisherRecord& record);

// Writes the HDF5 file atomically. `fisher.representation` may be implicit (nothing stored).
void write_fisher_file(const std::string& path, const FisherRecord& record, const FisherMatrix& fisher,
                       const FisherSummary& summary, const FisherExtras& extras);

// One line of tab-separated key=value fields, e.g.
// "quantity=fisher  estimator=exact  reduction=sum  representation=diag  parameters=3  trace=2.1875 ...".
std::string format_summary_line(const FisherRecord& record, std::int64_t parameters, const FisherSummary& summary);

}  // namespace scorekit
