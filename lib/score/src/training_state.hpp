// Training configuration, checkpoints and the final model file of score-train (private).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dsm_trainer.hpp"
#include "scorekit/score_train.hpp"

namespace scorekit {

// Everything that determines the result of a run; a checkpoint records it, and --resume
// accepts the checkpoint only if the new run's configuration is identical.
struct TrainingConfig {
    std::int64_t dim = 0, width = 0, depth = 0, levels = 0, batch_size = 0, total_steps = 0, warmup = 0;
    std::string activation, lr_schedule;
    double sigma_max = 0, sigma_min = 0, learning_rate = 0, beta1 = 0, beta2 = 0, adam_eps = 0, ema = 0,
           val_fraction = 0;
    std::uint64_t seed = 0, data_checksum = 0;
};

TrainingConfig make_training_config(const ScoreTrainOptions& options, int dim, std::uint64_t data_checksum);

// One "name value" line per field of `config`, in a fixed order (for comparing ranks).
std::string config_lines(TrainingConfig config);
std::vector<double> geometric_sigmas(const TrainingConfig& config);

// Losses logged during training: step, mean training loss since the last entry, validation loss.
class TrainingLog {
public:
    void add(std::int64_t step, double train, double validation);
    bool empty() const { return rows_.empty(); }
    bool has_validation() const;
    double last_train() const { return rows_.back()[1]; }
    double last_validation() const { return rows_.back()[2]; }
    const std::vector<std::vector<double>>& rows() const { return rows_; }

private:
    std::vector<std::vector<double>> rows_;
};

// The loss log so far and the training losses summed since its last entry. A checkpoint stores
// both, so that a resumed run logs the same rows and means as an uninterrupted one.
struct TrainingProgress {
    TrainingLog log;
    double loss_sum = 0;
    std::int64_t loss_count = 0;
};

void save_checkpoint(const std::string& path, const TrainingConfig& config, DsmTrainer& trainer, std::int64_t step,
                     const Vector& mean, const Vector& std, const TrainingProgress& progress);

// Restores the trainer and the progress and returns the completed step count. Throws
// UsageError naming the first setting that differs from the checkpoint, and Error for an
// unreadable file.
std::int64_t load_checkpoint(const std::string& path, const TrainingConfig& config, DsmTrainer& trainer,
                             TrainingProgress& progress);

void write_trained_model(const std::string& path, const TrainingConfig& config, DsmTrainer& trainer,
                         const Vector& mean, const Vector& std, const TrainingLog& log);

}  // namespace scorekit
