// Internal: langevin checkpoints in HDF5, so that a run stopped by SIGINT, SIGTERM or a SLURM
// time limit continues with --resume and gives the samples of an uninterrupted run.
#pragma once

#include <cstdint>
#include <string>

#include "checkpoint_file.hpp"
#include "scorekit/langevin.hpp"

namespace scorekit {

// The file next to checkpoint `path` that contains its kept samples: float64 rows in the byte order
// of the machine, appended at each checkpoint. The checkpoint names how many rows are valid.
std::string langevin_sample_file(const std::string& path);

// Writes `state` and the run's settings to `path` (a temporary name, then renamed). The kept
// samples go to langevin_sample_file(path), of which the first `sample_rows` rows are already
// written: only the rows after them are appended (and flushed before the checkpoint is renamed),
// so that a run's checkpoints write each sample once. Updates `sample_rows`.
void write_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings, const LangevinState& state,
                               std::int64_t& sample_rows);

// Reads the state that `path` holds, with the kept samples from its sample file (or from the
// checkpoint itself, as earlier versions wrote them). Throws UsageError naming the first setting
// that differs from `settings`, and Error for a file that is not a langevin checkpoint or a
// sample file shorter than the checkpoint records.
LangevinState read_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings);

// Removes the checkpoint `path` and its sample file once the output is written (see
// remove_finished_checkpoint).
void remove_finished_langevin_checkpoint(const std::string& path, bool written, const std::string& resume);

}  // namespace scorekit
