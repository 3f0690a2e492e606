// fim: Fisher information of a model's parameters.
#include "scorekit/fim.hpp"

int main(int argc, char** argv) {
    scorekit::FimOptions o;
    CLI::App app{"Compute the Fisher information matrix of a model's parameters over a set of inputs\n"
                 "(dense, diagonal, block, KFAC or matrix-free), with its trace, norm, top eigenvalues,\n"
                 "log det and natural-gradient solves. Prints one summary line; -o writes HDF5.",
                 SCOREKIT_TOOL_NAME};
    app.add_option("-m,--model", o.model,
                   "TorchScript module (.pt), MLP model file from score-train (.h5), or normal:mu=M,sigma=S[,parameters=...]");
    app.add_option("-i,--input", o.input, "Inputs x [N, D]: file.h5[:/dataset] or text; - reads standard input");
    app.add_option("--labels", o.labels, "Labels for empirical and --solve gradient: a point set, or `last` for the input's last column");
    app.add_option("--likelihood", o.likelihood,
                   "categorical (logits), bernoulli (one logit) or gaussian (mean); default gaussian for "
                   "score-train model files, categorical otherwise");
    app.add_option("--sigma", o.sigma, "Standard deviation of the gaussian likelihood")->capture_default_str();
    app.add_option("-e,--estimator", o.estimator, "exact, mc:K (K sampled labels per input) or empirical (data labels)");
    app.add_option("-r,--representation", o.representation, "dense, diag, block, kfac or implicit (matrix-free)")
        ->capture_default_str();
    app.add_option("--blocks", o.blocks, "Blocks of --representation block: one per layer or per tensor")
        ->capture_default_str();
    app.add_option("--reduction", o.reduction, "sum or mean over inputs")->capture_default_str();
    app.add_option("--batch-size", o.batch_size, "Inputs per batch")->capture_default_str();
    app.add_flag("--single", o.single_precision, "Compute in float32 instead of float64");
    app.add_option("-k,--top-k", o.top_k, "Number of largest eigenvalues to report")->capture_default_str();
    app.add_flag("--log-det", o.log_det, "Report log det(F + damping I)");
    app.add_option("--damping", o.damping, "Damping added to the diagonal for --log-det and --solve")
        ->capture_default_str();
    app.add_option("--vector", o.vector, "Vector v [P] (one row or column) for the product F v");
    app.add_option("--solve", o.solve, "Vector g [P] for (F + damping I)^-1 g, or `gradient` for the labels' log-likelihood gradient");
    app.add_option("--lanczos-iterations", o.lanczos_iterations, "Lanczos steps for --top-k; 0 = max(3k, 30)")
        ->capture_default_str();
    app.add_option("--cg-iterations", o.cg_iterations,
                   "Maximum conjugate-gradient iterations (F v products) of --representation implicit --solve")
        ->capture_default_str();
    app.add_option("--cg-tolerance", o.cg_tolerance,
                   "Relative residual |g - (F + damping I) x| / |g| at which conjugate gradients stop")
        ->capture_default_str();
    app.add_option("--stored", o.stored,
                   "Read the matrix that fim -o or merge-shards.py fisher stored, in place of -m and -i: print "
                   "its summaries (--top-k, --log-det), and with -o write --vector and --solve results");
    app.add_option("--shard", o.shard,
                   "Run shard I/N: inputs [I*N_in/N, (I+1)*N_in/N) of N_in, to be summed by merge-shards.py "
                   "fisher (default: SLURM_ARRAY_TASK_ID/COUNT, else 0/1)");
    app.add_option("--max-memory", o.max_memory,
                   "Reject a representation whose estimated memory exceeds this size (512M, 8G, 2GiB); "
                   "default half of the physical memory");
    auto* state = "Checkpoints";
    app.add_option("--checkpoint", o.checkpoint,
                   "Checkpoint file of dense, diag, block and kfac runs (default: OUTPUT.ckpt when "
                   "--checkpoint-every or --resume is given)")
        ->group(state);
    app.add_option("--checkpoint-every", o.checkpoint_every, "Batches between checkpoints; 0 = only on SIGINT/SIGTERM")
        ->capture_default_str()->check(scorekit::whole_number(0))->group(state);
    app.add_option("--resume", o.resume, "Continue from a checkpoint with the same options and data")->group(state);
    scorekit::add_common_options(app, o.common);
    app.get_option("--output")->description("HDF5 output file; - (default) writes no file, only the summary line");
    app.get_option("--seed")->description("Seed of the mc:K label draws and the Lanczos start vector");

    return scorekit::run_tool(app, argc, argv, o.common, [&] { scorekit::run_fim(o); });
}
