// Checkpoints of the Langevin samplers: a run continued from the state saved after some step
// gives exactly the samples (and MALA counts) of an uninterrupted run, for every method.
#include <catch2/catch.hpp>
#include <hdf5.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "langevin_checkpoint.hpp"
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

// Replaces the int64 attribute `name` of the /checkpoint group, as a damaged file would hold it.
// HDF5 1.10.8 failed to overwrite it in place ("can't locate open attribute"), so it is deleted
// and created again.
void set_int64_attribute(const std::string& path, const char* name, std::int64_t value) {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    REQUIRE(H5Adelete_by_name(file, "/checkpoint", name, H5P_DEFAULT) >= 0);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attribute = H5Acreate_by_name(file, "/checkpoint", name, H5T_STD_I64LE, space, H5P_DEFAULT,
                                              H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(attribute >= 0);
    REQUIRE(H5Awrite(attribute, H5T_NATIVE_INT64, &value) >= 0);
    H5Aclose(attribute);
    H5Sclose(space);
    H5Fclose(file);
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

TEST_CASE("checkpoints append kept samples to their sample file", "[langevin][checkpoint]") {
    char pattern[] = "/tmp/scorekit-langevin-checkpoint.XXXXXX";
    const std::string dir = mkdtemp(pattern), path = dir + "/run.ckpt", samples = langevin_sample_file(path);
    const CheckpointSettings settings = {{"seed", "5"}};
    LangevinState state;
    state.z = RowMatrix::Constant(2, 3, 0.5);
    state.streams.resize(2);
    state.kept = RowMatrix(6, 3);
    for (Eigen::Index i = 0; i < state.kept.size(); ++i) state.kept.data()[i] = 0.25 * static_cast<double>(i);
    auto file_bytes = [&] {
        struct stat status {};
        return stat(samples.c_str(), &status) == 0 ? static_cast<long>(status.st_size) : -1L;
    };

    // The first checkpoint writes 4 rows, the second only the 2 new ones after them.
    std::int64_t written = 0;
    LangevinState first = state;
    first.kept = state.kept.topRows(4);
    write_langevin_checkpoint(path, settings, first, written);
    CHECK(written == 4);
    CHECK(file_bytes() == 4 * 3 * 8);
    // A mark in the first row shows that the second checkpoint does not write it again, and
    // bytes after the 4 rows (a run stopped between appending and renaming) are cut.
    const double mark = 99.0;
    {
        std::fstream file(samples, std::ios::in | std::ios::out | std::ios::binary);
        file.write(reinterpret_cast<const char*>(&mark), sizeof(mark));
        file.seekp(0, std::ios::end);
        file << "rows of a step after the checkpoint";
    }
    write_langevin_checkpoint(path, settings, state, written);
    CHECK(written == 6);
    CHECK(file_bytes() == 6 * 3 * 8);
    LangevinState read = read_langevin_checkpoint(path, settings);
    CHECK(read.kept(0, 0) == mark);
    read.kept(0, 0) = state.kept(0, 0);
    CHECK(read.kept == state.kept);
    CHECK(read.z == state.z);

    // A sample file shorter than the checkpoint records is an error naming it.
    REQUIRE(truncate(samples.c_str(), 5 * 3 * 8) == 0);
    CHECK_THROWS_WITH(read_langevin_checkpoint(path, settings), Catch::Contains("run.ckpt.samples\" has 120 bytes"));

    // A damaged kept_rows of 2^50 rows: the reader allocated them (27 PB) before it compared the
    // count with the sample file's size, and threw std::bad_alloc.
    set_int64_attribute(path, "kept_rows", std::int64_t(1) << 50);
    CHECK_THROWS_WITH(read_langevin_checkpoint(path, settings),
                      Catch::Contains("has 120 bytes, the checkpoint needs 27021597764222976"));
    set_int64_attribute(path, "kept_rows", -3);
    CHECK_THROWS_WITH(read_langevin_checkpoint(path, settings), Catch::Contains("@kept_rows\": -3 is not a whole number"));
    set_int64_attribute(path, "kept_rows", 6);

    remove_finished_langevin_checkpoint(path, true, "");
    CHECK(file_bytes() == -1);
    struct stat status {};
    CHECK(stat(path.c_str(), &status) != 0);
    std::remove(dir.c_str());
}
