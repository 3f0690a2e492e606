#include "scorekit/metric_eval_command.hpp"

#include <cmath>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"
#include "scorekit/metric_curves.hpp"
#include "scorekit/points.hpp"

namespace scorekit {
namespace {

// Named output blocks, written as HDF5 datasets or as adjacent text columns.
struct OutputBlock {
    std::string name;                  // dataset name and text column prefix
    RowMatrix values;                  // [rows, columns]
    std::vector<std::int64_t> shape;   // HDF5 shape; rank 3 for per-point tensors
    std::vector<std::string> columns;  // text column names
};

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

OutputBlock column_block(const std::string& name, const Vector& values) {
    return {name, values, {values.size()}, {name}};
}

// Rejects points where the score is not finite, which happens outside a density's support.
void check_scores(const RowMatrix& scores, const std::string& source) {
    for (Eigen::Index i = 0; i < scores.rows(); ++i) {
        if (!scores.row(i).allFinite()) {
            throw Error(describe("cannot evaluate metric", source + " row " + std::to_string(i + 1),
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

std::vector<OutputBlock> point_outputs(const MetricEvalCommandOptions& o, const ScoreMetric& metric,
                                       const ScoreModel& model) {
    const std::string source = o.input.empty() ? "-" : o.input;
    RowMatrix x = read_points(source, model.dim()).values;
    const Eigen::Index n = x.rows(), d = model.dim();
    const MetricPoints points(metric, x);
    const RowMatrix& scores = points.scores();
    check_scores(scores, source);
    log_info("evaluating the " + to_string(metric.kind()) + " metric at " + std::to_string(n) + " points");

    const bool only_default = !o.score && !o.tensor && !o.inverse && !o.eigenvalues && !o.volume && o.vectors.empty();
    std::vector<OutputBlock> blocks;
    if (o.score) blocks.push_back({"score", scores, {n, d}, numbered("s", d)});
    if (o.tensor) blocks.push_back({"metric", metric.tensors(points), {n, d, d}, matrix_entries("g", d)});
    if (o.inverse) blocks.push_back({"metric_inverse", metric.inverse_tensors(points), {n, d, d}, matrix_entries("ginv", d)});
    if (o.log_determinant || only_default) blocks.push_back(column_block("logdet", metric.log_determinants(points)));
    if (o.eigenvalues) blocks.push_back({"eigenvalues", metric.eigenvalues(points), {n, d}, numbered("eig", d)});
    if (o.volume) blocks.push_back(column_block("volume", metric.volume_elements(points)));
    if (!o.vectors.empty()) {
        RowMatrix v = read_vectors(o.vectors, model, n);
        blocks.push_back(column_block("norm", metric.squared_norms(points, v).cwiseSqrt()));
        if (!o.vectors2.empty()) {
            RowMatrix w = read_vectors(o.vectors2, model, n);
            blocks.push_back(column_block("inner", metric.inner_products(points, v, w)));
        }
    }
    return blocks;
}

std::vector<OutputBlock> curve_outputs(const MetricEvalCommandOptions& o, const ScoreMetric& metric) {
    Polylines curves = read_polylines(o.curves, metric.dim());
    check_scores(metric.scores(curves.nodes), o.curves);
    log_info("measuring " + std::to_string(curves.count()) + " curves under the " + to_string(metric.kind()) + " metric");
    CurveMeasures measures = measure_curves(metric, curves);
    return {column_block("curve_length", measures.lengths), column_block("curve_energy", measures.energies)};
}

void write_hdf5(const std::string& path, const std::vector<OutputBlock>& blocks, const MetricEvalCommandOptions& o,
                const ScoreMetric& metric) {
    Hdf5Writer file(path);
    for (const auto& block : blocks) file.write_array("/" + block.name, block.shape, block.values.data());
    file.write_attribute("/", "model", o.model);
    file.write_attribute("/", "metric", to_string(metric.kind()));
    file.write_attribute("/", "lambda", metric.lambda());
    file.write_attribute("/", "beta", metric.beta());
    file.write_attribute("/", "sigma", metric.sigma());
    file.commit();
}

void write_text(const std::string& spec, const std::vector<OutputBlock>& blocks) {
    Eigen::Index columns = 0;
    std::vector<std::string> names;
    for (const auto& block : blocks) {
        columns += block.values.cols();
        names.insert(names.end(), block.columns.begin(), block.columns.end());
    }
    RowMatrix table(blocks.front().values.rows(), columns);
    Eigen::Index offset = 0;
    for (const auto& block : blocks) {
        table.middleCols(offset, block.values.cols()) = block.values;
        offset += block.values.cols();
    }
    write_points(spec, table, names);
}

}  // namespace

void run_metric_eval(const MetricEvalCommandOptions& o, const ScoreModel& model) {
    check_no_dataset(o.common.output, "--output");
    check_distinct_files({{"--output", o.common.output}}, {{"--model", o.model}, {"input", o.input},
                                                          {"--vectors", o.vectors}, {"--vectors2", o.vectors2},
                                                          {"--curves", o.curves}});
    model.require_dimension(o.model);
    MetricOptions settings = o.settings;
    settings.kind = parse_metric_kind(o.metric);
    ScoreMetric metric(model, settings);
    if (!o.vectors2.empty() && o.vectors.empty()) {
        throw UsageError(describe("invalid option", "--vectors2", "it needs --vectors", "give both vector files"));
    }
    const bool point_flags = o.score || o.tensor || o.inverse || o.log_determinant || o.eigenvalues || o.volume ||
                             !o.vectors.empty();
    const bool points = point_flags || !o.input.empty() || o.curves.empty();
    const bool hdf5 = locate_points(o.common.output, "/metric", true).hdf5;
    if (points && !o.curves.empty() && !hdf5) {
        throw UsageError(describe("invalid output", o.common.output,
                                  "text output has either one row per point or one row per curve",
                                  "write HDF5 (-o out.h5) for both, or run twice"));
    }

    std::vector<OutputBlock> blocks;
    if (points) blocks = point_outputs(o, metric, model);
    if (!o.curves.empty()) {
        std::vector<OutputBlock> curves = curve_outputs(o, metric);
        blocks.insert(blocks.end(), curves.begin(), curves.end());
    }
    if (hdf5) {
        write_hdf5(locate_points(o.common.output, "/metric", true).path, blocks, o, metric);
    } else {
        write_text(o.common.output, blocks);
    }
    log_summary(std::to_string(blocks.front().values.rows()) + (points ? " points" : " curves"));
}

}  // namespace scorekit
