// Float32 evaluation of score-train's MLP with forward- and reverse-mode derivatives.
//
// Notation: z = (x - mean) / std, a_l = W_l h_(l-1) + b_l, h_l = phi(a_l), f = W_L h_(L-1) + b_L,
// and the score in data coordinates s = f / (sigma std). The first layer's input is [z, log sigma],
// so its last weight column times log sigma is folded into the first bias once per call.
// Derivatives follow the chain rule through the same layers:
//   J v   = (1 / (sigma std)) * W_L D_(L-1) W_(L-1) ... D_0 W_0z (v / std)
//   J^T u = (1 / std) * W_0z^T D_0 ... W_L^T (u / (sigma std))
// with D_l = diag(phi'(a_l)) and W_0z the first weight without its log-sigma column.
#include "scorekit/mlp_model.hpp"

#include <algorithm>
#include <cmath>
#include <future>
#include <mutex>
#include <string>

#include "mlp_kernels.hpp"
#include "scorekit/error.hpp"

namespace scorekit {
namespace {

// Points per block: the activations of a block of 64 points and 128 units take 32 KiB, which
// stays in the L1 or L2 cache across layers.
constexpr Eigen::Index kBlockPoints = 64;

// Tangent rows per block of score_jacobian (points times D tangents each).
constexpr Eigen::Index kBlockTangents = 256;

struct Layer {
    int in = 0, out = 0;
    std::vector<float> weight;      // [out, in] row-major, as stored in the model file
    std::vector<float> transposed;  // [in, out]
    std::vector<float> bias;        // [out]
};

// Scratch arrays of one thread, grown on demand and reused across calls.
struct Workspace {
    std::vector<float> first_bias;
    std::vector<std::vector<float>> hidden;      // h_l per hidden layer, [points, width]
    std::vector<std::vector<float>> derivative;  // phi'(a_l), [points, width]
    std::vector<float> input, pre, output;
    std::vector<float> tangent, tangent_next;
};

void grow(std::vector<float>& buffer, std::size_t size) {
    if (buffer.size() < size) buffer.resize(size);
}

class MlpScoreModel : public ScoreModel {
public:
    MlpScoreModel(MlpScoreFile model, int threads);

    int dim() const override { return dim_; }
    std::string kind() const override { return "mlp-score"; }
    std::vector<double> noise_levels() const override { return file_.sigmas; }
    Vector location() const override { return file_.data_mean; }
    Vector scale() const override { return file_.data_std; }
    double score_precision() const override { return std::ldexp(1.0, -23); }

    RowMatrix score(const RowMatrix& x, double sigma) const override;
    RowMatrix score_jvp(const RowMatrix& x, const RowMatrix& v, double sigma) const override;
    RowMatrix score_vjp(const RowMatrix& x, const RowMatrix& u, double sigma) const override;
    RowMatrix score_jacobian(const RowMatrix& x, double sigma) const override;

private:
    // Runs fn(workspace, begin, end) over row blocks of `block` rows, on up to threads_ threads.
    template <typename Function>
    void for_blocks(Eigen::Index rows, Eigen::Index block, Function fn) const;

    // Forward pass over points [begin, begin + count) of x: fills ws.hidden and, with
    // `derivatives`, ws.derivative; with `output` non-null also writes the scores there.
    void forward(Workspace& ws, const RowMatrix& x, Eigen::Index begin, Eigen::Index count, double sigma,
                 bool derivatives, RowMatrix* output) const;

    // Pushes ws.tangent [count * repeats, D] (standardised input tangents) through the layers,
    // using ws.derivative of `count` points; leaves the output tangents in ws.output.
    void push_tangents(Workspace& ws, Eigen::Index count, Eigen::Index repeats) const;

    void check_points(const RowMatrix& x, double sigma) const;
    void check_vectors(const RowMatrix& x, const RowMatrix& v, const char* name) const;

    std::unique_ptr<Workspace> acquire() const;
    void release(std::unique_ptr<Workspace> ws) const;

    MlpScoreFile file_;
    int dim_, width_;
    Activation activation_;
    std::vector<Layer> layers_;      // the first layer without its log-sigma column
    std::vector<float> sigma_column_;  // the first weight's log-sigma column [width]
    int threads_;

    mutable std::mutex pool_mutex_;
    mutable std::vector<std::unique_ptr<Workspace>> pool_;
};

MlpScoreModel::MlpScoreModel(MlpScoreFile model, int threads)
    : file_(std::move(model)),
      dim_(file_.parameters.architecture.dim),
      width_(file_.parameters.architecture.width),
      activation_(file_.parameters.architecture.activation),
      threads_(std::max(1, threads)) {
    auto shapes = file_.parameters.architecture.layer_shapes();
    if (file_.parameters.tensors.size() != 2 * shapes.size()) {
        throw Error(describe("invalid MLP parameters", std::to_string(file_.parameters.tensors.size()) + " tensors",
                             "expected " + std::to_string(2 * shapes.size()), "train the model again"));
    }
    for (std::size_t l = 0; l < shapes.size(); ++l) {
        auto [out, in] = shapes[l];
        const std::vector<float>& weight = file_.parameters.tensors[2 * l];
        const std::vector<float>& bias = file_.parameters.tensors[2 * l + 1];
        if (weight.size() != static_cast<std::size_t>(out) * in || bias.size() != static_cast<std::size_t>(out)) {
            throw Error(describe("invalid MLP parameters", "layer " + std::to_string(l),
                                 "tensor sizes do not match [" + std::to_string(out) + ", " + std::to_string(in) + "]",
                                 "train the model again"));
        }
        Layer layer;
        layer.in = l == 0 ? dim_ : in;
        layer.out = out;
        layer.bias = bias;
        layer.weight.resize(static_cast<std::size_t>(out) * layer.in);
        layer.transposed.resize(layer.weight.size());
        for (int o = 0; o < out; ++o) {
            for (int i = 0; i < layer.in; ++i) {
                layer.weight[o * layer.in + i] = weight[o * in + i];
                layer.transposed[i * out + o] = weight[o * in + i];
            }
            if (l == 0) sigma_column_.push_back(weight[o * in + dim_]);
        }
        layers_.push_back(std::move(layer));
    }
}

std::unique_ptr<Workspace> MlpScoreModel::acquire() const {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (pool_.empty()) return std::make_unique<Workspace>();
    std::unique_ptr<Workspace> ws = std::move(pool_.back());
    pool_.pop_back();
    return ws;
}

void MlpScoreModel::release(std::unique_ptr<Workspace> ws) const {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    pool_.push_back(std::move(ws));
}

template <typename Function>
void MlpScoreModel::for_blocks(Eigen::Index rows, Eigen::Index block, Function fn) const {
    auto run_range = [&](Eigen::Index first, Eigen::Index last) {
        std::unique_ptr<Workspace> ws = acquire();
        for (Eigen::Index begin = first; begin < last; begin += block) fn(*ws, begin, std::min(block, last - begin));
        release(std::move(ws));
    };

    Eigen::Index blocks = (rows + block - 1) / block;
    Eigen::Index workers = std::min<Eigen::Index>(threads_, blocks);
    if (workers <= 1) return run_range(0, rows);

    // Contiguous ranges of whole blocks, one per thread; the calling thread takes the first.
    Eigen::Index per_worker = (blocks + workers - 1) / workers * block;
    std::vector<std::future<void>> jobs;
    for (Eigen::Index start = per_worker; start < rows; start += per_worker) {
        jobs.push_back(std::async(std::launch::async, run_range, start, std::min(rows, start + per_worker)));
    }
    run_range(0, std::min(rows, per_worker));
    for (auto& job : jobs) job.get();
}

void MlpScoreModel::forward(Workspace& ws, const RowMatrix& x, Eigen::Index begin, Eigen::Index count,
                            double sigma, bool derivatives, RowMatrix* output) const {
    const std::size_t n = static_cast<std::size_t>(count);
    const std::size_t hidden_layers = layers_.size() - 1;
    ws.hidden.resize(hidden_layers);
    ws.derivative.resize(hidden_layers);

    grow(ws.input, n * dim_);
    for (Eigen::Index p = 0; p < count; ++p) {
        for (int j = 0; j < dim_; ++j) {
            ws.input[p * dim_ + j] = static_cast<float>((x(begin + p, j) - file_.data_mean(j)) / file_.data_std(j));
        }
    }

    grow(ws.first_bias, width_);
    const float log_sigma = static_cast<float>(std::log(sigma));
    for (int o = 0; o < width_; ++o) ws.first_bias[o] = layers_[0].bias[o] + sigma_column_[o] * log_sigma;

    const float* h = ws.input.data();
    grow(ws.pre, n * width_);
    for (std::size_t l = 0; l < hidden_layers; ++l) {
        const Layer& layer = layers_[l];
        const float* bias = l == 0 ? ws.first_bias.data() : layer.bias.data();
        matmul(h, n, layer.in, layer.transposed.data(), layer.weight.data(), layer.out, bias, ws.pre.data());
        grow(ws.hidden[l], n * width_);
        float* derivative = nullptr;
        if (derivatives) {
            grow(ws.derivative[l], n * width_);
            derivative = ws.derivative[l].data();
        }
        activate(activation_, ws.pre.data(), ws.hidden[l].data(), derivative, n * width_);
        h = ws.hidden[l].data();
    }
    if (output == nullptr) return;

    const Layer& last = layers_.back();
    grow(ws.output, n * dim_);
    matmul(h, n, last.in, last.transposed.data(), last.weight.data(), last.out, last.bias.data(), ws.output.data());
    for (Eigen::Index p = 0; p < count; ++p) {
        for (int j = 0; j < dim_; ++j) {
            (*output)(begin + p, j) = ws.output[p * dim_ + j] / (sigma * file_.data_std(j));
        }
    }
}

void MlpScoreModel::push_tangents(Workspace& ws, Eigen::Index count, Eigen::Index repeats) const {
    const std::size_t rows = static_cast<std::size_t>(count * repeats);
    const std::size_t hidden_layers = layers_.size() - 1;
    grow(ws.tangent_next, rows * width_);
    for (std::size_t l = 0; l < hidden_layers; ++l) {
        const Layer& layer = layers_[l];
        matmul(ws.tangent.data(), rows, layer.in, layer.transposed.data(), layer.weight.data(), layer.out, nullptr,
               ws.tangent_next.data());
        scale_rows(ws.tangent_next.data(), count, repeats, ws.derivative[l].data(), width_);
        std::swap(ws.tangent, ws.tangent_next);
        grow(ws.tangent_next, rows * width_);
    }
    const Layer& last = layers_.back();
    grow(ws.output, rows * dim_);
    matmul(ws.tangent.data(), rows, last.in, last.transposed.data(), last.weight.data(), last.out, nullptr,
           ws.output.data());
}

RowMatrix MlpScoreModel::score(const RowMatrix& x, double sigma) const {
    check_points(x, sigma);
    RowMatrix out(x.rows(), dim_);
    for_blocks(x.rows(), kBlockPoints, [&](Workspace& ws, Eigen::Index begin, Eigen::Index count) {
        forward(ws, x, begin, count, sigma, false, &out);
    });
    return out;
}

RowMatrix MlpScoreModel::score_jvp(const RowMatrix& x, const RowMatrix& v, double sigma) const {
    check_points(x, sigma);
    check_vectors(x, v, "tangent vectors");
    RowMatrix out(x.rows(), dim_);
    for_blocks(x.rows(), kBlockPoints, [&](Workspace& ws, Eigen::Index begin, Eigen::Index count) {
        forward(ws, x, begin, count, sigma, true, nullptr);
        grow(ws.tangent, static_cast<std::size_t>(count) * std::max(dim_, width_));
        for (Eigen::Index p = 0; p < count; ++p) {
            for (int j = 0; j < dim_; ++j) ws.tangent[p * dim_ + j] = static_cast<float>(v(begin + p, j) / file_.data_std(j));
        }
        push_tangents(ws, count, 1);
        for (Eigen::Index p = 0; p < count; ++p) {
            for (int j = 0; j < dim_; ++j) out(begin + p, j) = ws.output[p * dim_ + j] / (sigma * file_.data_std(j));
        }
    });
    return out;
}

RowMatrix MlpScoreModel::score_jacobian(const RowMatrix& x, double sigma) const {
    // Forward mode with the D unit vectors as tangents of each point. Reverse mode would cost
    // the same because the network maps D inputs (besides log sigma) to D outputs.
    check_points(x, sigma);
    RowMatrix out(x.rows(), static_cast<Eigen::Index>(dim_) * dim_);
    const Eigen::Index block = std::max<Eigen::Index>(1, kBlockTangents / dim_);
    for_blocks(x.rows(), block, [&](Workspace& ws, Eigen::Index begin, Eigen::Index count) {
        forward(ws, x, begin, count, sigma, true, nullptr);
        const std::size_t rows = static_cast<std::size_t>(count) * dim_;
        grow(ws.tangent, rows * std::max(dim_, width_));
        std::fill(ws.tangent.begin(), ws.tangent.begin() + rows * dim_, 0.0f);
        for (std::size_t r = 0; r < rows; ++r) {
            int j = static_cast<int>(r % dim_);
            ws.tangent[r * dim_ + j] = static_cast<float>(1.0 / file_.data_std(j));
        }
        push_tangents(ws, count, dim_);
        // Output tangent row p * D + b is column b of J(x_p).
        for (Eigen::Index p = 0; p < count; ++p) {
            for (int b = 0; b < dim_; ++b) {
                const float* column = ws.output.data() + (p * dim_ + b) * dim_;
                for (int a = 0; a < dim_; ++a) out(begin + p, a * dim_ + b) = column[a] / (sigma * file_.data_std(a));
            }
        }
    });
    return out;
}

RowMatrix MlpScoreModel::score_vjp(const RowMatrix& x, const RowMatrix& u, double sigma) const {
    check_points(x, sigma);
    check_vectors(x, u, "cotangent vectors");
    RowMatrix out(x.rows(), dim_);
    for_blocks(x.rows(), kBlockPoints, [&](Workspace& ws, Eigen::Index begin, Eigen::Index count) {
        forward(ws, x, begin, count, sigma, true, nullptr);
        const std::size_t n = static_cast<std::size_t>(count);
        grow(ws.tangent, n * std::max(dim_, width_));
        grow(ws.tangent_next, n * std::max(dim_, width_));
        for (Eigen::Index p = 0; p < count; ++p) {
            for (int j = 0; j < dim_; ++j) {
                ws.tangent[p * dim_ + j] = static_cast<float>(u(begin + p, j) / (sigma * file_.data_std(j)));
            }
        }
        // Reverse through the layers: g <- (g W_l) * phi'(a_(l-1)), reading W_l [out, in] as
        // the right factor and its transpose for the dot-product path.
        for (std::size_t l = layers_.size(); l-- > 0;) {
            const Layer& layer = layers_[l];
            matmul(ws.tangent.data(), n, layer.out, layer.weight.data(), layer.transposed.data(), layer.in, nullptr,
                   ws.tangent_next.data());
            if (l > 0) scale_rows(ws.tangent_next.data(), count, 1, ws.derivative[l - 1].data(), width_);
            std::swap(ws.tangent, ws.tangent_next);
        }
        for (Eigen::Index p = 0; p < count; ++p) {
            for (int j = 0; j < dim_; ++j) out(begin + p, j) = ws.tangent[p * dim_ + j] / file_.data_std(j);
        }
    });
    return out;
}

void MlpScoreModel::check_points(const RowMatrix& x, double sigma) const {
    if (x.cols() != dim_) {
        throw Error(describe("cannot evaluate model", kind(),
                             "points have dimension " + std::to_string(x.cols()) + ", the model has " +
                                 std::to_string(dim_),
                             "give points of the training dimension"));
    }
    if (!(sigma > 0)) {
        throw UsageError(describe("invalid --sigma", format_number(sigma),
                                  "a trained score model needs a positive noise level",
                                  "omit it to use the smallest trained level"));
    }
}

void MlpScoreModel::check_vectors(const RowMatrix& x, const RowMatrix& v, const char* name) const {
    if (v.rows() != x.rows() || v.cols() != x.cols()) {
        throw Error(describe("cannot differentiate model", kind(),
                             std::string(name) + " have shape [" + std::to_string(v.rows()) + ", " +
                                 std::to_string(v.cols()) + "], the points [" + std::to_string(x.rows()) + ", " +
                                 std::to_string(x.cols()) + "]",
                             "give one vector per point"));
    }
}

}  // namespace

std::unique_ptr<ScoreModel> make_mlp_score_model(MlpScoreFile model, int threads) {
    return std::make_unique<MlpScoreModel>(std::move(model), threads);
}

}  // namespace scorekit
