#include "scorekit/langevin_command.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

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

// Rows of HDF5 output buffered before they are written: about 4 MiB, so that most writes
// cover whole chunks (of up to 1 MiB) and few chunks are read back, checksummed and written twice.
constexpr std::int64_t kBufferValues = std::int64_t(1) << 19;

// The samples output, written in row order as the sampler keeps them: an HDF5 dataset created
// at its full size and filled in place, or text rows. A file appears under its name only on
// commit. Rows sent to standard output stay there when the run fails later.
class SampleOutput {
public:
    // `shard_description` names the chains of a shard ("" for a whole run). Text outputs carry it
    // as a first comment line, which merge-shards.py reads to check the order of text shards.
    SampleOutput(const std::string& output, std::int64_t rows, Eigen::Index columns, std::string shard_description)
        : output_(output), location_(locate_points(output, "/samples", true)), rows_(rows), columns_(columns),
          shard_description_(std::move(shard_description)) {}

    ~SampleOutput() {
        if (stream_ && stream_ != stdout) std::fclose(stream_);
    }
    SampleOutput(const SampleOutput&) = delete;
    SampleOutput& operator=(const SampleOutput&) = delete;

    // Writes the next rows of the output; the first call creates it.
    void write(const RowMatrix& rows) {
        if (location_.hdf5) {
            write_hdf5(rows);
        } else {
            write_text(rows);
        }
    }

    // Writes the rows still buffered, the settings as attributes of the HDF5 dataset, and renames
    // the file to its name.
    void commit(const LangevinCommandOptions& o, const LangevinOptions& sampler, const LangevinResult& result,
                ShardSpec shard, std::int64_t total_chains) {
        if (location_.hdf5) flush_hdf5();
        if (written_ != rows_) {
            throw Error(describe("cannot write", output_, std::to_string(written_) + " of " + std::to_string(rows_) +
                                                              " rows were kept"));
        }
        if (!location_.hdf5) {
            finish_text();
            return;
        }
        write_attributes(*hdf5_, location_.dataset, o, sampler, result, shard, total_chains);
        hdf5_->commit();
    }

private:
    void write_hdf5(const RowMatrix& rows) {
        if (!hdf5_) {
            hdf5_ = std::make_unique<Hdf5Writer>(location_.path);
            hdf5_->create_array(location_.dataset, {rows_, static_cast<std::int64_t>(columns_)});
            buffer_.resize(std::max<std::int64_t>(1, kBufferValues / std::max<Eigen::Index>(columns_, 1)), columns_);
        }
        for (Eigen::Index done = 0; done < rows.rows();) {
            const Eigen::Index count = std::min(rows.rows() - done, buffer_.rows() - buffered_);
            buffer_.middleRows(buffered_, count) = rows.middleRows(done, count);
            buffered_ += count;
            done += count;
            if (buffered_ == buffer_.rows()) flush_hdf5();
        }
    }

    void flush_hdf5() {
        if (buffered_ == 0) return;
        hdf5_->write_rows(location_.dataset, written_, buffered_, buffer_.data());
        written_ += buffered_;
        buffered_ = 0;
    }

    void write_text(const RowMatrix& rows) {
        if (!stream_) open_text();
        write_text_rows(stream_, rows);
        written_ += rows.rows();
        check_text_stream();
    }

    void open_text() {
        if (output_ == "-") {
            stream_ = stdout;
        } else {
            file_ = std::make_unique<AtomicFile>(output_);
            stream_ = std::fopen(file_->temporary_path().c_str(), "w");
            if (!stream_) throw Error(describe("cannot write", output_, std::strerror(errno), "check the directory"));
        }
        if (!shard_description_.empty()) std::fprintf(stream_, "# %s\n", shard_description_.c_str());
    }

    // Throws Error after a failed write, so that a full disk ends the run at once.
    void check_text_stream() {
        if (!std::ferror(stream_)) return;
        if (stream_ == stdout) check_output_pipe_open();
        throw Error(describe("cannot write", stream_ == stdout ? std::string("standard output") : output_,
                             std::strerror(errno), "check free disk space"));
    }

    void finish_text() {
        if (stream_ == stdout) {
            if (std::fflush(stdout) != 0) check_text_stream();
            return;
        }
        const bool failed = std::ferror(stream_) != 0;
        const bool closed = std::fclose(stream_) == 0;
        stream_ = nullptr;
        if (failed || !closed) {
            throw Error(describe("cannot write", output_, std::strerror(errno), "check free disk space"));
        }
        file_->commit();
    }

    static void write_attributes(Hdf5Writer& file, const std::string& d, const LangevinCommandOptions& o,
                                 const LangevinOptions& sampler, const LangevinResult& result, ShardSpec shard,
                                 std::int64_t total_chains) {
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
    }

    std::string output_;
    PointLocation location_;
    std::int64_t rows_;
    Eigen::Index columns_;
    std::string shard_description_;
    std::int64_t written_ = 0;  // rows written to the file or stream
    std::unique_ptr<Hdf5Writer> hdf5_;
    RowMatrix buffer_;
    Eigen::Index buffered_ = 0;
    std::unique_ptr<AtomicFile> file_;
    std::FILE* stream_ = nullptr;
};

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
    // A shard runs a contiguous block of chains. Chain c draws from the stream (seed, c) wherever
    // it runs, so the shards' chains are exactly those of the single run. With --init, a shard
    // reads only its own rows of an HDF5 dataset.
    auto shard_block = [&](std::int64_t total_chains) {
        if (shard.count == 1) return RowBlock{0, total_chains, total_chains};
        const ShardRange range = shard_range(total_chains, shard);
        if (range.end == range.begin) {
            throw UsageError(describe("invalid shard", std::to_string(shard.index) + "/" + std::to_string(shard.count),
                                      "it gets none of the " + std::to_string(total_chains) + " chains",
                                      "use at most as many shards as chains"));
        }
        return RowBlock{range.begin, range.end, total_chains};
    };
    RowBlock block;
    if (!o.init.empty()) {
        initial = read_point_block(o.init, shard_block, block, model->dim()).values;
        if (block.total != sampler.chains) {
            log_info("using " + std::to_string(block.total) + " chains, one per initial point in " + o.init);
        }
    } else {
        block = shard_block(sampler.chains);
    }

    const std::int64_t total_chains = block.total;
    const std::string output = shard_output_path(o.common.output, shard, shard_from_array);
    std::string shard_description;
    sampler.chains = block.end - block.begin;
    if (shard.count > 1) {
        const ShardRange range{block.begin, block.end};
        sampler.first_chain = static_cast<std::uint64_t>(range.begin);
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
    std::unique_ptr<LangevinSampleWriter> kept_samples;
    if (!checkpoint.empty()) {
        check_distinct_files({{"--checkpoint", checkpoint}, {"--output", output}}, {{"--model", o.model}, {"--init", o.init}});
        check_output_writable(checkpoint, "--checkpoint");
        catch_interrupts();
        // Rows of the checkpoint's sample file that need not be written again: those of the
        // checkpoint resumed from, when it is the one that this run writes.
        const std::int64_t valid_rows = checkpoint == o.resume ? resumed.kept_rows : 0;
        kept_samples = std::make_unique<LangevinSampleWriter>(checkpoint, valid_rows, model->dim());
        checkpointing.every = o.checkpoint_every;
        checkpointing.save = [&](const LangevinState& state, bool interrupted) {
            write_langevin_checkpoint(checkpoint, settings, state, *kept_samples);
            written = true;
            if (!interrupted) return;
            throw Interrupted(describe_at("sampling interrupted", "after step " + std::to_string(state.step) + " of " +
                                                                      std::to_string(total),
                                          "checkpoint written to " + checkpoint, "continue with --resume " + checkpoint));
        };
    }
    if (!o.resume.empty()) {
        checkpointing.read_kept = [&](std::int64_t first, RowMatrix& rows) { read_langevin_kept_rows(o.resume, first, rows); };
    }

    // The samples go to the output as they are kept, and to the checkpoint's sample file unless
    // they are the last step's, which no checkpoint follows. That file then contains the rows
    // that the next checkpoint records, so that a checkpoint only flushes it.
    std::unique_ptr<SampleOutput> samples;
    auto on_kept = [&](const KeptRows& rows) {
        if (!samples) {
            samples = std::make_unique<SampleOutput>(output, kept_per_chain(sampler) * sampler.chains, model->dim(),
                                                     shard_description);
        }
        samples->write(rows.x);
        const std::int64_t end = rows.first_row + rows.z.rows();
        if (!kept_samples || rows.last_step || end <= kept_samples->rows()) return;
        kept_samples->append(rows.z.bottomRows(end - kept_samples->rows()));
    };

    Progress progress("sampling", static_cast<std::uint64_t>(total));
    progress.update(static_cast<std::uint64_t>(resumed.step));
    LangevinResult result = sample_langevin(
        *model, sampler, initial, [&](std::int64_t done, std::int64_t) { progress.update(done); }, checkpointing,
        on_kept);
    progress.finish();
    if (sampler.method == LangevinMethod::mala) {
        log_info("MALA acceptance rate " + format_number(result.acceptance_rate()) + " (" +
                 std::to_string(result.accepted) + " of " + std::to_string(result.proposals) + " proposals)");
    }
    samples->commit(o, sampler, result, shard, total_chains);
    kept_samples.reset();
    remove_finished_langevin_checkpoint(checkpoint, written, o.resume);
    log_summary(std::to_string(kept_per_chain(sampler) * sampler.chains) + " samples");
}

}  // namespace scorekit
