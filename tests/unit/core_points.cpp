// Point-set reading and writing: text dialects, HDF5 types, and rejection of bad input.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/points.hpp"
#include "scorekit/text_input.hpp"

using namespace scorekit;

namespace {

// A scratch directory removed at the end of each test case.
struct Scratch {
    std::string dir;
    Scratch() {
        char pattern[] = "/tmp/scorekit-points.XXXXXX";
        dir = mkdtemp(pattern);
    }
    ~Scratch() { std::system(("rm -rf '" + dir + "'").c_str()); }
    std::string write(const std::string& name, const std::string& text) const {
        std::string path = dir + "/" + name;
        std::ofstream(path) << text;
        return path;
    }
};

std::string error_of(const std::string& spec) {
    try {
        read_points(spec);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("text points with tabs, spaces, commas, header and comments", "[points]") {
    Scratch s;
    auto path = s.write("a.txt", "# comment\n\"x\",\"y\"\n1,2\n 3 \t 4 \n\n# another\n5 , 6\r\n");
    PointSet set = read_points(path);
    REQUIRE(set.values.rows() == 3);
    REQUIRE(set.values.cols() == 2);
    CHECK(set.values(1, 0) == 3);
    CHECK(set.values(2, 1) == 6);
    REQUIRE(set.columns.size() == 2);
    CHECK(set.columns[0] == "x");
}

TEST_CASE("gzip text is detected by magic bytes, whatever the name", "[points]") {
    Scratch s;
    std::string path = s.dir + "/points.data";
    gzFile out = gzopen(path.c_str(), "wb");
    gzputs(out, "1\t2\n3\t4\n");
    gzclose(out);
    PointSet set = read_points(path);
    CHECK(set.values.rows() == 2);
    CHECK(set.values(1, 1) == 4);
}

TEST_CASE("truncated gzip is an error, not a short file", "[points]") {
    Scratch s;
    std::string whole = s.dir + "/whole.gz", cut = s.dir + "/cut.gz";
    gzFile out = gzopen(whole.c_str(), "wb");
    for (int i = 0; i < 2000; ++i) gzprintf(out, "%d\t%d\n", i, 3 * i + 1);
    gzclose(out);
    std::ifstream in(whole, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    CHECK(read_points(whole).values.rows() == 2000);
    CHECK_THAT(error_of(cut), Catch::Contains("cut.gz") && Catch::Contains("unexpected end of gzip data"));
}

TEST_CASE("shipped faithful.csv reads as 272 x 2 with its header", "[points]") {
    PointSet set = read_points(std::string(SCOREKIT_TEST_DATA) + "/faithful.csv");
    CHECK(set.values.rows() == 272);
    CHECK(set.values.cols() == 2);
    CHECK(set.columns == std::vector<std::string>{"eruptions", "waiting"});
    CHECK(set.values(0, 0) == 3.6);
    CHECK(set.values(0, 1) == 79);
}

TEST_CASE("bad text rows are rejected with their line", "[points]") {
    Scratch s;
    CHECK_THAT(error_of(s.write("nan.txt", "1 2\n3 nan\n")), Catch::Contains("line 2, column 2") && Catch::Contains("not finite"));
    CHECK_THAT(error_of(s.write("inf.txt", "1 2\n-inf 3\n")), Catch::Contains("line 2, column 1"));
    CHECK_THAT(error_of(s.write("ragged.txt", "1 2\n3 4 5\n")), Catch::Contains("line 2, column 3") && Catch::Contains("3 values, expected 2"));
    CHECK_THAT(error_of(s.write("short.txt", "1 2 3\n4 5\n")), Catch::Contains("line 2, column 3"));
    CHECK_THAT(error_of(s.write("word.txt", "1 2\n3 x\n")), Catch::Contains("\"x\" is not a number"));
    CHECK_THAT(error_of(s.write("empty.txt", "# nothing\n")), Catch::Contains("no data rows"));
    CHECK_THAT(error_of(s.write("commas.txt", "1,,2\n")), Catch::Contains("empty field"));
    CHECK_THAT(error_of(s.dir + "/missing.txt"), Catch::Contains("cannot open") && Catch::Contains("missing.txt"));
    // A NUL byte used to cut its line short and join the rest to the next line ("35 6" here).
    const std::string nul("1 2\n3\0 4\n5 6\n", 12);
    CHECK_THAT(error_of(s.write("nul.txt", nul)), Catch::Contains("nul.txt:2") && Catch::Contains("NUL byte"));
    CHECK_THAT(error_of(s.write("nul_last.txt", std::string("1 2\n3 4\0", 8))), Catch::Contains("nul_last.txt:2"));
}

TEST_CASE("empty tab-separated fields are rejected", "[points]") {
    // pandas' to_csv(sep="\t") writes NaN as an empty field. Runs of tabs used to collapse into
    // one separator, which shifted the later values into the missing value's column.
    Scratch s;
    CHECK_THAT(error_of(s.write("double-tab.txt", "1\t2\t3\n4\t\t6\n")),
               Catch::Contains("double-tab.txt: line 2, column 2") && Catch::Contains("empty field (a missing value)"));
    CHECK_THAT(error_of(s.write("blank-between.txt", "1\t \t3\n")), Catch::Contains("line 1, column 2"));
    CHECK_THAT(error_of(s.write("comma.txt", "1,2,3\n3,,4\n")), Catch::Contains("line 2, column 2"));
    CHECK_THAT(error_of(s.write("leading-comma.txt", ",1,2\n")), Catch::Contains("line 1, column 1"));
    CHECK_THAT(error_of(s.write("trailing-comma.txt", "1,2,\n")), Catch::Contains("line 1, column 3"));

    // One tab with blanks around it is one separator, and tabs at the end of a row are ignored.
    PointSet set = read_points(s.write("tabs.txt", "1 \t 2\t\n3\t4\t\t\n"));
    REQUIRE(set.values.rows() == 2);
    REQUIRE(set.values.cols() == 2);
    CHECK(set.values(1, 1) == 4);
}

TEST_CASE("comments after values", "[points]") {
    // The first row was read as a header because "2 # first" is not a number, and its point was lost.
    Scratch s;
    PointSet set = read_points(s.write("comments.txt", "1\t2 # first\n3,4# second\n  # only a comment\n5 6\n"));
    REQUIRE(set.values.rows() == 3);
    REQUIRE(set.values.cols() == 2);
    CHECK(set.values(0, 1) == 2);
    CHECK(set.values(1, 1) == 4);
    CHECK(set.columns.empty());
}

TEST_CASE("number forms other programs write", "[points]") {
    Scratch s;
    PointSet set = read_points(s.write("forms.txt", "+1.5 1.\n.5 1e5\n1E-5 -0\n0x1.8p1 1e-400\n"));
    REQUIRE(set.values.rows() == 4);
    CHECK(set.values(0, 0) == 1.5);
    CHECK(set.values(0, 1) == 1.0);
    CHECK(set.values(1, 0) == 0.5);
    CHECK(set.values(1, 1) == 1e5);
    CHECK(set.values(2, 0) == 1e-5);
    CHECK(std::signbit(set.values(2, 1)));
    CHECK(set.values(3, 0) == 3.0);
    CHECK(set.values(3, 1) == 0.0);
}

TEST_CASE("first row mixing numbers and text is data", "[points]") {
    // "1,000.5 2" splits at the comma into "1" and "000.5 2". It was taken for a header, so the
    // point was dropped and the file read as if it started on line 2.
    Scratch s;
    CHECK_THAT(error_of(s.write("thousands.txt", "1,000.5 2\n3 4\n")),
               Catch::Contains("thousands.txt: line 1, column 2") && Catch::Contains("\"000.5 2\" is not a number"));
    CHECK_THAT(error_of(s.write("decimal-comma.csv", "x,y\n1.5,2\n1.5,2,5\n")),
               Catch::Contains("decimal-comma.csv: line 3, column 3") && Catch::Contains("decimal point"));
    CHECK(read_points(s.write("names.csv", "x,y\n1,2\n")).columns == std::vector<std::string>{"x", "y"});
}

TEST_CASE("tables as pandas, R and spreadsheets export them", "[points]") {
    Scratch s;
    // A byte order mark (Excel's "CSV UTF-8", pandas' utf-8-sig) made the first value of a file
    // without a header unreadable, and turned a first comment line into a one-column header.
    CHECK(read_points(s.write("bom.csv", "\xEF\xBB\xBF" "1.5,2\r\n3,4\r\n")).values(0, 0) == 1.5);
    PointSet bom = read_points(s.write("bom-comment.txt", "\xEF\xBB\xBF# exported\n1 2\n3 4\n"));
    CHECK(bom.values.rows() == 2);
    CHECK(bom.columns.empty());
    CHECK(read_points(s.write("bom-header.csv", "\xEF\xBB\xBFx,y\n1,2\n")).columns == std::vector<std::string>{"x", "y"});

    // Quoted fields (pandas' QUOTE_ALL, R, spreadsheets) are read without their quotes, and a
    // separator inside quotes does not split the field.
    PointSet quoted = read_points(s.write("quoted.csv", "\"x, mm\",\"say \"\"y\"\"\"\n\"1.5\",\"-2e3\"\n"));
    CHECK(quoted.columns == std::vector<std::string>{"x, mm", "say \"y\""});
    CHECK(quoted.values(0, 0) == 1.5);
    CHECK(quoted.values(0, 1) == -2000);
    CHECK_THAT(error_of(s.write("quoted-empty.csv", "\"1\",\"\"\n")),
               Catch::Contains("line 1, column 2") && Catch::Contains("empty field"));

    // A header that ends in a separator means that every row does.
    PointSet trailing = read_points(s.write("trailing.csv", "x,y,\n1,2,\n3,4\n"));
    CHECK(trailing.values.cols() == 2);
    CHECK(trailing.values(1, 1) == 4);
    CHECK_THAT(error_of(s.write("trailing-missing.csv", "x,y,z\n1,2,\n")), Catch::Contains("line 2, column 3") &&
                                                                             Catch::Contains("empty field"));

    // A row index (pandas' to_csv, R's write.csv) has no name in the header; it was reported as a
    // missing value, and R's quoted row names as a value that is not a number.
    CHECK_THAT(error_of(s.write("pandas.csv", ",x,y\n0,1,2\n")),
               Catch::Contains("pandas.csv: line 1") && Catch::Contains("row index") && Catch::Contains("index=False"));
    CHECK_THAT(error_of(s.write("r.csv", "\"\",\"x\",\"y\"\n\"1\",1,2\n")), Catch::Contains("row.names = FALSE"));
    CHECK_THAT(error_of(s.write("r.txt", "\"x\" \"y\"\n\"1\" 1 2\n")),
               Catch::Contains("r.txt: line 2, column 3") && Catch::Contains("one more than the header names"));
    CHECK_THAT(error_of(s.write("unnamed.csv", "x,,z\n1,2,3\n")),
               Catch::Contains("line 1, column 2") && Catch::Contains("empty column name"));

    // Missing values are named as such.
    CHECK_THAT(error_of(s.write("na.csv", "x,y\n1,NA\n")), Catch::Contains("\"NA\" marks a missing value"));

    // pd.DataFrame(array).to_csv(index=False) names the columns 0, 1, ..., D-1. Those names
    // parse as numbers, and the header became a first point (0, 1, 2).
    PointSet range = read_points(s.write("range.csv", "0,1,2\n1.5,2.5,3.5\n4,5,6\n"));
    CHECK(range.values.rows() == 2);
    CHECK(range.values(0, 0) == 1.5);
    CHECK(range.columns == std::vector<std::string>{"0", "1", "2"});
    CHECK(read_points(s.write("range.tsv", "0\t1\t2\t3\n7\t8\t9\t10\n")).values.rows() == 1);
    // Other integer first rows stay points: two columns (0 1 is a unit vector), space-separated
    // values, a single column's 0.
    CHECK(read_points(s.write("counts.csv", "0,1,3\n1,2,3\n")).values.rows() == 2);
    CHECK(read_points(s.write("unit.csv", "0,1\n1,0\n")).values.rows() == 2);
    CHECK(read_points(s.write("spaces.txt", "0 1 2\n3 4 5\n")).values.rows() == 2);
    CHECK(read_points(s.write("floats.csv", "0.0,1.0\n1,2\n")).values.rows() == 2);
    CHECK(read_points(s.write("one.csv", "0\n5\n")).values.rows() == 2);
    // Text in the first data row names its column: iris.csv with its species column.
    CHECK_THAT(error_of(s.write("species.csv", "sepal,petal,species\n5.1,1.4,setosa\n")),
               Catch::Contains("line 2, column 3") && Catch::Contains("remove column \"species\" if it holds text"));
    CHECK_THAT(error_of(s.write("later.csv", "x,y\n1,2\n3,oops\n")), Catch::Contains("fix or remove the row"));
    // A header line above it keeps the row as a point.
    CHECK(read_points(s.write("named.csv", "a,b\n0,1\n2,3\n")).values.rows() == 2);
}

TEST_CASE("scikit-learn's bundled CSV layout", "[points]") {
    // sklearn/datasets/data/iris.csv starts with the sample count, the feature count and the
    // class names, and each row ends in the class index. It was rejected at line 1 ("setosa" is
    // not a number); the features are now read and the class column is left out.
    Scratch s;
    PointSet iris = read_points(s.write("iris.csv", "3,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n"
                                                    "7.0,3.2,4.7,1.4,1\r\n6.3,3.3,6.0,2.5,2\n"));
    REQUIRE(iris.values.rows() == 3);
    REQUIRE(iris.values.cols() == 4);
    CHECK(iris.values(0, 0) == 5.1);
    CHECK(iris.values(2, 3) == 2.5);
    CHECK(iris.columns.empty());
    CHECK(iris.targets == std::vector<double>{0, 1, 2});

    // boston_house_prices.csv: empty fields after the counts, then a header of the features and
    // the target, whose name is left out with its column.
    PointSet boston = read_points(s.write("boston.csv", "2,2,,\n\"CRIM\",\"ZN\",\"MEDV\"\n0.006,18,24\n0.027,0,21.6\n"));
    REQUIRE(boston.values.rows() == 2);
    REQUIRE(boston.values.cols() == 2);
    CHECK(boston.columns == std::vector<std::string>{"CRIM", "ZN"});
    CHECK(boston.values(1, 0) == 0.027);
    CHECK(boston.targets == std::vector<double>{24, 21.6});

    // The counts are checked against the rows.
    CHECK_THAT(error_of(s.write("short.csv", "3,2,a,b\n1,2,0\n3,4,1\n")),
               Catch::Contains("short.csv") && Catch::Contains("gives 3 samples, but the file has 2 data rows"));
    CHECK_THAT(error_of(s.write("wide.csv", "2,2,a,b\n1,2,0\n3,4,5,1\n")),
               Catch::Contains("wide.csv: line 3") && Catch::Contains("row has 4 values") &&
                   Catch::Contains("2 features and a target"));
    CHECK_THAT(error_of(s.write("species.csv", "1,2,a,b\n1,2,setosa\n")),
               Catch::Contains("species.csv: line 2, column 3") && Catch::Contains("\"setosa\" is not a number") &&
                   Catch::Contains("the target"));
    CHECK_THAT(error_of(s.write("names.csv", "1,2,,\nx,y\n1,2,0\n")),
               Catch::Contains("names.csv: line 2") && Catch::Contains("the header has 2 names"));

    // Rows that only look like it stay data: a missing value, a number in the third field, empty
    // fields without a line of column names after them.
    CHECK_THAT(error_of(s.write("na.csv", "150,4,NA\n1,2,3\n")), Catch::Contains("marks a missing value"));
    CHECK(read_points(s.write("numbers.csv", "150,4,7\n1,2,3\n")).values.rows() == 2);
    CHECK_THAT(error_of(s.write("empty.csv", "1,2,,\n3,4,,\n")), Catch::Contains("line 1, column 3") &&
                                                                 Catch::Contains("empty field"));
    CHECK_THAT(error_of(s.write("alone.csv", "1,2,,\n")), Catch::Contains("line 1, column 3") &&
                                                         Catch::Contains("empty field"));
}

TEST_CASE("NumPy binary files are named", "[points]") {
    // numpy.save's magic string and numpy.savez's zip header; both were reported as a text line
    // with a NUL byte.
    Scratch s;
    CHECK_THAT(error_of(s.write("x.npy", std::string("\x93NUMPY\x01\x00v\x00{'descr': '<f8'}\n", 27))),
               Catch::Contains("x.npy") && Catch::Contains("NumPy .npy file") && Catch::Contains("h5py"));
    CHECK_THAT(error_of(s.write("x.npz", std::string("PK\x03\x04\x14\x00\x00\x00\n", 9))),
               Catch::Contains("x.npz") && Catch::Contains("zip archive (NumPy .npz?)"));
}

TEST_CASE("semicolon-separated values with decimal commas", "[points]") {
    // Spreadsheets in locales that write 1,5 for 1.5 export CSV this way.
    Scratch s;
    PointSet header = read_points(s.write("header.csv", "x;y\n1,5;2,25\n-3;4,0e1\n"));
    REQUIRE(header.values.rows() == 2);
    REQUIRE(header.values.cols() == 2);
    CHECK(header.columns == std::vector<std::string>{"x", "y"});
    CHECK(header.values(0, 0) == 1.5);
    CHECK(header.values(0, 1) == 2.25);
    CHECK(header.values(1, 0) == -3);
    CHECK(header.values(1, 1) == 40);

    // Without a header the first data line decides; quotes, a byte order mark, CRLF and a
    // decimal point are read too.
    PointSet quoted = read_points(s.write("quoted.csv", "\xEF\xBB\xBF\"1,5\";\"2\"\r\n0.25;7,75\r\n"));
    REQUIRE(quoted.values.rows() == 2);
    CHECK(quoted.values(0, 0) == 1.5);
    CHECK(quoted.values(0, 1) == 2);
    CHECK(quoted.values(1, 0) == 0.25);
    CHECK(quoted.values(1, 1) == 7.75);

    // A thousands separator and a semicolon that appears only after the first line are named.
    CHECK_THAT(error_of(s.write("thousands.csv", "x;y\n1.234,5;2\n")),
               Catch::Contains("line 2, column 1") && Catch::Contains("thousands separator"));
    CHECK_THAT(error_of(s.write("late.csv", "x,y\n14,23;1,71\n")),
               Catch::Contains("line 2, column 2") && Catch::Contains("first line of the file has no semicolon"));
    CHECK_THAT(error_of(s.write("ragged.csv", "x;y\n1,5;2;3\n")), Catch::Contains("row has 3 values, expected 2"));
}

TEST_CASE("transposed table named in the dimension error", "[points]") {
    Scratch s;
    // Three points of dimension 2 stored as [D, N]: two rows of three values.
    const std::string transposed = s.write("transposed.tsv", "1\t2\t3\n4\t5\t6\n");
    try {
        read_points(transposed, 2);
        FAIL("a [D, N] table was read as points of dimension 3");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("the model expects 2") && Catch::Contains("transpose it"));
    }
    // A table of other rows is not called transposed.
    try {
        read_points(s.write("wide.tsv", "1\t2\t3\n4\t5\t6\n7\t8\t9\n"), 2);
        FAIL("points of dimension 3 were read for a model of dimension 2");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), !Catch::Contains("transpose"));
    }
}

TEST_CASE("header names keep their spaces", "[points]") {
    // matplotlib's sample table percent_bachelors_degrees_women_usa.csv has names such as
    // "Art and Performance", which used to split into three columns.
    Scratch s;
    PointSet csv = read_points(s.write("names.csv", "Year,Art and Performance,Adj. Close*\n1970,59.7,29.79\n"));
    REQUIRE(csv.values.cols() == 3);
    CHECK(csv.columns == std::vector<std::string>{"Year", "Art and Performance", "Adj. Close*"});
    CHECK(csv.values(0, 1) == 59.7);

    PointSet tsv = read_points(s.write("names.tsv", "first value\tsecond value\n1\t2\n"));
    REQUIRE(tsv.values.cols() == 2);
    CHECK(tsv.columns == std::vector<std::string>{"first value", "second value"});

    PointSet spaces = read_points(s.write("names.txt", "x  y\n1   2\n"));
    CHECK(spaces.columns == std::vector<std::string>{"x", "y"});
    CHECK(spaces.values(0, 1) == 2);
}

TEST_CASE("HDF5 float32 and float64 datasets read back exactly", "[points]") {
    Scratch s;
    RowMatrix m(3, 2);
    m << 0.5, -1.25, 3, 4.75, 1e-3, 2;
    std::string path = s.dir + "/p.h5";
    {
        Hdf5Writer file(path);
        file.write_matrix("/points", m);
        file.create_group("/g");
        file.write_matrix("/g/single", m, true);
        file.commit();
    }
    RowMatrix a = read_points(path).values;
    RowMatrix b = read_points(path + ":/g/single").values;
    CHECK(a == m);
    CHECK(b.isApprox(m.cast<float>().cast<double>(), 0));
}

TEST_CASE("HDF5 faults are rejected with the file and dataset", "[points]") {
    Scratch s;
    std::string path = s.dir + "/p.h5";
    RowMatrix m = RowMatrix::Constant(1000, 4, 1.5);
    m(7, 2) = std::nan("");
    {
        Hdf5Writer file(path);
        file.write_matrix("/points", m);
        file.commit();
    }
    CHECK_THAT(error_of(path), Catch::Contains("row 7, column 2 (from 0)") && Catch::Contains("not finite"));
    CHECK_THAT(error_of(path + ":/nope"), Catch::Contains("dataset not found") && Catch::Contains("/nope"));
    CHECK_THAT(error_of(path + ":/a/b/c"), Catch::Contains("dataset not found"));

    // Keep the first half of the file: the superblock survives, the data do not.
    std::string truncated = s.dir + "/cut.h5";
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    CHECK_THAT(error_of(truncated), Catch::Contains("cut.h5") && Catch::Contains("truncated"));

    std::string not_hdf5 = s.write("fake.h5", "1 2\n");
    CHECK_THAT(error_of(not_hdf5 + ":/points"), Catch::Contains("not an HDF5 file"));
}

TEST_CASE("HDF5 file without /points uses its only dataset", "[points]") {
    Scratch s;
    RowMatrix m = RowMatrix::Constant(2, 3, 0.25);
    write_points(s.dir + "/one.h5:/samples", m);
    CHECK(read_points(s.dir + "/one.h5").values == m);

    {
        Hdf5Writer file(s.dir + "/two.h5");
        file.write_matrix("/a", m);
        file.write_matrix("/b", m);
        file.commit();
    }
    CHECK_THAT(error_of(s.dir + "/two.h5"), Catch::Contains("the file has /a, /b") && Catch::Contains("two.h5:/dataset"));
}

TEST_CASE("number forms that strtod reads", "[points]") {
    // A leading +, hexadecimal and subnormal values read as strtod reads them. Values beyond the
    // double range are rejected, named as such.
    Scratch s;
    PointSet set = read_points(s.write("forms.txt", "+1.5 0x1p3 1e-320 -0.25e1\n"));
    REQUIRE(set.values.cols() == 4);
    CHECK(set.values(0, 0) == 1.5);
    CHECK(set.values(0, 1) == 8.0);
    CHECK(set.values(0, 2) == 1e-320);
    CHECK(set.values(0, 3) == -2.5);
    CHECK(error_of(s.write("huge.txt", "1 2\n1e400 2\n")).find("value 1e400 is beyond the range of a double") !=
          std::string::npos);
    CHECK(error_of(s.write("inf.txt", "1 2\n-Infinity 2\n")).find("value -Infinity is not finite") != std::string::npos);
}

TEST_CASE("text output writes 17 significant digits", "[points]") {
    Scratch s;
    RowMatrix m(1, 4);
    m << 0.1, 1e300, -2.5e-310, 100;
    write_points(s.dir + "/d.tsv", m);
    std::ifstream file(s.dir + "/d.tsv");
    std::string line;
    std::getline(file, line);
    // The values printf("%.17g") writes, as Python's "%.17g" % x gives them.
    CHECK(line == "0.10000000000000001\t1.0000000000000001e+300\t-2.5000000000000171e-310\t100");
}

TEST_CASE("written points round-trip through text and HDF5", "[points]") {
    Scratch s;
    RowMatrix m(2, 3);
    m << 0.1, 1.0 / 3, -2e-300, 12345678.9, 1e300, -0.0;
    write_points(s.dir + "/p.tsv", m);
    write_points(s.dir + "/p.h5:/group/points", m);
    CHECK(read_points(s.dir + "/p.tsv").values == m);
    CHECK(read_points(s.dir + "/p.h5:/group/points").values == m);
}

TEST_CASE("a failed write leaves no file behind", "[points]") {
    Scratch s;
    std::string path = s.dir + "/out.h5";
    {
        Hdf5Writer file(path);
        file.write_matrix("/points", RowMatrix::Ones(2, 2));
        // No commit: the exception path of a tool.
    }
    CHECK(access(path.c_str(), F_OK) != 0);
    std::string listing;
    FILE* ls = popen(("ls -A '" + s.dir + "'").c_str(), "r");
    char buffer[256];
    while (fgets(buffer, sizeof buffer, ls)) listing += buffer;
    pclose(ls);
    CHECK(listing.empty());
}

TEST_CASE("output paths are checked before any work and leave nothing behind", "[points]") {
    Scratch s;
    CHECK_NOTHROW(check_output_writable("-"));
    CHECK_NOTHROW(check_output_writable(s.dir + "/model.h5:/model"));
    CHECK_THROWS_WITH(check_output_writable(s.dir + "/missing/model.h5"),
                      Catch::Contains("cannot write output") && Catch::Contains("missing/model.h5"));
    CHECK_THROWS_WITH(check_output_writable(s.dir), Catch::Contains("it is a directory"));
    // As an input, a directory is named as such too (zlib would open it and fail on reading).
    CHECK_THROWS_WITH(LineReader(s.dir), Catch::Contains("\": it is a directory; give a file"));

    // The probe file is removed again.
    std::string listing;
    FILE* ls = popen(("ls -A '" + s.dir + "'").c_str(), "r");
    char buffer[256];
    while (fgets(buffer, sizeof buffer, ls)) listing += buffer;
    pclose(ls);
    CHECK(listing.empty());
}

TEST_CASE("existing file with a colon is read whole", "[points]") {
    Scratch s;
    // The HDF5 file x.h5 exists too, so splitting at the colon would read its dataset /name.
    RowMatrix in(1, 2);
    in << 7, 8;
    write_points(s.dir + "/x.h5:/name", in);
    const std::string colon_h5 = s.write("x.h5:name", "1 2\n3 4\n");
    const std::string colon_txt = s.write("notes:1.txt", "5\t6\n");

    CHECK(split_dataset_spec(colon_h5).file == colon_h5);
    CHECK(split_dataset_spec(colon_h5).dataset.empty());
    const PointSet text = read_points(colon_h5);
    REQUIRE(text.values.rows() == 2);
    CHECK(text.values(1, 0) == 3);
    CHECK(read_points(colon_txt).values(0, 1) == 6);

    // A name that does not exist as a whole still names a dataset.
    CHECK(split_dataset_spec(s.dir + "/x.h5:other").dataset == "/other");
    CHECK(read_points(s.dir + "/x.h5:/name").values(0, 0) == 7);
}

TEST_CASE("line reader drops a byte order mark on line 1 only", "[points]") {
    Scratch s;
    const std::string mark = "\xEF\xBB\xBF";
    const std::string plain = s.write("bom.txt", mark + "__label__wiki first words\r\n" + mark + "second\n");
    REQUIRE(std::system(("gzip -c '" + plain + "' > '" + plain + ".gz'").c_str()) == 0);
    for (const std::string& path : {plain, plain + ".gz"}) {
        LineReader reader(path);
        std::string line;
        REQUIRE(reader.next(line));
        CHECK(line == "__label__wiki first words");
        REQUIRE(reader.next(line));
        CHECK(line == mark + "second");
        CHECK_FALSE(reader.next(line));
    }
}
