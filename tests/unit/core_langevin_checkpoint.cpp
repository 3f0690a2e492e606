// Checkpoints of the Langevin samplers: a run continued from the state saved after some step
// gives exactly the samples (and MALA counts) of an uninterrupted run, for every method.
#include <catch2/catch.hpp>

#include "scorekit/error.hpp"
#include "scorekit/langevin.hpp"

using namespace scorekit;

namespace {

LangevinOptions options_for(LangevinMethod method) {
    LangevinOptions options;
    options.method = method;
    options.chains = 40;
    options.steps = 60;
    options.seed = 5;
    if (method == LangevinMethod::annealed) {
        options.levels = geometric_levels(3, 0.1, 4);
        options.step_size = 0.002;
    } else {
        options.burn_in = 10;
        options.thin = 7;  // kept steps 17, 24, ..., 59: some before the checkpoint, some after
    }
    return options;
}

}  // namespace

TEST_CASE("resumed Langevin run equals an uninterrupted one", "[langevin][checkpoint]") {
    auto model = parse_analytic_model("gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1");
    for (LangevinMethod method : {LangevinMethod::ula, LangevinMethod::mala, LangevinMethod::annealed}) {
        INFO(to_string(method));
        const LangevinOptions options = options_for(method);
        const LangevinResult whole = sample_langevin(*model, options, RowMatrix());

        // Saves every 25 steps. The last state saved (step 225 of 240 annealed, 50 of 60
        // otherwise) is the one an interrupted run would leave.
        LangevinState saved;
        LangevinCheckpointing saving;
        saving.every = 25;
        saving.save = [&](const LangevinState& state, bool interrupted) {
            CHECK_FALSE(interrupted);
            saved = state;
        };
        const LangevinResult checkpointed = sample_langevin(*model, options, RowMatrix(), {}, saving);
        CHECK(checkpointed.samples == whole.samples);
        CHECK(saved.step == (method == LangevinMethod::annealed ? 225 : 50));
        CHECK(saved.kept.rows() == (method == LangevinMethod::annealed ? 0 : 40 * 5));

        LangevinCheckpointing resuming;
        resuming.resume = &saved;
        std::vector<std::int64_t> steps;
        const LangevinResult resumed =
            sample_langevin(*model, options, RowMatrix(), [&](std::int64_t done, std::int64_t) { steps.push_back(done); },
                            resuming);
        CHECK(steps.front() == saved.step + 1);
        CHECK(resumed.samples == whole.samples);
        CHECK(resumed.proposals == whole.proposals);
        CHECK(resumed.accepted == whole.accepted);
    }
}

TEST_CASE("Langevin state of other chains is rejected", "[langevin][checkpoint]") {
    auto model = parse_analytic_model("gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1");
    LangevinOptions options = options_for(LangevinMethod::ula);
    LangevinState saved;
    LangevinCheckpointing saving;
    saving.every = 30;
    saving.save = [&](const LangevinState& state, bool) { saved = state; };
    sample_langevin(*model, options, RowMatrix(), {}, saving);

    options.chains = 41;
    LangevinCheckpointing resuming;
    resuming.resume = &saved;
    CHECK_THROWS_WITH(sample_langevin(*model, options, RowMatrix(), {}, resuming), Catch::Contains("40 chains"));
}
