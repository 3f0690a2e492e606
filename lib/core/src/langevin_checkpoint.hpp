// Internal: langevin checkpoints in HDF5, so that a run stopped by SIGINT, SIGTERM or a SLURM
// time limit continues with --resume and gives the samples of an uninterrupted run.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint_file.hpp"
#include "scorekit/langevin.hpp"

namespace scorekit {

class AtomicFile;

// The file next to checkpoint `path` that contains its kept samples: float64 rows in standardised
// coordinates and the byte order of the machine. The checkpoint names how many rows are valid.
std::string langevin_sample_file(const std::string& path);

// The sample file of a checkpoint, appended as the sampler keeps samples, so that a checkpoint
// only flushes it and each sample is written once. A new file is written under a temporary name
// and renamed at the first checkpoint, so that a run that writes no checkpoint leaves the sample
// file of an earlier one as it was. Writes are buffered, so nothing is promised on the disk
// before sync().
class LangevinSampleWriter {
public:
    // Continues the sample file of checkpoint `path` after its first `valid_rows` rows of `columns`
    // values, the samples of the checkpoint resumed from (0 for none), and cuts rows after them
    // (appended after that checkpoint). Without a file of that many rows (the checkpoint kept its
    // samples inside, as earlier versions did) a new file is written from the first row. Throws
    // Error on a failed write.
    LangevinSampleWriter(std::string path, std::int64_t valid_rows, Eigen::Index columns);
    // Removes a file that this object created and no checkpoint refers to.
    ~LangevinSampleWriter();
    LangevinSampleWriter(const LangevinSampleWriter&) = delete;
    LangevinSampleWriter& operator=(const LangevinSampleWriter&) = delete;

    // Rows in the file, including those still in the buffer.
    std::int64_t rows() const { return rows_; }
    void append(const RowMatrix& rows);
    // Writes the buffer, flushes the file to the disk and gives a new file its name.
    void sync();
    // Records that a checkpoint on the disk refers to the file, which is then kept on failure.
    void mark_referenced() { referenced_ = true; }

private:
    void continue_file(std::int64_t valid_rows);
    void start_file();
    void write_buffer();
    [[noreturn]] void fail(const char* what);

    std::string path_;
    Eigen::Index columns_;
    int fd_ = -1;
    std::int64_t rows_ = 0;
    std::vector<char> buffer_;
    std::unique_ptr<AtomicFile> temporary_;  // a new file until its first sync()
    bool renamed_ = false;      // a new file renamed to path_ by sync()
    bool referenced_ = false;
};

// Writes `state` and the run's settings to `path` (a temporary name, then renamed), after
// flushing `samples`, which contains the state's kept rows, to the disk.
void write_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings, const LangevinState& state,
                               LangevinSampleWriter& samples);

// Reads the state that `path` contains. Its kept samples stay on the disk, in its sample file or
// (as earlier versions wrote them) in the checkpoint itself, and read_langevin_kept_rows reads
// them. Throws UsageError naming the first setting that differs from `settings`, and Error for
// a file that is not a langevin checkpoint or a sample file shorter than the checkpoint records.
LangevinState read_langevin_checkpoint(const std::string& path, const CheckpointSettings& settings);

// Reads rows [first, first + rows.rows()) of the kept samples of checkpoint `path` into `rows`.
// Throws Error when the file cannot be read.
void read_langevin_kept_rows(const std::string& path, std::int64_t first, RowMatrix& rows);

// Removes the checkpoint `path` and its sample file once the output is written (see
// remove_finished_checkpoint).
void remove_finished_langevin_checkpoint(const std::string& path, bool written, const std::string& resume);

}  // namespace scorekit
