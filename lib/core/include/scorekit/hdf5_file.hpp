// Small HDF5 reader and writer over the C API, laid out the way h5py reads and writes files:
// row-major datasets, attributes as scalars or variable-length UTF-8 strings.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scorekit/matrix.hpp"

namespace scorekit {

class AtomicFile;

// An N-dimensional array of doubles in row-major order.
struct Array {
    std::vector<std::int64_t> shape;
    std::vector<double> values;
};

class Hdf5Reader {
public:
    // Throws Error naming the file if it is missing, not HDF5, or truncated.
    explicit Hdf5Reader(const std::string& path);
    ~Hdf5Reader();
    Hdf5Reader(const Hdf5Reader&) = delete;
    Hdf5Reader& operator=(const Hdf5Reader&) = delete;

    const std::string& path() const { return path_; }
    bool exists(const std::string& object) const;

    // Paths of all datasets in the file, in HDF5's traversal order.
    std::vector<std::string> dataset_paths() const;

    // Reads a numeric dataset of any rank, converted to double.
    Array read_array(const std::string& dataset) const;

    // Reads rows [first, first + count) along the first dimension of a numeric dataset, with the
    // checks of read_array; the shape's first entry is `count`. Throws Error naming the dataset
    // when the rows lie outside it.
    Array read_array(const std::string& dataset, std::int64_t first, std::int64_t count) const;

    // Reads a numeric dataset of rank 1 or 2 as a matrix (rank 1 becomes one column).
    RowMatrix read_matrix(const std::string& dataset) const;

    // The shape of a dataset, without reading its values. Throws Error naming the dataset if it is
    // missing.
    std::vector<std::int64_t> shape(const std::string& dataset) const;

    // Reads rows [first, first + count) along the first dimension of a numeric dataset into
    // `values`, which has room for count times the product of the other dimensions, row-major.
    // Throws Error naming the dataset when the rows lie outside it.
    void read_rows(const std::string& dataset, std::int64_t first, std::int64_t count, double* values) const;

    bool has_attribute(const std::string& object, const std::string& name) const;
    std::string read_string_attribute(const std::string& object, const std::string& name) const;
    double read_number_attribute(const std::string& object, const std::string& name) const;
    // Reads a numeric attribute that must be a whole number in [minimum, maximum]. Throws Error
    // naming the attribute otherwise.
    std::int64_t read_integer_attribute(const std::string& object, const std::string& name, std::int64_t minimum,
                                        std::int64_t maximum) const;

private:
    std::string where(const std::string& object) const { return path_ + ":" + object; }
    // Reads the whole dataset when `first` is negative, else rows [first, first + count).
    Array read_array_rows(const std::string& dataset, std::int64_t first, std::int64_t count) const;
    // Opens an attribute that contains exactly one value, and the caller closes the returned id.
    // Throws Error if the attribute is missing or is an array.
    std::int64_t open_scalar_attribute(const std::string& object, const std::string& name) const;
    // Throws the Error for a dataset that H5Dopen cannot open, naming the target of an external
    // link, which HDF5 resolves only on opening.
    [[noreturn]] void throw_open_failure(const std::string& dataset) const;
    // Throws Error if a source file of a virtual dataset cannot be found. HDF5 itself reads
    // the fill value (often 0 or NaN) in place of a missing source, without an error.
    void check_virtual_sources(std::int64_t data, const std::string& dataset) const;
    // Throws Error if `count` doubles take more memory than is available, before they are
    // allocated, so that a large (or damaged) dataset does not end in the out-of-memory killer.
    void check_fits_in_memory(const std::string& dataset, std::size_t count) const;
    std::string path_;
    std::int64_t file_ = -1;
};

class Hdf5Writer {
public:
    // Creates the file under a temporary name and writes the provenance attributes at the root.
    explicit Hdf5Writer(const std::string& path);
    ~Hdf5Writer();
    Hdf5Writer(const Hdf5Writer&) = delete;
    Hdf5Writer& operator=(const Hdf5Writer&) = delete;

    void create_group(const std::string& group);
    // `single` stores float32 instead of float64.
    void write_array(const std::string& dataset, const std::vector<std::int64_t>& shape,
                     const double* values, bool single = false);
    void write_matrix(const std::string& dataset, const RowMatrix& matrix, bool single = false);
    // Stores whole-number values (counts, 0/1 flags) as int64; HDF5 rounds toward zero.
    void write_integer_array(const std::string& dataset, const std::vector<std::int64_t>& shape, const double* values);
    void write_vector(const std::string& dataset, const std::vector<double>& values);
    // Creates a float64 dataset of `shape` whose rows (along the first dimension) are written
    // later with write_rows, so that an output larger than memory is written piece by piece.
    // Rows never written read as 0.
    void create_array(const std::string& dataset, const std::vector<std::int64_t>& shape);
    // Writes or reads rows [first, first + count) of a dataset of this file; `values` has count
    // times the product of the other dimensions, row-major. Throws Error naming the dataset.
    void write_rows(const std::string& dataset, std::int64_t first, std::int64_t count, const double* values);
    void read_rows(const std::string& dataset, std::int64_t first, std::int64_t count, double* values) const;
    void write_attribute(const std::string& object, const std::string& name, const std::string& value);
    void write_attribute(const std::string& object, const std::string& name, double value);
    void write_attribute(const std::string& object, const std::string& name, std::int64_t value);

    // Closes the file and moves it to its final name. Without a commit the file is removed.
    void commit();

private:
    // `file_type` is the HDF5 type id of the stored values; HDF5 converts the doubles to it.
    void write_typed_array(const std::string& dataset, const std::vector<std::int64_t>& shape, const double* values,
                           std::int64_t file_type);

    void close_properties();

    // A copy of the dataset creation properties for a dataset of shape `dims` whose stored values
    // take `value_size` bytes. Datasets with values are chunked and carry HDF5's Fletcher-32
    // checksum filter, so that a reader detects flipped bytes in their data. The caller closes
    // the returned id.
    std::int64_t checksummed_properties(const std::vector<unsigned long long>& dims, size_t value_size) const;

    // Throw the Error for a failed H5Dcreate or attribute write, with the system's reason.
    [[noreturn]] void throw_create_failure(const std::string& dataset) const;
    [[noreturn]] void throw_attribute_failure(const std::string& object, const std::string& name) const;

    // Rows [first, first + count) of `dataset` (open in this file) read into or written from
    // `values`.
    void transfer_rows(const std::string& dataset, std::int64_t first, std::int64_t count, double* values,
                       bool write) const;

    std::unique_ptr<AtomicFile> output_;
    std::int64_t file_ = -1;
    // Group and dataset creation property lists that switch off HDF5's object timestamps.
    std::int64_t group_properties_ = -1;
    std::int64_t dataset_properties_ = -1;
};

// True if the file starts with the HDF5 signature.
bool has_hdf5_signature(const std::string& path);

}  // namespace scorekit
