#include "training_state.hpp"

#include <cmath>

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/langevin.hpp"
#include "scorekit/mlp_score.hpp"

#include "checkpoint_file.hpp"

namespace scorekit {
namespace {

// Raise it when a change alters the results of a resumed run (see write_results_revision).
constexpr int kResultsRevision = 1;

// One table drives writing, reading and comparing the configuration, so the three cannot drift.
template <typename Visitor>
void visit_config(TrainingConfig& c, Visitor&& visit) {
    visit("dim", c.dim);
    visit("width", c.width);
    visit("depth", c.depth);
    visit("levels", c.levels);
    visit("batch_size", c.batch_size);
    visit("total_steps", c.total_steps);
    visit("warmup", c.warmup);
    visit("activation", c.activation);
    visit("lr_schedule", c.lr_schedule);
    visit("sigma_max", c.sigma_max);
    visit("sigma_min", c.sigma_min);
    visit("learning_rate", c.learning_rate);
    visit("beta1", c.beta1);
    visit("beta2", c.beta2);
    visit("adam_eps", c.adam_eps);
    visit("ema", c.ema);
    visit("val_fraction", c.val_fraction);
    visit("seed", c.seed);
    visit("data_checksum", c.data_checksum);
}

void write_config(Hdf5Writer& file, const std::string& group, TrainingConfig config) {
    visit_config(config, [&](const char* name, auto& value) {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::string>) file.write_attribute(group, name, value);
        else if constexpr (std::is_same_v<T, double>) file.write_attribute(group, name, value);
        else if constexpr (std::is_same_v<T, std::uint64_t>) file.write_attribute(group, name, std::to_string(value));
        else file.write_attribute(group, name, static_cast<std::int64_t>(value));
    });
}

TrainingConfig read_config(const Hdf5Reader& file, const std::string& group) {
    TrainingConfig config;
    visit_config(config, [&](const char* name, auto& value) {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::string>) value = file.read_string_attribute(group, name);
        else if constexpr (std::is_same_v<T, std::uint64_t>) value = std::stoull(file.read_string_attribute(group, name));
        else value = static_cast<T>(file.read_number_attribute(group, name));
    });
    return config;
}

std::string text_of(const std::string& v) { return v; }
std::string text_of(double v) { return format_number(v); }
template <typename T>
std::string text_of(T v) { return std::to_string(v); }

void write_flat(Hdf5Writer& file, const std::string& name, const torch::Tensor& flat) {
    torch::Tensor values = flat.to(torch::kFloat64).contiguous();
    file.write_array(name, {values.numel()}, values.data_ptr<double>(), true);
}

void read_flat(const Hdf5Reader& file, const std::string& name, torch::Tensor& flat) {
    Array array = file.read_array(name);
    if (static_cast<std::int64_t>(array.values.size()) != flat.numel()) {
        throw Error(describe("invalid checkpoint", file.path() + ":" + name, "wrong number of values",
                             "start the training again without --resume"));
    }
    flat.copy_(torch::tensor(array.values, torch::kFloat64).to(torch::kFloat32));
}

MlpScoreFile model_file(const TrainingConfig& config, DsmTrainer& trainer, const Vector& mean, const Vector& std) {
    MlpScoreFile model;
    model.parameters = trainer.parameters(true);
    model.sigmas = geometric_sigmas(config);
    model.data_mean = mean;
    model.data_std = std;
    return model;
}

void write_log(Hdf5Writer& file, const std::string& dataset, const TrainingLog& log) {
    std::vector<double> table;
    for (const auto& row : log.rows()) table.insert(table.end(), row.begin(), row.end());
    file.write_array(dataset, {static_cast<std::int64_t>(log.rows().size()), 3}, table.data());
    file.write_attribute(dataset, "columns", std::string("step\ttrain_loss\tvalidation_loss"));
}

// Checkpoints written before the log was stored lack it: the resumed log then starts at the
// checkpoint, as it did before.
void read_progress(const Hdf5Reader& file, TrainingProgress& progress) {
    progress = TrainingProgress();
    if (!file.exists("/checkpoint/log")) return;
    Array table = file.read_array("/checkpoint/log");
    if (table.shape.size() != 2 || table.shape[1] != 3) {
        throw Error(describe("invalid checkpoint", file.path() + ":/checkpoint/log", "expected 3 columns",
                             "start the training again without --resume"));
    }
    for (std::size_t row = 0; row + 2 < table.values.size(); row += 3) {
        progress.log.add(static_cast<std::int64_t>(table.values[row]), table.values[row + 1], table.values[row + 2]);
    }
    progress.loss_sum = file.read_number_attribute("/checkpoint", "loss_sum");
    progress.loss_count = static_cast<std::int64_t>(file.read_number_attribute("/checkpoint", "loss_count"));
}

}  // namespace

std::string config_lines(TrainingConfig config) {
    std::string lines;
    visit_config(config, [&](const char* name, auto& value) { lines += std::string(name) + " " + text_of(value) + "\n"; });
    return lines;
}

TrainingConfig make_training_config(const ScoreTrainOptions& o, int dim, std::uint64_t data_checksum) {
    TrainingConfig c;
    c.dim = dim;
    c.width = o.width;
    c.depth = o.depth;
    c.levels = o.levels;
    c.batch_size = o.batch_size;
    c.warmup = o.warmup;
    c.activation = o.activation;
    c.lr_schedule = o.lr_schedule;
    c.sigma_max = o.sigma_max;
    c.sigma_min = o.sigma_min;
    c.learning_rate = o.learning_rate;
    c.beta1 = o.beta1;
    c.beta2 = o.beta2;
    c.adam_eps = o.adam_eps;
    c.ema = o.ema;
    c.val_fraction = o.val_fraction;
    c.seed = o.common.seed;
    c.data_checksum = data_checksum;
    return c;
}

std::vector<double> geometric_sigmas(const TrainingConfig& config) {
    return geometric_levels(config.sigma_max, config.sigma_min, static_cast<int>(config.levels));
}

void TrainingLog::add(std::int64_t step, double train, double validation) {
    rows_.push_back({static_cast<double>(step), train, validation});
}

bool TrainingLog::has_validation() const { return !rows_.empty() && std::isfinite(rows_.back()[2]); }

void save_checkpoint(const std::string& path, const TrainingConfig& config, DsmTrainer& trainer, std::int64_t step,
                     const Vector& mean, const Vector& std, const TrainingProgress& progress) {
    Hdf5Writer file(path);
    write_mlp_model(file, model_file(config, trainer, mean, std));
    file.create_group("/checkpoint");
    write_config(file, "/checkpoint", config);
    write_results_revision(file, "/checkpoint", kResultsRevision);
    file.write_attribute("/checkpoint", "step", static_cast<std::int64_t>(step));
    write_flat(file, "/checkpoint/parameters", trainer.flat_parameters());
    write_flat(file, "/checkpoint/adam_m", trainer.adam_first_moment());
    write_flat(file, "/checkpoint/adam_v", trainer.adam_second_moment());
    if (trainer.has_average()) write_flat(file, "/checkpoint/ema", trainer.averaged_parameters());
    write_log(file, "/checkpoint/log", progress.log);
    file.write_attribute("/checkpoint", "loss_sum", progress.loss_sum);
    file.write_attribute("/checkpoint", "loss_count", progress.loss_count);
    file.commit();
}

std::int64_t load_checkpoint(const std::string& path, const TrainingConfig& config, DsmTrainer& trainer,
                             TrainingProgress& progress) {
    check_checkpoint_format(path, "score-train");
    Hdf5Reader file(path);
    if (!file.exists("/checkpoint")) {
        throw Error(describe("cannot resume from", path, "no /checkpoint group",
                             "give a checkpoint written by score-train (the .ckpt file)"));
    }
    check_results_revision(file, "/checkpoint", kResultsRevision, path);
    TrainingConfig saved = read_config(file, "/checkpoint");
    TrainingConfig wanted = config;
    std::string mismatch;
    std::vector<std::string> saved_values;
    visit_config(saved, [&](const char*, auto& value) { saved_values.push_back(text_of(value)); });
    // With a constant learning rate the step budget does not change any step's update, so a
    // resumed run may stop earlier or later than the interrupted one.
    const bool any_length = saved.lr_schedule == "constant" && wanted.lr_schedule == "constant";
    size_t index = 0;
    visit_config(wanted, [&](const char* name, auto& value) {
        std::string now = text_of(value);
        bool free = any_length && std::string(name) == "total_steps";
        if (mismatch.empty() && !free && now != saved_values[index]) {
            mismatch = std::string(name) + " is " + now + " but the checkpoint has " + saved_values[index];
        }
        ++index;
    });
    if (!mismatch.empty()) {
        throw UsageError(describe("cannot resume from", path, mismatch,
                                  "resume with the options and data of the interrupted run"));
    }
    read_flat(file, "/checkpoint/parameters", trainer.flat_parameters());
    read_flat(file, "/checkpoint/adam_m", trainer.adam_first_moment());
    read_flat(file, "/checkpoint/adam_v", trainer.adam_second_moment());
    if (trainer.has_average()) read_flat(file, "/checkpoint/ema", trainer.averaged_parameters());
    read_progress(file, progress);
    return static_cast<std::int64_t>(file.read_number_attribute("/checkpoint", "step"));
}

void write_trained_model(const std::string& path, const TrainingConfig& config, DsmTrainer& trainer,
                         const Vector& mean, const Vector& std, const TrainingLog& log) {
    Hdf5Writer file(path);
    write_mlp_model(file, model_file(config, trainer, mean, std));
    file.create_group("/training");
    write_config(file, "/training", config);
    file.write_attribute("/training", "weights", std::string(config.ema > 0 ? "exponential moving average" : "final"));
    write_log(file, "/training/log", log);
    file.commit();
}

}  // namespace scorekit
