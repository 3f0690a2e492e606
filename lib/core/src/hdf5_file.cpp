#include "scorekit/hdf5_file.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <utility>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/provenance.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit {
namespace {

// HDF5 prints its own error stack to stderr by default; scorekit reports errors itself.
//
// HDF5 also registers an atexit handler that closes every identifier still open. After a write
// fails (disk full, file size limit), H5Fclose fails too and leaves the file and its datasets
// half-closed. With HDF5 1.10.8 the handler then crashes in H5D_close at exit, after the tool
// has printed its error. Every file is closed explicitly here, so the handler has nothing to do
// on success, and on failure the half-closed file must be abandoned, not closed a second time.
// H5dont_atexit only works before the library initialises, so this runs before any other call.
void silence_hdf5() {
    static bool done = false;
    if (!done) {
        H5dont_atexit();
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        done = true;
    }
}

// Closes an HDF5 identifier of any kind when it goes out of scope.
class Handle {
public:
    explicit Handle(hid_t id) : id_(id) {}
    ~Handle() {
        if (id_ < 0) return;
        switch (H5Iget_type(id_)) {
            case H5I_DATATYPE: H5Tclose(id_); break;
            case H5I_DATASPACE: H5Sclose(id_); break;
            case H5I_ATTR: H5Aclose(id_); break;
            case H5I_GROUP:
            case H5I_DATASET: H5Oclose(id_); break;
            default: H5Idec_ref(id_); break;
        }
    }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    hid_t get() const { return id_; }
    bool valid() const { return id_ >= 0; }

private:
    hid_t id_;
};

const char* kHint = "check the dataset name with h5ls";

// The findings in HDF5's error stack about the call that failed last. Every API call clears the
// stack when it starts, so the stack must be read before the next HDF5 call. HDF5 1.10's sec2 file
// driver writes the errno of a failed read, write or open into its message ("errno = 28, error
// message = 'No space left on device'"), and the Fletcher-32 filter reports a mismatch as "data
// error detected by Fletcher32 checksum".
struct Hdf5Failure {
    int system_error = 0;
    bool checksum_mismatch = false;
};

herr_t inspect_error_entry(unsigned, const H5E_error2_t* entry, void* data) {
    auto* failure = static_cast<Hdf5Failure*>(data);
    const std::string description = entry->desc ? entry->desc : "";
    const size_t at = description.find("errno = ");
    if (failure->system_error == 0 && at != std::string::npos) {
        failure->system_error = std::atoi(description.c_str() + at + 8);
    }
    if (description.find("Fletcher32 checksum") != std::string::npos) failure->checksum_mismatch = true;
    return 0;
}

Hdf5Failure last_hdf5_failure() {
    Hdf5Failure failure;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, inspect_error_entry, &failure);
    return failure;
}

// The reason and hint of a message about a failed write: the system's reason when HDF5 recorded
// one, else `call` (such as "H5Dwrite failed"), and advice that fits that reason.
std::pair<std::string, std::string> write_failure(const std::string& call) {
    const int error = last_hdf5_failure().system_error;
    switch (error) {
        case 0: return {call, "check the free disk space and that the file system is writable"};
        case ENOSPC: return {std::strerror(error), "free disk space or write the output to another file system"};
        case EDQUOT: return {std::strerror(error), "free space within your disk quota or write the output elsewhere"};
        case EROFS: return {std::strerror(error), "write the output to a writable file system"};
        case EFBIG: return {std::strerror(error), "raise the file size limit (ulimit -f) or write a smaller output"};
        case EIO: return {std::strerror(error), "check the disk and the file system's logs (dmesg)"};
        default: return {std::strerror(error), "check the output directory and the disk"};
    }
}

// The reason and hint of a message about a failed read of dataset data.
std::pair<std::string, std::string> read_failure() {
    const Hdf5Failure failure = last_hdf5_failure();
    if (failure.checksum_mismatch) {
        return {"its data do not match their Fletcher-32 checksum, so the file is corrupt",
                "write the file again or restore it from a good copy"};
    }
    if (failure.system_error != 0) {
        return {std::string("read failed: ") + std::strerror(failure.system_error), "check the disk and the file"};
    }
    return {"read failed, the file is truncated or corrupt", "write or copy it again"};
}

// Reads or writes rows [first, first + count) along the first dimension of the open dataset
// `data` from or into `values`. `where` names the dataset in messages.
void transfer_dataset_rows(hid_t data, const std::string& where, std::int64_t first, std::int64_t count,
                           double* values, bool write) {
    Handle space(H5Dget_space(data));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 1) throw Error(describe("cannot read dataset", where, "it has no rows", kHint));
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    if (first < 0 || count < 0 || static_cast<hsize_t>(first) + static_cast<hsize_t>(count) > dims[0]) {
        throw Error(describe(write ? "cannot write dataset" : "cannot read dataset", where,
                             "rows " + std::to_string(first) + " to " + std::to_string(first + count) +
                                 " lie outside its " + std::to_string(dims[0]) + " rows",
                             "the file was not written by scorekit or was changed after writing"));
    }
    if (count == 0) return;
    std::vector<hsize_t> start(dims.size(), 0), size = dims;
    start[0] = static_cast<hsize_t>(first);
    size[0] = static_cast<hsize_t>(count);
    H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, size.data(), nullptr);
    Handle memory(H5Screate_simple(rank, size.data(), nullptr));
    const herr_t status = write ? H5Dwrite(data, H5T_NATIVE_DOUBLE, memory.get(), space.get(), H5P_DEFAULT, values)
                                : H5Dread(data, H5T_NATIVE_DOUBLE, memory.get(), space.get(), H5P_DEFAULT, values);
    if (status < 0) {
        const auto [reason, hint] = write ? write_failure("H5Dwrite failed") : read_failure();
        throw Error(describe(write ? "cannot write dataset" : "cannot read dataset", where, reason, hint));
    }
}

// The memory that an allocation can take without the kernel's out-of-memory killer ending the
// process: MemAvailable from /proc/meminfo, lowered to what is left under the memory limit of
// this process's cgroup (a SLURM job's --mem, a container's limit). Returns the maximum of
// std::size_t when none of these can be read.
std::size_t available_memory() {
    std::size_t available = std::numeric_limits<std::size_t>::max();
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    std::size_t kib = 0;
    while (meminfo >> key >> kib) {
        if (key == "MemAvailable:") {
            available = kib * 1024;
            break;
        }
        meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }

    auto read_number = [](const std::string& file, std::size_t& value) {
        std::ifstream stream(file);
        return static_cast<bool>(stream >> value);
    };
    std::ifstream groups("/proc/self/cgroup");
    std::string line;
    while (std::getline(groups, line)) {
        // "0::/path" is the cgroup v2 hierarchy; "N:memory:/path" the v1 memory controller.
        std::size_t limit = 0, usage = 0;
        if (line.rfind("0::", 0) == 0) {
            const std::string directory = "/sys/fs/cgroup" + line.substr(3);
            if (read_number(directory + "/memory.max", limit) && read_number(directory + "/memory.current", usage)) {
                available = std::min(available, limit > usage ? limit - usage : 0);
            }
        } else if (const std::size_t at = line.find(":memory:"); at != std::string::npos) {
            const std::string directory = "/sys/fs/cgroup/memory" + line.substr(at + 8);
            if (read_number(directory + "/memory.limit_in_bytes", limit) &&
                read_number(directory + "/memory.usage_in_bytes", usage)) {
                available = std::min(available, limit > usage ? limit - usage : 0);
            }
        }
    }
    return available;
}

std::string format_bytes(double bytes) {
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int unit = 0;
    while (bytes >= 1024 && unit < 5) {
        bytes /= 1024;
        ++unit;
    }
    return format_short(bytes) + " " + units[unit];
}

// The chunk shape of a checksummed dataset: whole rows (whole trailing dimensions) up to
// kChunkBytes, so that reading or writing a block of rows touches few chunks. A row larger
// than that is split along its own dimensions in turn. HDF5 stores an edge chunk at full size,
// so the chunks split each dimension into equal parts: a dataset of 1.1 chunks would otherwise
// take the space of 2.
constexpr hsize_t kChunkBytes = hsize_t{1} << 20;

std::vector<hsize_t> chunk_shape(const std::vector<hsize_t>& dims, size_t value_size) {
    std::vector<hsize_t> chunk = dims;
    auto bytes = [&] {
        hsize_t product = value_size;
        for (hsize_t d : chunk) product *= d;
        return product;
    };
    for (size_t axis = 0; axis < chunk.size() && bytes() > kChunkBytes; ++axis) {
        const hsize_t others = bytes() / chunk[axis];
        const hsize_t largest = std::max<hsize_t>(1, kChunkBytes / others);
        const hsize_t parts = (dims[axis] + largest - 1) / largest;
        chunk[axis] = (dims[axis] + parts - 1) / parts;
    }
    return chunk;
}

}  // namespace

bool has_hdf5_signature(const std::string& path) {
    // HDF5 needs a seekable file, and file_starts_with passes over pipes without reading them.
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    return file_starts_with(path, signature, sizeof signature);
}

Hdf5Reader::Hdf5Reader(const std::string& path) : path_(path) {
    silence_hdf5();
    if (is_pipe_or_device(path)) {
        throw Error(describe("cannot read HDF5 file", path, "it is a pipe or device, and HDF5 files are read by seeking",
                             "give the name of the HDF5 file itself"));
    }
    FILE* probe = std::fopen(path.c_str(), "rb");
    if (!probe) throw Error(describe("cannot open", path, std::strerror(errno), "check the path"));
    std::fclose(probe);
    if (!has_hdf5_signature(path)) {
        throw Error(describe("cannot read HDF5 file", path, "not an HDF5 file",
                             "give an HDF5 file, or a text file without the :/dataset suffix"));
    }
    file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file_ < 0 && locked_for_writing(path)) {
        throw Error(describe("cannot read HDF5 file", path, "another process has it open for writing",
                             "wait until that process has closed it (HDF5_USE_FILE_LOCKING=FALSE reads it "
                             "anyway, at the risk of reading half-written data)"));
    }
    if (file_ < 0) {
        throw Error(describe("cannot read HDF5 file", path, "the file is truncated or corrupt",
                             "write or copy it again"));
    }
}

Hdf5Reader::~Hdf5Reader() {
    if (file_ >= 0) H5Fclose(file_);
}

bool Hdf5Reader::exists(const std::string& object) const {
    // H5Lexists fails rather than returning false when an intermediate group is missing,
    // so each path component is checked in turn.
    std::string prefix;
    size_t start = object.front() == '/' ? 1 : 0;
    while (start <= object.size()) {
        size_t end = object.find('/', start);
        if (end == std::string::npos) end = object.size();
        prefix = object.substr(0, end);
        if (!prefix.empty() && prefix != "/" && H5Lexists(file_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
        start = end + 1;
    }
    return true;
}

std::vector<std::string> Hdf5Reader::dataset_paths() const {
    std::vector<std::string> paths;
    auto visit = [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
        if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(data)->push_back(std::string("/") + name);
        return 0;
    };
    H5Ovisit(file_, H5_INDEX_NAME, H5_ITER_NATIVE, visit, &paths);
    return paths;
}

namespace {

// Returns whether `type` is the compound of two floating-point fields r and i that h5py writes for
// numpy's complex64 and complex128.
bool is_complex_compound(hid_t type) {
    if (H5Tget_nmembers(type) != 2) return false;
    const char* expected[] = {"r", "i"};
    for (unsigned member = 0; member < 2; ++member) {
        char* name = H5Tget_member_name(type, member);
        const bool matches = name != nullptr && std::string(name) == expected[member];
        H5free_memory(name);
        if (!matches || H5Tget_member_class(type, member) != H5T_FLOAT) return false;
    }
    return true;
}

}  // namespace

Array Hdf5Reader::read_array(const std::string& dataset) const {
    return read_array_rows(dataset, -1, 0);
}

Array Hdf5Reader::read_array(const std::string& dataset, std::int64_t first, std::int64_t count) const {
    if (first < 0 || count < 0) {
        throw Error(describe("cannot read dataset", where(dataset),
                             "invalid row block " + std::to_string(first) + " + " + std::to_string(count), ""));
    }
    return read_array_rows(dataset, first, count);
}

Array Hdf5Reader::read_array_rows(const std::string& dataset, std::int64_t first, std::int64_t count) const {
    if (!exists(dataset)) {
        throw Error(describe("dataset not found", where(dataset), "no such dataset in the file", kHint));
    }
    Handle data(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT));
    if (!data.valid()) throw_open_failure(dataset);
    check_virtual_sources(data.get(), dataset);
    Handle type(H5Dget_type(data.get()));
    H5T_class_t kind = H5Tget_class(type.get());
    if (kind == H5T_COMPOUND && is_complex_compound(type.get())) {
        throw Error(describe("cannot read dataset", where(dataset),
                             "values are complex numbers (h5py stores numpy's complex dtypes as a compound of "
                             "fields r and i), not real numbers",
                             "store real values, such as the real and imaginary parts as separate columns"));
    }
    if (kind == H5T_COMPOUND) {
        // pandas' to_hdf(format="table") and PyTables tables store rows as records.
        throw Error(describe("cannot read dataset", where(dataset),
                             "values are records of named fields (a compound type, as pandas' to_hdf with "
                             "format=\"table\" writes them), not an array of numbers",
                             "store an [N, D] array of numbers, such as pandas' to_hdf with format=\"fixed\" "
                             "(the default), whose values are the dataset /KEY/block0_values"));
    }
    if (kind != H5T_FLOAT && kind != H5T_INTEGER) {
        throw Error(describe("cannot read dataset", where(dataset),
                             "values are not numbers (booleans, strings, compound and complex types are not read)",
                             "store integer or floating-point values"));
    }
    Handle space(H5Dget_space(data.get()));
    int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) throw Error(describe("cannot read dataset", where(dataset), "invalid dataspace", kHint));
    std::vector<hsize_t> dims(rank);
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);

    // A block of rows selects a hyperslab of the file and reads into an array of its own shape.
    const bool block = first >= 0;
    if (block) {
        if (rank < 1 || static_cast<hsize_t>(first) + static_cast<hsize_t>(count) > dims[0]) {
            throw Error(describe("cannot read dataset", where(dataset),
                                 "rows " + std::to_string(first) + " to " + std::to_string(first + count) +
                                     " lie outside its " + std::to_string(rank < 1 ? 0 : dims[0]) + " rows",
                                 kHint));
        }
        std::vector<hsize_t> start(dims.size(), 0);
        start[0] = static_cast<hsize_t>(first);
        dims[0] = static_cast<hsize_t>(count);
        H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, dims.data(), nullptr);
    }

    Array array;
    size_t values = 1;
    for (hsize_t d : dims) {
        // A chunked dataset that was never written can state any shape in a file of a few bytes.
        // A product that wraps around would leave fewer values than the shape claims.
        if (d > static_cast<hsize_t>(std::numeric_limits<std::int64_t>::max()) ||
            __builtin_mul_overflow(values, static_cast<size_t>(d), &values) || values > PTRDIFF_MAX / sizeof(double)) {
            throw Error(describe("cannot read dataset", where(dataset), "its shape has more values than memory can address",
                                 "the file is damaged, or give a smaller dataset"));
        }
        array.shape.push_back(static_cast<std::int64_t>(d));
    }
    check_fits_in_memory(dataset, values);
    array.values.resize(values);
    Handle memory(block ? H5Screate_simple(rank, dims.data(), nullptr) : -1);
    if (values && H5Dread(data.get(), H5T_NATIVE_DOUBLE, block ? memory.get() : H5S_ALL, block ? space.get() : H5S_ALL,
                          H5P_DEFAULT, array.values.data()) < 0) {
        const auto [reason, hint] = read_failure();
        throw Error(describe("cannot read dataset", where(dataset), reason, hint));
    }
    return array;
}

void Hdf5Reader::throw_open_failure(const std::string& dataset) const {
    H5L_info_t link {};
    if (H5Lget_info(file_, dataset.c_str(), &link, H5P_DEFAULT) >= 0 && link.type == H5L_TYPE_EXTERNAL) {
        std::vector<char> value(link.u.val_size + 1, '\0');
        unsigned flags = 0;
        const char* target_file = nullptr;
        const char* target_object = nullptr;
        if (H5Lget_val(file_, dataset.c_str(), value.data(), link.u.val_size, H5P_DEFAULT) >= 0 &&
            H5Lunpack_elink_val(value.data(), link.u.val_size, &flags, &target_file, &target_object) >= 0) {
            throw Error(describe("cannot open dataset", where(dataset),
                                 "it is an external link to " + quote(std::string(target_file) + ":" + target_object) +
                                     ", which cannot be opened (a missing or unreadable file, or no such dataset there)",
                                 "put that file where the link points, relative to this file's directory, or read "
                                 "the dataset from that file directly"));
        }
    }
    Handle group(H5Gopen2(file_, dataset.c_str(), H5P_DEFAULT));
    if (group.valid()) {
        // pandas' to_hdf(format="fixed") stores a DataFrame as a group KEY whose values of one
        // dtype are the dataset KEY/block0_values.
        const std::string block = (dataset.back() == '/' ? dataset : dataset + "/") + "block0_values";
        if (H5Lexists(file_, block.c_str(), H5P_DEFAULT) > 0) {
            throw Error(describe("cannot open dataset", where(dataset),
                                 "it is a group, as pandas' to_hdf writes a DataFrame",
                                 "give its values, the dataset " + quote(where(block))));
        }
        throw Error(describe("cannot open dataset", where(dataset), "it is a group, not a dataset", kHint));
    }
    throw Error(describe("cannot open dataset", where(dataset), "not a dataset", kHint));
}

void Hdf5Reader::check_virtual_sources(std::int64_t data, const std::string& dataset) const {
    Handle properties(H5Dget_create_plist(data));
    if (!properties.valid() || H5Pget_layout(properties.get()) != H5D_VIRTUAL) return;
    size_t mappings = 0;
    if (H5Pget_virtual_count(properties.get(), &mappings) < 0) return;
    // HDF5 1.10 looks for a relative source name under HDF5_VDS_PREFIX, in the directory of the
    // virtual dataset's file and in the working directory. With a prefix set, HDF5 checks alone.
    if (std::getenv("HDF5_VDS_PREFIX") != nullptr) return;
    const std::size_t slash = path_.rfind('/');
    const std::string directory = slash == std::string::npos ? "" : path_.substr(0, slash + 1);
    for (size_t i = 0; i < mappings; ++i) {
        const ssize_t length = H5Pget_virtual_filename(properties.get(), i, nullptr, 0);
        if (length <= 0) continue;
        std::vector<char> buffer(static_cast<std::size_t>(length) + 1, '\0');
        H5Pget_virtual_filename(properties.get(), i, buffer.data(), buffer.size());
        const std::string source = buffer.data();
        if (source == ".") continue;  // the virtual dataset's own file
        const bool found = access(source.c_str(), R_OK) == 0 ||
                           (source.front() != '/' && access((directory + source).c_str(), R_OK) == 0);
        if (!found) {
            throw Error(describe("cannot read dataset", where(dataset),
                                 "it is a virtual dataset whose source file " + quote(source) +
                                     " is missing or unreadable, and HDF5 would read fill values in its place",
                                 "put the source files beside this file, or set HDF5_VDS_PREFIX to their directory"));
        }
    }
}

void Hdf5Reader::check_fits_in_memory(const std::string& dataset, std::size_t count) const {
    const double bytes = static_cast<double>(count) * sizeof(double);
    const std::size_t available = available_memory();
    if (bytes <= static_cast<double>(available)) return;
    throw Error(describe("cannot read dataset", where(dataset),
                         "its " + std::to_string(count) + " values take " + format_bytes(bytes) + " as doubles, more than the " +
                             format_bytes(static_cast<double>(available)) + " of memory available",
                         "give a smaller dataset or run with more memory; a damaged file can also declare such a shape"));
}

RowMatrix Hdf5Reader::read_matrix(const std::string& dataset) const {
    Array array = read_array(dataset);
    if (array.shape.size() != 1 && array.shape.size() != 2) {
        throw Error(describe("cannot read points", where(dataset),
                             "dataset has rank " + std::to_string(array.shape.size()) + ", expected 2 ([N, D])",
                             "reshape it to [points, dimensions]"));
    }
    Eigen::Index rows = array.shape[0];
    Eigen::Index cols = array.shape.size() == 2 ? array.shape[1] : 1;
    return Eigen::Map<RowMatrix>(array.values.data(), rows, cols);
}

std::vector<std::int64_t> Hdf5Reader::shape(const std::string& dataset) const {
    if (!exists(dataset)) {
        throw Error(describe("dataset not found", where(dataset), "no such dataset in the file", kHint));
    }
    Handle data(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT));
    if (!data.valid()) throw_open_failure(dataset);
    Handle space(H5Dget_space(data.get()));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) throw Error(describe("cannot read dataset", where(dataset), "invalid dataspace", kHint));
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return std::vector<std::int64_t>(dims.begin(), dims.end());
}

void Hdf5Reader::read_rows(const std::string& dataset, std::int64_t first, std::int64_t count, double* values) const {
    if (!exists(dataset)) {
        throw Error(describe("dataset not found", where(dataset), "no such dataset in the file", kHint));
    }
    Handle data(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT));
    if (!data.valid()) throw Error(describe("cannot open dataset", where(dataset), "not a dataset", kHint));
    transfer_dataset_rows(data.get(), where(dataset), first, count, values, false);
}

bool Hdf5Reader::has_attribute(const std::string& object, const std::string& name) const {
    if (!exists(object)) return false;
    return H5Aexists_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::int64_t Hdf5Reader::open_scalar_attribute(const std::string& object, const std::string& name) const {
    if (!has_attribute(object, name)) {
        throw Error(describe("attribute not found", where(object) + "@" + name, "missing attribute",
                             "the file was not written by scorekit or is from an incompatible version"));
    }
    hid_t attribute = H5Aopen_by_name(file_, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    if (attribute < 0) {
        throw Error(describe("cannot read attribute", where(object) + "@" + name, "H5Aopen failed", ""));
    }
    // H5Aread writes every element, so an array attribute would overrun the one-value buffers
    // of the readers below.
    Handle space(H5Aget_space(attribute));
    const hssize_t count = H5Sget_simple_extent_npoints(space.get());
    if (count != 1) {
        H5Aclose(attribute);
        throw Error(describe("cannot read attribute", where(object) + "@" + name,
                             "it holds " + std::to_string(count) + " values, expected one",
                             "store a single value (a scalar attribute)"));
    }
    return attribute;
}

std::string Hdf5Reader::read_string_attribute(const std::string& object, const std::string& name) const {
    Handle attribute(open_scalar_attribute(object, name));
    Handle type(H5Aget_type(attribute.get()));
    if (H5Tget_class(type.get()) != H5T_STRING) {
        throw Error(describe("cannot read attribute", where(object) + "@" + name, "not a string", ""));
    }
    std::string value;
    if (H5Tis_variable_str(type.get()) > 0) {
        Handle memory(H5Tcopy(H5T_C_S1));
        H5Tset_size(memory.get(), H5T_VARIABLE);
        H5Tset_cset(memory.get(), H5Tget_cset(type.get()));
        char* text = nullptr;
        if (H5Aread(attribute.get(), memory.get(), &text) >= 0 && text) {
            value = text;
            H5free_memory(text);
        }
    } else {
        size_t size = H5Tget_size(type.get());
        std::vector<char> buffer(size + 1, '\0');
        H5Aread(attribute.get(), type.get(), buffer.data());
        value = buffer.data();
    }
    return value;
}

double Hdf5Reader::read_number_attribute(const std::string& object, const std::string& name) const {
    Handle attribute(open_scalar_attribute(object, name));
    double value = 0;
    if (H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value) < 0) {
        throw Error(describe("cannot read attribute", where(object) + "@" + name, "not a number", ""));
    }
    return value;
}

std::int64_t Hdf5Reader::read_integer_attribute(const std::string& object, const std::string& name,
                                                std::int64_t minimum, std::int64_t maximum) const {
    const double value = read_number_attribute(object, name);
    if (!(value >= static_cast<double>(minimum) && value <= static_cast<double>(maximum)) ||
        value != std::floor(value)) {
        throw Error(describe("invalid attribute", where(object) + "@" + name,
                             format_number(value) + " is not a whole number from " + std::to_string(minimum) +
                                 " to " + std::to_string(maximum),
                             "the file was not written by scorekit or was changed after writing"));
    }
    return static_cast<std::int64_t>(value);
}

Hdf5Writer::Hdf5Writer(const std::string& path) : output_(std::make_unique<AtomicFile>(path)) {
    silence_hdf5();
    // By default HDF5 stores modification times in object headers, so two runs with the same
    // inputs would write files that differ in those bytes.
    Handle file_properties(H5Pcreate(H5P_FILE_CREATE));
    H5Pset_obj_track_times(file_properties.get(), 0);
    // Every dataset is chunked, and HDF5's default chunk index node (2 x 32 entries) took 2.5 KiB
    // per dataset, 30% of a small score-train model. Nodes of 2 x 4 entries cost it 6.5%, and a
    // dataset of 10,000 chunks (10 GiB) still needs only about 5 index levels.
    H5Pset_istore_k(file_properties.get(), 4);
    group_properties_ = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(group_properties_, 0);
    dataset_properties_ = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dataset_properties_, 0);
    file_ = H5Fcreate(output_->temporary_path().c_str(), H5F_ACC_TRUNC, file_properties.get(), H5P_DEFAULT);
    if (file_ < 0) {
        const auto [reason, hint] = write_failure("H5Fcreate failed");
        close_properties();
        throw Error(describe("cannot create HDF5 file", path, reason, hint));
    }
    const Provenance& record = provenance();
    try {
        write_attribute("/", "scorekit_tool", record.tool);
        write_attribute("/", "scorekit_version", record.version);
        write_attribute("/", "command_line", record.command_line);
        write_attribute("/", "seed", static_cast<std::int64_t>(record.seed));
    } catch (...) {
        // The destructor does not run for a constructor that throws.
        H5Fclose(file_);
        file_ = -1;
        close_properties();
        throw;
    }
}

Hdf5Writer::~Hdf5Writer() {
    // Reached without a commit, after an error: the output is discarded (AtomicFile removes the
    // temporary file), so a failed close is ignored and the file is not touched again.
    if (file_ >= 0) H5Fclose(file_);
    file_ = -1;
    close_properties();
}

void Hdf5Writer::close_properties() {
    if (group_properties_ >= 0) H5Pclose(group_properties_);
    if (dataset_properties_ >= 0) H5Pclose(dataset_properties_);
    group_properties_ = dataset_properties_ = -1;
}

void Hdf5Writer::create_group(const std::string& group) {
    if (H5Lexists(file_, group.c_str(), H5P_DEFAULT) > 0) return;
    Handle links(H5Pcreate(H5P_LINK_CREATE));
    H5Pset_create_intermediate_group(links.get(), 1);
    Handle created(H5Gcreate2(file_, group.c_str(), links.get(), group_properties_, H5P_DEFAULT));
    if (!created.valid()) {
        const auto [reason, hint] = write_failure("H5Gcreate failed");
        throw Error(describe("cannot create group", output_->path() + ":" + group, reason, hint));
    }
}

hid_t Hdf5Writer::checksummed_properties(const std::vector<hsize_t>& dims, size_t value_size) const {
    const hid_t properties = H5Pcopy(dataset_properties_);
    const bool empty = std::find(dims.begin(), dims.end(), hsize_t{0}) != dims.end();
    // HDF5 filters work on chunks only, and a scalar or empty dataset has none.
    if (dims.empty() || empty) return properties;
    H5Pset_chunk(properties, static_cast<int>(dims.size()), chunk_shape(dims, value_size).data());
    H5Pset_fletcher32(properties);
    return properties;
}

void Hdf5Writer::throw_create_failure(const std::string& dataset) const {
    auto [reason, hint] = write_failure("H5Dcreate failed");
    if (H5Lexists(file_, dataset.c_str(), H5P_DEFAULT) > 0) {
        reason = "the file already has an object of that name";
        hint = "give another dataset name";
    }
    throw Error(describe("cannot create dataset", output_->path() + ":" + dataset, reason, hint));
}

void Hdf5Writer::throw_attribute_failure(const std::string& object, const std::string& name) const {
    const auto [reason, hint] = write_failure("H5Awrite failed");
    throw Error(describe("cannot write attribute", output_->path() + ":" + object + "@" + name, reason, hint));
}

void Hdf5Writer::write_integer_array(const std::string& dataset, const std::vector<std::int64_t>& shape,
                                     const double* values) {
    write_typed_array(dataset, shape, values, H5T_STD_I64LE);
}

void Hdf5Writer::write_array(const std::string& dataset, const std::vector<std::int64_t>& shape,
                             const double* values, bool single) {
    write_typed_array(dataset, shape, values, single ? H5T_IEEE_F32LE : H5T_IEEE_F64LE);
}

void Hdf5Writer::write_typed_array(const std::string& dataset, const std::vector<std::int64_t>& shape,
                                   const double* values, std::int64_t file_type) {
    std::vector<hsize_t> dims(shape.begin(), shape.end());
    Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    // A dataset such as /group/samples gets its missing groups created first, with the same
    // properties as other groups, because intermediate groups that H5Dcreate2 makes would record times.
    const size_t parent_end = dataset.rfind('/');
    if (parent_end != std::string::npos && parent_end > 0) create_group(dataset.substr(0, parent_end));
    Handle properties(checksummed_properties(dims, H5Tget_size(file_type)));
    Handle data(H5Dcreate2(file_, dataset.c_str(), file_type, space.get(), H5P_DEFAULT, properties.get(), H5P_DEFAULT));
    if (!data.valid()) throw_create_failure(dataset);
    size_t count = 1;
    for (auto d : shape) count *= static_cast<size_t>(d);
    if (count && H5Dwrite(data.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
        const auto [reason, hint] = write_failure("H5Dwrite failed");
        throw Error(describe("cannot write dataset", output_->path() + ":" + dataset, reason, hint));
    }
}

void Hdf5Writer::write_matrix(const std::string& dataset, const RowMatrix& matrix, bool single) {
    write_array(dataset, {matrix.rows(), matrix.cols()}, matrix.data(), single);
}

void Hdf5Writer::write_vector(const std::string& dataset, const std::vector<double>& values) {
    write_array(dataset, {static_cast<std::int64_t>(values.size())}, values.data());
}

void Hdf5Writer::create_array(const std::string& dataset, const std::vector<std::int64_t>& shape) {
    std::vector<hsize_t> dims(shape.begin(), shape.end());
    Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    const size_t parent_end = dataset.rfind('/');
    if (parent_end != std::string::npos && parent_end > 0) create_group(dataset.substr(0, parent_end));
    Handle properties(checksummed_properties(dims, sizeof(double)));
    Handle data(H5Dcreate2(file_, dataset.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, properties.get(),
                           H5P_DEFAULT));
    if (!data.valid()) throw_create_failure(dataset);
}

void Hdf5Writer::transfer_rows(const std::string& dataset, std::int64_t first, std::int64_t count, double* values,
                               bool write) const {
    const std::string where = output_->path() + ":" + dataset;
    Handle data(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT));
    if (!data.valid()) throw Error(describe("cannot open dataset", where, "not a dataset", kHint));
    transfer_dataset_rows(data.get(), where, first, count, values, write);
}

void Hdf5Writer::write_rows(const std::string& dataset, std::int64_t first, std::int64_t count, const double* values) {
    // HDF5 only reads from `values` when writing.
    transfer_rows(dataset, first, count, const_cast<double*>(values), true);
}

void Hdf5Writer::read_rows(const std::string& dataset, std::int64_t first, std::int64_t count, double* values) const {
    transfer_rows(dataset, first, count, values, false);
}

void Hdf5Writer::write_attribute(const std::string& object, const std::string& name, const std::string& value) {
    Handle type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    Handle space(H5Screate(H5S_SCALAR));
    Handle attribute(H5Acreate_by_name(file_, object.c_str(), name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT));
    const char* text = value.c_str();
    if (!attribute.valid() || H5Awrite(attribute.get(), type.get(), &text) < 0) throw_attribute_failure(object, name);
}

void Hdf5Writer::write_attribute(const std::string& object, const std::string& name, double value) {
    Handle space(H5Screate(H5S_SCALAR));
    Handle attribute(H5Acreate_by_name(file_, object.c_str(), name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT));
    if (!attribute.valid() || H5Awrite(attribute.get(), H5T_NATIVE_DOUBLE, &value) < 0) throw_attribute_failure(object, name);
}

void Hdf5Writer::write_attribute(const std::string& object, const std::string& name, std::int64_t value) {
    Handle space(H5Screate(H5S_SCALAR));
    Handle attribute(H5Acreate_by_name(file_, object.c_str(), name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT));
    if (!attribute.valid() || H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value) < 0) throw_attribute_failure(object, name);
}

void Hdf5Writer::commit() {
    // The identifier is given up whether or not the close succeeds: a failed H5Fclose leaves the
    // file half-closed, and closing it again (here, in the destructor or at exit) can crash.
    const hid_t file = file_;
    file_ = -1;
    if (H5Fclose(file) < 0) {
        // HDF5 writes cached metadata and small datasets only now, so a full disk often shows here.
        const auto [reason, hint] = write_failure("H5Fclose failed");
        throw Error(describe("cannot write HDF5 file", output_->path(), reason, hint));
    }
    output_->commit();
}

}  // namespace scorekit
