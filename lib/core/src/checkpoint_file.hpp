// Internal: what the checkpoints of long runs (geodesic, langevin) share: the settings that
// decide a run's results, stored as attributes and compared on --resume.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "scorekit/hdf5_file.hpp"
#include "scorekit/matrix.hpp"

namespace scorekit {

class ScoreMetric;

// (name, value) of each option that decides the results, values as exact text.
using CheckpointSettings = std::vector<std::pair<std::string, std::string>>;

// A double as the shortest text (at most 17 significant digits) that reads back to the same value.
std::string exact_text(double value);

// FNV-1a over the bytes of the matrices, as 16 hex digits, so that a checkpoint is used only
// with the data it was written for.
std::string checksum_text(const std::vector<const RowMatrix*>& matrices);

// The model as a checkpoint compares it: the spec of an analytic model, or "a model file" for a
// file, which model_checksum_text compares by contents, so that another spelling of its path
// (./model.h5) resumes the run too.
std::string model_identity_text(const std::string& model);

// FNV-1a over the bytes of the model file `model`, as 16 hex digits, so that a model retrained
// under the same name is not mixed with the checkpoint of the old one; "none" when `model` is
// not a readable regular file (an analytic specification such as gaussian:mean=0;cov=1).
std::string model_checksum_text(const std::string& model);

// Throws Error naming the checkpoint `path` when it exists but is not an HDF5 file, with a hint
// to give a checkpoint that `tool` wrote, where Hdf5Reader's hint is about point files.
void check_checkpoint_format(const std::string& path, const std::string& tool);

void write_checkpoint_settings(Hdf5Writer& file, const std::string& group, const CheckpointSettings& settings);

// The settings that decide a metric's values at a point: the model file (identity and
// checksum), the metric's kind and its parameters.
CheckpointSettings metric_checkpoint_settings(const std::string& model, const ScoreMetric& metric);

// The first setting whose value differs from the one stored under `group`, as "NAME is X but
// the checkpoint has Y"; empty when all agree.
std::string checkpoint_settings_mismatch(const Hdf5Reader& file, const std::string& group,
                                         const CheckpointSettings& settings);

// Writes the revision of a tool's results into a checkpoint. A tool raises its revision when a
// change (another integrator, say) makes a resumed run differ from the build that wrote the
// checkpoint. Such a checkpoint is then rejected instead of mixed into the output. Checkpoints
// written before revisions were recorded count as revision 1. The build's version goes along,
// for the error message.
void write_results_revision(Hdf5Writer& file, const std::string& group, int revision);

// Throws Error naming the checkpoint `path` when its results revision is not `revision`.
void check_results_revision(const Hdf5Reader& file, const std::string& group, int revision, const std::string& path);

// Removes the checkpoint `path` of a finished run when the run wrote it or resumed from it:
// the results it held are in the output now. Returns whether the checkpoint was this run's.
bool remove_finished_checkpoint(const std::string& path, bool written, const std::string& resume);

}  // namespace scorekit
