#include "scorekit/geodesic_command.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "scorekit/atomic_file.hpp"
#include "geodesic_checkpoint.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"
#include "scorekit/metric_curves.hpp"
#include "scorekit/points.hpp"
#include "scorekit/signals.hpp"
#include "scorekit/slurm.hpp"

namespace scorekit {
namespace {

enum class Mode { boundary, all_pairs, exp_map, log_map };

// Reads the coordinates of --from, --to or --velocity as typed (one or more arguments, each
// split at commas). Throws UsageError quoting the typed text for an empty coordinate ("1,,0"),
// one that is not a finite number, or a count other than `dim`, which is how a thousands
// separator ("1,000.5") shows.
RowMatrix as_row(const std::vector<std::string>& arguments, int dim, const char* option) {
    std::string typed;
    for (const auto& argument : arguments) typed += (typed.empty() ? "" : " ") + argument;
    const std::string failure = std::string("invalid ") + option;
    std::vector<double> values;
    for (const auto& argument : arguments) {
        for (size_t start = 0; start <= argument.size();) {
            size_t end = argument.find(',', start);
            if (end == std::string::npos) end = argument.size();
            std::string piece = argument.substr(start, end - start);
            piece.erase(0, piece.find_first_not_of(" \t"));
            piece.erase(piece.find_last_not_of(" \t") + 1);
            const std::string position = "coordinate " + std::to_string(values.size() + 1);
            if (piece.empty()) {
                throw UsageError(describe(failure, typed, position + " is empty",
                                          "give one number per dimension, separated by commas"));
            }
            char* stop = nullptr;
            const double value = std::strtod(piece.c_str(), &stop);
            if (stop != piece.c_str() + piece.size()) {
                throw UsageError(describe(failure, typed, position + ", " + quote(piece) + ", must be a number", ""));
            }
            if (!std::isfinite(value)) {
                throw UsageError(describe(failure, typed, position + ", " + quote(piece) + ", must be a finite number", ""));
            }
            values.push_back(value);
            start = end + 1;
        }
    }
    if (static_cast<int>(values.size()) != dim) {
        const std::string count = std::to_string(values.size()) + (values.size() == 1 ? " value" : " values");
        throw UsageError(describe(failure, typed, count + ", but the model has dimension " + std::to_string(dim),
                                  "give one value per dimension, without thousands separators"));
    }
    return Eigen::Map<const RowMatrix>(values.data(), 1, dim);
}

Mode choose_mode(const GeodesicCommandOptions& o) {
    if (o.exp && o.log) throw UsageError(describe("invalid options", "--exp --log", "choose one map", ""));
    const int sources = !o.from.empty() + !o.pairs.empty() + !o.all_pairs.empty();
    if (sources != 1) {
        throw UsageError(describe_at("invalid input", "with " + std::to_string(sources) + " sources",
                                  "give exactly one of --from, --pairs or --all-pairs", ""));
    }
    if (o.from.empty() && (!o.to.empty() || !o.velocity.empty())) {
        throw UsageError(describe("invalid options", !o.to.empty() ? "--to" : "--velocity",
                                  "it goes with --from, and this run reads its points from a file",
                                  "drop it, or use --from instead"));
    }
    if (!o.all_pairs.empty()) {
        if (o.exp || o.log) {
            throw UsageError(describe("invalid options", "--all-pairs", "it computes distances, not maps",
                                      "drop --exp/--log"));
        }
        return Mode::all_pairs;
    }
    Mode mode = Mode::boundary;
    if (o.exp) mode = Mode::exp_map;
    if (o.log) mode = Mode::log_map;
    if (o.from.empty()) return mode;

    // With --from, the second point must come from the option that matches the mode, so that a
    // stray --to is not silently ignored by --exp (or --velocity by a boundary problem).
    const bool exp = mode == Mode::exp_map;
    const char* needed = exp ? "--velocity" : "--to";
    const char* stray = exp ? "--to" : "--velocity";
    if (!(exp ? o.to : o.velocity).empty()) {
        throw UsageError(describe("invalid options", stray,
                                  exp ? "--exp starts from --from with --velocity and has no end point"
                                      : "--velocity is only used by --exp",
                                  std::string("drop ") + stray + (exp ? "" : " or add --exp")));
    }
    if ((exp ? o.velocity : o.to).empty()) {
        throw UsageError(describe("missing option", needed,
                                  exp ? "--exp needs an initial velocity" : "--from needs an end point",
                                  std::string("pass ") + needed + " with one value per dimension"));
    }
    return mode;
}

// Start rows and end (or velocity) rows from --from/--to/--velocity or a pairs file.
void read_pairs(const GeodesicCommandOptions& o, int dim, Mode mode, RowMatrix& first, RowMatrix& second) {
    if (!o.from.empty()) {
        first = as_row(o.from, dim, "--from");
        if (mode == Mode::exp_map) {
            second = as_row(o.velocity, dim, "--velocity");
        } else {
            second = as_row(o.to, dim, "--to");
        }
        return;
    }
    const std::string second_part = mode == Mode::exp_map ? "velocity" : "end point";
    const std::string layout = "the start point then the " + second_part + ", " + std::to_string(dim) +
                               " coordinates each, for a model of dimension " + std::to_string(dim);
    RowMatrix table = read_points(o.pairs, 2 * dim, layout).values;
    first = table.leftCols(dim);
    second = table.rightCols(dim);
}

// Logs each unconverged pair (the first in full, the rest counted) and returns their count.
Eigen::Index report_unconverged(const std::vector<std::string>& reasons, const std::vector<std::string>& labels) {
    Eigen::Index count = 0;
    for (size_t p = 0; p < reasons.size(); ++p) {
        if (reasons[p].empty()) continue;
        ++count;
        log_warning_once("unconverged", labels[p] + " did not converge: " + reasons[p]);
    }
    return count;
}

// Logs each log map that is longer than its boundary-value path (the first in full, the rest
// counted) and returns their count. Such a velocity is a converged log map, so it stays in the
// output and does not change the exit status. The warning states that a shorter curve exists.
Eigen::Index report_longer(const std::vector<std::string>& findings, const std::vector<std::string>& labels) {
    Eigen::Index count = 0;
    for (size_t p = 0; p < findings.size(); ++p) {
        if (findings[p].empty()) continue;
        ++count;
        log_warning_once("longer log map", labels[p] + ": " + findings[p] +
                                               "; geodesic without --log gives the shorter curve");
    }
    return count;
}

// For each pair, a finding when its converged log map is longer than its boundary-value path, and
// "" otherwise.
std::vector<std::string> longer_log_maps(const Vector& lengths, const RowMatrix& converged,
                                         const Vector& boundary_lengths, const Vector& boundary_errors) {
    std::vector<std::string> findings(static_cast<size_t>(lengths.size()));
    for (Eigen::Index p = 0; p < lengths.size(); ++p) {
        if (converged(p, 0) == 0 || !longer_than_boundary_path(lengths(p), boundary_lengths(p), boundary_errors(p))) {
            continue;
        }
        findings[static_cast<size_t>(p)] = "the log map reaches a geodesic of length " + format_number(lengths(p)) +
                                           ", but the boundary-value path is shorter, " +
                                           format_number(boundary_lengths(p)) + " (estimated error " +
                                           format_short(boundary_errors(p)) + ")";
    }
    return findings;
}

// Throws Error unless every pair converged or --allow-unconverged was given. The hint names the
// options that decide convergence in `mode`, because --nodes and --max-iterations do not help an
// exponential map that met a non-finite metric.
void fail_if_unconverged(const GeodesicCommandOptions& o, Mode mode, Eigen::Index unconverged, Eigen::Index total) {
    if (unconverged == 0 || o.allow_unconverged) return;
    std::string hint = "raise --nodes or --max-iterations, or pass --allow-unconverged";
    if (mode == Mode::exp_map) {
        hint = "check that the metric is finite and not too stiff along their paths, or pass --allow-unconverged";
    } else if (mode == Mode::log_map) {
        hint = "check that the metric is finite between the points, lower --ode-tolerance or raise "
               "--shooting-tolerance, or pass --allow-unconverged";
    }
    throw Error(describe_at(mode == Mode::exp_map ? "geodesic integration failed" : "geodesics did not converge",
                            "in " + std::to_string(unconverged) + " of " + std::to_string(total) + " pairs",
                            "their rows are flagged converged = 0 in the output", hint));
}

// Writes the settings of the run as root attributes, with the integration tolerances of --exp
// and --log, which the boundary-value tolerance does not describe.
void write_attributes(Hdf5Writer& file, const GeodesicCommandOptions& o, const ScoreMetric& metric,
                      Mode mode = Mode::boundary) {
    file.write_attribute("/", "model", o.model);
    file.write_attribute("/", "metric", to_string(metric.kind()));
    file.write_attribute("/", "lambda", metric.lambda());
    file.write_attribute("/", "beta", metric.beta());
    file.write_attribute("/", "sigma", metric.sigma());
    file.write_attribute("/", "nodes", static_cast<std::int64_t>(o.solver.nodes));
    file.write_attribute("/", "tolerance", o.solver.tolerance);
    if (mode == Mode::exp_map || mode == Mode::log_map) file.write_attribute("/", "ode_tolerance", o.integration.tolerance);
    if (mode == Mode::log_map) file.write_attribute("/", "shooting_tolerance", o.shooting_tolerance);
}

Vector flags(const std::vector<std::string>& reasons) {
    Vector result(static_cast<Eigen::Index>(reasons.size()));
    for (size_t p = 0; p < reasons.size(); ++p) result(static_cast<Eigen::Index>(p)) = reasons[p].empty() ? 1 : 0;
    return result;
}

std::vector<std::string> batch_reasons(const GeodesicBatch& batch) {
    std::vector<std::string> reasons;
    for (auto status : batch.status) reasons.push_back(status == GeodesicStatus::converged ? "" : describe_status(status));
    return reasons;
}

// The rows of a --pairs file that one shard solves: [first, first + its row count) of `total`.
// A run without --shard is one shard (spec.count 1) that starts at row 0.
struct RowShard {
    ShardSpec spec;
    Eigen::Index first = 0, total = 0;
    std::string description;  // "shard 1/4: rows [3, 6) of 12", the first line of a text output

    bool active() const { return spec.count > 1; }
};

// Labels "pair <row of the pairs file>" for `count` rows of `shard`.
std::vector<std::string> pair_labels(Eigen::Index count, const RowShard& shard) {
    std::vector<std::string> labels;
    for (Eigen::Index p = 0; p < count; ++p) labels.push_back("pair " + std::to_string(shard.first + p));
    return labels;
}

// The `pair` column of a text output: the rows' numbers in the whole pairs file.
Vector pair_numbers(Eigen::Index count, const RowShard& shard) {
    Vector numbers(count);
    for (Eigen::Index p = 0; p < count; ++p) numbers(p) = static_cast<double>(shard.first + p);
    return numbers;
}

// Records a shard's place at the root of an HDF5 output, where merge-shards.py rows reads it.
void write_shard_attributes(Hdf5Writer& file, const RowShard& shard) {
    if (!shard.active()) return;
    file.write_attribute("/", "shard", std::to_string(shard.spec.index) + "/" + std::to_string(shard.spec.count));
    file.write_attribute("/", "first_row", static_cast<std::int64_t>(shard.first));
    file.write_attribute("/", "total_rows", static_cast<std::int64_t>(shard.total));
}

// Writes --paths, for a shard with the text rows numbered by their row in the whole pairs file
// and the shard recorded (text: the first comment line; HDF5: root attributes).
void write_shard_paths(const std::string& spec, const RowMatrix& paths, Eigen::Index count, Eigen::Index nodes,
                       const RowShard& shard) {
    if (!shard.active()) return write_paths(spec, paths, count, nodes);
    write_paths(spec, paths, count, nodes, shard.first, shard.description,
                [&](Hdf5Writer& file) { write_shard_attributes(file, shard); });
}

// The checkpoints of a run over `pairs` pairs that writes `output`: --checkpoint, else
// OUTPUT.ckpt for a file output, else the --resume file. A run of one chunk writes none, because
// it stops only once everything is solved. `extra` adds the map's settings.
GeodesicCheckpointPlan checkpoint_plan(const GeodesicCommandOptions& o, const ScoreMetric& metric,
                                       const std::string& output, Eigen::Index pairs, bool keep_paths,
                                       const CheckpointSettings& extra = {}, bool uses_boundary_solver = true) {
    GeodesicCheckpointPlan plan;
    plan.resume = o.resume;
    plan.every = o.checkpoint_every;
    plan.keep_paths = keep_paths;
    plan.settings = metric_checkpoint_settings(o.model, metric);
    plan.settings.insert(plan.settings.end(), {{"nodes", std::to_string(o.solver.nodes)},
                                               {"batch_size", std::to_string(o.solver.batch_size)}});
    // The boundary solver's settings decide only the runs that solve boundary-value problems
    // (--log takes its first guess from one), so an --exp run resumes with any of them.
    if (uses_boundary_solver) {
        plan.settings.insert(plan.settings.end(), {{"tolerance", exact_text(o.solver.tolerance)},
                                                   {"max_iterations", std::to_string(o.solver.max_iterations)},
                                                   {"resolution", exact_text(o.solver.resolution)},
                                                   {"memory", std::to_string(o.solver.memory)}});
    }
    plan.settings.insert(plan.settings.end(), extra.begin(), extra.end());
    if (!o.checkpoint.empty()) {
        plan.path = o.checkpoint;
    } else if (output != "-") {
        plan.path = output + ".ckpt";
    } else if (!o.resume.empty()) {
        // A run resumed onto standard output keeps checkpointing to the file it resumed from, and
        // removes it once done, as a file output does with OUTPUT.ckpt.
        plan.path = o.resume;
    }
    if (plan.path.empty() || pairs <= o.solver.batch_size) {
        plan.path.clear();
        return plan;
    }
    check_distinct_files({{"--checkpoint", plan.path}, {"--output", output}, {"--paths", o.paths}},
                         {{"--model", o.model}, {"--pairs", o.pairs}, {"--all-pairs", o.all_pairs}});
    check_output_writable(plan.path, "--checkpoint");
    return plan;
}

// The progress of a run over many pairs. In a batch log it writes a line every 10 s, as the
// other tools do, because a line per chunk ran to thousands of lines for a distance matrix.
// With -v it writes one after every chunk. When the plan writes checkpoints, SIGINT and SIGTERM
// stop the run after the current chunk, with a checkpoint.
class ChunkProgress {
public:
    ChunkProgress(const std::string& what, Eigen::Index pairs, const GeodesicCheckpointPlan& plan)
        : progress_(what, static_cast<std::uint64_t>(pairs), verbosity() >= Verbosity::verbose ? 0.0 : 10.0) {
        if (!plan.path.empty()) catch_interrupts();
    }

    PairProgress callback() {
        return [this](std::int64_t done, std::int64_t total) {
            if (done < total) progress_.update(static_cast<std::uint64_t>(done));
        };
    }

    void finish() { progress_.finish(); }

private:
    Progress progress_;
};

std::string chunks_text(Eigen::Index pairs, Eigen::Index batch_size) {
    const Eigen::Index chunks = (pairs + batch_size - 1) / batch_size;
    return std::to_string(chunks) + (chunks == 1 ? " chunk" : " chunks") + " of up to " + std::to_string(batch_size) +
           " pairs";
}

// Checks --resume, logs `action` ("integrating", "shooting") and solves the pairs chunk by
// chunk with progress and checkpoints.
PairResults solve_pairs(const GeodesicCommandOptions& o, const ScoreMetric& metric, const std::string& action,
                        const std::string& noun, Eigen::Index count, const std::string& checksum,
                        const PairResults& layout, GeodesicCheckpointPlan& plan, const ChunkSolver& solve) {
    check_resume(plan, count, checksum, layout);
    log_info(action + " " + std::to_string(count) + " geodesics under the " + to_string(metric.kind()) +
             " metric, in " + chunks_text(count, o.solver.batch_size));
    ChunkProgress progress(noun, count, plan);
    PairResults solved = solve_in_chunks(count, o.solver.batch_size, checksum, layout, plan, solve, progress.callback());
    progress.finish();
    return solved;
}

GeodesicBatch solve_with_progress(const ScoreMetric& metric, const RowMatrix& starts, const RowMatrix& ends,
                                  const GeodesicOptions& solver, GeodesicCheckpointPlan& plan) {
    const Eigen::Index pairs = starts.rows();
    log_info("solving " + std::to_string(pairs) + " geodesics with " + std::to_string(solver.nodes) +
             " nodes under the " + to_string(metric.kind()) + " metric, in " + chunks_text(pairs, solver.batch_size));
    ChunkProgress progress("geodesics", pairs, plan);
    GeodesicBatch batch = solve_with_checkpoints(metric, starts, ends, solver, plan, progress.callback());
    progress.finish();
    return batch;
}

void run_boundary(const GeodesicCommandOptions& o, const ScoreMetric& metric, const RowMatrix& starts,
                  const RowMatrix& ends, const RowShard& shard) {
    const Eigen::Index count = starts.rows();
    PointLocation location = locate_points(o.common.output, "/lengths", true);
    GeodesicCheckpointPlan plan = checkpoint_plan(o, metric, o.common.output, count, location.hdf5 || !o.paths.empty());
    check_resume(plan, starts, ends);
    GeodesicBatch batch = solve_with_progress(metric, starts, ends, o.solver, plan);
    std::vector<std::string> reasons = batch_reasons(batch);
    Vector iterations(count);
    for (Eigen::Index p = 0; p < count; ++p) iterations(p) = batch.iterations[static_cast<size_t>(p)];

    if (location.hdf5) {
        Hdf5Writer file(location.path);
        file.write_array("/paths", {count, batch.nodes, metric.dim()}, batch.paths.data());
        file.write_array("/lengths", {count}, batch.lengths.data());
        file.write_array("/energies", {count}, batch.energies.data());
        file.write_integer_array("/iterations", {count}, iterations.data());
        Vector converged = flags(reasons);
        file.write_integer_array("/converged", {count}, converged.data());
        write_attributes(file, o, metric);
        write_shard_attributes(file, shard);
        file.commit();
    } else {
        RowMatrix table(count, 5);
        table.col(0) = pair_numbers(count, shard);
        table.col(1) = batch.lengths;
        table.col(2) = batch.energies;
        table.col(3) = iterations;
        table.col(4) = flags(reasons);
        write_points(o.common.output, table, {"pair", "length", "energy", "iterations", "converged"}, shard.description);
    }
    if (!o.paths.empty()) write_shard_paths(o.paths, batch.paths, count, batch.nodes, shard);
    remove_finished_checkpoint(plan.path, plan.written, plan.resume);

    const Eigen::Index unconverged = report_unconverged(reasons, pair_labels(count, shard));
    log_summary(std::to_string(count) + " geodesics, " + std::to_string(unconverged) + " unconverged");
    fail_if_unconverged(o, Mode::boundary, unconverged, count);
}

// Writes a shard of --all-pairs as rows (i, j, length, converged), one per pair of the shard,
// which share/slurm/merge-shards.py assembles into the distance matrix of a single run. A text
// table starts with the comment line "# <shard_description>", from which the merge checks the order.
void write_pair_table(const GeodesicCommandOptions& o, const std::string& output, const ScoreMetric& metric,
                      const std::vector<std::pair<Eigen::Index, Eigen::Index>>& pairs, const GeodesicBatch& batch,
                      const std::vector<std::string>& reasons, Eigen::Index points, ShardSpec shard,
                      const std::string& shard_description) {
    RowMatrix table(static_cast<Eigen::Index>(pairs.size()), 4);
    for (size_t k = 0; k < pairs.size(); ++k) {
        const auto row = static_cast<Eigen::Index>(k);
        table(row, 0) = static_cast<double>(pairs[k].first);
        table(row, 1) = static_cast<double>(pairs[k].second);
        table(row, 2) = batch.lengths(row);
        table(row, 3) = reasons[k].empty() ? 1 : 0;
    }
    PointLocation location = locate_points(output, "/pairs", true);
    if (!location.hdf5) {
        write_points(output, table, {"i", "j", "length", "converged"}, shard_description);
        return;
    }
    Hdf5Writer file(location.path);
    file.write_matrix("/pairs", table);
    write_attributes(file, o, metric);
    file.write_attribute("/pairs", "columns", std::string("i, j, length, converged"));
    file.write_attribute("/pairs", "source", o.all_pairs);
    file.write_attribute("/pairs", "points", static_cast<std::int64_t>(points));
    file.write_attribute("/pairs", "shard", std::to_string(shard.index) + "/" + std::to_string(shard.count));
    file.commit();
}

// A text distance matrix has no column for flags, so its unconverged pairs are listed in a
// comment line before it (up to 20, then their count), which readers of the matrix skip. Empty
// when every pair converged.
std::string unconverged_comment(const std::vector<std::pair<Eigen::Index, Eigen::Index>>& pairs,
                                const std::vector<std::string>& reasons) {
    std::string list;
    size_t count = 0;
    for (size_t k = 0; k < pairs.size(); ++k) {
        if (reasons[k].empty()) continue;
        if (++count <= 20) {
            list += (count > 1 ? ", " : "") + std::string("(") + std::to_string(pairs[k].first) + ", " +
                    std::to_string(pairs[k].second) + ")";
        }
    }
    if (count == 0) return "";
    if (count > 20) list += " and " + std::to_string(count - 20) + " more";
    return "not converged, so not geodesic distances: the lengths of pairs (i, j, from 0) " + list;
}

void run_all_pairs(const GeodesicCommandOptions& options, const ScoreMetric& metric) {
    GeodesicCommandOptions o = options;
    const ShardSpec shard = o.shard.empty() ? shard_from_environment() : parse_shard(o.shard);
    shard_checkpoint_names(o.checkpoint, o.resume, shard, o.shard.empty());
    check_checkpoint_names(o.checkpoint, o.resume);
    RowMatrix points = read_points(o.all_pairs, metric.dim()).values;
    const Eigen::Index n = points.rows();
    auto pairs = upper_triangle_pairs(n);
    const std::string output = shard_output_path(o.common.output, shard, o.shard.empty());
    const std::string paths = shard_output_path(o.paths, shard, o.shard.empty(), "--paths");
    std::string shard_description;
    if (shard.count > 1) {
        const ShardRange range = shard_range(static_cast<std::int64_t>(pairs.size()), shard);
        shard_description = "shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) + ": pairs [" +
                            std::to_string(range.begin) + ", " + std::to_string(range.end) + ") of " +
                            std::to_string(pairs.size()) + " pairs of " + std::to_string(n) + " points";
        log_info(shard_description);
        pairs = std::vector<std::pair<Eigen::Index, Eigen::Index>>(pairs.begin() + range.begin,
                                                                   pairs.begin() + range.end);
    }
    RowMatrix starts(static_cast<Eigen::Index>(pairs.size()), metric.dim()), ends(starts.rows(), metric.dim());
    for (size_t k = 0; k < pairs.size(); ++k) {
        starts.row(static_cast<Eigen::Index>(k)) = points.row(pairs[k].first);
        ends.row(static_cast<Eigen::Index>(k)) = points.row(pairs[k].second);
    }
    GeodesicCheckpointPlan plan = checkpoint_plan(o, metric, output, starts.rows(), !paths.empty());
    check_resume(plan, starts, ends);
    GeodesicBatch batch = solve_with_progress(metric, starts, ends, o.solver, plan);
    std::vector<std::string> reasons = batch_reasons(batch);

    RowMatrix distances = RowMatrix::Zero(n, n), converged = RowMatrix::Ones(n, n);
    std::vector<std::string> labels;
    for (size_t k = 0; k < pairs.size(); ++k) {
        const auto [i, j] = pairs[k];
        distances(i, j) = distances(j, i) = batch.lengths(static_cast<Eigen::Index>(k));
        converged(i, j) = converged(j, i) = reasons[k].empty() ? 1 : 0;
        labels.push_back("pair (" + std::to_string(i) + ", " + std::to_string(j) + ")");
    }

    PointLocation location = locate_points(output, "/distances", true);
    if (shard.count > 1) {
        write_pair_table(o, output, metric, pairs, batch, reasons, n, shard, shard_description);
    } else if (location.hdf5) {
        Hdf5Writer file(location.path);
        file.write_matrix("/distances", distances);
        file.write_integer_array("/converged", {n, n}, converged.data());
        write_attributes(file, o, metric);
        file.write_attribute("/distances", "source", o.all_pairs);
        file.commit();
    } else {
        write_points(output, distances, {}, unconverged_comment(pairs, reasons));
    }
    if (!paths.empty()) write_paths(paths, batch.paths, starts.rows(), batch.nodes);
    remove_finished_checkpoint(plan.path, plan.written, plan.resume);

    const Eigen::Index unconverged = report_unconverged(reasons, labels);
    log_summary(std::to_string(n) + " points, " + std::to_string(pairs.size()) + " geodesics, " +
                std::to_string(unconverged) + " unconverged");
    fail_if_unconverged(o, Mode::all_pairs, unconverged, static_cast<Eigen::Index>(pairs.size()));
}

// The column of 0/1 flags `ok` as a pair result.
RowMatrix flag_column(const std::vector<char>& ok) {
    RowMatrix column(static_cast<Eigen::Index>(ok.size()), 1);
    for (size_t k = 0; k < ok.size(); ++k) column(static_cast<Eigen::Index>(k), 0) = ok[k] ? 1 : 0;
    return column;
}

void run_exp_map(const GeodesicCommandOptions& o, const ScoreMetric& metric, const RowMatrix& starts,
                 const RowMatrix& velocities, const RowShard& shard) {
    ExpMapOptions integration = o.integration;
    integration.nodes = o.solver.nodes;
    const Eigen::Index count = starts.rows(), d = metric.dim();
    PointLocation location = locate_points(o.common.output, "/ends", true);
    const bool keep_paths = location.hdf5 || !o.paths.empty();
    GeodesicCheckpointPlan plan = checkpoint_plan(o, metric, o.common.output, count, keep_paths,
                                                  {{"map", "exp"}, {"ode_tolerance", exact_text(integration.tolerance)}}, false);
    PairResults layout = {{"ends", 1, d, false, {}}, {"end_velocities", 1, d, false, {}}, {"ok", 1, 1, true, {}}};
    if (keep_paths) layout.push_back({"paths", integration.nodes, d, false, {}});
    const auto integrate_chunk = [&](Eigen::Index first, Eigen::Index rows) {
        ExpMapResult part = exponential_map(metric, starts.middleRows(first, rows), velocities.middleRows(first, rows),
                                            integration);
        PairResults columns = {{"ends", 1, d, false, part.ends},
                               {"end_velocities", 1, d, false, part.end_velocities},
                               {"ok", 1, 1, true, flag_column(part.ok)}};
        if (keep_paths) columns.push_back({"paths", integration.nodes, d, false, part.paths});
        return columns;
    };
    PairResults solved = solve_pairs(o, metric, "integrating", "geodesics", count, pairs_checksum(starts, velocities),
                                     layout, plan, integrate_chunk);
    ExpMapResult result;
    result.nodes = integration.nodes;
    result.ends = column_values(solved, "ends");
    result.end_velocities = column_values(solved, "end_velocities");
    const RowMatrix& ok = column_values(solved, "ok");
    for (Eigen::Index p = 0; p < count; ++p) result.ok.push_back(ok(p, 0) != 0);
    if (keep_paths) result.paths = column_values(solved, "paths");
    std::vector<std::string> reasons;
    for (char ok : result.ok) reasons.push_back(ok ? "" : "the integration failed (non-finite metric or step limit)");

    if (location.hdf5) {
        Hdf5Writer file(location.path);
        file.write_array("/paths", {count, result.nodes, d}, result.paths.data());
        file.write_matrix("/ends", result.ends);
        file.write_matrix("/end_velocities", result.end_velocities);
        Vector converged = flags(reasons);
        file.write_integer_array("/converged", {count}, converged.data());
        write_attributes(file, o, metric, Mode::exp_map);
        write_shard_attributes(file, shard);
        file.commit();
    } else {
        RowMatrix table(count, 2 * d + 2);
        table.col(0) = pair_numbers(count, shard);
        table.middleCols(1, d) = result.ends;
        table.middleCols(1 + d, d) = result.end_velocities;
        table.col(2 * d + 1) = flags(reasons);
        std::vector<std::string> columns = {"pair"};
        for (Eigen::Index j = 1; j <= d; ++j) columns.push_back("x" + std::to_string(j));
        for (Eigen::Index j = 1; j <= d; ++j) columns.push_back("v" + std::to_string(j));
        columns.push_back("converged");
        write_points(o.common.output, table, columns, shard.description);
    }
    if (!o.paths.empty()) write_shard_paths(o.paths, result.paths, count, result.nodes, shard);
    remove_finished_checkpoint(plan.path, plan.written, plan.resume);

    const Eigen::Index failed = report_unconverged(reasons, pair_labels(count, shard));
    log_summary(std::to_string(count) + " geodesics, " + std::to_string(failed) + " failed");
    fail_if_unconverged(o, Mode::exp_map, failed, count);
}

void run_log_map(const GeodesicCommandOptions& o, const ScoreMetric& metric, const RowMatrix& starts,
                 const RowMatrix& ends, const RowShard& shard) {
    LogMapOptions options;
    options.boundary = o.solver;
    options.integration = o.integration;
    options.tolerance = o.shooting_tolerance;
    const Eigen::Index count = starts.rows(), d = metric.dim();
    const bool keep_paths = !o.paths.empty();
    GeodesicCheckpointPlan plan =
        checkpoint_plan(o, metric, o.common.output, count, keep_paths,
                        {{"map", "log"},
                         {"ode_tolerance", exact_text(options.integration.tolerance)},
                         {"shooting_tolerance", exact_text(options.tolerance)}});
    // The boundary-value lengths and their errors go into the checkpoint too, so that the length
    // check covers the pairs that a resumed run takes from it.
    PairResults layout = {{"velocities", 1, d, false, {}},
                          {"lengths", 1, 1, false, {}},
                          {"residuals", 1, 1, false, {}},
                          {"iterations", 1, 1, true, {}},
                          {"converged", 1, 1, true, {}},
                          {"boundary_lengths", 1, 1, false, {}},
                          {"boundary_errors", 1, 1, false, {}}};
    // --paths gets exp_x(v) sampled at --nodes points, integrated again from the found velocity.
    ExpMapOptions along = options.integration;
    along.nodes = o.solver.nodes;
    if (keep_paths) layout.push_back({"paths", along.nodes, d, false, {}});
    const auto shoot_chunk = [&](Eigen::Index first, Eigen::Index rows) {
        LogMapResult part = logarithmic_map(metric, starts.middleRows(first, rows), ends.middleRows(first, rows), options);
        RowMatrix iterations(rows, 1);
        for (Eigen::Index p = 0; p < rows; ++p) iterations(p, 0) = part.iterations[static_cast<size_t>(p)];
        PairResults columns = {{"velocities", 1, d, false, part.velocities},
                               {"lengths", 1, 1, false, part.lengths},
                               {"residuals", 1, 1, false, part.residuals},
                               {"iterations", 1, 1, true, iterations},
                               {"converged", 1, 1, true, flag_column(part.converged)},
                               {"boundary_lengths", 1, 1, false, part.boundary_lengths},
                               {"boundary_errors", 1, 1, false, part.boundary_errors}};
        if (keep_paths) {
            ExpMapResult path = exponential_map(metric, starts.middleRows(first, rows), part.velocities, along);
            columns.push_back({"paths", along.nodes, d, false, path.paths});
        }
        return columns;
    };
    PairResults solved =
        solve_pairs(o, metric, "shooting", "log maps", count, pairs_checksum(starts, ends), layout, plan, shoot_chunk);
    LogMapResult result;
    result.velocities = column_values(solved, "velocities");
    result.lengths = column_values(solved, "lengths").col(0);
    result.residuals = column_values(solved, "residuals").col(0);
    std::vector<std::string> reasons;
    Vector iterations = column_values(solved, "iterations").col(0);
    const RowMatrix& found = column_values(solved, "converged");
    const std::vector<std::string> longer =
        longer_log_maps(result.lengths, found, column_values(solved, "boundary_lengths").col(0),
                        column_values(solved, "boundary_errors").col(0));
    for (Eigen::Index p = 0; p < count; ++p) {
        if (found(p, 0) != 0) {
            reasons.emplace_back();
        } else if (!std::isfinite(result.residuals(p))) {
            reasons.push_back("every shot failed (non-finite metric or step limit)");
        } else {
            reasons.push_back("shooting missed the end point by " + format_number(result.residuals(p)));
        }
    }

    PointLocation location = locate_points(o.common.output, "/velocities", true);
    if (location.hdf5) {
        Hdf5Writer file(location.path);
        file.write_matrix("/velocities", result.velocities);
        file.write_array("/lengths", {count}, result.lengths.data());
        file.write_array("/residuals", {count}, result.residuals.data());
        file.write_integer_array("/iterations", {count}, iterations.data());
        Vector converged = flags(reasons);
        file.write_integer_array("/converged", {count}, converged.data());
        write_attributes(file, o, metric, Mode::log_map);
        write_shard_attributes(file, shard);
        file.commit();
    } else {
        RowMatrix table(count, d + 5);
        table.col(0) = pair_numbers(count, shard);
        table.middleCols(1, d) = result.velocities;
        table.col(d + 1) = result.lengths;
        table.col(d + 2) = result.residuals;
        table.col(d + 3) = iterations;
        table.col(d + 4) = flags(reasons);
        std::vector<std::string> columns = {"pair"};
        for (Eigen::Index j = 1; j <= d; ++j) columns.push_back("v" + std::to_string(j));
        columns.insert(columns.end(), {"length", "residual", "iterations", "converged"});
        write_points(o.common.output, table, columns, shard.description);
    }
    if (keep_paths) write_shard_paths(o.paths, column_values(solved, "paths"), count, along.nodes, shard);
    remove_finished_checkpoint(plan.path, plan.written, plan.resume);

    const Eigen::Index unconverged = report_unconverged(reasons, pair_labels(count, shard));
    const Eigen::Index not_shortest = report_longer(longer, pair_labels(count, shard));
    log_summary(std::to_string(count) + " log maps, " + std::to_string(unconverged) + " unconverged" +
                (not_shortest ? ", " + std::to_string(not_shortest) + " longer than the boundary-value path" : ""));
    fail_if_unconverged(o, Mode::log_map, unconverged, count);
}

// Keeps the rows of `first` and `second` that the shard of a --pairs run solves (--shard, else the
// SLURM array variables) and points the outputs of `o` at the shard's file names. Rows do not
// interact, so the shards' rows equal those of one run for analytic models.
RowShard select_shard(GeodesicCommandOptions& o, RowMatrix& first, RowMatrix& second) {
    RowShard shard;
    shard.spec = o.shard.empty() ? shard_from_environment() : parse_shard(o.shard);
    shard.total = first.rows();
    o.common.output = shard_output_path(o.common.output, shard.spec, o.shard.empty());
    o.paths = shard_output_path(o.paths, shard.spec, o.shard.empty(), "--paths");
    shard_checkpoint_names(o.checkpoint, o.resume, shard.spec, o.shard.empty());
    if (!shard.active()) return shard;

    const ShardRange range = shard_range(static_cast<std::int64_t>(shard.total), shard.spec);
    shard.first = static_cast<Eigen::Index>(range.begin);
    const auto rows = static_cast<Eigen::Index>(range.end - range.begin);
    shard.description = "shard " + std::to_string(shard.spec.index) + "/" + std::to_string(shard.spec.count) +
                        ": rows [" + std::to_string(range.begin) + ", " + std::to_string(range.end) + ") of " +
                        std::to_string(shard.total);
    log_info(shard.description + (rows == 0 ? ", none to solve" : ""));
    first = first.middleRows(shard.first, rows).eval();
    second = second.middleRows(shard.first, rows).eval();
    return shard;
}

}  // namespace

void run_geodesic(const GeodesicCommandOptions& o, const ScoreModel& model) {
    check_no_dataset(o.common.output, "--output");
    check_no_dataset(o.paths, "--paths");
    check_checkpoint_names(o.checkpoint, o.resume);
    check_distinct_files({{"--output", o.common.output}, {"--paths", o.paths}},
                         {{"--model", o.model}, {"--pairs", o.pairs}, {"--all-pairs", o.all_pairs}});
    check_output_writable(o.paths, "--paths");  // before the solve, as run_tool does for -o
    model.require_dimension(o.model);
    MetricOptions settings = o.settings;
    settings.kind = parse_metric_kind(o.metric);
    require_geodesic_metric(settings.kind);
    check_metric_support(model, settings.kind, o.model);
    const Mode mode = choose_mode(o);
    // An --exp path may have 2 nodes, its ends (exponential_map() checks that minimum); the
    // boundary solver of the other modes needs 3.
    GeodesicOptions solver = o.solver;
    if (mode == Mode::exp_map) solver.nodes = std::max(solver.nodes, 3);
    check_geodesic_options(solver);
    ScoreMetric metric(model, settings);
    if (!o.shard.empty() && !o.from.empty()) {
        throw UsageError(describe("invalid option", "--shard", "a --from run has one pair, which cannot be split",
                                  "remove --shard, or give the pairs with --pairs"));
    }
    if (o.checkpoint_every < 0) {
        throw UsageError(describe("invalid --checkpoint-every", std::to_string(o.checkpoint_every), "must be >= 0"));
    }
    if (mode == Mode::all_pairs) {
        run_all_pairs(o, metric);
        return;
    }

    RowMatrix first, second;
    read_pairs(o, model.dim(), mode, first, second);
    GeodesicCommandOptions run = o;
    const double precision = model.score_precision();
    if (!o.ode_tolerance_given) run.integration.tolerance = default_ode_tolerance(precision);
    if (!o.shooting_tolerance_given) run.shooting_tolerance = default_shooting_tolerance(precision);
    if (mode != Mode::boundary && precision > 1e-12) {
        log_verbose("the model computes with relative precision " + format_number(precision) + ", so --ode-tolerance is " +
                    format_number(run.integration.tolerance) + (mode == Mode::log_map ? " and --shooting-tolerance " +
                    format_number(run.shooting_tolerance) : std::string()));
    }
    RowShard shard;
    if (!o.pairs.empty()) shard = select_shard(run, first, second);
    if (!o.batch_size_given && mode != Mode::boundary) run.solver.batch_size = o.map_batch_size;
    switch (mode) {
        case Mode::boundary: run_boundary(run, metric, first, second, shard); break;
        case Mode::exp_map: run_exp_map(run, metric, first, second, shard); break;
        case Mode::log_map: run_log_map(run, metric, first, second, shard); break;
        case Mode::all_pairs: break;
    }
}

}  // namespace scorekit
