#include "fim_checkpoint.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"
#include "scorekit/signals.hpp"

namespace scorekit {
namespace {

constexpr const char* kGroup = "/checkpoint";
// Raise it when a change alters the results of a resumed run (see write_results_revision).
constexpr int kResultsRevision = 1;

// One numeric array of a stored representation, named as the checkpoint stores it.
struct ArrayView {
    std::string name;
    double* data;
    std::int64_t size;
    bool gradient_factor;  // KFAC's G, a mean over each batch's inputs rather than a sum
};

// The arrays of `fisher` in a fixed order.
std::vector<ArrayView> arrays_of(FisherMatrix& fisher) {
    std::vector<ArrayView> arrays;
    switch (fisher.representation) {
        case Representation::dense: arrays.push_back({"dense", fisher.dense.data(), fisher.dense.size(), false}); break;
        case Representation::diag:
            arrays.push_back({"diagonal", fisher.diagonal.data(), fisher.diagonal.size(), false});
            break;
        case Representation::block:
            for (std::size_t i = 0; i < fisher.blocks.size(); ++i) {
                RowMatrix& m = fisher.blocks[i].matrix;
                arrays.push_back({"block_" + std::to_string(i), m.data(), m.size(), false});
            }
            break;
        case Representation::kfac:
            for (std::size_t i = 0; i < fisher.kfac.size(); ++i) {
                RowMatrix& a = fisher.kfac[i].input_factor;
                RowMatrix& g = fisher.kfac[i].gradient_factor;
                arrays.push_back({"kfac_" + std::to_string(i) + "_A", a.data(), a.size(), false});
                arrays.push_back({"kfac_" + std::to_string(i) + "_G", g.data(), g.size(), true});
            }
            break;
        case Representation::implicit: break;
    }
    return arrays;
}

// The running sums: every array summed over the inputs done, KFAC's G weighted by each batch's
// inputs. Each step adds one batch in input order, so the same inputs give the same bits
// whether the sums start from zero or from a checkpoint.
struct RunningSums {
    FisherMatrix sums;
    bool started = false;
    std::map<std::string, std::vector<double>> saved;  // a checkpoint's sums, until the first batch

    void add(FisherMatrix batch, std::int64_t count, const std::string& checkpoint) {
        if (!started) {
            sums = std::move(batch);
            started = true;
            for (ArrayView& view : arrays_of(sums)) {
                if (view.gradient_factor) {
                    for (std::int64_t i = 0; i < view.size; ++i) view.data[i] = static_cast<double>(count) * view.data[i];
                }
                if (!saved.empty()) add_saved(view, checkpoint);
            }
            saved.clear();
            return;
        }
        std::vector<ArrayView> from = arrays_of(batch), to = arrays_of(sums);
        for (std::size_t k = 0; k < to.size(); ++k) {
            const double weight = to[k].gradient_factor ? static_cast<double>(count) : 1.0;
            for (std::int64_t i = 0; i < to[k].size; ++i) to[k].data[i] += weight * from[k].data[i];
        }
    }

    void add_saved(ArrayView& view, const std::string& checkpoint) {
        auto found = saved.find(view.name);
        if (found == saved.end() || static_cast<std::int64_t>(found->second.size()) != view.size) {
            throw Error(describe("cannot resume from", checkpoint,
                                 "its array " + quote(view.name) + " does not match the model's parameters",
                                 "start the run again without --resume"));
        }
        for (std::int64_t i = 0; i < view.size; ++i) view.data[i] = found->second[i] + view.data[i];
    }

    // The Fisher matrix of all `inputs` inputs in the problem's reduction.
    FisherMatrix finish(std::int64_t inputs, Reduction reduction) {
        const double scale = reduction == Reduction::mean ? 1.0 / static_cast<double>(inputs) : 1.0;
        for (ArrayView& view : arrays_of(sums)) {
            for (std::int64_t i = 0; i < view.size; ++i) {
                view.data[i] = view.gradient_factor ? view.data[i] / static_cast<double>(inputs) : view.data[i] * scale;
            }
        }
        return std::move(sums);
    }
};

void write_fim_checkpoint(const std::string& path, const CheckpointSettings& settings, std::int64_t done,
                          RunningSums& running) {
    Hdf5Writer file(path);
    file.create_group(kGroup);
    write_checkpoint_settings(file, kGroup, settings);
    write_results_revision(file, kGroup, kResultsRevision);
    file.write_attribute(kGroup, "inputs_done", done);
    for (const ArrayView& view : arrays_of(running.sums)) {
        file.write_vector(std::string(kGroup) + "/" + view.name, std::vector<double>(view.data, view.data + view.size));
    }
    file.commit();
}

// Reads the checkpoint `path` into `running.saved`; returns the inputs it has done.
std::int64_t read_fim_checkpoint(const std::string& path, const CheckpointSettings& settings, std::int64_t total,
                                 RunningSums& running) {
    check_checkpoint_format(path, "fim");
    Hdf5Reader file(path);
    if (!file.exists(kGroup) || !file.has_attribute(kGroup, "inputs_done")) {
        throw Error(describe("cannot resume from", path, "no /checkpoint group with the sums of a fim run",
                             "give a checkpoint written by fim (OUTPUT.ckpt)"));
    }
    check_results_revision(file, kGroup, kResultsRevision, path);
    const std::string mismatch = checkpoint_settings_mismatch(file, kGroup, settings);
    if (!mismatch.empty()) {
        throw UsageError(describe("cannot resume from", path, mismatch,
                                  "resume with the options and data of the interrupted run"));
    }
    // The range check keeps the cast from a damaged value (NaN, 1e300) defined.
    const std::int64_t done = file.read_integer_attribute(kGroup, "inputs_done", 0, std::int64_t(1) << 53);
    if (done <= 0 || done >= total) {
        throw Error(describe("cannot resume from", path,
                             "it has " + std::to_string(done) + " of " + std::to_string(total) + " inputs done",
                             "start the run again without --resume"));
    }
    const std::string prefix = std::string(kGroup) + "/";
    for (const std::string& dataset : file.dataset_paths()) {
        if (dataset.compare(0, prefix.size(), prefix) != 0) continue;
        running.saved[dataset.substr(prefix.size())] = file.read_array(dataset).values;
    }
    return done;
}

}  // namespace

// NOTE: the running sums are one more copy of the matrix beside each batch's, which the
// --max-memory estimate does not count.
FisherMatrix compute_fisher_resumable(const FisherModel& model, const RowMatrix& inputs, const Labels& labels,
                                      const FisherProblem& problem, Representation representation,
                                      BlockGrouping grouping, FimCheckpointing& checkpointing,
                                      const std::function<void(std::int64_t done, std::int64_t total)>& on_batch) {
    const std::int64_t total = inputs.rows(), step = std::max(1, problem.batch_size);
    RunningSums running;
    std::int64_t done = 0;
    if (!checkpointing.resume.empty()) {
        done = read_fim_checkpoint(checkpointing.resume, checkpointing.settings, total, running);
        log_info("resuming from " + checkpointing.resume + " at input " + std::to_string(done) + " of " +
                 std::to_string(total));
    }
    catch_interrupts();
    on_batch(done, total);

    // Each batch is summed on its own, with its draws from the streams of its inputs' indices.
    FisherProblem batch_problem = problem;
    batch_problem.reduction = Reduction::sum;
    batch_problem.on_batch = nullptr;
    std::int64_t batches = 0;
    while (done < total) {
        const std::int64_t count = std::min(step, total - done);
        batch_problem.first_input = problem.first_input + static_cast<std::uint64_t>(done);
        const Labels batch_labels = labels.size() ? Labels(labels.middleRows(done, count)) : Labels();
        running.add(compute_fisher(model, inputs.middleRows(done, count), batch_labels, batch_problem, representation,
                                   grouping),
                    count, checkpointing.resume);
        done += count;
        ++batches;
        on_batch(done, total);
        if (done == total) break;

        const bool interrupted = interrupt_requested();
        if (interrupted || (checkpointing.every > 0 && batches % checkpointing.every == 0)) {
            write_fim_checkpoint(checkpointing.path, checkpointing.settings, done, running);
            checkpointing.written = true;
            log_verbose("checkpoint written to " + checkpointing.path + " after input " + std::to_string(done));
        }
        if (interrupted) {
            throw Interrupted(describe_at("Fisher information interrupted",
                                          "after input " + std::to_string(done) + " of " + std::to_string(total),
                                          "checkpoint written to " + checkpointing.path,
                                          "continue with --resume " + checkpointing.path));
        }
    }
    return running.finish(total, problem.reduction);
}

}  // namespace scorekit
