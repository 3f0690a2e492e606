#include "langevin_checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

#include "scorekit/atomic_file.hpp"
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

constexpr const char* kKeptDataset = "/checkpoint/kept";

// Bytes buffered before a write to the sample file.
constexpr std::size_t kBufferBytes = std::size_t(1) << 20;

// Throws the Error for a sample file with fewer bytes than the checkpoint needs.
[[noreturn]] void throw_short_sample_file(const std::string& checkpoint, const std::string& path, std::int64_t bytes,
                                          const std::string& needed) {
    throw Error(describe("cannot resume from", checkpoint,
                         "its sample file " + quote(path) + " has " + std::to_string(bytes) + " bytes, the checkpoint needs " +
                             needed,
                         "start the run again without --resume"));
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
    file.write_attribute(kGroup, "kept_rows", static_cast<std::int64_t>(state.kept_rows));
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

LangevinSampleWriter::LangevinSampleWriter(std::string path, std::int64_t valid_rows, Eigen::Index columns)
    : path_(langevin_sample_file(path)), columns_(columns) {
    if (valid_rows > 0) continue_file(valid_rows);
}

// The AtomicFile member removes a temporary file that was never renamed.
LangevinSampleWriter::~LangevinSampleWriter() {
    if (fd_ >= 0) close(fd_);
    if (renamed_ && !referenced_) std::remove(path_.c_str());
}

void LangevinSampleWriter::fail(const char* what) {
    const int saved = errno;
    throw Error(describe(what, path_, std::strerror(saved), "check free disk space"));
}

void LangevinSampleWriter::continue_file(std::int64_t valid_rows) {
    const auto row_bytes = static_cast<off_t>(columns_) * static_cast<off_t>(sizeof(double));
    const off_t keep = static_cast<off_t>(valid_rows) * row_bytes;
    struct stat status {};
    if (stat(path_.c_str(), &status) != 0 || status.st_size < keep) return;
    fd_ = open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) fail("cannot write checkpoint sample file");
    if (ftruncate(fd_, keep) != 0 || lseek(fd_, keep, SEEK_SET) != keep) fail("cannot write checkpoint sample file");
    rows_ = valid_rows;
    referenced_ = true;
}

void LangevinSampleWriter::start_file() {
    temporary_ = std::make_unique<AtomicFile>(path_);
    fd_ = open(temporary_->temporary_path().c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd_ < 0) fail("cannot write checkpoint sample file");
}

void LangevinSampleWriter::append(const RowMatrix& rows) {
    if (fd_ < 0) start_file();
    const auto* data = reinterpret_cast<const char*>(rows.data());
    const std::size_t bytes = static_cast<std::size_t>(rows.size()) * sizeof(double);
    buffer_.insert(buffer_.end(), data, data + bytes);
    rows_ += rows.rows();
    if (buffer_.size() >= kBufferBytes) write_buffer();
}

void LangevinSampleWriter::write_buffer() {
    const char* data = buffer_.data();
    std::size_t left = buffer_.size();
    while (left > 0) {
        const ssize_t written = write(fd_, data, left);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) fail("cannot write checkpoint sample file");
        data += written;
        left -= static_cast<std::size_t>(written);
    }
    buffer_.clear();
}

void LangevinSampleWriter::sync() {
    if (fd_ < 0) return;
    write_buffer();
    if (fsync(fd_) != 0 && errno != EINVAL) fail("cannot flush checkpoint sample file");
    if (!temporary_) return;
    temporary_->commit();
    temporary_.reset();
    renamed_ = true;
}

void write_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings, const LangevinState& state,
                               LangevinSampleWriter& samples) {
    if (samples.rows() != state.kept_rows) {
        throw Error(describe("cannot write checkpoint", path,
                             "its sample file has " + std::to_string(samples.rows()) + " rows, the state " +
                                 std::to_string(state.kept_rows)));
    }
    samples.sync();
    write_state(path, settings, state);
    samples.mark_referenced();
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
    if (file.exists(kKeptDataset)) {
        // Earlier versions stored the kept samples inside the checkpoint.
        const std::vector<std::int64_t> shape = file.shape(kKeptDataset);
        if (shape.size() != 2 || (shape[0] > 0 && shape[1] != state.z.cols())) {
            throw Error(describe("cannot resume from", path, "its kept samples do not match its chains",
                                 "start the run again without --resume"));
        }
        state.kept_rows = shape[0];
    } else {
        state.kept_rows = read_count(file, "kept_rows");
        // The file's size bounds the rows before any are read, so that a damaged count in the
        // checkpoint is reported as such. The product is taken in double, which cannot overflow.
        const std::string samples = langevin_sample_file(path);
        const double needed = static_cast<double>(state.kept_rows) * static_cast<double>(state.z.cols()) * sizeof(double);
        struct stat status {};
        if (state.kept_rows > 0 && stat(samples.c_str(), &status) != 0) {
            throw Error(describe("cannot resume from", path, "its sample file " + quote(samples) + " cannot be read: " +
                                                             std::strerror(errno),
                                 "keep the .samples file next to the checkpoint, or start again without --resume"));
        }
        if (state.kept_rows > 0 && needed > static_cast<double>(status.st_size)) {
            throw_short_sample_file(path, samples, static_cast<std::int64_t>(status.st_size), format_number(needed));
        }
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

void read_langevin_kept_rows(const std::string& path, std::int64_t first, RowMatrix& rows) {
    if (rows.size() == 0) return;
    if (Hdf5Reader file(path); file.exists(kKeptDataset)) {
        file.read_rows(kKeptDataset, first, rows.rows(), rows.data());
        return;
    }
    const std::string samples = langevin_sample_file(path);
    const int fd = open(samples.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw Error(describe("cannot resume from", path, "its sample file " + quote(samples) + " cannot be read: " +
                                                         std::strerror(errno),
                             "keep the .samples file next to the checkpoint, or start again without --resume"));
    }
    const std::size_t bytes = static_cast<std::size_t>(rows.size()) * sizeof(double);
    const off_t offset = static_cast<off_t>(first) * static_cast<off_t>(rows.cols()) * static_cast<off_t>(sizeof(double));
    auto* data = reinterpret_cast<char*>(rows.data());
    std::size_t got = 0;
    while (got < bytes) {
        const ssize_t count = pread(fd, data + got, bytes - got, offset + static_cast<off_t>(got));
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) break;
        got += static_cast<std::size_t>(count);
    }
    close(fd);
    if (got != bytes) {
        throw_short_sample_file(path, samples, static_cast<std::int64_t>(offset) + static_cast<std::int64_t>(got),
                                std::to_string(static_cast<std::int64_t>(offset) + static_cast<std::int64_t>(bytes)));
    }
}

void remove_finished_langevin_checkpoint(const std::string& path, bool written, const std::string& resume) {
    if (!remove_finished_checkpoint(path, written, resume)) return;
    const std::string samples = langevin_sample_file(path);
    if (std::remove(samples.c_str()) == 0) log_verbose("removed the checkpoint samples " + samples);
}

}  // namespace scorekit
