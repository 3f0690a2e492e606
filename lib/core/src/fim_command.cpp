// The fim tool: reads a model and inputs, computes the Fisher information in the requested
// representation, prints the summary line and writes the HDF5 output.
#include <malloc.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <utility>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "fim_checkpoint.hpp"
#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/fim.hpp"
#include "scorekit/fim_output.hpp"
#include "scorekit/fim_summary.hpp"
#include "scorekit/log.hpp"
#include "scorekit/model_loader.hpp"
#include "scorekit/points.hpp"
#include "scorekit/slurm.hpp"

namespace scorekit {
namespace {

struct Request {
    FisherProblem problem;
    Representation representation = Representation::diag;
    BlockGrouping grouping = BlockGrouping::layer;
    SummaryRequest summary;
};

// The summaries asked for: --top-k, --log-det, --damping, --lanczos-iterations.
SummaryRequest parse_summary_request(const FimOptions& o) {
    if (o.top_k < 0) throw UsageError(describe("invalid --top-k", std::to_string(o.top_k), "must be >= 0"));
    if (!(o.damping >= 0)) throw UsageError(describe("invalid --damping", format_number(o.damping), "must be >= 0"));
    SummaryRequest summary;
    summary.top_k = o.top_k;
    summary.log_det = o.log_det;
    summary.damping = o.damping;
    summary.lanczos_iterations = o.lanczos_iterations;
    summary.seed = o.common.seed;
    return summary;
}

Request parse_request(const FimOptions& o) {
    Request request;
    if (o.model.empty()) {
        throw UsageError(describe("missing option", "--model", "it is required unless --stored is given",
                                  "give -m MODEL, or --stored FILE.h5 to summarise a stored matrix"));
    }
    if (o.estimator.empty()) {
        throw UsageError(describe("missing option", "--estimator", "it is required unless --stored is given",
                                  "give exact, mc:K or empirical"));
    }
    if (!o.likelihood.empty()) request.problem.likelihood = parse_likelihood(o.likelihood);
    request.problem.sigma = o.sigma;
    request.problem.estimator = parse_estimator(o.estimator);
    request.problem.reduction = parse_reduction(o.reduction);
    request.problem.batch_size = o.batch_size;
    request.problem.seed = o.common.seed;
    request.problem.single_precision = o.single_precision;
    request.problem.threads = resolve_threads(o.common.threads);
    request.representation = parse_representation(o.representation);
    request.grouping = parse_block_grouping(o.blocks);
    // The other representations have no blocks to group, so the option would be ignored.
    if (request.grouping == BlockGrouping::tensor && request.representation != Representation::block) {
        throw UsageError(describe("invalid --blocks", o.blocks,
                                  "it groups the blocks of --representation block, and the representation is " +
                                      to_string(request.representation),
                                  "use --representation block, or leave --blocks out"));
    }
    if (o.batch_size < 1) throw UsageError(describe("invalid --batch-size", std::to_string(o.batch_size), "must be >= 1"));
    if (o.cg_iterations < 1) {
        throw UsageError(describe("invalid --cg-iterations", std::to_string(o.cg_iterations), "must be >= 1"));
    }
    if (!(o.cg_tolerance > 0 && o.cg_tolerance < 1)) {
        throw UsageError(describe("invalid --cg-tolerance", format_number(o.cg_tolerance),
                                  "must be a relative residual above 0 and below 1", "for example 1e-8"));
    }
    request.summary = parse_summary_request(o);
    request.problem.max_memory = o.max_memory.empty() ? default_max_memory() : parse_memory_size(o.max_memory);
    return request;
}

// Reads a vector of `size` entries stored as one row or one column.
Vector read_parameter_vector(const std::string& spec, std::int64_t size) {
    RowMatrix values = read_points(spec).values;
    if (values.rows() == 1) values.transposeInPlace();
    if (values.cols() != 1 || values.rows() != size) {
        throw Error(describe("invalid vector", spec,
                             "it has " + std::to_string(values.size()) + " entries in " + std::to_string(values.rows()) +
                                 " rows and " + std::to_string(values.cols()) + " columns; the model has " +
                                 std::to_string(size) + " parameters",
                             "give one row or one column with one entry per parameter"));
    }
    return values.col(0);
}

// Labels from a --labels file, the rows of `block` of a table that must have one row per input.
// Class names as text (setosa, versicolor) are the usual mistake: the point reader would take the
// first name for a header and call the rest a column to remove.
Labels read_labels(const std::string& spec, const std::string& inputs_spec, const RowBlock& block) {
    auto choose = [&](std::int64_t total) {
        if (total != block.total) {
            throw Error(describe("labels do not match the inputs", spec,
                                 "it has " + std::to_string(total) + " label rows for the " +
                                     std::to_string(block.total) + " inputs of " + inputs_spec,
                                 "give one label row per input"));
        }
        return block;
    };
    RowBlock label_block;
    try {
        return read_point_block(spec, choose, label_block).values;
    } catch (const Error& e) {
        const std::string message = e.what();
        const std::size_t end = message.find("\" is not a number");
        if (end == std::string::npos) throw;
        const std::size_t begin = message.rfind('"', end - 1);
        throw Error(describe("invalid labels", spec,
                             message.substr(begin, end + 1 - begin) +
                                 " is not a number; labels are class indices 0 to K-1 (categorical), 0 or 1 "
                                 "(bernoulli) or real values (gaussian)",
                             "map class names to indices first, for example with pandas.factorize"));
    }
}

// Reads the inputs and the labels of --labels, which names a point set or "last" for the inputs'
// last column (a scikit-learn CSV file's target column). With --shard or a SLURM array, only the
// contiguous block of `shard` is kept, and only those rows of HDF5 files are read. `block`
// receives the rows read and the number of inputs in the whole table.
void read_data(const FimOptions& o, ShardSpec shard, RowMatrix& inputs, Labels& labels, RowBlock& block) {
    if (o.input.empty()) return;
    auto choose = [&](std::int64_t total) {
        if (shard.count == 1) return RowBlock{0, total, total};
        const ShardRange range = shard_range(total, shard);
        if (range.end == range.begin) {
            throw UsageError(describe("invalid shard", std::to_string(shard.index) + "/" + std::to_string(shard.count),
                                      "there are only " + std::to_string(total) + " inputs",
                                      "use at most as many shards as inputs"));
        }
        return RowBlock{range.begin, range.end, total};
    };
    PointSet set = read_point_block(o.input, choose, block);
    inputs = std::move(set.values);
    if (o.labels == "last" && !set.targets.empty()) {
        labels = Eigen::Map<const RowMatrix>(set.targets.data(), static_cast<Eigen::Index>(set.targets.size()), 1);
        return;
    }
    if (o.labels == "last") {
        if (inputs.cols() < 2) {
            throw Error(describe("cannot take labels from the last column of", o.input, "it has only one column",
                                 "give --labels FILE"));
        }
        labels = inputs.rightCols(1);
        RowMatrix features = inputs.leftCols(inputs.cols() - 1);
        inputs = features;
    } else if (!o.labels.empty()) {
        labels = read_labels(o.labels, o.input, block);
    }
}

struct Outcome {
    FisherMatrix fisher;  // representation implicit stores nothing
    FisherSummary summary;
    FisherExtras extras;
};

Outcome run_normal_family(const FimOptions& o, const Request& request, const RowMatrix& observations) {
    NormalFamily family = parse_normal_family(o.model);
    Outcome outcome;
    outcome.fisher = normal_family_fisher(family, observations, request.problem, request.representation);
    outcome.summary = summarize(outcome.fisher, request.summary);
    if (!o.vector.empty()) {
        outcome.extras.vector = read_parameter_vector(o.vector, 2);
        outcome.extras.product = multiply(outcome.fisher, outcome.extras.vector);
        outcome.extras.has_product = true;
    }
    if (!o.solve.empty()) {
        if (o.solve == "gradient") {
            throw UsageError(describe("invalid --solve", "gradient", "the normal family has no labelled data here",
                                      "give the vector as a file"));
        }
        outcome.extras.gradient = read_parameter_vector(o.solve, 2);
        outcome.extras.solve = solve_damped(outcome.fisher, outcome.extras.gradient, o.damping);
        outcome.extras.natural_gradient = outcome.extras.solve.x;
        outcome.extras.has_solution = true;
    }
    return outcome;
}

Vector solve_gradient(const FimOptions& o, const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                      const Request& request) {
    if (o.solve == "gradient") {
        if (labels.size() == 0) {
            throw UsageError(describe("invalid --solve", "gradient", "the log-likelihood gradient needs labels",
                                      "give --labels, or the vector g as a file"));
        }
        return log_likelihood_gradient(model, inputs, labels, request.problem);
    }
    return read_parameter_vector(o.solve, model.parameter_count());
}

// Seconds between progress lines: after every step with -v, otherwise every 10 s as the other
// tools write in batch logs.
double progress_interval() { return verbosity() >= Verbosity::verbose ? 0.0 : 10.0; }

// Matrix-free products of one phase (Lanczos or conjugate gradients) with a progress line per
// interval. Each product is a pass over all inputs.
class ProductsWithProgress {
public:
    ProductsWithProgress(const FisherOperator& op, const std::string& label, std::int64_t planned)
        : op_(op), progress_(label, static_cast<std::uint64_t>(planned), progress_interval()) {
        progress_.update(0);
    }

    Vector operator()(const Vector& v) {
        Vector product = op_.apply(v);
        progress_.update(static_cast<std::uint64_t>(++done_));
        return product;
    }

    void finish(const std::string& status) { progress_.finish_at(static_cast<std::uint64_t>(done_), status); }

private:
    const FisherOperator& op_;
    Progress progress_;
    std::int64_t done_ = 0;
};

// Warns that conjugate gradients stopped above --cg-tolerance, naming the option that would let
// them go on: --cg-iterations at the limit, --damping when F + damping I was singular along a
// search direction (no positive curvature) before it.
void warn_unconverged(const SolveResult& solved, int limit, double tolerance) {
    const std::string state = "conjugate gradients did not converge: relative residual " +
                              format_short(solved.relative_residual) + " (--cg-tolerance " + format_short(tolerance) +
                              ") after " + std::to_string(solved.iterations) + " iterations";
    const std::string written = "; the natural gradient written is approximate and marked converged=0; ";
    const std::string direct = "use --representation dense, block or kfac, which solve directly";
    if (solved.iterations >= limit) {
        log_warning(state + ", the limit of --cg-iterations" + written + "raise --cg-iterations (" +
                    std::to_string(limit) + ") or --damping, or " + direct);
    } else {
        log_warning(state + ", where F + damping I is singular along the search direction" + written +
                    "raise --damping, or " + direct);
    }
}

Outcome run_implicit(const FimOptions& o, const Request& request, const FisherModel& model, const RowMatrix& inputs,
                     const Labels& labels) {
    Outcome outcome;
    outcome.fisher.representation = Representation::implicit;
    outcome.fisher.parameters = model.parameters();
    FisherOperator op(model, inputs, labels, request.problem);

    if (request.summary.log_det) {
        // NOTE: a stochastic Lanczos quadrature estimate would make this possible without storage.
        throw UsageError(describe("cannot compute --log-det with", "--representation implicit",
                                  "log det needs a stored matrix", "use --representation dense, block or kfac"));
    }
    outcome.summary.trace = op.diagonal().sum();
    if (request.summary.top_k > 0) {
        const int k = request.summary.top_k;
        const int steps = request.summary.lanczos_iterations > 0 ? request.summary.lanczos_iterations : std::max(3 * k, 30);
        ProductsWithProgress products(op, "Lanczos products", std::min<std::int64_t>(op.size(), steps));
        outcome.summary.eigen_method = "lanczos";
        outcome.summary.top_eigenvalues = lanczos_top_eigenvalues(std::ref(products), op.size(), k,
                                                                  request.summary.lanczos_iterations, request.summary.seed);
        products.finish("");
    }
    if (!o.vector.empty()) {
        outcome.extras.vector = read_parameter_vector(o.vector, op.size());
        outcome.extras.product = op.apply(outcome.extras.vector);
        outcome.extras.has_product = true;
    }
    if (!o.solve.empty()) {
        outcome.extras.gradient = solve_gradient(o, model, inputs, labels, request);
        const int limit = o.cg_iterations;
        ProductsWithProgress products(op, "conjugate gradient products", limit);
        SolveResult solved =
            conjugate_gradient(std::ref(products), outcome.extras.gradient, o.damping, o.cg_tolerance, limit);
        products.finish(solved.converged ? "converged after " + std::to_string(solved.iterations) + " iterations"
                                         : "not converged");
        if (!solved.converged) warn_unconverged(solved, limit, o.cg_tolerance);
        outcome.extras.natural_gradient = solved.x;
        outcome.extras.solve = solved;
        outcome.extras.has_solution = true;
    }
    return outcome;
}

Outcome run_stored(const FimOptions& o, const Request& request, const FisherModel& model, const RowMatrix& inputs,
                   const Labels& labels, FimCheckpointing* checkpointing) {
    Outcome outcome;
    Progress progress("inputs", static_cast<std::uint64_t>(inputs.rows()), progress_interval());
    auto on_batch = [&](std::int64_t done, std::int64_t total) {
        if (done < total) progress.update(static_cast<std::uint64_t>(done));
    };
    if (checkpointing) {
        outcome.fisher = compute_fisher_resumable(model, inputs, labels, request.problem, request.representation,
                                                  request.grouping, *checkpointing, on_batch);
    } else {
        progress.update(0);
        FisherProblem problem = request.problem;
        problem.on_batch = on_batch;
        outcome.fisher = compute_fisher(model, inputs, labels, problem, request.representation, request.grouping);
    }
    progress.finish();
    outcome.summary = summarize(outcome.fisher, request.summary);
    if (!o.vector.empty()) {
        outcome.extras.vector = read_parameter_vector(o.vector, model.parameter_count());
        outcome.extras.product = multiply(outcome.fisher, outcome.extras.vector);
        outcome.extras.has_product = true;
    }
    if (!o.solve.empty()) {
        outcome.extras.gradient = solve_gradient(o, model, inputs, labels, request);
        outcome.extras.solve = solve_damped(outcome.fisher, outcome.extras.gradient, o.damping);
        outcome.extras.natural_gradient = outcome.extras.solve.x;
        outcome.extras.has_solution = true;
    }
    return outcome;
}

// Rejects requests the model or data cannot serve before any work is logged.
void check_model_request(const FimOptions& o, const Request& request, const FisherModel& model, const Labels& labels) {
    if (request.representation == Representation::kfac && !model.is_linear_stack()) {
        throw UsageError(describe("cannot compute kfac for", o.model, model.kfac_obstacle(),
                                  "use --representation diag, block, dense or implicit"));
    }
    if (request.problem.estimator.needs_labels() && labels.size() == 0) {
        throw UsageError(describe("missing --labels for", "--estimator empirical",
                                  "the empirical Fisher uses the data labels",
                                  "give --labels, or use --estimator exact or mc:K for the Fisher information"));
    }
}

// Wall and CPU seconds (all threads of the process) since construction, for the -v log.
class Stopwatch {
public:
    std::string elapsed() const {
        double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_).count();
        double cpu = static_cast<double>(std::clock() - cpu_) / CLOCKS_PER_SEC;
        return format_short(wall) + " s wall, " + format_short(cpu) + " s CPU";
    }

private:
    std::chrono::steady_clock::time_point wall_ = std::chrono::steady_clock::now();
    std::clock_t cpu_ = std::clock();
};

// Warns before a request that will use more than 1 GiB of memory or write more than 1 GiB, so
// that a large run within --max-memory does not come as a surprise.
void warn_large_request(const FimOptions& o, const Request& request, const FisherModel& model, std::int64_t outputs,
                        bool factorised) {
    const std::int64_t gibibyte = std::int64_t(1) << 30;
    const std::int64_t memory = estimate_fisher_memory(model, request.problem, request.representation, request.grouping,
                                                       outputs, factorised);
    const double total = static_cast<double>(model.parameter_count());
    const double written = request.representation == Representation::dense ? total * total * 8 : 0;
    if (memory < gibibyte && written < gibibyte) return;
    std::string message = "--representation " + to_string(request.representation) + " of " +
                          std::to_string(model.parameter_count()) + " parameters needs an estimated " +
                          format_bytes(memory) + " of memory (--max-memory " + format_bytes(request.problem.max_memory) + ")";
    if (o.common.output != "-" && written > 0) {
        message += " and writes " + format_bytes(static_cast<std::int64_t>(written)) + " to " + o.common.output;
    }
    log_warning(message);
}

// Logs the dtype fim computes in when the model file stores parameters in float16 or bfloat16.
// fim computes in float64 (float32 with --single), which represents their values exactly, so the
// result is the Fisher information at the stored parameters. Sums over many inputs in half
// precision would keep only 2 to 3 significant digits.
void note_half_precision(const std::string& source, const FisherModel& model, bool single_precision) {
    std::vector<std::string> half;
    for (const ParameterInfo& p : model.parameters()) {
        const bool narrow = p.dtype == "float16" || p.dtype == "bfloat16";
        if (narrow && std::find(half.begin(), half.end(), p.dtype) == half.end()) half.push_back(p.dtype);
    }
    if (half.empty()) return;
    const std::string dtypes = half.size() == 1 ? half[0] : half[0] + " and " + half[1];
    log_info(quote(source) + " has " + dtypes + " parameters; computing in " +
             (single_precision ? "float32 (--single)" : "float64 (--single: float32)") +
             ", which represents them exactly");
}

// Warns when --top-k requests more eigenvalues than there are parameters.
void warn_top_k(int top_k, std::int64_t parameters, const std::string& source) {
    if (top_k <= parameters) return;
    const std::string count = std::to_string(parameters);
    log_warning("--top-k " + std::to_string(top_k) + " exceeds the " + count + " parameters of " + source +
                ": reporting all " + count + " eigenvalues");
}

// Rejects the options of --stored that need a model or inputs, and a --vector or --solve whose
// result would go nowhere.
void check_stored_request(const FimOptions& o) {
    if (!o.model.empty() || !o.input.empty() || !o.labels.empty() || !o.estimator.empty() || !o.shard.empty()) {
        throw UsageError(describe("invalid --stored", o.stored,
                                  "it reads a stored matrix and takes no --model, --input, --labels, --estimator or "
                                  "--shard",
                                  "give --stored FILE.h5 with --top-k, --log-det, --damping, --vector, --solve and -o"));
    }
    if (o.solve == "gradient") {
        throw UsageError(describe("invalid --solve", "gradient",
                                  "the log-likelihood gradient needs the model and labelled inputs, which --stored "
                                  "does not have",
                                  "give the vector g as a file, or run fim with -m, -i and --labels"));
    }
    if ((!o.vector.empty() || !o.solve.empty()) && o.common.output == "-") {
        throw UsageError(describe("missing option", "--output",
                                  "--vector and --solve with --stored write their results to an HDF5 file",
                                  "give -o FILE.h5"));
    }
    check_distinct_files({{"--output", o.common.output}},
                         {{"--stored", o.stored}, {"--vector", o.vector}, {"--solve", o.solve}});
}

// --stored: the summaries of a matrix that fim or merge-shards.py fisher wrote, such as the merge
// of a sharded run, which no single shard could form, and F v and damped solves with it. With -o
// the output contains what the live run's -o would contain.
void run_stored_matrix(const FimOptions& o) {
    check_stored_request(o);
    const SummaryRequest request = parse_summary_request(o);
    FisherRecord record;
    const FisherMatrix fisher = read_fisher_file(o.stored, record);
    record.damping = o.damping;
    warn_top_k(request.top_k, fisher.size(), o.stored);
    const FisherSummary summary = summarize(fisher, request);

    FisherExtras extras;
    if (!o.vector.empty()) {
        extras.vector = read_parameter_vector(o.vector, fisher.size());
        extras.product = multiply(fisher, extras.vector);
        extras.has_product = true;
    }
    if (!o.solve.empty()) {
        extras.gradient = read_parameter_vector(o.solve, fisher.size());
        extras.solve = solve_damped(fisher, extras.gradient, o.damping);
        extras.natural_gradient = extras.solve.x;
        extras.has_solution = true;
    }
    if (o.common.output != "-") write_fisher_file(o.common.output, record, fisher, summary, extras);
    std::fprintf(stdout, "%s\n", format_summary_line(record, fisher.size(), summary).c_str());
    log_summary("summaries of the stored matrix computed");
}

// Rejects the requests that a shard of the inputs cannot serve, before any input is read.
// Stored matrices are sums over inputs, so merge-shards.py fisher adds the shards' matrices up.
// Summaries of the whole matrix cannot be formed from one shard.
void check_shard_request(const FimOptions& o, const Request& request, ShardSpec shard) {
    if (shard.count == 1) return;
    if (request.representation == Representation::implicit || request.summary.top_k > 0 || request.summary.log_det ||
        !o.vector.empty() || !o.solve.empty()) {
        throw UsageError(describe("invalid shard", std::to_string(shard.index) + "/" + std::to_string(shard.count),
                                  "--representation implicit, --top-k, --log-det, --vector and --solve need the whole "
                                  "matrix",
                                  "store a dense, diag, block or kfac matrix per shard and merge them with "
                                  "merge-shards.py fisher"));
    }
}

// Records the shard's block of inputs, which read_data read, and names the shard's output.
void take_shard(const FimOptions& o, ShardSpec shard, const RowBlock& block, Request& request, FisherRecord& record,
                std::string& output) {
    output = shard_output_path(o.common.output, shard, o.shard.empty());
    if (shard.count == 1) return;
    record.shard = std::to_string(shard.index) + "/" + std::to_string(shard.count);
    record.total_inputs = block.total;
    request.problem.first_input = static_cast<std::uint64_t>(block.begin);
    log_info("shard " + record.shard + ": inputs [" + std::to_string(block.begin) + ", " + std::to_string(block.end) +
             ") of " + std::to_string(block.total));
}

bool wants_checkpoints(const FimOptions& o) {
    return !o.checkpoint.empty() || o.checkpoint_every > 0 || !o.resume.empty();
}

// Rejects the checkpoint options where nothing loops over batches: --stored, the normal family
// and --representation implicit, whose products are passes over all inputs.
void check_checkpoint_request(const FimOptions& o, const Request* request) {
    if (!wants_checkpoints(o)) return;
    std::string subject;
    if (!o.stored.empty()) subject = "--stored";
    else if (is_normal_family_spec(o.model)) subject = "the normal family";
    else if (request && request->representation == Representation::implicit) subject = "--representation implicit";
    if (subject.empty()) return;
    throw UsageError(describe("invalid --checkpoint, --checkpoint-every or --resume with", subject,
                              "fim checkpoints only the sums of dense, diag, block and kfac runs over batches of inputs",
                              "drop the checkpoint options"));
}

// The options and data that decide the sums, for comparing a checkpoint with the run. The values
// appear in mismatch messages.
CheckpointSettings fim_checkpoint_settings(const FimOptions& o, const Request& request, const FisherRecord& record,
                                           const RowMatrix& inputs, const Labels& labels) {
    return {{"model", model_identity_text(o.model)},
            {"model_checksum", model_checksum_text(o.model)},
            {"inputs", checksum_text({&inputs, &labels})},
            {"estimator", request.problem.estimator.name()},
            {"likelihood", to_string(request.problem.likelihood)},
            {"sigma", exact_text(request.problem.sigma)},
            {"representation", to_string(request.representation)},
            {"blocks", to_string(request.grouping)},
            {"reduction", to_string(request.problem.reduction)},
            {"batch_size", std::to_string(request.problem.batch_size)},
            {"seed", std::to_string(request.problem.seed)},
            {"single", request.problem.single_precision ? "true" : "false"},
            {"shard", record.shard.empty() ? "none" : record.shard}};
}

// --checkpoint, else OUTPUT.ckpt for a file output. Checks the file like an output.
std::string fim_checkpoint_path(const FimOptions& o, const std::string& output) {
    std::string path = o.checkpoint;
    if (path.empty() && output == "-") {
        throw UsageError(describe("missing option", "--checkpoint",
                                  "--checkpoint-every and --resume need a checkpoint file, and the output is standard "
                                  "output",
                                  "give --checkpoint FILE or -o FILE.h5"));
    }
    if (path.empty()) path = output + ".ckpt";
    check_distinct_files({{"--checkpoint", path}, {"--output", output}},
                         {{"--model", o.model}, {"--input", o.input}, {"--labels", o.labels == "last" ? "" : o.labels}});
    check_output_writable(path, "--checkpoint");
    return path;
}

}  // namespace

void run_fim(const FimOptions& options) {
    FimOptions o = options;
    if (o.stored.empty()) {
        const ShardSpec shard = o.shard.empty() ? shard_from_environment() : parse_shard(o.shard);
        shard_checkpoint_names(o.checkpoint, o.resume, shard, o.shard.empty());
    }
    // The batched path allocates temporaries of a few MB per batch. glibc serves those with mmap and
    // returns them at once, so every batch paid page faults again; keeping them in the heap made
    // the diag of a 64-256-10 MLP over 1797 inputs about 3x faster (bench/fim/run.sh).
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);

    check_checkpoint_names(o.checkpoint, o.resume);
    check_checkpoint_request(o, nullptr);
    if (!o.stored.empty()) return run_stored_matrix(o);
    Request request = parse_request(o);
    check_checkpoint_request(o, &request);
    check_distinct_files({{"--output", o.common.output}},
                         {{"--model", o.model},
                          {"--input", o.input},
                          {"--labels", o.labels == "last" ? "" : o.labels},
                          {"--vector", o.vector},
                          {"--solve", o.solve == "gradient" ? "" : o.solve}});
    // The normal family's inputs are optional covariates of one distribution, never split.
    const bool normal_family = is_normal_family_spec(o.model);
    const ShardSpec shard = normal_family ? ShardSpec{} : o.shard.empty() ? shard_from_environment() : parse_shard(o.shard);
    check_shard_request(o, request, shard);
    RowMatrix inputs;
    Labels labels;
    RowBlock block;
    read_data(o, shard, inputs, labels, block);

    FisherRecord record;
    record.model = o.model;
    record.estimator = request.problem.estimator;
    record.reduction = request.problem.reduction;
    record.representation = request.representation;
    record.grouping = request.grouping;
    record.damping = o.damping;
    std::string output = o.common.output;

    Outcome outcome;
    std::pair<std::string, bool> finished_checkpoint;  // the path and whether this run wrote it
    if (normal_family) {
        reject_ambiguous_model_spec(o.model);
        NormalFamily family = parse_normal_family(o.model);
        record.likelihood = "normal (" + family.mu_name() + ", " + family.scale_name() + ")";
        record.num_inputs = inputs.size() ? inputs.rows() : 1;
        outcome = run_normal_family(o, request, inputs);
    } else {
        if (o.input.empty()) {
            throw UsageError(describe("missing --input for", o.model, "the Fisher information is a sum over inputs",
                                      "give --input FILE (HDF5 dataset or text, - for standard input)"));
        }
        take_shard(o, shard, block, request, record, output);
        Stopwatch loading;
        FisherModel model = FisherModel::load(o.model, request.problem.threads);
        log_verbose("loaded " + o.model + " in " + loading.elapsed());
        model.check_input_table(o.input, block.total, inputs.cols());
        if (o.likelihood.empty()) request.problem.likelihood = model.default_likelihood();
        check_model_request(o, request, model, labels);
        note_half_precision(o.model, model, request.problem.single_precision);
        warn_top_k(request.summary.top_k, model.parameter_count(), o.model);
        const bool factorised = request.summary.log_det || !o.solve.empty();
        if (inputs.rows() > 0) {
            const std::int64_t outputs = model.forward(inputs.topRows(1)).cols();
            check_fisher_memory(model, request.problem, request.representation, request.grouping, outputs, factorised,
                                request.problem.max_memory);
            warn_large_request(o, request, model, outputs, factorised);
        }
        record.likelihood = to_string(request.problem.likelihood);
        if (request.problem.likelihood == Likelihood::gaussian) record.sigma = request.problem.sigma;
        record.num_inputs = inputs.rows();
        log_verbose("[1/2] " + request.problem.estimator.quantity() + " of " + std::to_string(model.parameter_count()) +
                 " parameters over " + std::to_string(inputs.rows()) + " inputs, estimator " +
                 request.problem.estimator.name() + ", representation " + to_string(request.representation));
        std::unique_ptr<FimCheckpointing> checkpointing;
        if (wants_checkpoints(o)) {
            checkpointing = std::make_unique<FimCheckpointing>();
            checkpointing->path = fim_checkpoint_path(o, output);
            checkpointing->every = o.checkpoint_every;
            checkpointing->resume = o.resume;
            checkpointing->settings = fim_checkpoint_settings(o, request, record, inputs, labels);
        }
        Stopwatch computing;
        outcome = request.representation == Representation::implicit
                      ? run_implicit(o, request, model, inputs, labels)
                      : run_stored(o, request, model, inputs, labels, checkpointing.get());
        log_verbose("computed in " + computing.elapsed() + " (model and inputs loaded before)");
        if (checkpointing) finished_checkpoint = {checkpointing->path, checkpointing->written};
    }

    if (output != "-") {
        log_verbose("[2/2] writing " + output);
        Stopwatch writing;
        write_fisher_file(output, record, outcome.fisher, outcome.summary, outcome.extras);
        log_verbose("wrote " + output + " in " + writing.elapsed());
    }
    std::string line = format_summary_line(record, parameter_count(outcome.fisher.parameters), outcome.summary);
    std::fprintf(stdout, "%s\n", line.c_str());
    remove_finished_checkpoint(finished_checkpoint.first, finished_checkpoint.second, o.resume);
    log_summary("Fisher information computed");
}

}  // namespace scorekit
