#include "scorekit/score_train.hpp"

#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <tuple>

#include "data_parallel.hpp"
#include "dsm_trainer.hpp"
#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"
#include "scorekit/mlp_score.hpp"
#include "scorekit/points.hpp"
#include "scorekit/rng.hpp"
#include "scorekit/signals.hpp"
#include "training_state.hpp"

namespace scorekit {
namespace {

// Random streams: batches of epoch e use stream kEpochStream + e, noise of step t uses seed
// derive_seed(seed, kStepStream + t), so a resumed run draws exactly what an uninterrupted one would.
constexpr std::uint64_t kSplitStream = 1;
constexpr std::uint64_t kInitStream = 2;
constexpr std::uint64_t kValidationStream = 3;
constexpr std::uint64_t kEpochStream = 1ULL << 32;
constexpr std::uint64_t kStepStream = 1ULL << 48;

void check_options(const ScoreTrainOptions& o) {
    auto positive = [](bool ok, const std::string& option, const std::string& value, const std::string& rule) {
        if (!ok) throw UsageError(describe("invalid " + option, value, rule));
    };
    positive(o.width >= 1, "--width", std::to_string(o.width), "must be at least 1");
    positive(o.depth >= 1, "--depth", std::to_string(o.depth), "must be at least 1");
    positive(o.levels >= 1, "--levels", std::to_string(o.levels), "must be at least 1");
    positive(o.sigma_min > 0, "--sigma-min", format_number(o.sigma_min), "must be positive");
    positive(o.sigma_max == 0 || o.sigma_max >= o.sigma_min, "--sigma-max", format_number(o.sigma_max),
             "must be 0 (automatic) or at least --sigma-min");
    positive(o.batch_size >= 1, "--batch-size", std::to_string(o.batch_size), "must be at least 1");
    positive(o.steps >= 1 || o.epochs >= 1, "--steps", std::to_string(o.steps), "must be at least 1");
    positive(o.learning_rate > 0, "--lr", format_number(o.learning_rate), "must be positive");
    positive(o.ema >= 0 && o.ema < 1, "--ema", format_number(o.ema), "must be in [0, 1)");
    positive(o.val_fraction >= 0 && o.val_fraction < 1, "--val-fraction", format_number(o.val_fraction),
             "must be in [0, 1)");
    positive(o.lr_schedule == "constant" || o.lr_schedule == "cosine" || o.lr_schedule == "linear",
             "--lr-schedule", o.lr_schedule, "expected one of constant, cosine, linear");
    parse_activation(o.activation);
    if (o.common.output == "-") {
        throw UsageError("no output file: the model is an HDF5 file and cannot go to standard output; give -o model.h5");
    }
}

double learning_rate_at(const ScoreTrainOptions& o, std::int64_t step, std::int64_t total) {
    double base = o.learning_rate;
    if (o.warmup > 0 && step <= o.warmup) return base * static_cast<double>(step) / o.warmup;
    double progress = total > o.warmup ? static_cast<double>(step - o.warmup) / (total - o.warmup) : 1.0;
    if (o.lr_schedule == "cosine") return base * 0.5 * (1 + std::cos(M_PI * progress));
    if (o.lr_schedule == "linear") return base * (1 - progress);
    return base;
}

// Standardised training and validation data (float32) and the standardisation itself.
struct Dataset {
    torch::Tensor train, validation;
    Vector mean, std;
    std::uint64_t checksum = 0;
};

// Mean and standard deviation of column `column` with the values divided by their largest
// magnitude before they are summed or squared. The plain formulas overflow for values beyond about
// 1e154 and underflow to a zero deviation below about 1e-154, and this one does neither.
std::pair<double, double> scaled_mean_std(const RowMatrix& x, Eigen::Index column) {
    const auto values = x.col(column).array();
    const double magnitude = values.abs().maxCoeff();
    if (magnitude == 0) return {0.0, 0.0};
    const double mean = magnitude * (values / magnitude).mean();
    const auto deviations = values - mean;
    const double spread = deviations.abs().maxCoeff();
    if (spread == 0) return {mean, 0.0};
    return {mean, spread * std::sqrt((deviations / spread).square().mean())};
}

// Throws Error naming the constant columns (std 0), all at once, since 64-pixel digit images
// have three and images of more pixels many: up to 20 of them, then their count.
void check_constant_columns(const PointSet& points, const Vector& deviations) {
    std::vector<std::string> constant;
    Eigen::Index count = 0;
    for (Eigen::Index j = 0; j < deviations.size(); ++j) {
        if (deviations(j) > 0) continue;
        ++count;
        if (constant.size() == 20) continue;
        const auto index = static_cast<size_t>(j);
        constant.push_back(std::to_string(j + 1) +
                           (index < points.columns.size() ? " (" + quote(points.columns[index]) + ")" : ""));
    }
    if (count == 0) return;
    std::string list;
    for (size_t k = 0; k < constant.size(); ++k) list += (k ? ", " : "") + constant[k];
    if (count > static_cast<Eigen::Index>(constant.size())) {
        list += " and " + std::to_string(count - static_cast<Eigen::Index>(constant.size())) + " more";
    }
    throw Error(describe("cannot train on", points.source,
                         (count == 1 ? "column " + list + " is constant" : std::to_string(count) + " columns are constant: " + list) +
                             " (counting from 1)",
                         "remove constant columns"));
}

Dataset prepare_data(const ScoreTrainOptions& o, const PointSet& points) {
    const RowMatrix& x = points.values;
    Dataset data;
    data.mean = x.colwise().mean().transpose();
    data.std = ((x.rowwise() - data.mean.transpose()).array().square().colwise().mean()).sqrt().transpose();
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
        // Only columns where the plain formulas fail take the scaled ones, so other data give the
        // models of earlier versions bit for bit.
        const double variance = data.std(j) * data.std(j);
        if (!std::isfinite(data.mean(j)) || !std::isnormal(data.std(j)) || !std::isfinite(variance)) {
            std::tie(data.mean(j), data.std(j)) = scaled_mean_std(x, j);
        }
        if (!std::isfinite(data.std(j))) {
            throw Error(describe("cannot train on", points.source,
                                 "the values of column " + std::to_string(j + 1) +
                                     " span more than the largest double, so they cannot be standardised",
                                 "rescale the column"));
        }
    }
    check_constant_columns(points, data.std);
    warn_if_transposed(points.source, x.rows(), x.cols());
    // FNV-1a over the raw bytes: a resumed run must see the same data.
    std::uint64_t hash = 1469598103934665603ULL;
    const auto* bytes = reinterpret_cast<const unsigned char*>(x.data());
    for (Eigen::Index i = 0; i < x.size() * static_cast<Eigen::Index>(sizeof(double)); ++i) hash = (hash ^ bytes[i]) * 1099511628211ULL;
    data.checksum = hash;

    std::vector<std::int64_t> order(x.rows());
    std::iota(order.begin(), order.end(), 0);
    Rng rng(o.common.seed, kSplitStream);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    auto validation_count = static_cast<std::int64_t>(std::floor(o.val_fraction * x.rows()));
    if (x.rows() - validation_count < 1) validation_count = 0;

    RowMatrix z = (x.rowwise() - data.mean.transpose()).array().rowwise() / data.std.transpose().array();
    torch::Tensor all = torch::from_blob(z.data(), {z.rows(), z.cols()}, torch::kFloat64).to(torch::kFloat32);
    torch::Tensor index = torch::tensor(order, torch::kInt64);
    data.validation = all.index_select(0, index.narrow(0, 0, validation_count));
    data.train = all.index_select(0, index.narrow(0, validation_count, x.rows() - validation_count));
    return data;
}

// Song and Ermon (2020), technique 1: sigma_max about the largest pairwise distance of the data.
// Beyond 2000 points the distances are those among the first 2000 and the 100 farthest from the
// mean. A few outliers set the largest distance, and the first 2000 alone can miss them: on 4000
// heavy-tailed points with 3 outliers they gave 0.15 where the largest is 136.
double largest_distance(const torch::Tensor& z) {
    if (z.size(0) <= 2000) return torch::cdist(z, z).max().item<double>();
    const torch::Tensor farthest = std::get<1>(z.norm(2, 1).topk(100));
    const torch::Tensor sample = torch::cat({z.narrow(0, 0, 2000), z.index_select(0, farthest)});
    return torch::cdist(sample, sample).max().item<double>();
}

// Warns about columns whose standard deviation is over 10 times the spread of their middle half,
// the interquartile range over 1.349 (which equals the deviation of a normal distribution).
// Outliers inflate the deviation that standardises the data, so the smallest noise level, in
// standard deviations, blurs the bulk of the points. On 4000 points with 3 outliers the ratio
// was 245 to 548, and a heavy tail without outliers (Student t, 2.5 degrees) gives about 2.
// Columns whose middle half is one value (mostly zero pixels) are passed over.
void warn_about_outliers(const PointSet& points, const Vector& deviations, double sigma_min) {
    const RowMatrix& x = points.values;
    if (x.rows() < 20) return;
    std::vector<std::string> columns;
    double worst = 0;
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
        std::vector<double> values;
        values.reserve(static_cast<size_t>(x.rows()));
        for (Eigen::Index i = 0; i < x.rows(); ++i) values.push_back(x(i, j));
        const auto quartile = [&](double q) {
            auto at = values.begin() + static_cast<std::ptrdiff_t>(q * static_cast<double>(values.size() - 1));
            std::nth_element(values.begin(), at, values.end());
            return *at;
        };
        const double spread = (quartile(0.75) - quartile(0.25)) / 1.349;
        if (!(spread > 0) || !(deviations(j) > 10 * spread)) continue;
        worst = std::max(worst, deviations(j) / spread);
        columns.push_back(std::to_string(j + 1));
    }
    if (columns.empty()) return;
    std::string list;
    for (size_t k = 0; k < columns.size(); ++k) list += (k ? ", " : "") + columns[k];
    log_warning(quote(points.source) + ": the standard deviation of column" + (columns.size() > 1 ? "s " : " ") + list +
                " is up to " + format_number(std::round(worst)) +
                " times the spread of its middle half (outliers?); the data are standardised by it, so the smallest "
                "noise level, --sigma-min " + format_number(sigma_min) +
                " standard deviations, blurs most points: remove the outliers or lower --sigma-min");
}

MlpParameters initial_parameters(const MlpArchitecture& a, std::uint64_t seed) {
    // PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)) for weights and biases.
    MlpParameters p;
    p.architecture = a;
    Rng rng(seed, kInitStream);
    for (auto [out, in] : a.layer_shapes()) {
        double bound = 1 / std::sqrt(static_cast<double>(in));
        for (std::int64_t size : {static_cast<std::int64_t>(out) * in, static_cast<std::int64_t>(out)}) {
            std::vector<float> values(size);
            for (auto& v : values) v = static_cast<float>((2 * rng.uniform() - 1) * bound);
            p.tensors.push_back(std::move(values));
        }
    }
    return p;
}

// Joins the data-parallel group of a SLURM step for --distributed; nullptr for a single process.
std::unique_ptr<DataParallel> join_data_parallel(const ScoreTrainOptions& o) {
    SlurmContext context = slurm_context();
    if (!o.distributed) {
        if (!context.ntasks.empty() && context.ntasks != "1" && !context.step_id.empty()) {
            log_warning("running as one of " + context.ntasks + " tasks of a SLURM step without --distributed: "
                        "every task trains the whole model and writes " + o.common.output);
        }
        return nullptr;
    }

    DataParallelPlacement placement = data_parallel_placement(context, o.common.output, o.rendezvous);
    if (placement.world_size > o.batch_size) {
        throw UsageError(describe("invalid --batch-size", std::to_string(o.batch_size),
                                  "smaller than the " + std::to_string(placement.world_size) + " data-parallel ranks",
                                  "use a global batch of at least one example per rank"));
    }
    const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(o.distributed_timeout * 1000)));
    auto parallel = std::make_unique<DataParallel>(placement, timeout);
    ShardRange slice = parallel->batch_slice(o.batch_size);
    log_info("data-parallel rank " + std::to_string(placement.rank) + " of " + std::to_string(placement.world_size) +
             ": examples [" + std::to_string(slice.begin) + ", " + std::to_string(slice.end) + ") of each batch of " +
             std::to_string(o.batch_size) + "; rendezvous " + placement.rendezvous);
    // Rank 0 reports progress and writes; the other ranks print only warnings and errors.
    if (placement.rank != 0) set_verbosity(Verbosity::quiet);
    return parallel;
}

// Indices of the batch for a step: epochs walk a fresh permutation of the training set, and a
// batch larger than the remainder wraps around within its epoch's permutation.
class BatchSchedule {
public:
    BatchSchedule(std::int64_t rows, std::int64_t batch, std::uint64_t seed)
        : rows_(rows), batch_(batch), seed_(seed), per_epoch_(std::max<std::int64_t>(1, (rows + batch - 1) / batch)) {}

    std::int64_t batches_per_epoch() const { return per_epoch_; }

    torch::Tensor indices(std::int64_t step) {  // step counts from 1
        std::int64_t epoch = (step - 1) / per_epoch_, slot = (step - 1) % per_epoch_;
        if (epoch != epoch_) {
            permutation_.resize(rows_);
            std::iota(permutation_.begin(), permutation_.end(), 0);
            Rng rng(seed_, kEpochStream + epoch);
            for (size_t i = permutation_.size(); i > 1; --i) std::swap(permutation_[i - 1], permutation_[rng.below(i)]);
            epoch_ = epoch;
        }
        torch::Tensor out = torch::empty({batch_}, torch::kInt64);
        auto* p = out.data_ptr<std::int64_t>();
        for (std::int64_t j = 0; j < batch_; ++j) p[j] = permutation_[(slot * batch_ + j) % rows_];
        return out;
    }

private:
    std::int64_t rows_, batch_;
    std::uint64_t seed_;
    std::int64_t per_epoch_;
    std::int64_t epoch_ = -1;
    std::vector<std::int64_t> permutation_;
};

void train(const ScoreTrainOptions& o);
void train_in_group(const ScoreTrainOptions& o, DataParallel* parallel);

}  // namespace

void run_score_train(const ScoreTrainOptions& o) {
    try {
        train(o);
    } catch (const c10::Error& e) {
        // LibTorch reports a failed allocation as "[enforce fail at alloc_cpu.cpp:...] ... can't
        // allocate memory", followed by a stack trace; only its first line is useful.
        const std::string message = e.what_without_backtrace();
        const std::string first_line = message.substr(0, message.find('\n'));
        if (message.find("allocate memory") != std::string::npos) {
            throw Error(describe("out of memory", "--batch-size " + std::to_string(o.batch_size) + " --width " +
                                                      std::to_string(o.width),
                                 "LibTorch could not allocate a tensor", "lower --batch-size or --width"));
        }
        throw Error(describe("training failed", o.input, "LibTorch: " + first_line, "please report it with the command line"));
    }
}

namespace {

void train(const ScoreTrainOptions& o) {
    check_options(o);
    // LibTorch's OpenMP threads on top of OpenBLAS's own threads oversubscribe the cores, so
    // BLAS runs single-threaded and --threads goes to LibTorch.
    set_blas_threads(1);
    at::set_num_threads(resolve_threads(o.common.threads));
    torch::manual_seed(o.common.seed);
    std::unique_ptr<DataParallel> parallel = join_data_parallel(o);
    try {
        train_in_group(o, parallel.get());
    } catch (const std::exception& e) {
        // Files differ between nodes (a data file or checkpoint on a node-local disk), so one
        // rank can fail where the others do not. Unless it reports the failure, they wait for
        // it until the group's timeout.
        if (parallel) {
            const std::string message = e.what();
            parallel->report_failure(message.substr(0, message.find('\n')));
        }
        throw;
    }
}

// The run after joining the data-parallel group (`parallel` is null for a single process).
void train_in_group(const ScoreTrainOptions& o, DataParallel* parallel) {
    check_no_dataset(o.common.output, "--output");
    check_checkpoint_names(o.checkpoint, o.resume);
    const std::string checkpoint_path = o.checkpoint.empty() ? o.common.output + ".ckpt" : o.checkpoint;
    // The checkpoint may be the file that --resume reads: it is replaced only by a newer state.
    check_distinct_files({{"--output", o.common.output}, {"--checkpoint", checkpoint_path}}, {{"input", o.input}});
    check_distinct_files({{"--output", o.common.output}}, {{"--resume", o.resume}});
    // The checkpoint is written on SIGINT or every --checkpoint-every steps: a bad path must fail
    // now, not when the interrupted run tries to save itself.
    check_output_writable(checkpoint_path);
    const bool writer = !parallel || parallel->rank() == 0;
    const ShardRange slice = parallel ? parallel->batch_slice(o.batch_size) : ShardRange{0, o.batch_size};

    log_verbose("[1/3] reading " + o.input);
    PointSet points = read_points(o.input);
    Dataset data = prepare_data(o, points);
    if (writer) warn_about_outliers(points, data.std, o.sigma_min);
    const int dim = static_cast<int>(points.values.cols());
    log_verbose("      " + std::to_string(points.values.rows()) + " points of dimension " + std::to_string(dim) + ": " +
             std::to_string(data.train.size(0)) + " for training, " + std::to_string(data.validation.size(0)) +
             " for validation");

    TrainingConfig config = make_training_config(o, dim, data.checksum);
    config.sigma_max = o.sigma_max > 0 ? o.sigma_max : std::max(largest_distance(data.train), o.sigma_min);
    std::vector<double> sigmas = geometric_sigmas(config);

    BatchSchedule schedule(data.train.size(0), o.batch_size, o.common.seed);
    const std::int64_t total = o.epochs > 0 ? o.epochs * schedule.batches_per_epoch() : o.steps;
    config.total_steps = total;

    MlpArchitecture architecture{dim, o.width, o.depth, parse_activation(o.activation)};
    DsmTrainer trainer(initial_parameters(architecture, o.common.seed), sigmas, slice.end - slice.begin,
                       AdamSettings{o.beta1, o.beta2, o.adam_eps}, o.ema);
    bool any_rank_interrupted = false;
    if (parallel) {
        trainer.set_gradient_reduction(o.batch_size, [&](torch::Tensor& gradients, double loss) {
            return parallel->reduce_step(gradients, loss, interrupt_requested(), any_rank_interrupted);
        });
    }
    std::int64_t done = 0;
    TrainingProgress record;
    if (!o.resume.empty()) {
        done = load_checkpoint(o.resume, config, trainer, record);
        if (done > total) {
            throw UsageError(describe("cannot resume from", o.resume,
                                      "the checkpoint is at step " + std::to_string(done) + ", beyond --steps " +
                                          std::to_string(total),
                                      "give --steps of at least " + std::to_string(done)));
        }
        log_info("resuming from " + o.resume + " at step " + std::to_string(done) + " of " + std::to_string(total));
    }
    // After the last step that reads a rank's own files, so that a failure there reaches the
    // other ranks. The data line comes first: other data also change sigma_max, which would be
    // named instead.
    if (parallel) parallel->check_same_config("data_checksum " + std::to_string(config.data_checksum) + "\n" + config_lines(config));

    // Fixed validation noise, so that validation losses are comparable across steps.
    torch::Tensor val_level, val_noise;
    if (data.validation.size(0) > 0) {
        torch::Generator generator = at::detail::createCPUGenerator(derive_seed(o.common.seed, kValidationStream));
        val_level = torch::arange(data.validation.size(0), torch::kInt64).remainder(o.levels);
        val_noise = torch::randn(data.validation.sizes(), generator, torch::kFloat32);
    }

    log_verbose("[2/3] training " + std::to_string(architecture.parameter_count()) + " parameters for " +
             std::to_string(total) + " steps, " + std::to_string(o.levels) + " noise levels from " +
             format_short(sigmas.front()) + " to " + format_short(sigmas.back()));
    catch_interrupts();
    TrainingLog& history = record.log;
    Progress progress("training", static_cast<std::uint64_t>(total));
    progress.update(done);
    torch::Generator generator = at::detail::createCPUGenerator(0);
    torch::Tensor x = torch::empty({o.batch_size, dim}, torch::kFloat32);
    torch::Tensor level = torch::empty({o.batch_size}, torch::kInt64);
    torch::Tensor noise = torch::empty({o.batch_size, dim}, torch::kFloat32);
    // Every rank draws the whole batch from the same streams and trains on its slice of it.
    const std::int64_t local_batch = slice.end - slice.begin;
    torch::Tensor x_local = parallel ? x.narrow(0, slice.begin, local_batch) : x;
    torch::Tensor level_local = parallel ? level.narrow(0, slice.begin, local_batch) : level;
    torch::Tensor noise_local = parallel ? noise.narrow(0, slice.begin, local_batch) : noise;
    double& loss_sum = record.loss_sum;
    std::int64_t& loss_count = record.loss_count;

    while (done < total) {
        const std::int64_t step = done + 1;
        generator.set_current_seed(derive_seed(o.common.seed, kStepStream + step));
        at::index_select_out(x, data.train, 0, schedule.indices(step));
        level.random_(0, o.levels, generator);
        noise.normal_(0, 1, generator);
        double loss = trainer.step(x_local, level_local, noise_local, learning_rate_at(o, step, total), step);
        if (!std::isfinite(loss)) {
            throw Error(describe_at("training diverged", "at step " + std::to_string(step), "the loss is not finite",
                                 "lower --lr or use more warm-up steps"));
        }
        done = step;
        loss_sum += loss;
        ++loss_count;

        if (done % o.log_every == 0 || done == total) {
            double train_loss = loss_sum / loss_count;
            double val_loss = val_level.defined() ? trainer.evaluate(data.validation, val_level, val_noise, true) : NAN;
            history.add(done, train_loss, val_loss);
            log_verbose("step " + std::to_string(done) + ": loss " + format_short(train_loss) + ", validation loss " +
                        format_short(val_loss));
            loss_sum = 0;
            loss_count = 0;
        }
        progress.update(done, "loss " + (history.empty() ? std::string("?") : format_short(history.last_train())) +
                                  (history.has_validation() ? ", val " + format_short(history.last_validation()) : ""));
        if (writer && o.checkpoint_every > 0 && done % o.checkpoint_every == 0 && done < total) {
            save_checkpoint(checkpoint_path, config, trainer, done, data.mean, data.std, record);
        }
        // Data-parallel ranks stop together, after the first step in which any rank was signalled.
        if (parallel ? any_rank_interrupted : interrupt_requested()) {
            if (writer) save_checkpoint(checkpoint_path, config, trainer, done, data.mean, data.std, record);
            throw Interrupted(describe_at("training interrupted", "after step " + std::to_string(done),
                                       (writer ? "checkpoint written to " : "rank 0 wrote the checkpoint ") +
                                           checkpoint_path,
                                       "continue with --resume " + checkpoint_path));
        }
    }
    progress.finish(history.empty() ? "" : "loss " + format_short(history.last_train()));

    if (writer) {
        log_verbose("[3/3] writing " + o.common.output);
        write_trained_model(o.common.output, config, trainer, data.mean, data.std, history);
    }
    log_summary(std::to_string(total) + " steps");
}

}  // namespace

}  // namespace scorekit
