// The metric-eval tool: evaluates a score metric (metric.hpp) at points, on tangent vectors and
// along polylines, and writes the chosen outputs.
#pragma once

#include <cstdint>
#include <string>

#include "scorekit/cli.hpp"
#include "scorekit/metric.hpp"

namespace scorekit {

struct MetricEvalCommandOptions {
    std::string model;
    std::string input;     // points; empty reads standard input unless only curves are requested
    std::string metric = "stein";
    MetricOptions settings;  // kind is set from `metric`
    // Per-point outputs; with none chosen, log det g is written.
    bool score = false;
    bool tensor = false;
    bool inverse = false;
    bool log_determinant = false;
    bool eigenvalues = false;
    bool volume = false;
    std::string vectors;   // tangent vectors, one per point: writes |v|_g
    std::string vectors2;  // second vectors: writes <v, w>_g
    std::string curves;    // polylines: writes length and energy per curve
    // Checkpoints of runs over more than one chunk of points: the file (empty: OUTPUT.ckpt where
    // the output is a file, else the --resume file), points between checkpoints (0: only on
    // SIGINT, SIGTERM or SIGHUP), and the checkpoint to continue from.
    std::string checkpoint;
    std::int64_t checkpoint_every = 0;
    std::string resume;
    CommonOptions common;
};

// Reads the inputs, evaluates the metric of `model` and writes the outputs to
// options.common.output: HDF5 with one dataset per output, or tab-separated text with a header
// line. Text output contains either per-point rows or per-curve rows, so both at once need HDF5.
// Points are evaluated and written chunk by chunk, so memory contains the inputs and one chunk of
// results. With checkpoints, SIGINT, SIGTERM and SIGHUP stop the run after the current chunk with
// a checkpoint and Interrupted; options.resume continues it with the results of an
// uninterrupted run.
void run_metric_eval(const MetricEvalCommandOptions& options, const ScoreModel& model);

}  // namespace scorekit
