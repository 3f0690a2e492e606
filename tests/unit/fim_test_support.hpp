// Random weights and inputs shared by the fim unit tests.
#pragma once

#include "scorekit/matrix.hpp"
#include "scorekit/rng.hpp"

namespace scorekit {

// Entries drawn from N(0, scale^2).
inline RowMatrix random_matrix(Eigen::Index rows, Eigen::Index cols, Rng& rng, double scale = 1) {
    RowMatrix m(rows, cols);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.normal();
    return m;
}

inline Vector random_vector(Eigen::Index n, Rng& rng, double scale = 1) {
    Vector v(n);
    for (Eigen::Index i = 0; i < n; ++i) v(i) = scale * rng.normal();
    return v;
}

}  // namespace scorekit
