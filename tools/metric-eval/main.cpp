// metric-eval: evaluate a score-induced Riemannian metric at points, on vectors and along curves.
#include "scorekit/metric_eval_command.hpp"
#include "scorekit/error.hpp"
#include "scorekit/model_loader.hpp"

int main(int argc, char** argv) {
    scorekit::MetricEvalCommandOptions o;
    scorekit::MetricOptions& m = o.settings;
    CLI::App app{"Evaluate the Riemannian metric that a score model induces: the tensor g, log det g,\n"
                 "eigenvalues, volume element, norms and inner products of tangent vectors, and the\n"
                 "length and energy of polylines.",
                 SCOREKIT_TOOL_NAME};
    app.add_option("-m,--model", o.model,
                   "Score model (required): model.h5, model.pt (TorchScript), or gaussian:/gmm:/halfplane/exponential spec");
    app.add_option("input", o.input, "Points (HDF5 file.h5[:/dataset] or text; - or none reads standard input)");
    app.add_option("--metric", o.metric, "stein (I + lambda s s^T), outer (s s^T), conformal (p^(-2 beta) I) "
                                         "or pullback (lambda I + J^T J)")
        ->capture_default_str();
    app.add_option("--lambda", m.lambda, "stein: weight of s s^T; pullback: weight of I")->capture_default_str()
        ->check(scorekit::finite_number(0));
    app.add_option("--beta", m.beta, "conformal: exponent beta in p^(-2 beta)")->capture_default_str()
        ->check(scorekit::finite_number(std::numeric_limits<double>::lowest()));
    app.add_option("--sigma", m.sigma, "Noise level of the score; default: the model's smallest (0 if exact)")
        ->check(scorekit::finite_number(0));
    app.add_flag("--score", o.score, "Write the score s (D columns)");
    app.add_flag("--tensor", o.tensor, "Write g (D x D per point; large for large D)");
    app.add_flag("--inverse", o.inverse, "Write g^-1 (D x D per point; not for outer)");
    app.add_flag("--logdet", o.log_determinant, "Write log det g (the default output)");
    app.add_flag("--eigenvalues", o.eigenvalues, "Write the eigenvalues of g, ascending (D columns)");
    app.add_flag("--volume", o.volume, "Write the volume element sqrt(det g)");
    app.add_option("--vectors", o.vectors, "Tangent vectors, one per point: write the norm |v|_g");
    app.add_option("--vectors2", o.vectors2, "Second vectors, one per point: write <v, w>_g (needs --vectors)");
    app.add_option("--curves", o.curves,
                   "Polylines (rows `curve t x1..xD`, or HDF5 [C, T, D]): write length and energy per curve");
    auto* state = "Checkpoints (runs of more than one chunk of points)";
    app.add_option("--checkpoint", o.checkpoint, "Checkpoint file (default: OUTPUT.ckpt when the output is a file)")
        ->group(state);
    app.add_option("--checkpoint-every", o.checkpoint_every,
                   "Points between checkpoints; 0 = only on SIGINT/SIGTERM")
        ->capture_default_str()->check(scorekit::whole_number(0))->group(state);
    app.add_option("--resume", o.resume, "Continue from a checkpoint with the same options and inputs")->group(state);
    scorekit::add_common_options(app, o.common, {true, true, false});
    app.get_option("--output")->description("Output: .h5 writes one dataset per output, - writes text with a header");

    return scorekit::run_tool(app, argc, argv, o.common, [&] {
        // Checked here rather than by CLI11, which would report a missing --model before an
        // unknown option.
        if (o.model.empty()) {
            throw scorekit::UsageError(scorekit::describe("missing option", "--model", "no score model given",
                                                          "pass -m model.h5, model.pt or an analytic spec"));
        }
        auto model = scorekit::load_score_model(o.model, scorekit::resolve_threads(o.common.threads));
        scorekit::run_metric_eval(o, *model);
    });
}
