// Point sets: N points of dimension D, read from HDF5 or text and written to either.
//
// Input names:
//   file.h5:/group/name   an HDF5 dataset [N, D] (float32 or float64; rank 1 is read as D = 1)
//   file.h5               an HDF5 file: dataset /points, or the file's only dataset
//   file.txt, file.gz     text: one point per line, numbers separated by tabs, spaces or commas,
//                         an optional header line of column names, `#` comments, gzip detected.
//                         Double-quoted fields, a byte order mark and CRLF line ends are read
//                         as CSV writers produce them.
//   -                     text on standard input
// Output names: `-` writes tab-separated text to standard output, a name ending in .h5/.hdf5
// (optionally with :/dataset) writes HDF5, any other name writes text. Files appear atomically.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "scorekit/matrix.hpp"

namespace scorekit {

struct PointSet {
    RowMatrix values;                  // [N, D]
    std::vector<std::string> columns;  // column names from a text header; empty if none
    std::string source;                // the input name as given, for messages
    std::vector<double> targets;       // [N], the target column of a scikit-learn CSV file, which
                                       // `values` leaves out; empty for other files
};

// Location of a point set: a file and, for HDF5, a dataset inside it.
struct PointLocation {
    std::string path;
    std::string dataset;  // empty for text
    bool hdf5 = false;
};

// A file argument split into the file and the HDF5 dataset inside it. "FILE:/GROUP/NAME" names a
// dataset, and so does "FILE.h5:NAME" when FILE ends in .h5, .hdf5 or .hdf (meaning /NAME).
// Otherwise, and whenever the whole argument names an existing file (not a directory), the whole
// argument is the file and `dataset` is empty.
struct DatasetSpec {
    std::string file;
    std::string dataset;
};
DatasetSpec split_dataset_spec(const std::string& spec);

// Splits `spec` by its spelling alone, as split_dataset_spec does for a name that is not an
// existing file.
DatasetSpec split_dataset_syntax(const std::string& spec);

// Whether `spec` contains a colon and names an existing file that is not a directory, which
// split_dataset_spec then takes whole.
bool names_existing_file(const std::string& spec);

// Throws UsageError unless `dataset` is an absolute HDF5 path of non-empty names ("/a/b"),
// naming `spec` in the message.
void check_dataset_path(const std::string& spec, const std::string& dataset);

// Throws UsageError if `spec` names a dataset. For outputs of tools that write several datasets
// with fixed names (a model, metric-eval's and geodesic's results), where a suffix would be
// ignored. `option` names the option in the message.
void check_no_dataset(const std::string& spec, const std::string& option);

// Throws UsageError for "-" as `checkpoint` or `resume`, and for a dataset suffix on
// `checkpoint`, because a checkpoint is a whole HDF5 file on disk with datasets of fixed names.
// Empty names (no checkpoint, no resume) pass.
void check_checkpoint_names(const std::string& checkpoint, const std::string& resume);

// Splits `spec` with split_dataset_spec and decides HDF5 or text (by the HDF5 signature or the
// file extension).
PointLocation locate_points(const std::string& spec, const std::string& default_dataset = "/points",
                            bool for_output = false);

// Reads a point set. Throws Error naming the file, line or row and column for a missing file or
// dataset, a truncated file, a value that is not a number, NaN or infinity, ragged rows, an empty
// set, or (when `expected_dim` > 0) the wrong number of columns. A file whose rows are not
// points (pairs, curves) passes `layout`, the meaning of its columns, for that message.
PointSet read_points(const std::string& spec, int expected_dim = 0, const std::string& layout = "");

// A block of rows [begin, end) of a table of `total` rows.
struct RowBlock {
    std::int64_t begin = 0, end = 0, total = 0;
};

// Chooses the block of rows to read from a table's row count, for --shard: a task then reads
// only its own rows of an HDF5 dataset. May throw to reject the count.
using RowBlockChoice = std::function<RowBlock(std::int64_t total)>;

// Reads the rows of the point set that `choose` picks, with the checks and messages of
// read_points (row numbers in messages count in the whole table). An HDF5 dataset is read only
// in the chosen rows. Text is parsed whole and then cut, because its row count is known only at
// its end. `block` receives the chosen rows and the table's row count.
PointSet read_point_block(const std::string& spec, const RowBlockChoice& choose, RowBlock& block,
                          int expected_dim = 0, const std::string& layout = "");

// A table of fewer rows than columns may be one stored transposed ([D, N]). Tools whose model
// does not fix the dimension (score-train's data, fim's inputs to a module of unknown input
// width) call warn_if_transposed on what they read. Where the model fixes it, the dimension error
// of a table with as many rows as the model has dimensions adds transposed_table_advice
// (read_points with `expected_dim`, fim's input width check).
//
// Logs a warning when a table read from `source` has fewer rows (points)
// than columns (dimensions).
void warn_if_transposed(const std::string& source, Eigen::Index rows, Eigen::Index columns);

// The advice, shared by that warning and those errors, to transpose a table stored as [D, N].
std::string transposed_table_advice();

// Writes points as HDF5 (float64 dataset with provenance) or as tab-separated text with
// round-trip precision. `columns` (optional) become a text header or a `columns` attribute.
// A non-empty `comment` becomes a first text line "# <comment>", which readers skip. HDF5
// outputs ignore it.
void write_points(const std::string& spec, const RowMatrix& points,
                  const std::vector<std::string>& columns = {}, const std::string& comment = "");

// Writes tab-separated rows with round-trip precision.
void write_text_rows(std::FILE* stream, const RowMatrix& points);

}  // namespace scorekit
