// The metric-eval tool: evaluates a score metric (metric.hpp) at points, on tangent vectors and
// along polylines, and writes the chosen outputs.
#pragma once

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
    CommonOptions common;
};

// Reads the inputs, evaluates the metric of `model` and writes the outputs to
// options.common.output: HDF5 with one dataset per output, or tab-separated text with a header
// line. Text output contains either per-point rows or per-curve rows, so both at once need HDF5.
void run_metric_eval(const MetricEvalCommandOptions& options, const ScoreModel& model);

}  // namespace scorekit
