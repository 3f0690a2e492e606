#include "metric_eval_checkpoint.hpp"

#include <algorithm>

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"

namespace scorekit {
namespace {

// Raise it when a change alters the values of a resumed run (see write_results_revision).
constexpr int kResultsRevision = 1;

// The largest point count a checkpoint may claim, far above any real run.
constexpr std::int64_t kMaxCount = std::int64_t{1} << 52;

std::vector<std::int64_t> stored_shape(const OutputBlock& block, Eigen::Index rows) {
    std::vector<std::int64_t> shape = block.shape;
    shape.front() = rows;
    return shape;
}

const std::string& inputs_checksum(const PointCheckpointPlan& plan) {
    if (plan.checksum.empty()) plan.checksum = checksum_text(plan.inputs);
    return plan.checksum;
}

// The first setting, count or output that differs from the checkpoint's, as "NAME is X but the
// checkpoint has Y"; empty when all agree.
std::string settings_mismatch(const Hdf5Reader& file, const PointCheckpointPlan& plan,
                              const std::vector<OutputBlock>& blocks) {
    std::string mismatch = checkpoint_settings_mismatch(file, "/checkpoint", plan.settings);
    if (!mismatch.empty()) return mismatch;
    const Eigen::Index saved_points = file.read_integer_attribute("/checkpoint", "points", 0, kMaxCount);
    if (saved_points != plan.points) {
        return "the run has " + std::to_string(plan.points) + " points but the checkpoint has " +
               std::to_string(saved_points);
    }
    if (file.read_string_attribute("/checkpoint", "points_checksum") != inputs_checksum(plan)) {
        return "the points or vectors differ from those of the checkpoint";
    }
    for (const OutputBlock& block : blocks) {
        if (!file.exists("/checkpoint/" + block.name)) {
            return "the output needs " + block.name + ", which the checkpoint does not have";
        }
    }
    return "";
}

}  // namespace

Eigen::Index check_point_resume(const PointCheckpointPlan& plan, const std::vector<OutputBlock>& blocks) {
    if (plan.resume.empty()) return 0;
    check_checkpoint_format(plan.resume, "metric-eval");
    Hdf5Reader file(plan.resume);
    if (!file.exists("/checkpoint") || !file.has_attribute("/checkpoint", "points_done")) {
        throw Error(describe("cannot resume from", plan.resume, "no /checkpoint group with points_done",
                             "give a checkpoint written by metric-eval (OUTPUT.ckpt)"));
    }
    check_results_revision(file, "/checkpoint", kResultsRevision, plan.resume);
    const std::string mismatch = settings_mismatch(file, plan, blocks);
    if (!mismatch.empty()) {
        throw UsageError(describe("cannot resume from", plan.resume, mismatch,
                                  "resume with the options and data of the interrupted run"));
    }
    const Eigen::Index done = file.read_integer_attribute("/checkpoint", "points_done", 0, plan.points);
    for (const OutputBlock& block : blocks) {
        if (file.shape("/checkpoint/" + block.name) != stored_shape(block, done)) {
            throw Error(describe("cannot resume from", plan.resume,
                                 "its " + block.name + " does not have points_done rows",
                                 "start the run again without --resume"));
        }
    }
    return done;
}

void copy_resumed_rows(const PointCheckpointPlan& plan, const std::vector<OutputBlock>& blocks, Eigen::Index done,
                       Eigen::Index chunk, const std::function<void(Eigen::Index, const BlockRows&)>& write) {
    Hdf5Reader file(plan.resume);
    for (Eigen::Index first = 0; first < done; first += chunk) {
        const Eigen::Index count = std::min(chunk, done - first);
        BlockRows rows;
        for (const OutputBlock& block : blocks) {
            rows.emplace_back(count, block.width());
            file.read_rows("/checkpoint/" + block.name, first, count, rows.back().data());
        }
        write(first, rows);
    }
}

void write_point_checkpoint(PointCheckpointPlan& plan, const std::vector<OutputBlock>& blocks, const RowSource& source,
                            Eigen::Index done, Eigen::Index chunk) {
    Hdf5Writer file(plan.path);
    file.create_group("/checkpoint");
    file.write_attribute("/checkpoint", "points_done", static_cast<std::int64_t>(done));
    file.write_attribute("/checkpoint", "points", static_cast<std::int64_t>(plan.points));
    file.write_attribute("/checkpoint", "points_checksum", inputs_checksum(plan));
    write_checkpoint_settings(file, "/checkpoint", plan.settings);
    write_results_revision(file, "/checkpoint", kResultsRevision);
    for (const OutputBlock& block : blocks) file.create_array("/checkpoint/" + block.name, stored_shape(block, done));
    source.visit_rows(done, chunk, [&](Eigen::Index first, const BlockRows& rows) {
        for (size_t k = 0; k < rows.size(); ++k) {
            file.write_rows("/checkpoint/" + blocks[k].name, first, rows[k].rows(), rows[k].data());
        }
    });
    file.commit();
    plan.written = true;
}

}  // namespace scorekit
