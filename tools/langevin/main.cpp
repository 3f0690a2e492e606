// langevin: draw samples with Langevin dynamics driven by a score model.
#include "scorekit/langevin_command.hpp"

int main(int argc, char** argv) {
    scorekit::LangevinCommandOptions o;
    scorekit::LangevinOptions& s = o.sampler;
    CLI::App app{"Sample from a score model with Langevin dynamics: ULA, MALA (models with a log-density)\n"
                 "or annealed Langevin over noise levels (NCSN).",
                 SCOREKIT_TOOL_NAME};
    app.add_option("-m,--model", o.model, "Score model: model.h5, model.pt (TorchScript) or gaussian:/gmm: spec")
        ->required();
    app.add_option("--method", o.method, "ula, mala or annealed")->capture_default_str();
    app.add_option("--chains", s.chains, "Number of chains")->capture_default_str()->check(scorekit::whole_number(1));
    app.add_option("--steps", s.steps, "Steps (per noise level for annealed)")->capture_default_str()->check(scorekit::whole_number(1));
    s.step_size = 0;
    app.add_option("--step-size", s.step_size,
                   "Step size eps in standardised units; 0 = 0.01 for ula/mala, 0.2 sigma_min^2 for annealed")
        ->capture_default_str()->check(scorekit::finite_number(0));
    app.add_option("--burn-in", s.burn_in, "Steps dropped before the first kept sample (ula, mala)")
        ->capture_default_str()->check(scorekit::whole_number(0));
    app.add_option("--thin", s.thin, "Keep every N-th step after burn-in; 0 keeps only the final state")
        ->capture_default_str()->check(scorekit::whole_number(0));
    app.add_option("--sigma", s.sigma, "Noise level for ula/mala; default: the model's smallest (0 if exact)")
        ->check(scorekit::finite_number(0));
    app.add_option("--sigma-max", o.sigma_max, "Largest noise level for annealed (overrides the model's)")
        ->check(scorekit::finite_number(0));
    app.add_option("--sigma-min", o.sigma_min, "Smallest noise level for annealed (overrides the model's)")
        ->check(scorekit::finite_number(0));
    app.add_option("--levels", o.levels, "Number of geometric noise levels with --sigma-max/--sigma-min")
        ->capture_default_str()->check(scorekit::whole_number(1, std::numeric_limits<int>::max()));
    app.add_flag("--denoise", s.denoise, "annealed: end with one denoising step z + sigma_L^2 s(z, sigma_L)");
    app.add_option("--shard", o.shard,
                   "Run shard I/N: chains [I*C/N, (I+1)*C/N) of C (default: SLURM_ARRAY_TASK_ID/COUNT, else 0/1)");
    app.add_option("--init", o.init, "Initial points, one per chain (default: N(0, sigma_max^2 I) standardised)");
    auto* state = "Checkpoints";
    app.add_option("--checkpoint", o.checkpoint, "Checkpoint file (default: OUTPUT.ckpt when the output is a file)")
        ->group(state);
    app.add_option("--checkpoint-every", o.checkpoint_every, "Steps between checkpoints; 0 = only on SIGINT/SIGTERM")
        ->capture_default_str()->check(scorekit::whole_number(0))->group(state);
    app.add_option("--resume", o.resume, "Continue from a checkpoint with the same options and data")->group(state);
    scorekit::add_common_options(app, o.common);
    app.get_option("--output")->description("Samples: .h5[:/dataset] writes HDF5 (default /samples), - writes text");

    return scorekit::run_tool(app, argc, argv, o.common, [&] { scorekit::run_langevin(o); });
}
