// score-train: fit a noise-conditional score model to a point set by denoising score matching.
#include "scorekit/score_train.hpp"

int main(int argc, char** argv) {
    scorekit::ScoreTrainOptions o;
    CLI::App app{"Fit a noise-conditional MLP score model s(x, sigma) = grad log p_sigma(x) to a point set\n"
                 "by denoising score matching over geometric noise levels, and write it as HDF5.",
                 SCOREKIT_TOOL_NAME};
    app.add_option("input", o.input, "Points: file.h5[:/dataset], text file (gzip allowed) or - for stdin")
        ->required();
    scorekit::add_common_options(app, o.common);
    // The shared -o defaults to standard output, which an HDF5 model cannot use, so the help
    // shows no default for it.
    app.get_option("--output")->description("Model file to write (HDF5, required)")->default_str("");

    auto* model = "Model";
    app.add_option("--width", o.width, "Units per hidden layer")->capture_default_str()->check(scorekit::whole_number(1, std::numeric_limits<int>::max()))->group(model);
    app.add_option("--depth", o.depth, "Number of hidden layers")->capture_default_str()->check(scorekit::whole_number(1, std::numeric_limits<int>::max()))->group(model);
    app.add_option("--activation", o.activation, "softplus, silu, tanh or elu")->capture_default_str()->group(model);

    auto* noise = "Noise levels";
    app.add_option("--levels", o.levels, "Number of noise levels")->capture_default_str()->check(scorekit::whole_number(1, std::numeric_limits<int>::max()))->group(noise);
    app.add_option("--sigma-max", o.sigma_max,
                   "Largest noise level in standardised units; 0 = largest pairwise data distance")
        ->capture_default_str()->check(scorekit::finite_number(0))->group(noise);
    app.add_option("--sigma-min", o.sigma_min, "Smallest noise level in standardised units")
        ->capture_default_str()->check(scorekit::positive_number())->group(noise);

    auto* optimisation = "Optimisation";
    app.add_option("--batch-size", o.batch_size, "Examples per step")->capture_default_str()->check(scorekit::whole_number(1))->group(optimisation);
    app.add_option("--steps", o.steps, "Optimisation steps")->capture_default_str()->check(scorekit::whole_number(1))->group(optimisation);
    app.add_option("--epochs", o.epochs, "Passes over the training set; overrides --steps when > 0")
        ->capture_default_str()->check(scorekit::whole_number(0))->group(optimisation);
    app.add_option("--lr", o.learning_rate, "Adam learning rate")->capture_default_str()->check(scorekit::positive_number())->group(optimisation);
    app.add_option("--lr-schedule", o.lr_schedule, "constant, cosine or linear (decay to 0 after warm-up)")
        ->capture_default_str()->group(optimisation);
    app.add_option("--warmup", o.warmup, "Steps of linear learning-rate warm-up")->capture_default_str()->check(scorekit::whole_number(0))->group(optimisation);
    app.add_option("--beta1", o.beta1, "Adam beta1")->capture_default_str()->check(scorekit::finite_number(0, 1, false, true))->group(optimisation);
    app.add_option("--beta2", o.beta2, "Adam beta2")->capture_default_str()->check(scorekit::finite_number(0, 1, false, true))->group(optimisation);
    app.add_option("--ema", o.ema, "Decay of the weight moving average written to the model; 0 = final weights")
        ->capture_default_str()->check(scorekit::finite_number(0, 1, false, true))->group(optimisation);
    app.add_option("--val-fraction", o.val_fraction, "Fraction of points held out for the validation loss")
        ->capture_default_str()->check(scorekit::finite_number(0, 1, false, true))->group(optimisation);
    app.add_option("--log-every", o.log_every, "Steps between loss log entries")->capture_default_str()->check(scorekit::whole_number(1))->group(optimisation);

    auto* state = "Checkpoints";
    app.add_option("--checkpoint", o.checkpoint, "Checkpoint file (default: OUTPUT.ckpt)")->group(state);
    app.add_option("--checkpoint-every", o.checkpoint_every,
                   "Steps between checkpoints; 0 = only on SIGINT/SIGTERM")->capture_default_str()->check(scorekit::whole_number(0))->group(state);
    app.add_option("--resume", o.resume, "Continue from a checkpoint with the same options and data")->group(state);

    auto* parallel = "Data-parallel training";
    app.add_flag("--distributed", o.distributed,
                 "Train data-parallel over the tasks of a SLURM step (srun -n K): each rank trains on its "
                 "slice of every batch, gradients are summed with c10d Gloo, rank 0 writes")
        ->group(parallel);
    app.add_option("--rendezvous", o.rendezvous,
                   "File through which the ranks meet (c10d FileStore) on a filesystem that all nodes see "
                   "(default: OUTPUT.rendezvous.JOBID.STEPID)")
        ->group(parallel);
    // The value becomes c10d's timeout in milliseconds; a week keeps that far from overflow.
    app.add_option("--distributed-timeout", o.distributed_timeout,
                   "Seconds a rank waits for the others at the rendezvous and in each allreduce before it fails")
        ->capture_default_str()->check(scorekit::finite_number(0, 7 * 24 * 3600, true))->group(parallel);

    return scorekit::run_tool(app, argc, argv, o.common, [&] { scorekit::run_score_train(o); });
}
