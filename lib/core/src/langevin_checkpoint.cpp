#include "langevin_checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"

namespace scorekit {
namespace {

constexpr const char* kGroup = "/checkpoint";
// Raise it when a change alters the results of a resumed run (see write_results_revision).
constexpr int kResultsRevision = 1;

// A stream's four 64-bit words go to HDF5 as eight 32-bit halves, which int64 datasets written
// from doubles hold exactly.
constexpr int kHalves = 8;

// Makes the sample file hold exactly the first `rows_written` rows (cutting rows that a run
// appended after its last checkpoint) followed by the rows of `kept` after them, flushed to the
// disk. A file shorter than `rows_written` rows (missing, or from an older checkpoint that kept
// its samples inside) is written from the first row. Throws Error on a failed write, after
// removing a file that contains no rows of an earlier checkpoint. Returns whether it started the file.
bool append_samples(const std::string& path, const RowMatrix& kept, std::int64_t rows_written) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    auto fail = [&](const char* what) {
        const int saved = errno;
        if (fd >= 0) close(fd);
        if (rows_written == 0) std::remove(path.c_str());
        throw Error(describe(what, path, std::strerror(saved), "check free disk space"));
    };
    if (fd < 0) fail("cannot write checkpoint sample file");
    const auto row_bytes = static_cast<off_t>(kept.cols()) * static_cast<off_t>(sizeof(double));
    struct stat status {};
    if (fstat(fd, &status) != 0) fail("cannot write checkpoint sample file");
    if (status.st_size < static_cast<off_t>(rows_written) * row_bytes) rows_written = 0;
    const off_t keep = static_cast<off_t>(rows_written) * row_bytes;
    if (ftruncate(fd, keep) != 0 || lseek(fd, keep, SEEK_SET) != keep) fail("cannot write checkpoint sample file");
    const auto* data = reinterpret_cast<const char*>(kept.data() + rows_written * kept.cols());
    std::size_t left = static_cast<std::size_t>(kept.rows() - rows_written) * static_cast<std::size_t>(row_bytes);
    while (left > 0) {
        const ssize_t written = write(fd, data, left);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) fail("cannot write checkpoint sample file");
        data += written;
        left -= static_cast<std::size_t>(written);
    }
    if (fsync(fd) != 0 && errno != EINVAL) fail("cannot flush checkpoint sample file");
    close(fd);
    return rows_written == 0;
}

// Reads the first `rows` rows of `columns` values from the sample file of checkpoint `checkpoint`.
RowMatrix read_samples(const std::string& checkpoint, std::int64_t rows, Eigen::Index columns) {
    const std::string path = langevin_sample_file(checkpoint);
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) {
        throw Error(describe("cannot resume from", checkpoint, "its sample file " + quote(path) + " cannot be read: " +
                                                                 std::strerror(errno),
                             "keep the .samples file next to the checkpoint, or start again without --resume"));
    }
    // The file's size bounds the rows before they are allocated, so that a damaged count in the
    // checkpoint is reported as such. The product is taken in double, which cannot overflow.
    struct stat status {};
    const double needed = static_cast<double>(rows) * static_cast<double>(columns) * sizeof(double);
    if (fstat(fileno(file), &status) == 0 && needed > static_cast<double>(status.st_size)) {
        std::fclose(file);
        throw Error(describe("cannot resume from", checkpoint,
                             "its sample file " + quote(path) + " has " + std::to_string(status.st_size) +
                                 " bytes, the checkpoint needs " + format_number(needed),
                             "start the run again without --resume"));
    }
    RowMatrix kept(rows, columns);
    const std::size_t bytes = static_cast<std::size_t>(kept.size()) * sizeof(double);
    const std::size_t got = std::fread(kept.data(), 1, bytes, file);
    std::fclose(file);
    if (got != bytes) {
        throw Error(describe("cannot resume from", checkpoint,
                             "its sample file " + quote(path) + " has " + std::to_string(got) + " bytes, the checkpoint needs " +
                                 std::to_string(bytes),
                             "start the run again without --resume"));
    }
    return kept;
}

// Writes the checkpoint file itself: settings, chain positions, counts and random streams.
void write_state(const std::string& path, const CheckpointSettings& settings, const LangevinState& state) {
    Hdf5Writer file(path);
    file.create_group(kGroup);
    write_checkpoint_settings(file, kGroup, settings);
    write_results_revision(file, kGroup, kResultsRevision);
    file.write_attribute(kGroup, "step", static_cast<std::int64_t>(state.step));
    file.write_attribute(kGroup, "proposals", static_cast<std::int64_t>(state.proposals));
    file.write_attribute(kGroup, "accepted", static_cast<std::int64_t>(state.accepted));
    file.write_attribute(kGroup, "divergence_bound", state.divergence_bound);
    file.write_attribute(kGroup, "kept_rows", static_cast<std::int64_t>(state.kept.rows()));
    file.write_matrix(std::string(kGroup) + "/z", state.z);

    const auto chains = static_cast<std::int64_t>(state.streams.size());
    std::vector<double> halves, spares, has_spare;
    for (const Rng::State& stream : state.streams) {
        for (std::uint64_t word : stream.words) {
            halves.push_back(static_cast<double>(word >> 32));
            halves.push_back(static_cast<double>(word & 0xffffffffULL));
        }
        spares.push_back(stream.spare);
        has_spare.push_back(stream.has_spare ? 1 : 0);
    }
    file.write_integer_array(std::string(kGroup) + "/streams", {chains, kHalves}, halves.data());
    file.write_vector(std::string(kGroup) + "/spares", spares);
    file.write_integer_array(std::string(kGroup) + "/has_spare", {chains}, has_spare.data());
    file.commit();
}

// Reads the count attribute `name` of the checkpoint group. A damaged value (negative,
// fractional, NaN or beyond 2^53) is rejected, also because casting NaN or a value beyond the
// int64 range is undefined behaviour.
std::int64_t read_count(const Hdf5Reader& file, const char* name) {
    return file.read_integer_attribute(kGroup, name, 0, std::int64_t(1) << 53);
}

}  // namespace

std::string langevin_sample_file(const std::string& path) { return path + ".samples"; }

void write_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings, const LangevinState& state,
                               std::int64_t& sample_rows) {
    const std::string samples = langevin_sample_file(path);
    const bool started = state.kept.rows() > 0 && append_samples(samples, state.kept, sample_rows);
    try {
        write_state(path, settings, state);
    } catch (...) {
        if (started) std::remove(samples.c_str());  // no checkpoint refers to it
        throw;
    }
    sample_rows = state.kept.rows();
}

LangevinState read_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings) {
    check_checkpoint_format(path, "langevin");
    Hdf5Reader file(path);
    if (!file.exists(kGroup) || !file.has_attribute(kGroup, "step") || !file.exists(std::string(kGroup) + "/streams")) {
        throw Error(describe("cannot resume from", path, "no /checkpoint group with a sampler state",
                             "give a checkpoint written by langevin (OUTPUT.ckpt)"));
    }
    check_results_revision(file, kGroup, kResultsRevision, path);
    std::string mismatch = checkpoint_settings_mismatch(file, kGroup, settings);
    if (!mismatch.empty()) {
        throw UsageError(describe("cannot resume from", path, mismatch,
                                  "resume with the options and data of the interrupted run"));
    }

    LangevinState state;
    state.step = read_count(file, "step");
    state.proposals = read_count(file, "proposals");
    state.accepted = read_count(file, "accepted");
    state.divergence_bound = file.read_number_attribute(kGroup, "divergence_bound");
    state.z = file.read_matrix(std::string(kGroup) + "/z");
    const std::int64_t kept_rows = read_count(file, "kept_rows");
    if (file.exists(std::string(kGroup) + "/kept")) {
        state.kept = file.read_matrix(std::string(kGroup) + "/kept");
    } else if (kept_rows > 0) {
        state.kept = read_samples(path, kept_rows, state.z.cols());
    }

    RowMatrix halves = file.read_matrix(std::string(kGroup) + "/streams");
    RowMatrix spares = file.read_matrix(std::string(kGroup) + "/spares");
    RowMatrix has_spare = file.read_matrix(std::string(kGroup) + "/has_spare");
    if (halves.cols() != kHalves || spares.rows() != halves.rows() || has_spare.rows() != halves.rows()) {
        throw Error(describe("cannot resume from", path, "its stream datasets do not match",
                             "start the run again without --resume"));
    }
    // Each stream word is stored as two 32-bit halves in float64, which convert back exactly.
    for (Eigen::Index i = 0; i < halves.size(); ++i) {
        const double half = halves.data()[i];
        if (!(half >= 0 && half < 4294967296.0) || half != std::floor(half)) {
            throw Error(describe("cannot resume from", path, "its random stream state is damaged",
                                 "start the run again without --resume"));
        }
    }
    for (Eigen::Index c = 0; c < halves.rows(); ++c) {
        Rng::State stream{};
        for (int w = 0; w < 4; ++w) {
            stream.words[w] = (static_cast<std::uint64_t>(halves(c, 2 * w)) << 32) |
                              static_cast<std::uint64_t>(halves(c, 2 * w + 1));
        }
        stream.spare = spares(c, 0);
        stream.has_spare = has_spare(c, 0) != 0;
        state.streams.push_back(stream);
    }
    return state;
}

void remove_finished_langevin_checkpoint(const std::string& path, bool written, const std::string& resume) {
    if (!remove_finished_checkpoint(path, written, resume)) return;
    const std::string samples = langevin_sample_file(path);
    if (std::remove(samples.c_str()) == 0) log_verbose("removed the checkpoint samples " + samples);
}

}  // namespace scorekit
