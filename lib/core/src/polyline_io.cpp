// Reading and writing polylines (curves given by their nodes) for metric-eval and geodesic.
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/metric_curves.hpp"
#include "scorekit/points.hpp"

namespace scorekit {
namespace {

Polylines from_table(const RowMatrix& table, const std::string& spec) {
    Polylines curves;
    const Eigen::Index d = table.cols() - 2;
    curves.nodes = table.rightCols(d);
    curves.times = table.col(1);
    for (Eigen::Index i = 0; i < table.rows(); ++i) {
        if (i == 0 || table(i, 0) != table(i - 1, 0)) curves.offsets.push_back(i);
    }
    curves.offsets.push_back(table.rows());
    if (curves.offsets.size() < 2) {
        throw Error(describe("invalid curves", spec, "no rows", "give rows `curve t x1 .. xD`"));
    }
    return curves;
}

}  // namespace

Polylines read_polylines(const std::string& spec, int dim) {
    PointLocation location = locate_points(spec, "/paths");
    if (location.hdf5) {
        Hdf5Reader file(location.path);
        Array array = file.read_array(location.dataset);
        if (array.shape.size() == 3) {
            const Eigen::Index count = array.shape[0], nodes = array.shape[1];
            if (array.shape[2] != dim) {
                throw Error(describe("invalid curves", spec,
                                     "points have dimension " + std::to_string(array.shape[2]) + ", the model has " +
                                         std::to_string(dim),
                                     "give curves in the model's space"));
            }
            Polylines curves;
            curves.nodes = Eigen::Map<const RowMatrix>(array.values.data(), count * nodes, dim);
            for (Eigen::Index c = 0; c <= count; ++c) curves.offsets.push_back(c * nodes);
            return curves;
        }
    }
    const std::string layout = "curve, t, then " + std::to_string(dim) + " coordinates for a model of dimension " +
                               std::to_string(dim);
    return from_table(read_points(spec, dim + 2, layout).values, spec);
}

void write_paths(const std::string& spec, const RowMatrix& paths, Eigen::Index count, Eigen::Index nodes,
                 Eigen::Index first_pair, const std::string& comment, const std::function<void(Hdf5Writer&)>& annotate) {
    const Eigen::Index d = paths.cols();
    PointLocation location = locate_points(spec, "/paths", true);
    if (location.hdf5) {
        Hdf5Writer file(location.path);
        file.write_array(location.dataset, {count, nodes, d}, paths.data());
        file.write_attribute(location.dataset, "layout", std::string("[pair, node, dimension], t = node / (nodes - 1)"));
        if (annotate) annotate(file);
        file.commit();
        return;
    }
    RowMatrix table(count * nodes, d + 2);
    for (Eigen::Index p = 0; p < count; ++p) {
        for (Eigen::Index k = 0; k < nodes; ++k) {
            table(p * nodes + k, 0) = static_cast<double>(first_pair + p);
            table(p * nodes + k, 1) = static_cast<double>(k) / static_cast<double>(nodes - 1);
        }
    }
    table.rightCols(d) = paths;
    std::vector<std::string> columns = {"pair", "t"};
    for (Eigen::Index j = 1; j <= d; ++j) columns.push_back("x" + std::to_string(j));
    write_points(spec, table, columns, comment);
}

}  // namespace scorekit
