// HDF5 reader and writer: attributes as other programs write them, and reproducible files.
#include <catch2/catch.hpp>

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"

using namespace scorekit;

namespace {

// A scratch directory removed at the end of each test case.
struct Scratch {
    std::string dir;
    Scratch() {
        char pattern[] = "/tmp/scorekit-hdf5.XXXXXX";
        dir = mkdtemp(pattern);
    }
    ~Scratch() { std::system(("rm -rf '" + dir + "'").c_str()); }
};

// Writes /model with a float64 attribute `name` of `values.size()` elements (a scalar for one
// element), the way h5py stores f.attrs[name] = value or = [v1, v2].
void write_number_attribute(const std::string& path, const std::string& name, const std::vector<double>& values) {
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t group = H5Gcreate2(file, "/model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t count = values.size();
    hid_t space = count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, nullptr);
    hid_t attribute = H5Acreate2(group, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attribute, H5T_NATIVE_DOUBLE, values.data());
    H5Aclose(attribute);
    H5Sclose(space);
    H5Gclose(group);
    H5Fclose(file);
}

// Writes /model with a fixed-length string array attribute `kind` of two elements, as h5py
// stores f.attrs["kind"] = numpy.array([b"gmm", b"mlp-score"]).
void write_string_array_attribute(const std::string& path) {
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t group = H5Gcreate2(file, "/model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t count = 2;
    hid_t space = H5Screate_simple(1, &count, nullptr);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 9);
    hid_t attribute = H5Acreate2(group, "kind", type, space, H5P_DEFAULT, H5P_DEFAULT);
    const char text[18] = {'g', 'm', 'm', 0, 0, 0, 0, 0, 0, 'm', 'l', 'p', '-', 's', 'c', 'o', 'r', 'e'};
    H5Awrite(attribute, type, text);
    H5Aclose(attribute);
    H5Tclose(type);
    H5Sclose(space);
    H5Gclose(group);
    H5Fclose(file);
}

// Writes /points as a chunked float64 dataset of `rows` x `columns` that was never written, which
// takes a few bytes whatever its shape.
void write_unwritten_dataset(const std::string& path, hsize_t rows, hsize_t columns) {
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {rows, columns}, chunk[2] = {1, 1};
    hid_t space = H5Screate_simple(2, dims, nullptr);
    hid_t properties = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(properties, 2, chunk);
    hid_t dataset = H5Dcreate2(file, "/points", H5T_IEEE_F64LE, space, H5P_DEFAULT, properties, H5P_DEFAULT);
    REQUIRE(dataset >= 0);
    H5Dclose(dataset);
    H5Pclose(properties);
    H5Sclose(space);
    H5Fclose(file);
}

std::string error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// The latest time HDF5 recorded in an object's header, or 0 when times are not tracked. With the
// default file format, HDF5 1.10 records only a dataset's modification time, which
// H5Oget_info reports as ctime; the newer format records all four.
time_t latest_recorded_time(hid_t file, const std::string& object) {
    H5O_info_t info;
    REQUIRE(H5Oget_info_by_name(file, object.c_str(), &info, H5P_DEFAULT) >= 0);
    return std::max({info.atime, info.mtime, info.ctime, info.btime});
}

}  // namespace

TEST_CASE("array attributes are rejected", "[hdf5]") {
    Scratch s;
    const std::string numbers = s.dir + "/numbers.h5", strings = s.dir + "/strings.h5";
    write_number_attribute(numbers, "dim", {2, 2});
    write_string_array_attribute(strings);
    Hdf5Reader number_file(numbers), string_file(strings);

    CHECK_THAT(error_of([&] { number_file.read_number_attribute("/model", "dim"); }),
               Catch::Contains("/model@dim") && Catch::Contains("holds 2 values, expected one"));
    CHECK_THAT(error_of([&] { number_file.read_integer_attribute("/model", "dim", 1, 100); }),
               Catch::Contains("holds 2 values"));
    CHECK_THAT(error_of([&] { string_file.read_string_attribute("/model", "kind"); }),
               Catch::Contains("/model@kind") && Catch::Contains("holds 2 values, expected one"));
}

TEST_CASE("integer attributes must be whole and in range", "[hdf5]") {
    Scratch s;
    const std::string whole = s.dir + "/whole.h5", fraction = s.dir + "/fraction.h5", huge = s.dir + "/huge.h5";
    write_number_attribute(whole, "dim", {3.0});
    write_number_attribute(fraction, "dim", {2.5});
    write_number_attribute(huge, "dim", {1099511627776.0});

    CHECK(Hdf5Reader(whole).read_integer_attribute("/model", "dim", 1, 100) == 3);
    CHECK_THAT(error_of([&] { Hdf5Reader(fraction).read_integer_attribute("/model", "dim", 1, 100); }),
               Catch::Contains("2.5 is not a whole number from 1 to 100"));
    CHECK_THAT(error_of([&] { Hdf5Reader(huge).read_integer_attribute("/model", "dim", 1, 2147483647); }),
               Catch::Contains("1099511627776 is not a whole number"));
    CHECK_THAT(error_of([&] { Hdf5Reader(whole).read_integer_attribute("/model", "width", 1, 100); }),
               Catch::Contains("attribute not found"));
}

TEST_CASE("dataset shapes beyond memory are rejected", "[hdf5]") {
    // 2^32 x 2^32 values wrapped around to 0 in 64 bits, so the matrix claimed values that were
    // never allocated.
    Scratch s;
    const std::string path = s.dir + "/huge.h5";
    write_unwritten_dataset(path, hsize_t(1) << 32, hsize_t(1) << 32);
    CHECK_THAT(error_of([&] { Hdf5Reader(path).read_matrix("/points"); }),
               Catch::Contains("huge.h5:/points") && Catch::Contains("more values than memory can address"));
    write_unwritten_dataset(path, hsize_t(1) << 61, 1);
    CHECK_THAT(error_of([&] { Hdf5Reader(path).read_matrix("/points"); }),
               Catch::Contains("more values than memory can address"));
}

TEST_CASE("a table of records is named as such", "[hdf5]") {
    // pandas' to_hdf(format="table") stores its rows as records of a compound type, which was
    // reported like a dataset of strings.
    Scratch s;
    const std::string path = s.dir + "/table.h5";
    struct Row {
        long long index;
        double x;
    };
    const Row rows[2] = {{0, 1.5}, {1, 2.5}};
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = H5Tcreate(H5T_COMPOUND, sizeof(Row));
    H5Tinsert(type, "index", HOFFSET(Row, index), H5T_NATIVE_LLONG);
    H5Tinsert(type, "x", HOFFSET(Row, x), H5T_NATIVE_DOUBLE);
    const hsize_t dims[1] = {2};
    hid_t space = H5Screate_simple(1, dims, nullptr);
    H5Gclose(H5Gcreate2(file, "/wine", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    hid_t dataset = H5Dcreate2(file, "/wine/table", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(dataset >= 0);
    H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows);
    H5Dclose(dataset);
    H5Sclose(space);
    H5Tclose(type);
    H5Fclose(file);
    CHECK_THAT(error_of([&] { Hdf5Reader(path).read_matrix("/wine/table"); }),
               Catch::Contains("table.h5:/wine/table") && Catch::Contains("compound type") &&
                   Catch::Contains("format=\"fixed\""));
}

TEST_CASE("complex values are named as such", "[hdf5]") {
    // h5py stores numpy's complex128 as a compound of doubles r and i, which was reported as a
    // table of records from pandas.
    Scratch s;
    const std::string path = s.dir + "/complex.h5";
    struct Complex {
        double r, i;
    };
    const Complex values[2] = {{1.0, 0.5}, {2.0, -0.5}};
    hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = H5Tcreate(H5T_COMPOUND, sizeof(Complex));
    H5Tinsert(type, "r", HOFFSET(Complex, r), H5T_NATIVE_DOUBLE);
    H5Tinsert(type, "i", HOFFSET(Complex, i), H5T_NATIVE_DOUBLE);
    const hsize_t dims[2] = {2, 1};
    hid_t space = H5Screate_simple(2, dims, nullptr);
    hid_t dataset = H5Dcreate2(file, "/points", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(dataset >= 0);
    H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    H5Dclose(dataset);
    H5Sclose(space);
    H5Tclose(type);
    H5Fclose(file);
    const std::string message = error_of([&] { Hdf5Reader(path).read_matrix("/points"); });
    CHECK_THAT(message, Catch::Contains("complex.h5:/points"));
    CHECK_THAT(message, Catch::Contains("values are complex numbers"));
    CHECK_THAT(message, !Catch::Contains("pandas"));
}

TEST_CASE("a group is named as such", "[hdf5]") {
    // pandas' to_hdf(format="fixed") writes a DataFrame as a group KEY with its values in
    // KEY/block0_values, and users give the key.
    Scratch s;
    const std::string path = s.dir + "/frame.h5";
    {
        Hdf5Writer writer(path);
        writer.write_matrix("/df/block0_values", RowMatrix::Ones(3, 2));
        writer.write_matrix("/other/values", RowMatrix::Ones(3, 2));
        writer.commit();
    }
    const std::string frame = error_of([&] { Hdf5Reader(path).read_matrix("/df"); });
    CHECK_THAT(frame, Catch::Contains("frame.h5:/df\": it is a group, as pandas' to_hdf writes a DataFrame"));
    CHECK_THAT(frame, Catch::Contains("frame.h5:/df/block0_values"));
    const std::string group = error_of([&] { Hdf5Reader(path).read_matrix("/other"); });
    CHECK_THAT(group, Catch::Contains("frame.h5:/other\": it is a group, not a dataset"));
    CHECK_NOTHROW(Hdf5Reader(path).read_matrix("/df/block0_values"));
}

TEST_CASE("written objects carry no timestamps", "[hdf5]") {
    // HDF5 records creation and modification times in object headers by default, so two runs
    // with the same inputs wrote files that differed in those bytes.
    Scratch s;
    const std::string path = s.dir + "/out.h5";
    {
        Hdf5Writer writer(path);
        RowMatrix values(2, 2);
        values << 1, 2, 3, 4;
        writer.write_matrix("/top", values);
        writer.write_matrix("/a/b/nested", values);
        writer.create_group("/group");
        writer.commit();
    }
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(file >= 0);
    for (const std::string object : {"/", "/top", "/a", "/a/b", "/a/b/nested", "/group"}) {
        INFO("object " << object);
        CHECK(latest_recorded_time(file, object) == 0);
    }
    H5Fclose(file);
}

TEST_CASE("rows written and read piecewise", "[hdf5]") {
    Scratch scratch;
    const std::string path = scratch.dir + "/rows.h5";
    // Rows 0..3 of a [4, 2, 3] dataset, value 100 * row + index within the row.
    std::vector<double> all(24);
    for (size_t k = 0; k < all.size(); ++k) all[k] = 100.0 * static_cast<double>(k / 6) + static_cast<double>(k % 6);
    {
        Hdf5Writer writer(path);
        writer.create_array("/tensors", {4, 2, 3});
        writer.write_rows("/tensors", 2, 2, all.data() + 12);
        writer.write_rows("/tensors", 0, 2, all.data());
        std::vector<double> back(12);
        writer.read_rows("/tensors", 1, 2, back.data());
        CHECK(back == std::vector<double>(all.begin() + 6, all.begin() + 18));
        CHECK_THROWS_WITH(writer.write_rows("/tensors", 3, 2, all.data()), Catch::Contains("lie outside its 4 rows"));
        writer.commit();
    }
    Hdf5Reader reader(path);
    CHECK(reader.shape("/tensors") == std::vector<std::int64_t>{4, 2, 3});
    CHECK(reader.read_array("/tensors").values == all);
    std::vector<double> last(6);
    reader.read_rows("/tensors", 3, 1, last.data());
    CHECK(last == std::vector<double>(all.begin() + 18, all.end()));
    CHECK_THROWS_WITH(reader.read_rows("/tensors", -1, 1, last.data()), Catch::Contains("lie outside its 4 rows"));
    CHECK_THROWS_WITH(reader.read_rows("/missing", 0, 1, last.data()), Catch::Contains("no such dataset"));
}
