// Checkpoints of geodesic runs over many pairs. Each pair is solved on its own (a chunk only
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

// The map of a run: "boundary value", "exp" or "log". Boundary-value runs store no map, so that
// their checkpoints written before --exp and --log had any still resume.
std::string plan_map(const GeodesicCheckpointPlan& plan) {
    for (const auto& [name, value] : plan.settings) {
        if (name == "map") return value;
    }
    return "boundary value";
}

std::string saved_map(const Hdf5Reader& file) {
    return file.has_attribute("/checkpoint", "map") ? file.read_string_attribute("/checkpoint", "map") : "boundary value";
}

// Raise a map's revision when a change alters the results of a resumed run of it (see
// write_results_revision). Revision 2 of the log map shoots each Newton trial with its Jacobian
// shots and retries stalled pairs by continuation. Revision 3 stores the boundary-value lengths
// and their estimated errors, which the length check compares.
int results_revision(const std::string& map) { return map == "log" ? 3 : 1; }

// The largest pair count a checkpoint may claim, far above any real run.
constexpr std::int64_t kMaxCount = std::int64_t{1} << 52;

std::vector<std::int64_t> stored_shape(const PairColumn& column, Eigen::Index pairs) {
    if (column.rows_per_pair == 1 && column.columns == 1) return {pairs};
    if (column.rows_per_pair == 1) return {pairs, column.columns};
    return {pairs, column.rows_per_pair, column.columns};
}

void write_checkpoint(const GeodesicCheckpointPlan& plan, const std::string& checksum, const PairResults& results,
                      Eigen::Index pairs, Eigen::Index done) {
    Hdf5Writer file(plan.path);
    file.create_group("/checkpoint");
    file.write_attribute("/checkpoint", "pairs_done", static_cast<std::int64_t>(done));
    file.write_attribute("/checkpoint", "pairs", static_cast<std::int64_t>(pairs));
    file.write_attribute("/checkpoint", "pairs_checksum", checksum);
    write_checkpoint_settings(file, "/checkpoint", plan.settings);
    write_results_revision(file, "/checkpoint", results_revision(plan_map(plan)));
    for (const PairColumn& column : results) {
        const std::string name = "/checkpoint/" + column.name;
        if (column.integer) {
            file.write_integer_array(name, stored_shape(column, done), column.values.data());
        } else {
            file.write_array(name, stored_shape(column, done), column.values.data());
        }
    }
    file.commit();
}

// The first setting, count or column that differs from the checkpoint's, as "NAME is X but the
// checkpoint has Y"; empty when all agree.
std::string settings_mismatch(const Hdf5Reader& file, const GeodesicCheckpointPlan& plan, Eigen::Index pairs,
                              const std::string& checksum, const PairResults& layout) {
    // The map is compared first because another map's checkpoint has other columns, and "map is
    // exp" explains the mismatch better than a missing column does.
    const std::string map = plan_map(plan), saved = saved_map(file);
    if (saved != map) return "map is " + map + " but the checkpoint has " + saved;

    std::string mismatch = checkpoint_settings_mismatch(file, "/checkpoint", plan.settings);
    if (!mismatch.empty()) return mismatch;
    // Whole numbers only: a NaN or huge count would make the cast undefined.
    const Eigen::Index saved_pairs = file.read_integer_attribute("/checkpoint", "pairs", 0, kMaxCount);
    if (saved_pairs != pairs) {
        return "the run has " + std::to_string(pairs) + " pairs but the checkpoint has " + std::to_string(saved_pairs);
    }
    if (file.read_string_attribute("/checkpoint", "pairs_checksum") != checksum) {
        return "the pairs differ from those of the checkpoint";
    }
    for (const PairColumn& column : layout) {
        if (!file.exists("/checkpoint/" + column.name)) {
            return "the output needs " + column.name + ", which the checkpoint does not have";
        }
    }
    return "";
}

void check_checkpoint(const Hdf5Reader& file, const GeodesicCheckpointPlan& plan, Eigen::Index pairs,
                      const std::string& checksum, const PairResults& layout) {
    if (!file.exists("/checkpoint") || !file.has_attribute("/checkpoint", "pairs_done")) {
        throw Error(describe("cannot resume from", plan.resume, "no /checkpoint group with pairs_done",
                             "give a checkpoint written by geodesic (OUTPUT.ckpt)"));
    }
    // A checkpoint of another map fails the settings check below, with a clearer message.
    const std::string map = plan_map(plan);
    if (saved_map(file) == map) check_results_revision(file, "/checkpoint", results_revision(map), plan.resume);
    std::string mismatch = settings_mismatch(file, plan, pairs, checksum, layout);
    if (!mismatch.empty()) {
        throw UsageError(describe("cannot resume from", plan.resume, mismatch,
                                  "resume with the options and data of the interrupted run"));
    }
    file.read_integer_attribute("/checkpoint", "pairs_done", 0, pairs);
}

// Loads the pairs that plan.resume solved into the first rows of `results` and returns their
// number.
Eigen::Index read_checkpoint(const GeodesicCheckpointPlan& plan, Eigen::Index pairs, const std::string& checksum,
                             PairResults& results) {
    Hdf5Reader file(plan.resume);
    check_checkpoint(file, plan, pairs, checksum, results);
    const Eigen::Index done = file.read_integer_attribute("/checkpoint", "pairs_done", 0, pairs);
    for (PairColumn& column : results) {
        Array stored = file.read_array("/checkpoint/" + column.name);
        const Eigen::Index rows = done * column.rows_per_pair;
        if (done < 0 || done > pairs || stored.shape != stored_shape(column, done)) {
            throw Error(describe("cannot resume from", plan.resume,
                                 "its " + column.name + " does not hold pairs_done entries",
                                 "start the run again without --resume"));
        }
        column.values.topRows(rows) = Eigen::Map<const RowMatrix>(stored.values.data(), rows, column.columns);
    }
    return done;
}

// Copies the results of `chunk` into `results` from pair `first` on.
void place(PairResults& results, const PairResults& chunk, Eigen::Index first) {
    for (size_t k = 0; k < results.size(); ++k) {
        PairColumn& column = results[k];
        const RowMatrix& values = chunk[k].values;
        if (values.cols() != column.columns || values.rows() % column.rows_per_pair != 0) {
            throw Error(describe("internal error in", "geodesic checkpoints", column.name + " has a wrong shape", ""));
        }
        column.values.middleRows(first * column.rows_per_pair, values.rows()) = values;
    }
}

}  // namespace

const RowMatrix& column_values(const PairResults& results, const std::string& name) {
    for (const PairColumn& column : results) {
        if (column.name == name) return column.values;
    }
    throw Error(describe("internal error in", "geodesic results", "no column " + name, ""));
}

std::string pairs_checksum(const RowMatrix& starts, const RowMatrix& ends) { return checksum_text({&starts, &ends}); }

void check_resume(const GeodesicCheckpointPlan& plan, Eigen::Index pairs, const std::string& checksum,
                  const PairResults& layout) {
    if (plan.resume.empty()) return;
    check_checkpoint_format(plan.resume, "geodesic");
    check_checkpoint(Hdf5Reader(plan.resume), plan, pairs, checksum, layout);
}

PairResults solve_in_chunks(Eigen::Index pairs, Eigen::Index chunk, const std::string& checksum,
                            const PairResults& layout, GeodesicCheckpointPlan& plan, const ChunkSolver& solve,
                            const PairProgress& progress) {
    PairResults results = layout;
    for (PairColumn& column : results) column.values = RowMatrix::Zero(pairs * column.rows_per_pair, column.columns);
    Eigen::Index done = 0;
    if (!plan.resume.empty()) {
        done = read_checkpoint(plan, pairs, checksum, results);
        log_info("resuming from " + plan.resume + ": " + std::to_string(done) + " of " + std::to_string(pairs) +
                 " pairs already solved");
    }
    Eigen::Index saved = done;
    // The first report sets where the progress rate starts counting.
    if (progress) progress(done, pairs);

    while (done < pairs) {
        const Eigen::Index count = std::min<Eigen::Index>(chunk, pairs - done);
        place(results, solve(done, count), done);
        done += count;
        if (progress) progress(done, pairs);
        if (plan.path.empty() || done == pairs) continue;

        if (interrupt_requested()) {
            write_checkpoint(plan, checksum, results, pairs, done);
            plan.written = true;
            throw Interrupted(describe_at("geodesics interrupted", "after " + std::to_string(done) + " of " +
                                                                     std::to_string(pairs) + " pairs",
                                          "checkpoint written to " + plan.path, "continue with --resume " + plan.path));
        }
        if (plan.every > 0 && done - saved >= plan.every) {
            write_checkpoint(plan, checksum, results, pairs, done);
            plan.written = true;
            saved = done;
        }
    }
    return results;
}

namespace {

// The columns of boundary-value results; `batch` may hold no pairs (a layout).
PairResults batch_columns(const GeodesicBatch& batch, Eigen::Index dim, bool keep_paths) {
    const Eigen::Index pairs = batch.lengths.size();
    RowMatrix iterations(pairs, 1), status(pairs, 1);
    for (Eigen::Index p = 0; p < pairs; ++p) {
        iterations(p, 0) = batch.iterations[static_cast<size_t>(p)];
        status(p, 0) = static_cast<double>(batch.status[static_cast<size_t>(p)]);
    }
    PairResults columns = {{"lengths", 1, 1, false, batch.lengths},
                           {"energies", 1, 1, false, batch.energies},
                           {"iterations", 1, 1, true, iterations},
                           {"status", 1, 1, true, status}};
    if (keep_paths) columns.push_back({"paths", batch.nodes, dim, false, batch.paths});
    return columns;
}

GeodesicBatch batch_from_columns(const PairResults& columns, int nodes, bool keep_paths) {
    GeodesicBatch batch;
    batch.nodes = nodes;
    batch.lengths = column_values(columns, "lengths").col(0);
    batch.energies = column_values(columns, "energies").col(0);
    const RowMatrix& iterations = column_values(columns, "iterations");
    const RowMatrix& status = column_values(columns, "status");
    for (Eigen::Index p = 0; p < batch.lengths.size(); ++p) {
        batch.iterations.push_back(static_cast<int>(iterations(p, 0)));
        batch.status.push_back(static_cast<GeodesicStatus>(static_cast<int>(status(p, 0))));
    }
    if (keep_paths) batch.paths = column_values(columns, "paths");
    return batch;
}

PairResults boundary_layout(const GeodesicOptions& solver, Eigen::Index dim, bool keep_paths) {
    GeodesicBatch empty;
    empty.nodes = solver.nodes;
    empty.lengths = empty.energies = Vector(0);
    empty.paths = RowMatrix(0, dim);
    return batch_columns(empty, dim, keep_paths);
}

}  // namespace

void check_resume(const GeodesicCheckpointPlan& plan, const RowMatrix& starts, const RowMatrix& ends) {
    // The check looks only for the columns' names, so the layout's node count does not matter.
    check_resume(plan, starts.rows(), pairs_checksum(starts, ends),
                 boundary_layout(GeodesicOptions{}, starts.cols(), plan.keep_paths));
}

GeodesicBatch solve_with_checkpoints(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                                     const GeodesicOptions& solver, GeodesicCheckpointPlan& plan,
                                     const PairProgress& progress) {
    const Eigen::Index dim = metric.dim();
    const auto solve = [&](Eigen::Index first, Eigen::Index count) {
        GeodesicBatch chunk = solve_geodesics(metric, starts.middleRows(first, count), ends.middleRows(first, count), solver);
        return batch_columns(chunk, dim, plan.keep_paths);
    };
    PairResults results = solve_in_chunks(starts.rows(), solver.batch_size, pairs_checksum(starts, ends),
                                          boundary_layout(solver, dim, plan.keep_paths), plan, solve, progress);
    return batch_from_columns(results, solver.nodes, plan.keep_paths);
}

}  // namespace scorekit
