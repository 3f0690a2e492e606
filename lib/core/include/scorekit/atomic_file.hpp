// Output files that appear only when complete: data go to a hidden temporary name in the same
// directory, which `commit()` renames over the final name. If the object is destroyed without
// a commit (an exception) or a signal ends the process, the temporary file is removed.
// SIGKILL or a crash leaves it behind. Its name, ".NAME.tmp.HOST.PID.XXXXXX", records the host
// and the process, so the next AtomicFile for the same target on that host removes it once that
// process no longer runs. Nothing is removed inside a container with its own PID namespace or
// under the host name localhost, where the name cannot identify the process.
// A symbolic link is followed, so its target is replaced and the link kept. A device, FIFO or
// socket (/dev/null, /dev/stdout, a named pipe) is written directly, because renaming over it
// would replace the special file itself.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace scorekit {

class AtomicFile {
public:
    // Throws Error if the directory of `path` is not writable.
    explicit AtomicFile(std::string path);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    const std::string& temporary_path() const { return temporary_; }
    const std::string& path() const { return path_; }

    // Renames the temporary file to the final path. Throws Error on failure.
    void commit();

private:
    std::string path_;
    std::string temporary_;
    int slot_ = -1;
    bool committed_ = false;
    bool direct_ = false;  // a special file written in place
};

// Writes the text output `path` through `write`, which returns false after a failed write:
// standard output for `-`, else an AtomicFile. Throws Error naming the path on any failure.
void write_text_output(const std::string& path, const std::function<bool(std::FILE*)>& write);

// A file argument and the option that named it ("input", "--output", "--checkpoint").
struct FileArgument {
    std::string option;
    std::string path;  // may carry a :/dataset suffix; "" and "-" (standard streams) are skipped
};

// The FileArguments of several paths given to one option.
std::vector<FileArgument> file_arguments(const std::string& option, const std::vector<std::string>& paths);

// The first two entries of `paths` that name the same file, as indices into `paths`. Entries
// "" and "-" are skipped. Existing files are the same when they have the same device and inode, so
// another spelling ("./a", an absolute path), a symbolic link or a hard link names the same file.
// Other paths are compared after links, "." and ".." are resolved. A copy under another name is
// another file. Returns false when every file is named once.
bool find_repeated_file(const std::vector<std::string>& paths, std::size_t& first, std::size_t& second);

// Throws UsageError naming both arguments when two of `inputs` name the same file (as
// find_repeated_file compares them). For lists whose repeats would change a result, such as
// training files read twice or WET files whose lines dedup would then remove.
void check_inputs_listed_once(const std::vector<FileArgument>& inputs);

// Throws UsageError naming both options if an output is the same file as another output or as
// an input. Existing files are compared by device and inode, others by their path after links
// and the directory are resolved. Inputs may name the same file as each other, but only one
// input may be "-" (standard input) and only one output "-" (standard output).
void check_distinct_files(const std::vector<FileArgument>& outputs, const std::vector<FileArgument>& inputs = {});

// Throws Error unless a file can be created next to `output` (its directory exists and is
// writable, and `output` is not a directory). Tools call it before the work, so that a typo in
// -o fails at once rather than after an hour of training. `-` and "" (standard output) pass.
// Also removes the temporary files that killed processes left for `output`, as AtomicFile does.
// Names may carry a dataset suffix (see split_dataset_spec); an invalid dataset path throws
// UsageError. So does an ambiguous name: an existing file such as "x.h5:name", which the output
// would replace, whose name also reads as dataset /name of x.h5. `option` is the option that
// named the file, which the message asks the user to change.
void check_output_writable(const std::string& output, const std::string& option = "-o");

// Whether another process holds an exclusive flock(2) on `path`. HDF5 1.10 takes one on every
// file it opens for writing, unless HDF5_USE_FILE_LOCKING=FALSE.
bool locked_for_writing(const std::string& path);

}  // namespace scorekit
