// Internal: langevin checkpoints in HDF5, so that a run stopped by SIGINT, SIGTERM or a SLURM
// time limit continues with --resume and gives the samples of an uninterrupted run.
#pragma once

#include <string>

#include "checkpoint_file.hpp"
#include "scorekit/langevin.hpp"

namespace scorekit {

// Writes `state` and the run's settings to `path` (a temporary name, then renamed).
void write_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings, const LangevinState& state);

// Reads the state that `path` holds. Throws UsageError naming the first setting that differs
// from `settings`, and Error for a file that is not a langevin checkpoint.
LangevinState read_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings);

}  // namespace scorekit
