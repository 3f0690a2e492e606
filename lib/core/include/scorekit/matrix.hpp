// Matrix types used across the library: points are rows, stored row-major as h5py stores them.
#pragma once

#include <Eigen/Core>

namespace scorekit {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;

}  // namespace scorekit
