// Internal: the resume state of an interrupted `mine` shard and the output files that it
// describes. Outputs grow by whole gzip members under stable hidden names in the output
// directory. At the end of a completed input file, the state records each output's length, the
// counts so far and a fingerprint of everything that changes the output. A rerun with the same
// fingerprint cuts each output back to its recorded length and goes on with the next input file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace scorekit::text {

// Named values that must be equal for a state to be resumed ("option --lang" -> "en,de",
// "input 3 x.wet.gz" -> "size 123, modified 1733...").
using Fingerprint = std::vector<std::pair<std::string, std::string>>;

// How a file enters a fingerprint: size and modification time of a regular file (read through
// links), else its kind, since the content of a pipe cannot be checked.
std::string file_fingerprint(const std::string& path);

struct ResumeOutput {
    std::uint64_t bytes = 0;
    std::uint64_t documents = 0;
};

struct MineResumeState {
    Fingerprint fingerprint;
    std::size_t files_done = 0;
    std::map<std::string, ResumeOutput> outputs;  // by output key ("en", "en_head", ...)
    std::map<std::string, std::uint64_t> counts;  // named counters, faults included
    std::map<std::string, double> seconds;        // thread seconds per stage
    std::string error;                            // first damaged-file error of the done files
    std::uint64_t damaged_files = 0;
    // Set when every input file is done and the outputs are about to get their final names. A
    // rerun then finds each output under its hidden name or, already renamed, under its final
    // name with the recorded length.
    bool committing = false;
};

// `<output>.resume`: the state file beside the done marker and the stats file.
std::string resume_state_path(const std::string& output);

// Reads the state at `path`; nothing when there is no file. Throws Error for a file that is not
// a state of this version (the message advises removing it or giving --force).
std::optional<MineResumeState> read_resume_state(const std::string& path);

// Writes the state through a temporary file, flushed before the rename.
void write_resume_state(const std::string& path, const MineResumeState& state);

// The first entry of `recorded` that differs from `current` (or is missing from either), as
// "<name>: <recorded value> then, <current value> now"; "" when they are equal.
std::string fingerprint_difference(const Fingerprint& recorded, const Fingerprint& current);

// The name of the output file of `key` ("en" -> "en.json.gz"), with characters that are unsafe
// in a file name replaced by '_'.
std::string output_file_name(const std::string& key);

// One output file per key, made of gzip members appended under a hidden name in `directory`
// (".<name>.json.gz.part") and renamed to `<name>.json.gz` by commit().
class ResumableOutputs {
public:
    // Takes an exclusive lock on the directory for the life of the object. Throws Error when
    // another process has it locked, because two runs of one shard would append to the same files.
    // Where the file system has no flock(2) (ENOLCK, ENOSYS, EOPNOTSUPP) the run goes on without
    // the lock after one warning line.
    explicit ResumableOutputs(std::string directory);
    ~ResumableOutputs();
    ResumableOutputs(const ResumableOutputs&) = delete;
    ResumableOutputs& operator=(const ResumableOutputs&) = delete;

    // Removes the hidden files of an earlier run that this one does not resume.
    void remove_unfinished();

    // Reopens the outputs of `state`, each cut to its recorded length. Returns false (and changes
    // nothing) when one is missing or shorter, which a crash after the state was written but
    // before the data reached the disk, or removed files, would leave. With `committing` (a run
    // stopped while it renamed its outputs), an output found under its final name with exactly
    // the recorded length is taken back under its hidden name.
    bool restore(const std::map<std::string, ResumeOutput>& outputs, bool committing = false);

    void append(const std::string& key, const std::string& gzip_member, std::uint64_t documents);

    // Lengths and documents so far, per key.
    std::map<std::string, ResumeOutput> sizes() const;

    // Flushes every file to the disk, so that a state written next describes data that is there.
    void sync();

    // Renames every file to its final name; returns a JSON object of documents and bytes per key.
    // The renames are not one atomic step, so the done marker written after them is the record
    // that the set is complete.
    std::string commit();

    // The final file names and their lengths in bytes, as a JSON object, after commit().
    std::string committed_files_json() const;

    // Removes every hidden file (after a failure that is not an interrupt).
    void discard();

    // Makes a signal that ends the process remove the hidden files, those opened later included.
    // NOTE: the signal handler has 64 slots for all temporary files of the process, so with more
    // outputs (lid.176 with perplexity buckets) some hidden files stay after the signal, until
    // the next run of the shard removes them.
    void remove_on_signal() { remove_on_signal_ = true; }

    const std::vector<std::string>& names() const { return names_; }

private:
    struct File {
        std::string part;   // hidden name being written
        std::string final;  // name after commit
        std::FILE* stream = nullptr;
        ResumeOutput size;
    };
    File& open(const std::string& key, const char* mode);

    std::string directory_;
    int lock_ = -1;
    bool remove_on_signal_ = false;
    std::vector<int> slots_;  // of register_temporary
    std::map<std::string, File> files_;
    std::vector<std::string> names_;
};

}  // namespace scorekit::text
