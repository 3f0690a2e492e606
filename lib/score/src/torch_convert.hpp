// Conversions between Eigen row-major matrices and LibTorch tensors (private to the score layer).
#pragma once

#include <torch/script.h>
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

// Converts the floating-point parameters and buffers of `module` and its submodules to `dtype`,
// in place. torch::jit::Module::to converts integer buffers too (LibTorch 1.13), which breaks a
// module that indexes with a registered int64 buffer or declares its dim as one. Python's
// Module.to leaves them alone, and so does this.
inline void convert_floating_state(torch::jit::Module& module, torch::Dtype dtype) {
    torch::NoGradGuard no_grad;
    for (torch::Tensor tensor : module.parameters()) {
        if (tensor.is_floating_point()) tensor.set_data(tensor.to(dtype));
    }
    for (torch::Tensor tensor : module.buffers()) {
        if (tensor.is_floating_point()) tensor.set_data(tensor.to(dtype));
    }
}

}  // namespace scorekit
