// Checkpoints of the Langevin samplers: a run continued from the state saved after some step
// gives exactly the samples (and MALA counts) of an uninterrupted run, for every method.
#include <catch2/catch.hpp>
#include <hdf5.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
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
        LangevinOptions options = options_for(method);
        const LangevinResult whole = sample_langevin(*model, options, RowMatrix());

        // Saves every 25 steps. The last state saved (step 225 of 240 annealed, 50 of 60
        // otherwise) is the one an interrupted run would leave. The kept samples go to `kept`, as
        // langevin writes them to the checkpoint's sample file. Blocks of 16 chains make the
        // rows arrive in several pieces.
        options.block_chains = 16;
        LangevinState saved;
        LangevinCheckpointing saving;
        saving.every = 25;
        saving.save = [&](const LangevinState& state, bool interrupted) {
            CHECK_FALSE(interrupted);
            saved = state;
        };
        RowMatrix kept(whole.samples.rows(), whole.samples.cols());
        RowMatrix streamed = kept;
        const LangevinResult checkpointed =
            sample_langevin(*model, options, RowMatrix(), {}, saving, [&](const KeptRows& rows) {
                CHECK_FALSE(rows.resumed);
                kept.middleRows(rows.first_row, rows.z.rows()) = rows.z;
                streamed.middleRows(rows.first_row, rows.x.rows()) = rows.x;
            });
        CHECK(checkpointed.samples.size() == 0);
        CHECK(streamed == whole.samples);
        CHECK(saved.step == (method == LangevinMethod::annealed ? 225 : 50));
        CHECK(saved.kept_rows == (method == LangevinMethod::annealed ? 0 : 40 * 5));

        LangevinCheckpointing resuming;
        resuming.resume = &saved;
        resuming.read_kept = [&](std::int64_t first, RowMatrix& rows) { rows = kept.middleRows(first, rows.rows()); };
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
    RowMatrix kept(6, 3);
    for (Eigen::Index i = 0; i < kept.size(); ++i) kept.data()[i] = 0.25 * static_cast<double>(i);
    auto file_bytes = [&] {
        struct stat status {};
        return stat(samples.c_str(), &status) == 0 ? static_cast<long>(status.st_size) : -1L;
    };
    auto read_all = [&] {
        RowMatrix rows(6, 3);
        read_langevin_kept_rows(path, 0, rows);
        return rows;
    };

    // The first checkpoint records 4 rows, which the writer has flushed by then.
    {
        LangevinSampleWriter writer(path, 0, 3);
        CHECK(file_bytes() == -1);  // a run that keeps no rows before its last step writes no file
        writer.append(kept.topRows(4));
        state.kept_rows = 4;
        write_langevin_checkpoint(path, settings, state, writer);
        CHECK(file_bytes() == 4 * 3 * 8);
        // Rows of a step after the checkpoint, then a failure: the file stays, since the
        // checkpoint refers to it.
        writer.append(kept.bottomRows(2));
        writer.sync();
        CHECK(file_bytes() == 6 * 3 * 8);
    }
    CHECK(read_langevin_checkpoint(path, settings).kept_rows == 4);

    // A resumed run continues after the checkpoint's 4 rows, cutting the 2 rows after them. A
    // mark in the first row shows that they are not written again.
    const double mark = 99.0;
    {
        std::fstream file(samples, std::ios::in | std::ios::out | std::ios::binary);
        file.write(reinterpret_cast<const char*>(&mark), sizeof(mark));
    }
    {
        LangevinSampleWriter writer(path, 4, 3);
        CHECK(writer.rows() == 4);
        CHECK(file_bytes() == 4 * 3 * 8);
        writer.append(kept.bottomRows(2));
        state.kept_rows = 6;
        write_langevin_checkpoint(path, settings, state, writer);
    }
    CHECK(file_bytes() == 6 * 3 * 8);
    LangevinState read = read_langevin_checkpoint(path, settings);
    CHECK(read.kept_rows == 6);
    CHECK(read.z == state.z);
    RowMatrix rows = read_all();
    CHECK(rows(0, 0) == mark);
    rows(0, 0) = kept(0, 0);
    CHECK(rows == kept);
    RowMatrix last(2, 3);
    read_langevin_kept_rows(path, 4, last);
    CHECK(last == kept.bottomRows(2));

    // A state whose kept rows the writer does not hold is not written.
    {
        LangevinSampleWriter writer(path, 6, 3);
        state.kept_rows = 7;
        CHECK_THROWS_WITH(write_langevin_checkpoint(path, settings, state, writer), Catch::Contains("has 6 rows"));
        state.kept_rows = 6;
    }

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

TEST_CASE("sample file of no checkpoint is removed", "[langevin][checkpoint]") {
    char pattern[] = "/tmp/scorekit-langevin-checkpoint.XXXXXX";
    const std::string dir = mkdtemp(pattern), path = dir + "/run.ckpt", samples = langevin_sample_file(path);
    struct stat status {};
    {
        LangevinSampleWriter writer(path, 0, 2);
        writer.append(RowMatrix::Ones(3, 2));
        writer.sync();
        CHECK(stat(samples.c_str(), &status) == 0);
    }
    CHECK(stat(samples.c_str(), &status) != 0);

    // The sample file of an earlier checkpoint stays as it was until a new checkpoint replaces
    // it: a run that fails before its first checkpoint wrote its rows to a temporary file.
    {
        std::ofstream earlier(samples, std::ios::binary);
        earlier << "rows of an interrupted run";
    }
    {
        LangevinSampleWriter writer(path, 0, 2);
        writer.append(RowMatrix::Ones(300000, 2));
    }
    std::ifstream earlier(samples, std::ios::binary);
    std::string contents((std::istreambuf_iterator<char>(earlier)), std::istreambuf_iterator<char>());
    CHECK(contents == "rows of an interrupted run");
    std::remove(samples.c_str());
    std::remove(dir.c_str());
}

TEST_CASE("checkpoint with samples inside still resumes", "[langevin][checkpoint]") {
    // Earlier versions stored the kept samples as the dataset /checkpoint/kept, with no sample file.
    char pattern[] = "/tmp/scorekit-langevin-checkpoint.XXXXXX";
    const std::string dir = mkdtemp(pattern), path = dir + "/run.ckpt";
    const CheckpointSettings settings = {{"seed", "5"}};
    LangevinState state;
    state.z = RowMatrix::Constant(2, 3, 0.5);
    state.streams.resize(2);
    {
        LangevinSampleWriter writer(path, 0, 3);
        write_langevin_checkpoint(path, settings, state, writer);
    }

    RowMatrix kept(4, 3);
    for (Eigen::Index i = 0; i < kept.size(); ++i) kept.data()[i] = 1.5 * static_cast<double>(i);
    {
        const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(file >= 0);
        const hsize_t dims[2] = {4, 3};
        const hid_t space = H5Screate_simple(2, dims, nullptr);
        const hid_t data = H5Dcreate2(file, "/checkpoint/kept", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                                      H5P_DEFAULT);
        REQUIRE(data >= 0);
        REQUIRE(H5Dwrite(data, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, kept.data()) >= 0);
        H5Dclose(data);
        H5Sclose(space);
        H5Fclose(file);
    }

    CHECK(read_langevin_checkpoint(path, settings).kept_rows == 4);
    RowMatrix rows(3, 3);
    read_langevin_kept_rows(path, 1, rows);
    CHECK(rows == kept.bottomRows(3));

    remove_finished_langevin_checkpoint(path, true, "");
    std::remove(dir.c_str());
}
