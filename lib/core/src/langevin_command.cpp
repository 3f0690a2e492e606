#include "scorekit/langevin_command.hpp"

#include "langevin_checkpoint.hpp"

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"
#include "scorekit/model_loader.hpp"
#include "scorekit/points.hpp"
#include "scorekit/signals.hpp"
#include "scorekit/slurm.hpp"

namespace scorekit {
namespace {

// `shard_description` names the chains of a shard ("" for a whole run). Text outputs carry it as
// a first comment line, which merge-shards.py reads to check the order of text shards.
void write_samples(const LangevinCommandOptions& o, const std::string& output, const LangevinOptions& sampler,
                   const LangevinResult& result, ShardSpec shard, std::int64_t total_chains,
                   const std::string& shard_description) {
    PointLocation location = locate_points(output, "/samples", true);
    if (!location.hdf5) {
        write_points(output, result.samples, {}, shard_description);
        return;
    }
    Hdf5Writer file(location.path);
    file.write_matrix(location.dataset, result.samples);
    const std::string& d = location.dataset;
    file.write_attribute(d, "method", to_string(sampler.method));
    file.write_attribute(d, "model", o.model);
    file.write_attribute(d, "chains", static_cast<std::int64_t>(sampler.chains));
    file.write_attribute(d, "steps", static_cast<std::int64_t>(sampler.steps));
    file.write_attribute(d, "step_size", sampler.step_size);
    file.write_attribute(d, "burn_in", static_cast<std::int64_t>(sampler.burn_in));
    file.write_attribute(d, "thin", static_cast<std::int64_t>(sampler.thin));
    file.write_attribute(d, "kept_per_chain", static_cast<std::int64_t>(result.kept_per_chain));
    file.write_attribute(d, "row_order", std::string("kept step major: row = k * chains + chain"));
    if (shard.count > 1) {
        file.write_attribute(d, "shard", std::to_string(shard.index) + "/" + std::to_string(shard.count));
        file.write_attribute(d, "first_chain", static_cast<std::int64_t>(sampler.first_chain));
        file.write_attribute(d, "total_chains", total_chains);
    }
    if (sampler.method == LangevinMethod::mala) file.write_attribute(d, "acceptance_rate", result.acceptance_rate());
    if (!result.levels.empty()) file.write_vector(d + "_noise_levels", result.levels);
    file.commit();
}

// The options and data that decide the samples, for comparing a checkpoint with the run. The
// values appear in mismatch messages, so unset options read as what they stand for.
CheckpointSettings checkpoint_settings(const LangevinCommandOptions& o, const LangevinOptions& sampler,
                                       const RowMatrix& initial) {
    std::string levels;
    for (double level : sampler.levels) levels += (levels.empty() ? "" : ",") + exact_text(level);
    if (levels.empty()) levels = "the model's levels";
    return {{"model", model_identity_text(o.model)},
            {"model_checksum", model_checksum_text(o.model)},
            {"method", to_string(sampler.method)},
            {"seed", std::to_string(sampler.seed)},
            {"chains", std::to_string(sampler.chains)},
            {"first_chain", std::to_string(sampler.first_chain)},
            {"steps", std::to_string(sampler.steps)},
            {"step_size", exact_text(sampler.step_size)},
            {"burn_in", std::to_string(sampler.burn_in)},
            {"thin", std::to_string(sampler.thin)},
            {"sigma", sampler.sigma >= 0 ? exact_text(sampler.sigma) : std::string("the model's default")},
            {"levels", levels},
            {"denoise", sampler.denoise ? "true" : "false"},
            {"init", initial.size() ? checksum_text({&initial}) : std::string("drawn")}};
}

// --checkpoint, else OUTPUT.ckpt (the file, without a dataset suffix) for a file output; empty
// for standard output.
std::string checkpoint_path(const LangevinCommandOptions& o, const std::string& output) {
    if (!o.checkpoint.empty()) return o.checkpoint;
    return output == "-" ? std::string() : locate_points(output, "/samples", true).path + ".ckpt";
}

}  // namespace

void run_langevin(const LangevinCommandOptions& options) {
    LangevinCommandOptions o = options;
    const bool shard_from_array = o.shard.empty();
    const ShardSpec shard = shard_from_array ? shard_from_environment() : parse_shard(o.shard);
    shard_checkpoint_names(o.checkpoint, o.resume, shard, shard_from_array);
    check_checkpoint_names(o.checkpoint, o.resume);
    check_distinct_files({{"--output", o.common.output}}, {{"--model", o.model}, {"--init", o.init}});
    LangevinOptions sampler = o.sampler;
    sampler.method = parse_langevin_method(o.method);
    sampler.seed = o.common.seed;
    sampler.threads = resolve_threads(o.common.threads);
    if (o.sigma_max > 0 || o.sigma_min > 0) {
        sampler.levels = geometric_levels(o.sigma_max, o.sigma_min, o.levels);
    }

    auto model = load_score_model(o.model, sampler.threads);
    if (sampler.step_size == 0) {
        // Annealed steps are alpha_i = eps (sigma_i / sigma_L)^2, so eps = 0.2 sigma_L^2 gives
        // alpha_i = 0.2 sigma_i^2 at every level, the ratio of Song and Ermon (2019): eps = 2e-5
        // for sigma_L = 0.01.
        std::vector<double> levels = sampler.levels.empty() ? model->noise_levels() : sampler.levels;
        double last = levels.empty() ? 1.0 : levels.back();
        sampler.step_size = sampler.method == LangevinMethod::annealed ? 0.2 * last * last : 0.01;
    }
    check_method_support(*model, sampler, o.model);
    // Initial points of the wrong width are rejected only against a known dimension.
    model->require_dimension(o.model);
    RowMatrix initial;
    if (!o.init.empty()) {
        initial = read_points(o.init, model->dim()).values;
        if (initial.rows() != sampler.chains) {
            log_info("using " + std::to_string(initial.rows()) + " chains, one per initial point in " + o.init);
            sampler.chains = initial.rows();
        }
    }

    // A shard runs a contiguous block of chains. Chain c draws from the stream (seed, c) wherever
    // it runs, so the shards' chains are exactly those of the single run.
    const std::int64_t total_chains = sampler.chains;
    const std::string output = shard_output_path(o.common.output, shard, shard_from_array);
    std::string shard_description;
    if (shard.count > 1) {
        const ShardRange range = shard_range(total_chains, shard);
        if (range.end == range.begin) {
            throw UsageError(describe("invalid shard", std::to_string(shard.index) + "/" + std::to_string(shard.count),
                                      "it gets none of the " + std::to_string(total_chains) + " chains",
                                      "use at most as many shards as chains"));
        }
        sampler.first_chain = static_cast<std::uint64_t>(range.begin);
        sampler.chains = range.end - range.begin;
        if (initial.rows() > 0) initial = RowMatrix(initial.middleRows(range.begin, sampler.chains));
        shard_description = "shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) +
                            ": chains [" + std::to_string(range.begin) + ", " + std::to_string(range.end) +
                            ") of " + std::to_string(total_chains);
        log_info(shard_description);
    }

    const std::int64_t total = sampler.method == LangevinMethod::annealed
                                   ? sampler.steps * static_cast<std::int64_t>(
                                                         sampler.levels.empty() ? model->noise_levels().size()
                                                                                : sampler.levels.size())
                                   : sampler.steps;
    log_verbose("sampling " + std::to_string(sampler.chains) + " chains with " + to_string(sampler.method) + ", " +
             std::to_string(total) + " steps, step size " + format_number(sampler.step_size));
    const CheckpointSettings settings = checkpoint_settings(o, sampler, initial);
    LangevinState resumed;
    LangevinCheckpointing checkpointing;
    if (!o.resume.empty()) {
        resumed = read_langevin_checkpoint(o.resume, settings);
        checkpointing.resume = &resumed;
        log_info("resuming from " + o.resume + " at step " + std::to_string(resumed.step) + " of " + std::to_string(total));
    }
    const std::string checkpoint = checkpoint_path(o, output);
    bool written = false;
    // Rows of the checkpoint's sample file that need not be written again: those of the
    // checkpoint resumed from, when it is the one that this run writes.
    std::int64_t sample_rows = checkpoint == o.resume ? static_cast<std::int64_t>(resumed.kept.rows()) : 0;
    if (!checkpoint.empty()) {
        check_distinct_files({{"--checkpoint", checkpoint}, {"--output", output}}, {{"--model", o.model}, {"--init", o.init}});
        check_output_writable(checkpoint, "--checkpoint");
        catch_interrupts();
        checkpointing.every = o.checkpoint_every;
        checkpointing.save = [&](const LangevinState& state, bool interrupted) {
            write_langevin_checkpoint(checkpoint, settings, state, sample_rows);
            written = true;
            if (!interrupted) return;
            throw Interrupted(describe_at("sampling interrupted", "after step " + std::to_string(state.step) + " of " +
                                                                      std::to_string(total),
                                          "checkpoint written to " + checkpoint, "continue with --resume " + checkpoint));
        };
    }

    Progress progress("sampling", static_cast<std::uint64_t>(total));
    progress.update(static_cast<std::uint64_t>(resumed.step));
    LangevinResult result = sample_langevin(
        *model, sampler, initial, [&](std::int64_t done, std::int64_t) { progress.update(done); }, checkpointing);
    progress.finish();
    if (sampler.method == LangevinMethod::mala) {
        log_info("MALA acceptance rate " + format_number(result.acceptance_rate()) + " (" +
                 std::to_string(result.accepted) + " of " + std::to_string(result.proposals) + " proposals)");
    }
    write_samples(o, output, sampler, result, shard, total_chains, shard_description);
    remove_finished_langevin_checkpoint(checkpoint, written, o.resume);
    log_summary(std::to_string(result.samples.rows()) + " samples");
}

}  // namespace scorekit
