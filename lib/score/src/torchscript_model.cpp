#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "scorekit/error.hpp"
#include "scorekit/log.hpp"
#include "scorekit/model_loader.hpp"
#include "torch_convert.hpp"

namespace scorekit {
namespace {

// The line of a LibTorch error that states the cause. The TorchScript interpreter rethrows a
// failed operation as a std::runtime_error with a traceback that ends in the cause, such as
// "RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x3 and 4x8)". A c10::Error
// starts with the cause and may append a C++ backtrace.
// A dispatcher error ("Could not run 'aten::zeros' with arguments from the 'CUDA' backend")
// follows its cause with a list of registered backends, so the line of the exception itself is
// taken, without the advice for custom LibTorch builds that continues it.
std::string torch_error_cause(const std::exception& error) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&error);
    std::string message = c10_error ? c10_error->what_without_backtrace() : error.what();
    if (message.find("Traceback of TorchScript") == std::string::npos) return message.substr(0, message.find('\n'));
    const std::size_t dispatch = message.rfind("\nRuntimeError: Could not run ");
    if (dispatch != std::string::npos) {
        std::string line = message.substr(dispatch + 1, message.find('\n', dispatch + 1) - dispatch - 1);
        const std::size_t advice = line.find(" This could be because");
        return advice == std::string::npos ? line : line.substr(0, advice);
    }
    const std::size_t end = message.find_last_not_of(" \n");
    if (end == std::string::npos) return message;
    const std::size_t begin = message.rfind('\n', end);
    return message.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1) + 1);
}

class TorchScriptScoreModel : public ScoreModel {
public:
    TorchScriptScoreModel(std::string path, torch::jit::Module module, int threads)
        : path_(std::move(path)), module_(std::move(module)), threads_(threads) {
        module_.eval();
        const auto& schema = module_.get_method("forward").function().getSchema();
        takes_sigma_ = schema.arguments().size() >= 3;  // self, x, sigma
        if (module_.hasattr("sigmas")) {
            levels_ = read_levels(module_.attr("sigmas"));
            check_noise_levels(levels_, path_ + " (attribute sigmas)");
        }
        choose_dtype();
        dim_ = probe_dimension();
    }

    int dim() const override { return dim_; }
    std::string kind() const override { return "torchscript"; }
    std::vector<double> noise_levels() const override { return levels_; }
    bool noise_conditional() const override { return takes_sigma_; }

    double score_precision() const override {
        return dtype_ == torch::kFloat64 ? std::numeric_limits<double>::epsilon() : std::ldexp(1.0, -23);
    }

    RowMatrix score(const RowMatrix& x, double sigma) const override {
        check_dimension(x);
        torch::NoGradGuard no_grad;
        return to_matrix(call(to_tensor(x, dtype_), sigma, x.cols()));
    }

    // Derivatives by LibTorch autograd through the module, in the module's dtype. They assume,
    // as score() does, that each output row depends only on its own input row.
    //   vjp: one backward pass, torch::autograd::grad(score, x, u) = J^T u row by row.
    //   jvp: the double-vjp trick. g(w) = J^T w is linear in a dummy cotangent w, so the
    //        gradient of <g(w), v> with respect to w is J v; it costs a forward and two
    //        backward passes and needs a module whose backward is differentiable (all
    //        built-in smooth layers are).
    //   jacobian: D vjps batched as one backward pass over D copies of each point, the copy a
    //        of point p with cotangent e_a, whose gradient is row a of J(x_p).
    RowMatrix score_vjp(const RowMatrix& x, const RowMatrix& u, double sigma) const override {
        check_dimension(x);
        check_vectors(x, u);
        torch::Tensor input = to_tensor(x, dtype_).requires_grad_(true);
        torch::Tensor out = call(input, sigma, x.cols());
        return to_matrix(gradient(out, input, to_tensor(u, dtype_)));
    }

    RowMatrix score_jvp(const RowMatrix& x, const RowMatrix& v, double sigma) const override {
        check_dimension(x);
        check_vectors(x, v);
        torch::Tensor input = to_tensor(x, dtype_).requires_grad_(true);
        torch::Tensor out = call(input, sigma, x.cols());
        torch::Tensor dummy = torch::zeros_like(out).requires_grad_(true);
        torch::Tensor transposed = gradient(out, input, dummy, true);
        return to_matrix(gradient(transposed, dummy, to_tensor(v, dtype_)));
    }

    RowMatrix score_jacobian(const RowMatrix& x, double sigma) const override {
        check_dimension(x);
        const int64_t n = x.rows(), d = x.cols();
        torch::Tensor input = to_tensor(x, dtype_).repeat_interleave(d, 0).requires_grad_(true);
        torch::Tensor out = call(input, sigma, d);
        torch::Tensor cotangents = torch::eye(d, dtype_).repeat({n, 1});
        RowMatrix rows = to_matrix(gradient(out, input, cotangents));  // [n * d, d]
        return Eigen::Map<const RowMatrix>(rows.data(), n, d * d);
    }

private:
    // Converts a float16 or bfloat16 module to float32, which represents its parameters exactly.
    // LibTorch 1.13 has no float16 matrix product on the CPU, and bfloat16 scores would carry
    // 2 to 3 significant digits where score_precision() promises float32's.
    // Sets dtype_ to the parameters' dtype. Half precision is widened to float32, which
    // represents it exactly, and a module with parameters of several dtypes is converted to the
    // widest of them, so that no layer rounds to half precision.
    void choose_dtype() {
        std::vector<c10::ScalarType> seen;
        for (const auto& parameter : module_.parameters()) {
            if (std::find(seen.begin(), seen.end(), parameter.scalar_type()) == seen.end()) seen.push_back(parameter.scalar_type());
        }
        // A module without parameters, such as an analytic score written with registered buffers,
        // computes in its buffers' dtype: float32 inputs would round a float64 module's points.
        if (seen.empty()) {
            for (const auto& buffer : module_.buffers()) {
                if (!buffer.is_floating_point()) continue;
                if (std::find(seen.begin(), seen.end(), buffer.scalar_type()) == seen.end()) seen.push_back(buffer.scalar_type());
            }
        }
        if (seen.empty()) return;
        const bool mixed = seen.size() > 1;
        const bool any_double = std::find(seen.begin(), seen.end(), torch::kFloat64) != seen.end();
        dtype_ = seen.front();
        if (mixed) dtype_ = any_double ? torch::kFloat64 : torch::kFloat32;
        if (dtype_ == torch::kFloat16 || dtype_ == torch::kBFloat16) {
            const std::string name = dtype_ == torch::kFloat16 ? "float16" : "bfloat16";
            dtype_ = torch::kFloat32;
            log_info(quote(path_) + " has " + name + " parameters; computing the score in float32, which represents them exactly");
        } else if (mixed) {
            log_info(quote(path_) + " has parameters of several dtypes; computing the score in " +
                     (dtype_ == torch::kFloat64 ? "float64" : "float32"));
        }
        if (mixed || dtype_ != seen.front()) convert_floating_state(module_, dtype_);
    }

    void check_dimension(const RowMatrix& x) const {
        if (dim_ > 0 && x.cols() != dim_) {
            throw Error(describe("cannot evaluate model", path_,
                                 "points have dimension " + std::to_string(x.cols()) + ", the module returned " +
                                     std::to_string(dim_),
                                 "give points of the module's dimension"));
        }
    }

    void check_vectors(const RowMatrix& x, const RowMatrix& v) const {
        if (v.rows() != x.rows() || v.cols() != x.cols()) {
            throw Error(describe("cannot differentiate model", path_,
                                 "vectors have shape [" + std::to_string(v.rows()) + ", " + std::to_string(v.cols()) +
                                     "], the points [" + std::to_string(x.rows()) + ", " + std::to_string(x.cols()) +
                                     "]",
                                 "give one vector per point"));
        }
    }

    // The vector-Jacobian product of `output` with respect to `input` for the cotangent
    // `weights`; with `create_graph` the result can be differentiated again.
    torch::Tensor gradient(const torch::Tensor& output, const torch::Tensor& input, const torch::Tensor& weights,
                           bool create_graph = false) const {
        try {
            return torch::autograd::grad({output}, {input}, {weights}, create_graph, create_graph)[0];
        } catch (const std::exception& e) {
            throw Error(describe("TorchScript autograd failed", path_, torch_error_cause(e),
                                 "forward must be differentiable in x with torch operations"));
        }
    }

    // Runs forward on `input` [N, dim] (in the module's dtype) and checks the output's shape.
    // Gradients flow through unless the caller holds a NoGradGuard.
    torch::Tensor call(const torch::Tensor& input, double sigma, int64_t dim) const {
        at::set_num_threads(threads_);
        std::vector<torch::jit::IValue> inputs{input};
        if (takes_sigma_) inputs.emplace_back(torch::full({input.size(0)}, sigma, dtype_));
        torch::Tensor out;
        try {
            out = const_cast<torch::jit::Module&>(module_).forward(inputs).toTensor();
        } catch (const std::exception& e) {
            const std::string cause = torch_error_cause(e);
            // The tensors of a module saved on a GPU are loaded to the CPU, but a device named
            // in forward's code stays there.
            if (cause.find("from the 'CUDA' backend") != std::string::npos) {
                throw Error(describe("TorchScript forward failed", path_,
                                     cause + " (forward creates a tensor on a CUDA device, and scorekit runs modules "
                                             "on the CPU)",
                                     "create tensors on x.device in forward, or trace the module on the CPU, and "
                                     "export it again"));
            }
            throw Error(describe("TorchScript forward failed", path_,
                                 "input [" + std::to_string(input.size(0)) + ", " + std::to_string(dim) + "]: " + cause,
                                 "forward must take x [N, D]" + std::string(takes_sigma_ ? " and sigma [N]" : "") +
                                     " and return the score [N, D]"));
        }
        // An integer output would truncate the score, and LibTorch would drop a complex output's
        // imaginary part with only a warning.
        if (!at::isFloatingType(out.scalar_type())) {
            throw Error(describe("invalid TorchScript output", path_,
                                 "forward returned a tensor of dtype " + std::string(c10::toString(out.scalar_type())),
                                 "return a floating-point score (float32 or float64)"));
        }
        if (out.dim() != 2 || out.size(0) != input.size(0) || out.size(1) != dim) {
            throw Error(describe("invalid TorchScript output", path_,
                                 "input [" + std::to_string(input.size(0)) + ", " + std::to_string(dim) +
                                     "] gave output " + shape_text(out),
                                 "forward must return the score with the input's shape"));
        }
        return out;
    }

    // A module may declare its dimension in an integer attribute `dim`. Otherwise the input
    // width of the first 2-D parameter suggests it (D, or D + 1 when sigma is concatenated to x),
    // and a trial forward call on one zero point decides. 0 means unknown (no 2-D parameter).
    // Throws the first trial's Error when no candidate gives a score of the input's shape, as
    // for a classifier whose output width differs from its input width.
    int probe_dimension() {
        if (module_.hasattr("dim")) {
            // torch.jit.trace keeps no plain attributes, so a traced module can declare its
            // dimension only as a buffer: a one-element integer tensor.
            torch::jit::IValue value = module_.attr("dim");
            if (value.isTensor() && value.toTensor().numel() == 1 && !value.toTensor().is_floating_point() &&
                !value.toTensor().is_complex() && value.toTensor().scalar_type() != torch::kBool) {
                value = value.toTensor().item<int64_t>();
            }
            if (!value.isInt() || value.toInt() < 1 || value.toInt() > std::numeric_limits<int>::max()) {
                throw Error(describe("invalid TorchScript attribute", path_ + " (attribute dim)",
                                     "it is " + ivalue_text(value) + ", not a positive integer",
                                     "set self.dim = D, the number of input columns, before exporting"));
            }
            return static_cast<int>(value.toInt());
        }
        for (const auto& parameter : module_.named_parameters()) {
            if (parameter.value.dim() != 2) continue;
            int width = static_cast<int>(parameter.value.size(1));
            std::string first_failure;
            for (int candidate : {width, width - 1}) {
                if (candidate < 1) continue;
                try {
                    torch::NoGradGuard no_grad;
                    call(torch::zeros({1, candidate}, dtype_), 1.0, candidate);
                    return candidate;
                } catch (const Error& e) {
                    if (first_failure.empty()) first_failure = e.what();
                }
            }
            if (!first_failure.empty()) throw Error(first_failure);
            break;
        }
        return probe_buffer_dimension();
    }

    // A module without 2-D parameters, such as a Gaussian score over buffers mean [D] and
    // precision [D, D], may still show D in its floating buffers: the last size of each is tried
    // with a forward call. Buffers that are no input width (noise levels [L]) fail that call and
    // are passed over, and 0 (unknown) remains when every candidate fails.
    int probe_buffer_dimension() {
        std::vector<int64_t> tried;
        for (const auto& buffer : module_.named_buffers()) {
            const torch::Tensor& value = buffer.value;
            if (!value.is_floating_point() || value.dim() < 1 || value.dim() > 2) continue;
            const int64_t candidate = value.size(value.dim() - 1);
            if (candidate < 1 || candidate > std::numeric_limits<int>::max()) continue;
            if (std::find(tried.begin(), tried.end(), candidate) != tried.end()) continue;
            tried.push_back(candidate);
            try {
                torch::NoGradGuard no_grad;
                call(torch::zeros({2, candidate}, dtype_), 1.0, candidate);
                return static_cast<int>(candidate);
            } catch (const Error&) {
                // Not the input width; try the next buffer.
            }
        }
        return 0;
    }

    // The noise levels in a `sigmas` attribute: a tensor of any shape or a list of numbers.
    std::vector<double> read_levels(const torch::jit::IValue& value) const {
        if (value.isTensor() && !value.toTensor().is_complex()) {
            torch::Tensor levels = value.toTensor().to(torch::kFloat64).contiguous();
            return {levels.data_ptr<double>(), levels.data_ptr<double>() + levels.numel()};
        }
        if (value.isDoubleList()) {
            const auto list = value.toDoubleVector();
            return {list.begin(), list.end()};
        }
        if (value.isIntList()) {
            const auto list = value.toIntVector();
            return {list.begin(), list.end()};
        }
        throw Error(describe("invalid TorchScript attribute", path_ + " (attribute sigmas)",
                             "it is " + ivalue_text(value) + ", not a tensor or list of noise levels",
                             "set self.sigmas = torch.tensor([sigma_1, ..., sigma_L]), largest first"));
    }

    // A short description of an attribute's value for error messages, such as "a str" or "2.5".
    static std::string ivalue_text(const torch::jit::IValue& value) {
        if (value.isInt()) return std::to_string(value.toInt());
        if (value.isDouble()) return format_number(value.toDouble());
        if (value.isTensor()) return "a tensor";
        return "a " + value.type()->str();
    }

    static std::string shape_text(const torch::Tensor& t) {
        std::string text = "[";
        for (int64_t i = 0; i < t.dim(); ++i) text += (i ? ", " : "") + std::to_string(t.size(i));
        return text + "]";
    }

    std::string path_;
    torch::jit::Module module_;
    int threads_;
    bool takes_sigma_ = false;
    std::vector<double> levels_;
    torch::Dtype dtype_ = torch::kFloat32;
    int dim_ = 0;
};

}  // namespace

std::unique_ptr<ScoreModel> open_torchscript_model(const std::string& path, int threads) {
    torch::jit::Module module;
    try {
        // A module saved on a GPU names CUDA devices for its tensors, but scorekit computes on the
        // CPU (Debian's LibTorch has no CUDA), so every tensor is loaded there, as
        // torch.jit.load(path, map_location="cpu") does.
        module = torch::jit::load(path, torch::kCPU);
    } catch (const c10::Error& e) {
        std::string message = e.what_without_backtrace();
        throw Error(describe("cannot load TorchScript module", path, message.substr(0, message.find('\n')),
                             "export it with torch.jit.script or torch.jit.trace and torch.jit.save"));
    }
    return std::make_unique<TorchScriptScoreModel>(path, std::move(module), threads);
}

}  // namespace scorekit

// The entry point that load_torchscript_model (lib/core/src/model_loader.cpp) looks up after
// loading this library on demand, so that tools without a TorchScript model never load LibTorch.
extern "C" __attribute__((visibility("default"))) scorekit::TorchScriptLoader scorekit_torchscript_loader_v1() {
    return &scorekit::open_torchscript_model;
}
