#include "scorekit/metric_curves.hpp"

#include "scorekit/error.hpp"

namespace scorekit {

CurveMeasures measure_curves(const ScoreMetric& metric, const Polylines& curves) {
    const Eigen::Index count = curves.count();
    const Eigen::Index d = curves.nodes.cols();
    const bool timed = curves.times.size() > 0;
    Eigen::Index segments = 0;
    for (Eigen::Index c = 0; c < count; ++c) {
        Eigen::Index nodes = curves.offsets[c + 1] - curves.offsets[c];
        if (nodes < 2) {
            throw Error(describe_at("invalid curve", "number " + std::to_string(c), "it has fewer than two nodes",
                                 "give at least the two end points"));
        }
        segments += nodes - 1;
    }

    RowMatrix midpoints(segments, d), steps(segments, d);
    Vector dt(segments);
    Eigen::Index row = 0;
    for (Eigen::Index c = 0; c < count; ++c) {
        const Eigen::Index first = curves.offsets[c], nodes = curves.offsets[c + 1] - first;
        for (Eigen::Index i = 0; i + 1 < nodes; ++i, ++row) {
            midpoints.row(row) = 0.5 * (curves.nodes.row(first + i) + curves.nodes.row(first + i + 1));
            steps.row(row) = curves.nodes.row(first + i + 1) - curves.nodes.row(first + i);
            dt(row) = timed ? curves.times(first + i + 1) - curves.times(first + i) : 1.0 / static_cast<double>(nodes - 1);
            if (!(dt(row) > 0)) {
                throw Error(describe_at("invalid curve", "number " + std::to_string(c),
                                     "parameter t does not increase at node " + std::to_string(i + 1),
                                     "list the nodes in order of increasing t"));
            }
        }
    }

    Vector quadratic = metric.squared_norms(midpoints, steps);
    CurveMeasures result{Vector::Zero(count), Vector::Zero(count)};
    row = 0;
    for (Eigen::Index c = 0; c < count; ++c) {
        const Eigen::Index nodes = curves.offsets[c + 1] - curves.offsets[c];
        for (Eigen::Index i = 0; i + 1 < nodes; ++i, ++row) {
            result.lengths(c) += std::sqrt(quadratic(row));
            result.energies(c) += quadratic(row) / dt(row);
        }
    }
    return result;
}

}  // namespace scorekit
