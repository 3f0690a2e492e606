// Fisher information of a model's parameters (the `fim` tool and its library interface).
//
// Model p_theta(y | x) = p(y | f(x, theta)) with f a network (TorchScript module, scorekit MLP
// model file, or a stack of linear layers built in code) and p a likelihood (fim_likelihood.hpp).
// With per-example gradients g(x, y) = grad_theta log p(y | x), the Fisher information is
//   F = sum_n E_{y ~ p_theta(. | x_n)} g(x_n, y) g(x_n, y)^T         (reduction sum)
// or that sum divided by N (reduction mean). Exactly, F_n = J_n^T Lambda_n J_n with J_n the
// Jacobian of f(x_n) and Lambda_n the output-space Fisher, which is what the exact estimator
// computes through square-root factors of Lambda_n.
//
// This header includes no LibTorch header, so callers compile quickly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "scorekit/cli.hpp"
#include "scorekit/fim_estimator.hpp"
#include "scorekit/fim_likelihood.hpp"
#include "scorekit/fim_representation.hpp"
#include "scorekit/matrix.hpp"

namespace scorekit {

// One layer of a stack of linear layers: y = activation(x W^T + b). Activations are "identity",
// "relu", "tanh", "sigmoid", "softplus", "silu", "elu" and "leaky_relu" (slope 0.01).
struct LinearLayerSpec {
    RowMatrix weight;  // [out, in]
    Vector bias;       // [out]; empty for a layer without bias
    std::string activation = "identity";
};

// A network whose parameters the Fisher information is taken over. Copies share the network.
class FisherModel {
public:
    // Loads a TorchScript module (.pt) or a scorekit MLP model file (.h5, kind mlp-score).
    // Throws Error naming the file when it cannot be read, and for a frozen TorchScript module
    // (torch.jit.freeze leaves no parameters). An nn.Sequential of nn.Linear layers and stock
    // elementwise activations, and an MLP model file, are read without LibTorch. Any other
    // TorchScript module loads the torch layer, which runs code from the file. `threads` then sets
    // OpenBLAS's thread count again after LibTorch has loaded.
    static FisherModel load(const std::string& path, int threads = 1);

    // A stack of linear layers with elementwise activations, computed in double precision.
    static FisherModel linear_stack(const std::vector<LinearLayerSpec>& layers);

    const std::vector<ParameterInfo>& parameters() const;
    std::int64_t parameter_count() const;
    const std::string& source() const;

    // Input width; 0 when the model does not say (a general TorchScript module).
    int input_dim() const;

    // True when the network is a stack of linear layers and elementwise activations, which
    // has the fast batched path and supports kfac.
    bool is_linear_stack() const;

    // The likelihood that matches how the model was trained: gaussian for a score-train MLP file
    // (denoising score matching is least squares on a vector in data space), categorical otherwise.
    Likelihood default_likelihood() const;

    // Why kfac cannot be computed for this model (the layer it cannot handle); empty if it can.
    std::string kfac_obstacle() const;

    // Checks a whole input table of `rows` rows and `columns` columns read from `source`. Throws
    // Error when the model's input width is known and differs, naming a table that may be stored
    // transposed. Warns with warn_if_transposed when the width is not known.
    void check_input_table(const std::string& source, Eigen::Index rows, Eigen::Index columns) const;

    // Evaluates f(x) [N, C] in double precision.
    RowMatrix forward(const RowMatrix& inputs) const;

    // The flat parameter vector theta [P], and setting it (for perturbation checks and training).
    Vector parameter_vector() const;
    void set_parameter_vector(const Vector& theta);

    struct Impl;
    std::shared_ptr<Impl> impl() const { return impl_; }

private:
    std::shared_ptr<Impl> impl_;
};

// Half of the physical memory in bytes (the default of --max-memory); 0 when unknown.
std::int64_t default_max_memory();

// Everything about one Fisher computation except the model and the data.
struct FisherProblem {
    Likelihood likelihood = Likelihood::categorical;
    double sigma = 1;  // gaussian likelihood: the observation noise standard deviation
    EstimatorSpec estimator;
    Reduction reduction = Reduction::sum;
    int batch_size = 128;
    std::uint64_t seed = 0;         // draws of the mc estimator
    // Index of the inputs' first row in the whole data set. Input n draws from stream
    // first_input + n, so a shard of the inputs draws what the whole run draws for them.
    std::uint64_t first_input = 0;
    bool single_precision = false;  // float32 arithmetic (faster, ~1e-6 relative accuracy)
    int threads = 1;                // LibTorch intra-op threads (general TorchScript modules)
    // Largest estimated peak memory in bytes (estimate_fisher_memory) that compute_fisher and
    // FisherOperator accept; above it they throw UsageError before any work. <= 0: no limit.
    std::int64_t max_memory = default_max_memory();
    // Called after each batch with the inputs done and the total, for progress lines; may be empty.
    std::function<void(std::int64_t done, std::int64_t total)> on_batch;
};

// Labels for the inputs: for categorical one class index per row [N, 1] (0-based), for bernoulli
// 0 or 1 per row [N, 1], for gaussian the target [N, C]. An empty matrix means no labels.
using Labels = RowMatrix;

// Computes F in the requested representation (not implicit). Throws UsageError when labels are
// required but missing, when kfac meets a layer it cannot handle or when the estimated memory
// exceeds problem.max_memory, Error for data that do not fit the model (widths, label values).
FisherMatrix compute_fisher(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                            const FisherProblem& problem, Representation representation,
                            BlockGrouping grouping = BlockGrouping::layer);

// A matrix-free Fisher operator: F v recomputed from the model and the inputs at each call. The
// mc estimator draws the same labels at every call (each input has its own seeded stream), so
// repeated products use one fixed matrix.
class FisherOperator {
public:
    FisherOperator(FisherModel model, RowMatrix inputs, Labels labels, FisherProblem problem);

    std::int64_t size() const { return model_.parameter_count(); }
    Vector apply(const Vector& v) const;

    // The diagonal of F (one pass over the data), for the trace.
    Vector diagonal() const;

private:
    FisherModel model_;
    RowMatrix inputs_;
    Labels labels_;
    FisherProblem problem_;
};

// The gradient of the log-likelihood of the labels, sum_n grad_theta log p(y_n | x_n) (divided by
// N for reduction mean). Its outer product is NOT a Fisher matrix; it is the natural input of
// --solve (natural gradient).
Vector log_likelihood_gradient(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                               const FisherProblem& problem);

// Fisher information of the analytic normal family with respect to its two parameters. For exact
// this is the per-observation matrix times the number of observations (sum) or once (mean);
// `observations` [N, 1] supply the data for empirical and the count N for the others (N = 1 when
// empty). mc:K draws K observations per data row from the distribution.
FisherMatrix normal_family_fisher(const NormalFamily& family, const RowMatrix& observations,
                                  const FisherProblem& problem, Representation representation);

// Estimates the peak memory in bytes of compute_fisher in `representation` and, with `factorised`,
// of the log det or solve that follows (a damped copy of F and its Cholesky factor). `outputs` is
// the model's output width. An estimate from the sizes of the largest buffers, not a measurement.
std::int64_t estimate_fisher_memory(const FisherModel& model, const FisherProblem& problem,
                                    Representation representation, BlockGrouping grouping, std::int64_t outputs,
                                    bool factorised);

// Throws UsageError naming the estimate, the limit and the alternatives when
// estimate_fisher_memory exceeds `limit` bytes (no check for limit <= 0).
void check_fisher_memory(const FisherModel& model, const FisherProblem& problem, Representation representation,
                         BlockGrouping grouping, std::int64_t outputs, bool factorised, std::int64_t limit);

// Parses a size for --max-memory: a positive number with an optional binary unit (K, M, G, T,
// or KiB ... TiB; 1G = 2^30 bytes). Throws UsageError for anything else.
std::int64_t parse_memory_size(const std::string& text);

// Formats a byte count with a binary unit, e.g. "2.4 GiB".
std::string format_bytes(std::int64_t bytes);

// Options of the fim tool; defaults here are the defaults of the command line.
struct FimOptions {
    std::string model;                   // .pt, .h5 (mlp-score) or normal:...
    std::string input;                   // point set (points.hpp); `-` is standard input
    std::string labels;                  // point set, or "last" for the input's last column
    std::string likelihood;              // empty: FisherModel::default_likelihood()
    double sigma = 1;
    std::string estimator;               // required: exact, mc:K or empirical
    std::string representation = "diag";
    std::string blocks = "layer";
    std::string reduction = "sum";
    int batch_size = 128;
    bool single_precision = false;
    int top_k = 0;                       // top eigenvalues to report
    double damping = 0;                  // for log det and --solve
    bool log_det = false;
    std::string vector;                  // F v for this vector [P] (point-set spec, one row or column)
    std::string solve;                   // (F + damping I)^-1 g; "gradient" uses the labels' gradient
    int lanczos_iterations = 0;          // 0 = min(P, max(3 * top_k, 30))
    // Conjugate gradients of --representation implicit --solve: the iteration limit and the
    // relative residual |b - (F + damping I) x| / |b| at which they stop. In exact arithmetic they
    // end within P iterations, but rounding loses the conjugacy when F + damping I is
    // ill-conditioned, so small models need more than P.
    int cg_iterations = 1000;
    double cg_tolerance = 1e-10;
    std::string max_memory;              // parse_memory_size; empty: default_max_memory()
    std::string stored;                  // summarise this stored matrix (fim -o, merge-shards.py) instead
    std::string shard;                   // "I/N": inputs [I*N_in/N, (I+1)*N_in/N); empty: SLURM array or 0/1
    // Checkpoints of dense, diag, block and kfac runs, written only when one of these is given:
    // the file (default OUTPUT.ckpt), the batches between checkpoints (0: only on SIGINT,
    // SIGTERM or SIGHUP), and the checkpoint to continue from.
    std::string checkpoint;
    std::int64_t checkpoint_every = 0;
    std::string resume;
    CommonOptions common;
};

// Runs the fim tool: prints one summary line on standard output, writes HDF5 with -o.
void run_fim(const FimOptions& options);

}  // namespace scorekit
