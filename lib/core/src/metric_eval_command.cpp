#include "scorekit/metric_eval_command.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

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

// One per-point output and how to compute it for a chunk of points.
struct PointOutput {
    OutputBlock block;
    std::function<RowMatrix(const MetricPoints& points, Eigen::Index begin, Eigen::Index count)> compute;
};

std::vector<OutputBlock> point_outputs(const MetricEvalCommandOptions& o, const ScoreMetric& metric,
                                       const ScoreModel& model) {
    const std::string source = o.input.empty() ? "-" : o.input;
    // Points omitted are read from standard input, which an explicit "-" elsewhere then shares.
    check_distinct_files({}, {{"input", source}, {"--vectors", o.vectors}, {"--vectors2", o.vectors2},
                              {"--curves", o.curves}});
    const RowMatrix x = read_points(source, model.dim()).values;
    const Eigen::Index n = x.rows(), d = model.dim();
    const RowMatrix v = o.vectors.empty() ? RowMatrix() : read_vectors(o.vectors, model, n);
    const RowMatrix w = o.vectors2.empty() ? RowMatrix() : read_vectors(o.vectors2, model, n);

    std::vector<PointOutput> outputs;
    auto add = [&](const std::string& name, std::vector<std::int64_t> shape, std::vector<std::string> columns,
                   auto compute) {
        const Eigen::Index width = static_cast<Eigen::Index>(columns.size());
        outputs.push_back({{name, RowMatrix(n, width), std::move(shape), std::move(columns)}, compute});
    };
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
            return RowMatrix(metric.squared_norms(p, rows_of(v, begin, count)).cwiseSqrt());
        });
    }
    if (!o.vectors2.empty()) {
        add("inner", {n}, {"inner"}, [&](const MetricPoints& p, Eigen::Index begin, Eigen::Index count) {
            return RowMatrix(metric.inner_products(p, rows_of(v, begin, count), rows_of(w, begin, count)));
        });
    }

    const Eigen::Index chunk = chunk_rows(d);
    for (Eigen::Index begin = 0; begin < n; begin += chunk) {
        const Eigen::Index count = std::min(chunk, n - begin);
        const RowMatrix rows = rows_of(x, begin, count);
        const MetricPoints points(metric, rows);
        check_scores(points.scores(), source, begin);
        // Logged once the first chunk passed, so that bad input in it gives only the error line.
        if (begin == 0) {
            log_info("evaluating the " + to_string(metric.kind()) + " metric at " + std::to_string(n) + " points");
        }
        for (PointOutput& output : outputs) {
            output.block.values.middleRows(begin, count) = output.compute(points, begin, count);
        }
    }

    std::vector<OutputBlock> blocks;
    for (PointOutput& output : outputs) blocks.push_back(std::move(output.block));
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

// Writes the blocks side by side. A single block is written as it is, with no second copy of
// the results. Several blocks are freed one by one as they are copied into the table.
void write_text(const std::string& spec, std::vector<OutputBlock> blocks) {
    Eigen::Index columns = 0;
    std::vector<std::string> names;
    for (const auto& block : blocks) {
        columns += block.values.cols();
        names.insert(names.end(), block.columns.begin(), block.columns.end());
    }
    if (blocks.size() == 1) {
        write_points(spec, blocks.front().values, names);
        return;
    }
    RowMatrix table(blocks.front().values.rows(), columns);
    Eigen::Index offset = 0;
    for (auto& block : blocks) {
        table.middleCols(offset, block.values.cols()) = block.values;
        offset += block.values.cols();
        block.values = RowMatrix();
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
    // Checked before the points are read, because the failure is in the options, not the data.
    if (settings.kind == MetricKind::outer && o.inverse) {
        throw UsageError(describe("invalid option", "--inverse",
                                  "the outer metric g = s s^T has rank one, so metric-eval writes no inverse for it",
                                  "drop --inverse, or use --metric stein, conformal or pullback"));
    }
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
    const Eigen::Index rows = blocks.front().values.rows();
    if (hdf5) {
        write_hdf5(locate_points(o.common.output, "/metric", true).path, blocks, o, metric);
    } else {
        write_text(o.common.output, std::move(blocks));
    }
    log_summary(std::to_string(rows) + (points ? " points" : " curves"));
}

}  // namespace scorekit
