#include "scorekit/metric_eval_command.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "metric_eval_checkpoint.hpp"
#include "metric_eval_output.hpp"
#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"
#include "scorekit/metric_curves.hpp"
#include "scorekit/points.hpp"
#include "scorekit/signals.hpp"

namespace scorekit {
namespace {

std::vector<std::string> numbered(const std::string& prefix, Eigen::Index count) {
    std::vector<std::string> names;
    for (Eigen::Index j = 1; j <= count; ++j) names.push_back(prefix + std::to_string(j));
    return names;
}

std::vector<std::string> matrix_entries(const std::string& prefix, Eigen::Index d) {
    std::vector<std::string> names;
    for (Eigen::Index a = 1; a <= d; ++a) {
        for (Eigen::Index b = 1; b <= d; ++b) names.push_back(prefix + std::to_string(a) + "_" + std::to_string(b));
    }
    return names;
}

// Rejects points where the score is not finite, which happens outside a density's support.
// `first_row` is the row of scores(0) in `source`, counted from 0.
void check_scores(const RowMatrix& scores, const std::string& source, Eigen::Index first_row = 0) {
    for (Eigen::Index i = 0; i < scores.rows(); ++i) {
        if (!scores.row(i).allFinite()) {
            // Rows of an HDF5 dataset count from 0, as h5py counts them. Text rows count data rows
            // from 1, without the header and comments.
            const bool hdf5 = source != "-" && locate_points(source).hdf5;
            const std::string row = hdf5 ? std::to_string(first_row + i) + " (from 0)"
                                         : std::to_string(first_row + i + 1) + " (from 1)";
            throw Error(describe("cannot evaluate metric", source + " row " + row,
                                 "the score is not finite there (outside the model's support?)",
                                 "remove the point or use a model that covers it"));
        }
    }
}

RowMatrix read_vectors(const std::string& spec, const ScoreModel& model, Eigen::Index rows) {
    RowMatrix vectors = read_points(spec, model.dim()).values;
    if (vectors.rows() != rows) {
        throw Error(describe("invalid vectors", spec,
                             std::to_string(vectors.rows()) + " vectors for " + std::to_string(rows) + " points",
                             "give one vector per point"));
    }
    return vectors;
}

// Points evaluated together: enough for the model's batches, few enough that the D x D values of
// one chunk (the pullback Jacobians, tensors) take about 64 MiB whatever the number of points.
Eigen::Index chunk_rows(Eigen::Index d) {
    constexpr Eigen::Index kChunkBytes = Eigen::Index{64} << 20;
    return std::max<Eigen::Index>(16, kChunkBytes / (3 * 8 * d * d + 64 * d));
}

// The inputs of the per-point outputs.
struct PointInputs {
    std::string source;  // the points' file; "-" is standard input
    RowMatrix x;         // points
    RowMatrix v, w;      // tangent vectors of --vectors and --vectors2; empty without them
};

PointInputs read_point_inputs(const MetricEvalCommandOptions& o, const ScoreModel& model) {
    PointInputs in;
    in.source = o.input.empty() ? "-" : o.input;
    in.x = read_points(in.source, model.dim()).values;
    if (!o.vectors.empty()) in.v = read_vectors(o.vectors, model, in.x.rows());
    if (!o.vectors2.empty()) in.w = read_vectors(o.vectors2, model, in.x.rows());
    return in;
}

// One per-point output and how to compute it for a chunk of points.
struct PointOutput {
    OutputBlock block;
    std::function<RowMatrix(const MetricPoints& points, Eigen::Index begin, Eigen::Index count)> compute;
};

// The requested per-point outputs. The functions keep references to `metric` and `in`.
std::vector<PointOutput> point_outputs(const MetricEvalCommandOptions& o, const ScoreMetric& metric,
                                       const PointInputs& in) {
    const Eigen::Index n = in.x.rows(), d = metric.dim();
    std::vector<PointOutput> outputs;
    auto add = [&](const std::string& name, std::vector<std::int64_t> shape, std::vector<std::string> columns,
                   auto compute) { outputs.push_back({{name, std::move(shape), std::move(columns)}, compute}); };
    auto rows_of = [](const RowMatrix& m, Eigen::Index begin, Eigen::Index count) {
        return RowMatrix(m.middleRows(begin, count));
    };
    const bool only_default = !o.score && !o.tensor && !o.inverse && !o.eigenvalues && !o.volume && o.vectors.empty();
    if (o.score) {
        add("score", {n, d}, numbered("s", d),
            [](const MetricPoints& p, Eigen::Index, Eigen::Index) { return p.scores(); });
    }
    if (o.tensor) {
        add("metric", {n, d, d}, matrix_entries("g", d),
            [&](const MetricPoints& p, Eigen::Index, Eigen::Index) { return metric.tensors(p); });
    }
    if (o.inverse) {
        add("metric_inverse", {n, d, d}, matrix_entries("ginv", d),
            [&](const MetricPoints& p, Eigen::Index, Eigen::Index) { return metric.inverse_tensors(p); });
    }
    if (o.log_determinant || only_default) {
        add("logdet", {n}, {"logdet"},
            [&](const MetricPoints& p, Eigen::Index, Eigen::Index) { return RowMatrix(metric.log_determinants(p)); });
    }
    if (o.eigenvalues) {
        add("eigenvalues", {n, d}, numbered("eig", d),
            [&](const MetricPoints& p, Eigen::Index, Eigen::Index) { return metric.eigenvalues(p); });
    }
    if (o.volume) {
        add("volume", {n}, {"volume"},
            [&](const MetricPoints& p, Eigen::Index, Eigen::Index) { return RowMatrix(metric.volume_elements(p)); });
    }
    if (!o.vectors.empty()) {
        add("norm", {n}, {"norm"}, [&](const MetricPoints& p, Eigen::Index begin, Eigen::Index count) {
            return RowMatrix(metric.squared_norms(p, rows_of(in.v, begin, count)).cwiseSqrt());
        });
    }
    if (!o.vectors2.empty()) {
        add("inner", {n}, {"inner"}, [&](const MetricPoints& p, Eigen::Index begin, Eigen::Index count) {
            return RowMatrix(metric.inner_products(p, rows_of(in.v, begin, count), rows_of(in.w, begin, count)));
        });
    }
    return outputs;
}

std::vector<OutputBlock> blocks_of(const std::vector<PointOutput>& outputs) {
    std::vector<OutputBlock> blocks;
    for (const PointOutput& output : outputs) blocks.push_back(output.block);
    return blocks;
}

// The checkpoints of a run over the points of `in`: --checkpoint, else OUTPUT.ckpt for a file
// output, else the --resume file. A run of one chunk writes none, because it stops only once
// everything is evaluated.
PointCheckpointPlan checkpoint_plan(const MetricEvalCommandOptions& o, const ScoreMetric& metric,
                                    const PointInputs& in, const std::vector<OutputBlock>& blocks, Eigen::Index chunk) {
    PointCheckpointPlan plan;
    plan.resume = o.resume;
    plan.every = o.checkpoint_every;
    plan.points = in.x.rows();
    plan.inputs = {&in.x, &in.v, &in.w};
    std::string outputs;
    for (const OutputBlock& block : blocks) outputs += (outputs.empty() ? "" : ",") + block.name;
    plan.settings = metric_checkpoint_settings(o.model, metric);
    plan.settings.emplace_back("outputs", outputs);
    if (!o.checkpoint.empty()) {
        plan.path = o.checkpoint;
    } else if (o.common.output != "-") {
        plan.path = o.common.output + ".ckpt";
    } else if (!o.resume.empty()) {
        // A run resumed onto standard output keeps checkpointing to the file it resumed from, and
        // removes it once done, as a file output does with OUTPUT.ckpt.
        plan.path = o.resume;
    }
    if (plan.path.empty() || plan.points <= chunk) {
        plan.path.clear();
        return plan;
    }
    check_distinct_files({{"--checkpoint", plan.path}, {"--output", o.common.output}},
                         {{"--model", o.model}, {"input", o.input}, {"--vectors", o.vectors},
                          {"--vectors2", o.vectors2}, {"--curves", o.curves}});
    check_output_writable(plan.path, "--checkpoint");
    return plan;
}

// Evaluates the points of `in` chunk by chunk from row `done` on, after copying the first
// `done` rows from plan.resume, and passes each chunk's rows to `write`. Checkpoints are made
// from `written`, which reads back the rows written so far.
void evaluate_points(const ScoreMetric& metric, const PointInputs& in, const std::vector<PointOutput>& outputs,
                     PointCheckpointPlan& plan, Eigen::Index done, const RowVisitor& write, const RowSource& written) {
    const Eigen::Index n = in.x.rows(), chunk = chunk_rows(metric.dim());
    const std::vector<OutputBlock> blocks = blocks_of(outputs);
    if (!plan.path.empty()) catch_interrupts();
    if (done > 0) {
        log_info("resuming from " + plan.resume + ": " + std::to_string(done) + " of " + std::to_string(n) +
                 " points already evaluated");
        copy_resumed_rows(plan, blocks, done, chunk, write);
    }
    // At -v only: a point outside the support in a later chunk is found after this line, and an
    // error at default verbosity is one line.
    const Eigen::Index chunks = (n + chunk - 1) / chunk;
    log_verbose("evaluating the " + to_string(metric.kind()) + " metric at " + std::to_string(n) + " points, in " +
                std::to_string(chunks) + (chunks == 1 ? " chunk" : " chunks") + " of up to " + std::to_string(chunk) +
                " points");

    const auto save_and_stop = [&](Eigen::Index finished) {
        write_point_checkpoint(plan, blocks, written, finished, chunk);
        throw Interrupted(describe_at("metric evaluation interrupted",
                                      "after " + std::to_string(finished) + " of " + std::to_string(n) + " points",
                                      "checkpoint written to " + plan.path, "continue with --resume " + plan.path));
    };
    Eigen::Index saved = done;
    for (Eigen::Index begin = done; begin < n; begin += chunk) {
        const Eigen::Index count = std::min(chunk, n - begin);
        const RowMatrix rows = in.x.middleRows(begin, count);
        const MetricPoints points(metric, rows);
        check_scores(points.scores(), in.source, begin);
        BlockRows values;
        for (const PointOutput& output : outputs) values.push_back(output.compute(points, begin, count));
        const Eigen::Index finished = begin + count;
        try {
            write(begin, values);
        } catch (const OutputPipeClosed&) {
            // Ctrl-C on `metric-eval | gzip` ends the reader too. The checkpoint reads the rows
            // back from the scratch copy, not from the pipe, so it can still be written.
            if (plan.path.empty() || finished == n || !interrupt_requested()) throw;
            save_and_stop(finished);
        }

        if (plan.path.empty() || finished == n) continue;
        if (interrupt_requested()) save_and_stop(finished);
        if (plan.every > 0 && finished - saved >= plan.every) {
            write_point_checkpoint(plan, blocks, written, finished, chunk);
            saved = finished;
        }
    }
}

// The length and energy of every curve, [C] each, after checking that the score is finite at
// every node.
BlockRows curve_values(const ScoreMetric& metric, const Polylines& curves, const std::string& source) {
    check_scores(metric.scores(curves.nodes), source);
    log_info("measuring " + std::to_string(curves.count()) + " curves under the " + to_string(metric.kind()) + " metric");
    CurveMeasures measures = measure_curves(metric, curves);
    return {RowMatrix(measures.lengths), RowMatrix(measures.energies)};
}

std::vector<OutputBlock> curve_blocks(Eigen::Index count) {
    return {{"curve_length", {count}, {"curve_length"}}, {"curve_energy", {count}, {"curve_energy"}}};
}

void write_settings(Hdf5Writer& file, const MetricEvalCommandOptions& o, const ScoreMetric& metric) {
    file.write_attribute("/", "model", o.model);
    file.write_attribute("/", "metric", to_string(metric.kind()));
    file.write_attribute("/", "lambda", metric.lambda());
    file.write_attribute("/", "beta", metric.beta());
    file.write_attribute("/", "sigma", metric.sigma());
}

// The inputs, outputs and checkpoints of one run.
struct Run {
    PointInputs in;
    std::vector<PointOutput> outputs;  // per point; empty for a run with only curves
    PointCheckpointPlan plan;
    Eigen::Index done = 0;             // points already evaluated in plan.resume
    Polylines curves;
    bool points = false;
    bool measure_curves = false;
};

// Writes one HDF5 file: the point datasets created at full size and filled chunk by chunk,
// then the curves, measured first so that a bad curve fails before the points are evaluated.
void write_hdf5(const MetricEvalCommandOptions& o, const ScoreMetric& metric, Run& run) {
    RowStore output(locate_points(o.common.output, "/metric", true).path, blocks_of(run.outputs));
    if (run.measure_curves) {
        const BlockRows values = curve_values(metric, run.curves, o.curves);
        const std::vector<OutputBlock> blocks = curve_blocks(run.curves.count());
        for (size_t k = 0; k < blocks.size(); ++k) {
            output.file().write_array("/" + blocks[k].name, blocks[k].shape, values[k].data());
        }
    }
    if (run.points) {
        evaluate_points(metric, run.in, run.outputs, run.plan, run.done,
                        [&](Eigen::Index first, const BlockRows& rows) { output.write(first, rows); }, output);
    }
    write_settings(output.file(), o, metric);
    output.file().commit();
}

// Writes text rows as they are computed, to a temporary file (see TextOutput). Checkpoints are
// made from the rows of that file, or for standard output from a scratch HDF5 copy of the rows
// beside the checkpoint, which goes with the run.
void write_text(const MetricEvalCommandOptions& o, const ScoreMetric& metric, Run& run) {
    if (!run.points) {
        TextOutput output(o.common.output, curve_blocks(run.curves.count()));
        output.write(curve_values(metric, run.curves, o.curves));
        output.commit();
        return;
    }
    const std::vector<OutputBlock> blocks = blocks_of(run.outputs);
    std::unique_ptr<RowStore> copy;
    if (!run.plan.path.empty() && o.common.output == "-") copy = std::make_unique<RowStore>(run.plan.path, blocks);
    // NOTE: a checkpointed run streams its rows to standard output, so one that fails in a later
    // chunk leaves the rows before it there. Others write nothing until every point is evaluated.
    TextOutput output(o.common.output, blocks, copy != nullptr);
    const RowSource& written = copy ? static_cast<const RowSource&>(*copy) : output;
    evaluate_points(metric, run.in, run.outputs, run.plan, run.done,
                    [&](Eigen::Index first, const BlockRows& rows) {
                        // The copy first, so that it contains the chunk even when standard output fails.
                        if (copy) copy->write(first, rows);
                        output.write(rows);
                    },
                    written);
    output.commit();
}

}  // namespace

void run_metric_eval(const MetricEvalCommandOptions& o, const ScoreModel& model) {
    check_no_dataset(o.common.output, "--output");
    check_checkpoint_names(o.checkpoint, o.resume);
    check_distinct_files({{"--output", o.common.output}}, {{"--model", o.model}, {"input", o.input},
                                                          {"--vectors", o.vectors}, {"--vectors2", o.vectors2},
                                                          {"--curves", o.curves}});
    model.require_dimension(o.model);
    MetricOptions settings = o.settings;
    settings.kind = parse_metric_kind(o.metric);
    check_metric_support(model, settings.kind, o.model);
    ScoreMetric metric(model, settings);
    // Checked before the points are read, because the failure is in the options, not the data.
    if (settings.kind == MetricKind::outer && o.inverse) {
        throw UsageError(describe("invalid option", "--inverse",
                                  "the outer metric g = s s^T has rank one, so metric-eval writes no inverse for it",
                                  "drop --inverse, or use --metric stein, conformal or pullback"));
    }
    if (!o.vectors2.empty() && o.vectors.empty()) {
        throw UsageError(describe("invalid option", "--vectors2", "it needs --vectors", "give both vector files"));
    }
    if (o.checkpoint_every < 0) {
        throw UsageError(describe("invalid --checkpoint-every", std::to_string(o.checkpoint_every), "must be >= 0"));
    }
    Run run;
    const bool point_flags = o.score || o.tensor || o.inverse || o.log_determinant || o.eigenvalues || o.volume ||
                             !o.vectors.empty();
    run.points = point_flags || !o.input.empty() || o.curves.empty();
    run.measure_curves = !o.curves.empty();
    const bool hdf5 = locate_points(o.common.output, "/metric", true).hdf5;
    if (run.points && run.measure_curves && !hdf5) {
        throw UsageError(describe("invalid output", o.common.output,
                                  "text output has either one row per point or one row per curve",
                                  "write HDF5 (-o out.h5) for both, or run twice"));
    }

    // Points omitted are read from standard input, which an explicit "-" elsewhere then shares.
    if (run.points) {
        check_distinct_files({}, {{"input", o.input.empty() ? "-" : o.input}, {"--vectors", o.vectors},
                                  {"--vectors2", o.vectors2}, {"--curves", o.curves}});
    }

    // Every input is read, and --resume checked, before any output is written.
    if (run.measure_curves) run.curves = read_polylines(o.curves, metric.dim());
    if (run.points) {
        run.in = read_point_inputs(o, model);
        run.outputs = point_outputs(o, metric, run.in);
        const std::vector<OutputBlock> blocks = blocks_of(run.outputs);
        run.plan = checkpoint_plan(o, metric, run.in, blocks, chunk_rows(metric.dim()));
        run.done = check_point_resume(run.plan, blocks);
    }
    if (hdf5) {
        write_hdf5(o, metric, run);
    } else {
        write_text(o, metric, run);
    }
    if (run.points) remove_finished_checkpoint(run.plan.path, run.plan.written, run.plan.resume);
    log_summary(run.points ? std::to_string(run.in.x.rows()) + " points" : std::to_string(run.curves.count()) + " curves");
}

}  // namespace scorekit
