// Checkpoints of boundary-value geodesic runs. Each pair is solved on its own (a chunk only
// shares model calls), so the pairs solved before an interruption keep their results and the
// run continues with the next chunk.
#include "geodesic_checkpoint.hpp"

#include "checkpoint_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"
#include "scorekit/signals.hpp"

namespace scorekit {
namespace {

std::string pairs_checksum(const RowMatrix& starts, const RowMatrix& ends) { return checksum_text({&starts, &ends}); }

GeodesicBatch empty_batch(Eigen::Index pairs, int nodes, Eigen::Index dim, bool keep_paths) {
    GeodesicBatch batch;
    batch.nodes = nodes;
    batch.lengths = Vector::Zero(pairs);
    batch.energies = Vector::Zero(pairs);
    batch.iterations.assign(static_cast<size_t>(pairs), 0);
    batch.status.assign(static_cast<size_t>(pairs), GeodesicStatus::converged);
    if (keep_paths) batch.paths = RowMatrix::Zero(pairs * nodes, dim);
    return batch;
}

// Copies the results of `chunk` into `batch` from pair `first` on.
void place(GeodesicBatch& batch, const GeodesicBatch& chunk, Eigen::Index first) {
    const Eigen::Index count = chunk.lengths.size();
    batch.lengths.segment(first, count) = chunk.lengths;
    batch.energies.segment(first, count) = chunk.energies;
    for (Eigen::Index p = 0; p < count; ++p) {
        batch.iterations[static_cast<size_t>(first + p)] = chunk.iterations[static_cast<size_t>(p)];
        batch.status[static_cast<size_t>(first + p)] = chunk.status[static_cast<size_t>(p)];
    }
    if (batch.paths.size() > 0) batch.paths.middleRows(first * batch.nodes, count * batch.nodes) = chunk.paths;
}

void write_checkpoint(const GeodesicCheckpointPlan& plan, const std::string& checksum, const GeodesicBatch& batch,
                      Eigen::Index done) {
    Hdf5Writer file(plan.path);
    file.create_group("/checkpoint");
    file.write_attribute("/checkpoint", "pairs_done", static_cast<std::int64_t>(done));
    file.write_attribute("/checkpoint", "pairs", static_cast<std::int64_t>(batch.lengths.size()));
    file.write_attribute("/checkpoint", "pairs_checksum", checksum);
    file.write_attribute("/checkpoint", "has_paths", static_cast<std::int64_t>(batch.paths.size() > 0));
    write_checkpoint_settings(file, "/checkpoint", plan.settings);

    std::vector<double> lengths(batch.lengths.data(), batch.lengths.data() + done);
    std::vector<double> energies(batch.energies.data(), batch.energies.data() + done);
    std::vector<double> iterations(static_cast<size_t>(done)), status(static_cast<size_t>(done));
    for (Eigen::Index p = 0; p < done; ++p) {
        iterations[static_cast<size_t>(p)] = batch.iterations[static_cast<size_t>(p)];
        status[static_cast<size_t>(p)] = static_cast<double>(batch.status[static_cast<size_t>(p)]);
    }
    file.write_vector("/checkpoint/lengths", lengths);
    file.write_vector("/checkpoint/energies", energies);
    file.write_integer_array("/checkpoint/iterations", {done}, iterations.data());
    file.write_integer_array("/checkpoint/status", {done}, status.data());
    if (batch.paths.size() > 0) {
        file.write_array("/checkpoint/paths", {done, batch.nodes, batch.paths.cols()}, batch.paths.data());
    }
    file.commit();
}

// The first setting whose value differs from the checkpoint's, as "NAME is X but the
// checkpoint has Y"; empty when all agree.
std::string settings_mismatch(const Hdf5Reader& file, const GeodesicCheckpointPlan& plan, const std::string& checksum,
                              Eigen::Index pairs) {
    std::string mismatch = checkpoint_settings_mismatch(file, "/checkpoint", plan.settings);
    if (!mismatch.empty()) return mismatch;
    const auto saved_pairs = static_cast<Eigen::Index>(file.read_number_attribute("/checkpoint", "pairs"));
    if (saved_pairs != pairs) {
        return "the run has " + std::to_string(pairs) + " pairs but the checkpoint has " + std::to_string(saved_pairs);
    }
    if (file.read_string_attribute("/checkpoint", "pairs_checksum") != checksum) {
        return "the pairs differ from those of the checkpoint";
    }
    if (plan.keep_paths && file.read_number_attribute("/checkpoint", "has_paths") == 0) {
        return "the output needs the path nodes, which the checkpoint does not have";
    }
    return "";
}

void check_checkpoint(const Hdf5Reader& file, const GeodesicCheckpointPlan& plan, const std::string& checksum,
                      Eigen::Index pairs) {
    if (!file.exists("/checkpoint") || !file.has_attribute("/checkpoint", "pairs_done")) {
        throw Error(describe("cannot resume from", plan.resume, "no /checkpoint group with pairs_done",
                             "give a checkpoint written by geodesic (OUTPUT.ckpt)"));
    }
    std::string mismatch = settings_mismatch(file, plan, checksum, pairs);
    if (!mismatch.empty()) {
        throw UsageError(describe("cannot resume from", plan.resume, mismatch,
                                  "resume with the options and data of the interrupted run"));
    }
}

// Loads the pairs that `plan.resume` solved into `batch` and returns their number.
Eigen::Index read_checkpoint(const GeodesicCheckpointPlan& plan, const std::string& checksum, GeodesicBatch& batch) {
    Hdf5Reader file(plan.resume);
    check_checkpoint(file, plan, checksum, batch.lengths.size());
    const auto done = static_cast<Eigen::Index>(file.read_number_attribute("/checkpoint", "pairs_done"));
    GeodesicBatch saved;
    saved.nodes = batch.nodes;
    saved.lengths = file.read_matrix("/checkpoint/lengths").col(0);
    saved.energies = file.read_matrix("/checkpoint/energies").col(0);
    Vector iterations = file.read_matrix("/checkpoint/iterations").col(0);
    Vector status = file.read_matrix("/checkpoint/status").col(0);
    if (saved.lengths.size() != done || iterations.size() != done || status.size() != done) {
        throw Error(describe("cannot resume from", plan.resume, "its datasets do not hold pairs_done entries",
                             "start the run again without --resume"));
    }
    for (Eigen::Index p = 0; p < done; ++p) {
        saved.iterations.push_back(static_cast<int>(iterations(p)));
        saved.status.push_back(static_cast<GeodesicStatus>(static_cast<int>(status(p))));
    }
    if (batch.paths.size() > 0) {
        Array paths = file.read_array("/checkpoint/paths");
        saved.paths = Eigen::Map<const RowMatrix>(paths.values.data(), done * batch.nodes, batch.paths.cols());
    }
    place(batch, saved, 0);
    return done;
}

}  // namespace

void check_resume(const GeodesicCheckpointPlan& plan, const RowMatrix& starts, const RowMatrix& ends) {
    if (plan.resume.empty()) return;
    check_checkpoint_format(plan.resume, "geodesic");
    check_checkpoint(Hdf5Reader(plan.resume), plan, pairs_checksum(starts, ends), starts.rows());
}

GeodesicBatch solve_with_checkpoints(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                                     const GeodesicOptions& solver, GeodesicCheckpointPlan& plan,
                                     const PairProgress& progress) {
    const Eigen::Index pairs = starts.rows();
    const std::string checksum = pairs_checksum(starts, ends);
    GeodesicBatch batch = empty_batch(pairs, solver.nodes, metric.dim(), plan.keep_paths);
    Eigen::Index done = 0;
    if (!plan.resume.empty()) {
        done = read_checkpoint(plan, checksum, batch);
        log_info("resuming from " + plan.resume + ": " + std::to_string(done) + " of " + std::to_string(pairs) +
                 " pairs already solved");
    }
    Eigen::Index saved = done;
    // The first report sets where the progress rate starts counting.
    if (progress) progress(done, pairs);

    while (done < pairs) {
        const Eigen::Index count = std::min<Eigen::Index>(solver.batch_size, pairs - done);
        place(batch, solve_geodesics(metric, starts.middleRows(done, count), ends.middleRows(done, count), solver), done);
        done += count;
        if (progress) progress(done, pairs);
        if (plan.path.empty() || done == pairs) continue;

        if (interrupt_requested()) {
            write_checkpoint(plan, checksum, batch, done);
            plan.written = true;
            throw Interrupted(describe_at("geodesics interrupted", "after " + std::to_string(done) + " of " +
                                                                     std::to_string(pairs) + " pairs",
                                          "checkpoint written to " + plan.path, "continue with --resume " + plan.path));
        }
        if (plan.every > 0 && done - saved >= plan.every) {
            write_checkpoint(plan, checksum, batch, done);
            plan.written = true;
            saved = done;
        }
    }
    return batch;
}

}  // namespace scorekit
