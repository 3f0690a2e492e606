// Checkpoints of geodesic runs: a run continued from a checkpoint gives every pair the result of
// an uninterrupted run, path nodes included, and a checkpoint for other pairs is rejected.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <cstdio>
#include <string>

#include "geodesic_checkpoint.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/reference_densities.hpp"

using namespace scorekit;

namespace {

struct CheckpointDir {
    CheckpointDir() {
        char pattern[] = "/tmp/scorekit-geodesic-checkpoint.XXXXXX";
        path = mkdtemp(pattern);
    }
    ~CheckpointDir() {
        std::remove((path + "/run.ckpt").c_str());
        std::remove(path.c_str());
    }
    std::string path;
};

// Thirty pairs across a two-cluster mixture, among them a zero-length pair.
void make_pairs(RowMatrix& starts, RowMatrix& ends) {
    starts.resize(30, 2);
    ends.resize(30, 2);
    for (Eigen::Index p = 0; p < 30; ++p) {
        const double t = static_cast<double>(p) / 29.0;
        starts.row(p) << -2.5 + t, -1.0 + 2.0 * t;
        ends.row(p) << 2.0 - 0.5 * t, 1.0 - t * t;
    }
    ends.row(7) = starts.row(7);
}

}  // namespace

TEST_CASE("resumed geodesic run equals an uninterrupted one", "[geodesic][checkpoint]") {
    auto model = make_analytic_model("gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1");
    ScoreMetric metric(*model, MetricOptions{});
    RowMatrix starts, ends;
    make_pairs(starts, ends);
    GeodesicOptions solver;
    solver.nodes = 21;
    solver.batch_size = 4;
    CheckpointDir dir;

    // Checkpoints every 10 pairs: the last one, after 24 of 30 pairs, stays on disk.
    GeodesicCheckpointPlan plan;
    plan.path = dir.path + "/run.ckpt";
    plan.every = 10;
    plan.settings = {{"nodes", "21"}};
    GeodesicBatch whole = solve_with_checkpoints(metric, starts, ends, solver, plan, {});
    REQUIRE(plan.written);
    CHECK(Hdf5Reader(plan.path).read_number_attribute("/checkpoint", "pairs_done") == 24);

    GeodesicCheckpointPlan resumed_plan = plan;
    resumed_plan.path.clear();
    resumed_plan.resume = plan.path;
    std::vector<std::int64_t> reported;
    GeodesicBatch resumed = solve_with_checkpoints(metric, starts, ends, solver, resumed_plan,
                                                   [&](std::int64_t done, std::int64_t) { reported.push_back(done); });
    CHECK(reported.front() == 24);
    CHECK(reported.back() == 30);
    CHECK(resumed.lengths == whole.lengths);
    CHECK(resumed.energies == whole.energies);
    CHECK(resumed.iterations == whole.iterations);
    CHECK(resumed.status == whole.status);
    CHECK(resumed.paths == whole.paths);
    CHECK(resumed.lengths(7) == 0.0);

    // Other settings or other pairs: a usage error before any pair is solved.
    GeodesicCheckpointPlan other_nodes = resumed_plan;
    other_nodes.settings = {{"nodes", "41"}};
    CHECK_THROWS_AS(check_resume(other_nodes, starts, ends), UsageError);
    RowMatrix moved = ends;
    moved(3, 0) += 1e-12;
    CHECK_THROWS_WITH(check_resume(resumed_plan, starts, moved), Catch::Contains("the pairs differ"));
    CHECK_NOTHROW(check_resume(resumed_plan, starts, ends));
}
