// Conversions between Eigen row-major matrices and LibTorch tensors (private to the score layer).
#pragma once

#include <torch/torch.h>

#include "scorekit/matrix.hpp"

namespace scorekit {

// Returns a tensor that owns a copy of the values, also when dtype is already float64.
inline torch::Tensor to_tensor(const RowMatrix& m, torch::Dtype dtype = torch::kFloat32) {
    return torch::from_blob(const_cast<double*>(m.data()), {m.rows(), m.cols()}, torch::kFloat64)
        .to(dtype, /*non_blocking=*/false, /*copy=*/true);
}

inline RowMatrix to_matrix(const torch::Tensor& t) {
    torch::Tensor contiguous = t.detach().to(torch::kFloat64).contiguous();
    return Eigen::Map<const RowMatrix>(contiguous.data_ptr<double>(), contiguous.size(0), contiguous.size(1));
}

}  // namespace scorekit
