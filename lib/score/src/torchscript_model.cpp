#include <torch/script.h>

#include "scorekit/error.hpp"
#include "scorekit/model_loader.hpp"
#include "torch_convert.hpp"

namespace scorekit {
namespace {

class TorchScriptScoreModel : public ScoreModel {
public:
    TorchScriptScoreModel(std::string path, torch::jit::Module module, int threads)
        : path_(std::move(path)), module_(std::move(module)), threads_(threads) {
        module_.eval();
        const auto& schema = module_.get_method("forward").function().getSchema();
        takes_sigma_ = schema.arguments().size() >= 3;  // self, x, sigma
        if (module_.hasattr("sigmas")) {
            torch::Tensor levels = module_.attr("sigmas").toTensor().to(torch::kFloat64).contiguous();
            levels_.assign(levels.data_ptr<double>(), levels.data_ptr<double>() + levels.numel());
        }
        for (const auto& parameter : module_.parameters()) {
            dtype_ = parameter.scalar_type();
            break;
        }
        dim_ = probe_dimension();
    }

    int dim() const override { return dim_; }
    std::string kind() const override { return "torchscript"; }
    std::vector<double> noise_levels() const override { return levels_; }
    bool noise_conditional() const override { return takes_sigma_; }

    RowMatrix score(const RowMatrix& x, double sigma) const override {
        if (dim_ > 0 && x.cols() != dim_) {
            throw Error(describe("cannot evaluate model", path_,
                                 "points have dimension " + std::to_string(x.cols()) + ", the module returned " +
                                     std::to_string(dim_),
                                 "give points of the module's dimension"));
        }
        torch::Tensor out = call(x, sigma);
        if (out.dim() != 2 || out.size(0) != x.rows() || out.size(1) != x.cols()) {
            throw Error(describe("invalid TorchScript output", path_,
                                 "input [" + std::to_string(x.rows()) + ", " + std::to_string(x.cols()) +
                                     "] gave output " + shape_text(out),
                                 "forward must return the score with the input's shape"));
        }
        return to_matrix(out);
    }

private:
    torch::Tensor call(const RowMatrix& x, double sigma) const {
        torch::NoGradGuard no_grad;
        at::set_num_threads(threads_);
        std::vector<torch::jit::IValue> inputs{to_tensor(x, dtype_)};
        if (takes_sigma_) inputs.emplace_back(torch::full({x.rows()}, sigma, dtype_));
        try {
            return const_cast<torch::jit::Module&>(module_).forward(inputs).toTensor();
        } catch (const c10::Error& e) {
            std::string message = e.what_without_backtrace();
            throw Error(describe("TorchScript forward failed", path_, message.substr(0, message.find('\n')),
                                 "check that forward takes x [N, D]" + std::string(takes_sigma_ ? " and sigma [N]" : "")));
        }
    }

    // A module may declare its dimension in an integer attribute `dim`. Otherwise the input
    // width of the first 2-D parameter suggests it (D, or D + 1 when sigma is concatenated to x),
    // and a trial forward call on one zero point decides. 0 means unknown.
    int probe_dimension() {
        if (module_.hasattr("dim")) return static_cast<int>(module_.attr("dim").toInt());
        for (const auto& parameter : module_.named_parameters()) {
            if (parameter.value.dim() != 2) continue;
            int width = static_cast<int>(parameter.value.size(1));
            for (int candidate : {width, width - 1}) {
                if (candidate < 1) continue;
                try {
                    torch::Tensor out = call(RowMatrix::Zero(1, candidate), 1.0);
                    if (out.dim() == 2 && out.size(0) == 1 && out.size(1) == candidate) return candidate;
                } catch (const Error&) {
                }
            }
            break;
        }
        return 0;
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

std::unique_ptr<ScoreModel> load_torchscript_model(const std::string& path, int threads) {
    torch::jit::Module module;
    try {
        module = torch::jit::load(path);
    } catch (const c10::Error& e) {
        std::string message = e.what_without_backtrace();
        throw Error(describe("cannot load TorchScript module", path, message.substr(0, message.find('\n')),
                             "export it with torch.jit.script or torch.jit.trace and torch.jit.save"));
    }
    return std::make_unique<TorchScriptScoreModel>(path, std::move(module), threads);
}

}  // namespace scorekit
