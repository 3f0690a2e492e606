// geodesic: shortest paths, exponential and logarithmic maps under a score-induced metric.
#include "scorekit/geodesic_command.hpp"
#include "scorekit/error.hpp"
#include "scorekit/model_loader.hpp"

int main(int argc, char** argv) {
    scorekit::GeodesicCommandOptions o;
    scorekit::MetricOptions& m = o.settings;
    CLI::App app{"Compute geodesics of the Riemannian metric that a score model induces: boundary-value\n"
                 "paths and lengths between pairs, distance matrices, the exponential map (--exp) and\n"
                 "the logarithmic map (--log).",
                 SCOREKIT_TOOL_NAME};
    app.add_option("-m,--model", o.model,
                   "Score model (required): model.h5, model.pt (TorchScript), or gaussian:/gmm:/halfplane/exponential spec");
    app.add_option("--metric", o.metric, "stein (I + lambda s s^T), conformal (p^(-2 beta) I) or pullback "
                                         "(lambda I + J^T J); outer is rejected")
        ->capture_default_str();
    app.add_option("--lambda", m.lambda, "stein: weight of s s^T; pullback: weight of I")->capture_default_str()
        ->check(scorekit::finite_number(0));
    app.add_option("--beta", m.beta, "conformal: exponent beta in p^(-2 beta)")->capture_default_str()
        ->check(scorekit::finite_number(std::numeric_limits<double>::lowest()));
    app.add_option("--sigma", m.sigma, "Noise level of the score; default: the model's smallest (0 if exact)")
        ->check(scorekit::finite_number(0));
    app.add_option("--from", o.from, "Start point, comma-separated");
    app.add_option("--to", o.to, "End point, comma-separated");
    app.add_option("--velocity", o.velocity, "Initial velocity for --exp, comma-separated");
    app.add_option("--pairs", o.pairs, "File of pairs: 2 D columns per row, start then end (--exp: start then velocity)");
    app.add_option("--all-pairs", o.all_pairs, "Point set: geodesic distances between all pairs, as an N x N matrix");
    app.add_option("--shard", o.shard,
                   "--all-pairs or --pairs: solve shard I/N of the pairs (--all-pairs writes them as a table "
                   "i, j, length, converged); default: SLURM_ARRAY_TASK_ID/COUNT, else 0/1");
    app.add_flag("--exp", o.exp, "Exponential map: integrate the geodesic equation from --from with --velocity");
    app.add_flag("--log", o.log, "Logarithmic map: the initial velocity of the geodesic from start to end");
    app.add_option("--nodes", o.solver.nodes, "Path nodes T, both end points included")->capture_default_str()
        ->check(scorekit::whole_number(2, std::numeric_limits<int>::max()));
    app.add_option("--tolerance", o.solver.tolerance, "Convergence: max node displacement relative to |end - start|")
        ->capture_default_str()->check(scorekit::positive_number());
    app.add_option("--max-iterations", o.solver.max_iterations, "L-BFGS iterations per pair")->capture_default_str()
        ->check(scorekit::whole_number(1, std::numeric_limits<int>::max()));
    app.add_option("--resolution", o.solver.resolution,
                   "Max relative gap between midpoint and Simpson lengths of a converged path")
        ->capture_default_str()->check(scorekit::positive_number());
    app.add_option("--batch-size", o.solver.batch_size,
                   "Pairs solved together (--exp and --log: 256 when not given); a progress line with an ETA follows each chunk")
        ->capture_default_str()->check(scorekit::whole_number(1, std::numeric_limits<int>::max()));
    app.add_option("--ode-tolerance", o.integration.tolerance,
                   "Error tolerance per integration step (--exp, --log); default 1e-10, or 1.2e-8 for a float32 network")
        ->check(scorekit::positive_number());
    app.add_option("--shooting-tolerance", o.shooting_tolerance,
                   "--log: max miss relative to |end - start|; default 1e-9, or 1.2e-6 for a float32 network")
        ->check(scorekit::positive_number());
    app.add_option("--paths", o.paths, "Also write the path nodes: .h5 [pairs, T, D], or text rows `pair t x1..xD`");
    app.add_flag("--allow-unconverged", o.allow_unconverged, "Exit 0 even when some pairs did not converge");
    auto* state = "Checkpoints (--pairs, --all-pairs)";
    app.add_option("--checkpoint", o.checkpoint, "Checkpoint file (default: OUTPUT.ckpt when the output is a file)")
        ->group(state);
    app.add_option("--checkpoint-every", o.checkpoint_every,
                   "Pairs between checkpoints; 0 = only on SIGINT/SIGTERM")
        ->capture_default_str()->check(scorekit::whole_number(0))->group(state);
    app.add_option("--resume", o.resume, "Continue from a checkpoint with the same options and pairs")->group(state);
    scorekit::add_common_options(app, o.common, {true, true, false});
    app.get_option("--output")->description("Output: .h5 writes datasets, - writes text with a header");

    return scorekit::run_tool(app, argc, argv, o.common, [&] {
        // Checked here rather than by CLI11, which would report a missing --model before an
        // unknown option.
        if (o.model.empty()) {
            throw scorekit::UsageError(scorekit::describe("missing option", "--model", "no score model given",
                                                          "pass -m model.h5, model.pt or an analytic spec"));
        }
        o.batch_size_given = app.count("--batch-size") > 0;
        o.ode_tolerance_given = app.count("--ode-tolerance") > 0;
        o.shooting_tolerance_given = app.count("--shooting-tolerance") > 0;
        auto model = scorekit::load_score_model(o.model, scorekit::resolve_threads(o.common.threads));
        scorekit::run_geodesic(o, *model);
    });
}
