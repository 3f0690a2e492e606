// Length and energy of polylines under a score metric, by the midpoint rule:
//   length = sum_i |dx_i|_{g(m_i)},  energy = sum_i |dx_i|^2_{g(m_i)} / dt_i,
// with dx_i = x_{i+1} - x_i, m_i = (x_i + x_{i+1}) / 2 and dt_i the parameter step. The midpoint
// rule is second order: for a smooth curve the length error falls as 1 / segments^2.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "scorekit/metric.hpp"

namespace scorekit {

class Hdf5Writer;

// Curves stored one after another.
struct Polylines {
    RowMatrix nodes;                    // [total nodes, D]
    Vector times;                       // [total nodes] curve parameter; empty: uniform on [0, 1]
    std::vector<Eigen::Index> offsets;  // size C + 1; curve c is rows offsets[c] .. offsets[c + 1] - 1
    Eigen::Index count() const { return offsets.empty() ? 0 : static_cast<Eigen::Index>(offsets.size()) - 1; }
};

struct CurveMeasures {
    Vector lengths;   // [C]
    Vector energies;  // [C]
};

// Evaluates every segment of every curve in one batch. Throws Error for a curve with fewer than
// two nodes or parameter values that do not increase.
CurveMeasures measure_curves(const ScoreMetric& metric, const Polylines& curves);

// Reads polylines of dimension `dim`: an HDF5 dataset [C, T, D] (parameter uniform on [0, 1]),
// or rows `curve t x1 .. xD` in text or a 2-D HDF5 dataset, with the rows of one curve
// consecutive, as `geodesic --paths` writes them. Throws Error naming the file.
Polylines read_polylines(const std::string& spec, int dim);

// Writes `count` paths of `nodes` nodes each, stored one after another in `paths`, with the
// parameter t = k / (nodes - 1): HDF5 [count, nodes, D] (default dataset /paths) or text rows
// `pair t x1 .. xD` with a header line. Text rows number the pairs from `first_pair`, a shard's
// first row in the whole pairs file. `comment` becomes a first "# " line of text output.
// `annotate` adds attributes to an HDF5 output before it is committed.
void write_paths(const std::string& spec, const RowMatrix& paths, Eigen::Index count, Eigen::Index nodes,
                 Eigen::Index first_pair = 0, const std::string& comment = "",
                 const std::function<void(Hdf5Writer&)>& annotate = nullptr);

}  // namespace scorekit
