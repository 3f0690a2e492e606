#include "scorekit/points.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/hdf5_file.hpp"
#include "scorekit/log.hpp"
#include "scorekit/text_input.hpp"

namespace scorekit {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool has_hdf5_extension(const std::string& path) {
    return ends_with(path, ".h5") || ends_with(path, ".hdf5") || ends_with(path, ".hdf");
}

// Finds the next `separator` in `row` from `start`, passing over double-quoted sections when
// `quoted` (the row contains a quote), so that "a,b" in a CSV header is one field.
size_t find_separator(std::string_view row, char separator, size_t start, bool quoted) {
    if (!quoted) return row.find(separator, start);
    bool inside = false;
    for (size_t i = start; i < row.size(); ++i) {
        if (row[i] == '"') inside = !inside;
        if (!inside && row[i] == separator) return i;
    }
    return std::string_view::npos;
}

// Splits a text row into fields, which view `line`. The separator is `file_separator` when it is
// not 0 (';' for a file whose first line has one). Otherwise it is the comma if the row contains
// one, else the tab if it contains one, else a run of spaces. Separators inside double quotes do
// not count. Blanks around commas and tabs and at the ends of the row are ignored, so
// header names keep their inner spaces ("Art and Performance"), and tabs at the end of a row add
// no field. A field in double quotes, as CSV writers quote it ("1.5", R's row names, pandas'
// QUOTE_ALL), is viewed without them. An empty field between two commas or tabs, or quoted
// (""), is kept as an empty view: a missing value, or in a header an unnamed column.
void split_fields(std::string_view line, std::vector<std::string_view>& fields, char file_separator = 0) {
    fields.clear();
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos) return;
    const std::string_view row = line.substr(first, line.find_last_not_of(" \t") - first + 1);
    const bool quoted = row.find('"') != std::string_view::npos;
    const char separator = file_separator != 0                                                 ? file_separator
                           : find_separator(row, ',', 0, quoted) != std::string_view::npos    ? ','
                           : find_separator(row, '\t', 0, quoted) != std::string_view::npos ? '\t'
                                                                                          : ' ';

    size_t start = 0;
    while (start <= row.size()) {
        size_t end = find_separator(row, separator, start, quoted);
        if (end == std::string_view::npos) end = row.size();
        std::string_view field = row.substr(start, end - start);
        start = end + 1;
        const size_t begin = field.find_first_not_of(" \t");
        if (begin == std::string_view::npos) {
            if (separator != ' ') fields.push_back(field.substr(0, 0));
            continue;
        }
        field = field.substr(begin, field.find_last_not_of(" \t") - begin + 1);
        if (field.size() >= 2 && field.front() == '"' && field.back() == '"') field = field.substr(1, field.size() - 2);
        fields.push_back(field);
    }
}

// Whether `field` is a spelling of a missing value that R, pandas, SAS or a spreadsheet writes.
bool marks_missing_value(std::string_view field) {
    for (const char* token : {"NA", "N/A", "n/a", "na", "null", "NULL", "Null", "None", "none", "?", ".", "-", "--"}) {
        if (field == token) return true;
    }
    return false;
}

// Reads a whole field as a number. std::from_chars reads the common forms several times faster
// than strtod; strtod takes what it leaves (a leading +, hexadecimal, out-of-range values).
bool parse_number(std::string_view field, double& value) {
    if (field.empty()) return false;
    const char* last = field.data() + field.size();
    const auto [end, error] = std::from_chars(field.data(), last, value);
    if (error == std::errc() && end == last) return true;
    const std::string copy(field);
    char* stop = nullptr;
    value = std::strtod(copy.c_str(), &stop);
    return stop == copy.c_str() + copy.size();
}

// Reads a field of a semicolon-separated file, whose decimal separator is the comma ("1,5"), as
// spreadsheets in locales with a decimal comma export CSV. A decimal point is read too.
bool parse_decimal_comma_number(std::string_view field, double& value) {
    if (field.find(',') == std::string_view::npos) return parse_number(field, value);
    std::string copy(field);
    std::replace(copy.begin(), copy.end(), ',', '.');
    return parse_number(copy, value);
}

// A header name without the quotes that split_fields leaves on it: single quotes, and the
// doubled quotes ("") of a CSV name that contains one.
std::string unquote(std::string_view field) {
    if (field.size() >= 2 && field.front() == '\'' && field.back() == field.front()) {
        field = field.substr(1, field.size() - 2);
    }
    std::string name(field);
    for (size_t at = name.find("\"\""); at != std::string::npos; at = name.find("\"\"", at + 1)) name.erase(at, 1);
    return name;
}

std::string row_column(std::uint64_t line, size_t column) {
    return "line " + std::to_string(line) + ", column " + std::to_string(column + 1);
}

// Explains why `field` is not read as a number and what to do, as the reason and hint of a message.
// `decimal_comma` is true for a semicolon-separated file, whose values have decimal commas.
// `column_name` is the header's name of the field's column ("" without a header). The hint
// names that column when the field is in the first data row, because text there is more often a
// column of labels (the species of iris.csv) than a typing error in one row.
std::pair<std::string, std::string> not_a_number(std::string_view field, bool decimal_comma, bool first_data_row,
                                                 const std::string& column_name) {
    const std::string text = quote(std::string(field));
    if (marks_missing_value(field)) return {text + " marks a missing value", "fill in the missing value or remove the row"};
    // The first line decides the separator, so a semicolon on a later line separates nothing.
    if (!decimal_comma && field.find(';') != std::string_view::npos) {
        return {text + " is not a number, and the first line of the file has no semicolon, so semicolons do not "
                       "separate values in this file",
                "separate the values of every line, including the first, the same way"};
    }
    // "1.234,5" with a thousands separator reads as "1.234.5".
    if (decimal_comma && field.find('.') != std::string_view::npos && field.find(',') != std::string_view::npos) {
        return {text + " is not a number (a thousands separator?)", "write numbers without thousands separators"};
    }
    if (first_data_row) {
        const std::string column = column_name.empty() ? "the column" : "column " + quote(column_name);
        return {text + " is not a number", "remove " + column + " if it holds text such as class labels, or fix the value"};
    }
    return {text + " is not a number", "fix or remove the row"};
}

// Whether `fields` are 0, 1, ..., D-1 with D >= 3: the column names that pandas gives a DataFrame
// built from an array without names, written by to_csv as the header line. Two columns are left
// out, because 0 1 is also a common point or vector (a unit vector in the plane).
bool is_pandas_range_header(const std::vector<std::string_view>& fields) {
    if (fields.size() < 3) return false;
    for (size_t j = 0; j < fields.size(); ++j) {
        if (unquote(fields[j]) != std::to_string(j)) return false;
    }
    return true;
}

// Takes the first row of a text file as a header of column names when none of its fields is a
// number, or when it is pandas' default header, and returns whether it was one. A header whose first name is empty belongs to a row
// index (pandas' to_csv, R's write.csv), which is no coordinate, so it is rejected. A header whose
// last name is empty ends in a separator, so the rows' separators at the end are ignored too.
// `decimal_comma` reads "1,5" as a number, in a semicolon-separated file. `delimited` is true when
// the line has commas, tabs or semicolons.
bool read_header(const std::vector<std::string_view>& fields, const std::string& where, PointSet& set,
                 bool& trailing_separator, bool decimal_comma, bool delimited) {
    // Its names parse as numbers, so the number test below would make the header a first point
    // with coordinates 0, 1, ..., D-1, and nothing would tell the user. pandas separates them
    // with commas, tabs or semicolons, never with spaces alone.
    if (delimited && is_pandas_range_header(fields)) {
        std::string names = fields.size() <= 4 ? "0" : "0 1 ...";
        for (size_t j = fields.size() <= 4 ? 1 : fields.size() - 1; j < fields.size(); ++j) names += " " + std::to_string(j);
        log_warning(where + " (" + names + ") is taken as a header, as pandas writes one for a DataFrame without column names; to keep "
                    "it as a point, put a header line above it");
        for (const auto& field : fields) set.columns.push_back(unquote(field));
        trailing_separator = false;
        return true;
    }
    double ignored = 0;
    for (const auto& field : fields) {
        if (decimal_comma ? parse_decimal_comma_number(field, ignored) : parse_number(field, ignored)) return false;
    }
    if (fields.size() > 1 && fields.front().empty()) {
        throw Error(describe("cannot read points", where,
                             "the first column has no name in the header, as pandas' to_csv and R's write.csv "
                             "write a row index, which is not a coordinate",
                             "write the file without it (index=False in pandas, row.names = FALSE in R) or remove "
                             "the first column"));
    }
    size_t names = fields.size();
    trailing_separator = names > 1 && fields.back().empty();
    if (trailing_separator) --names;
    for (size_t j = 0; j < names; ++j) {
        if (fields[j].empty()) {
            throw Error(describe("cannot read points", where + ", column " + std::to_string(j + 1),
                                 "empty column name in the header", "name every column"));
        }
        set.columns.push_back(unquote(fields[j]));
    }
    return true;
}

// The first line of the CSV files that scikit-learn ships (sklearn/datasets/data: iris.csv,
// wine_data.csv, breast_cancer.csv, boston_house_prices.csv), which its load_csv_data reads:
// the sample count N, the feature count D, then the class names or empty fields. Each data row
// then contains D features followed by the target (a class index or, in the Boston file, a price).
struct SklearnLayout {
    bool active = false;
    long samples = 0;
    long features = 0;
    std::string labels;  // the class names, comma-separated; empty when the line has none
    std::uint64_t line = 0;
};

// The error of a first line "N,D,," that turned out not to be scikit-learn's header, because no
// line of column names follows it: read as data, its third field is empty.
Error empty_third_field(const std::string& file, std::uint64_t line) {
    return Error(describe("cannot read points", file + ": " + row_column(line, 2), "empty field (a missing value)",
                          "fill in the missing value or remove the row"));
}

bool parse_count(std::string_view field, long& count) {
    if (field.empty() || field.size() > 12 || field.find_first_not_of("0123456789") != std::string_view::npos) return false;
    count = std::stol(std::string(field));
    return count > 0;
}

// Whether `fields` are such a first line. Two counts and at least one more field, none of which
// is a number or a spelling of a missing value, so that a data row such as "150,4,NA" stays one.
bool read_sklearn_layout(const std::vector<std::string_view>& fields, SklearnLayout& layout) {
    if (fields.size() < 3 || !parse_count(fields[0], layout.samples) || !parse_count(fields[1], layout.features)) {
        return false;
    }
    std::string labels;
    for (size_t j = 2; j < fields.size(); ++j) {
        double ignored = 0;
        if (parse_number(fields[j], ignored) || marks_missing_value(fields[j])) return false;
        if (!fields[j].empty()) labels += (labels.empty() ? "" : ", ") + std::string(fields[j]);
    }
    layout.labels = labels;
    layout.active = true;
    return true;
}

PointSet read_text_points(const std::string& spec) {
    LineReader reader(spec);
    PointSet set;
    set.source = spec;
    std::vector<double> values;
    std::vector<std::string_view> fields;
    std::vector<double> row;
    std::string line;
    long dim = -1;
    bool first_row = true;
    bool trailing_separator = false;
    // A first line (header or data) with a semicolon makes the file semicolon-separated with
    // decimal commas, as spreadsheets export CSV in locales that write 1,5 for 1.5. Commas then
    // never separate values, so every line is split at semicolons.
    char file_separator = 0;
    SklearnLayout sklearn;

    while (reader.next(line)) {
        // A file argument is checked for the HDF5 signature before it gets here; standard input
        // (or a pipe) cannot be, because HDF5 needs to seek.
        if (first_row && line.rfind("\x89HDF", 0) == 0) {
            throw Error(describe("cannot read points", reader.name(), "it is an HDF5 file, which cannot be read from a pipe",
                                 "give the file name, as file.h5 or file.h5:/dataset"));
        }
        // numpy.save and numpy.savez write binary files, which the NUL byte check below would call
        // only "a binary file".
        if (first_row && (line.rfind("\x93NUMPY", 0) == 0 || line.rfind("PK\x03\x04", 0) == 0)) {
            const bool npy = line[0] != 'P';
            throw Error(describe("cannot read points", reader.name(),
                                 npy ? "it is a NumPy .npy file, which scorekit does not read"
                                     : "it is a zip archive (NumPy .npz?), which scorekit does not read",
                                 "write the array [N, D] with h5py (f[\"points\"] = array) or numpy.savetxt"));
        }
        if (line.find('\0') != std::string::npos) {
            throw Error(describe("cannot read points", reader.name() + ":" + std::to_string(reader.line_number()),
                                 "the line contains a NUL byte (a binary file?)", "give a text file"));
        }
        // A comment runs from # to the end of the line, also after values, as numpy.loadtxt reads
        // it. No number contains #, so this removes no data.
        const size_t comment = line.find('#');
        if (comment != std::string::npos) line.erase(comment);
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        if (first_row && find_separator(line, ';', 0, line.find('"') != std::string::npos) != std::string::npos) {
            file_separator = ';';
        }
        split_fields(line, fields, file_separator);
        const std::string where = reader.name() + ": line " + std::to_string(reader.line_number());
        if (first_row && !sklearn.active && read_sklearn_layout(fields, sklearn)) {
            sklearn.line = reader.line_number();
            dim = sklearn.features;
            log_info(where + " is scikit-learn's data header (" + std::to_string(sklearn.samples) + " samples, " +
                     std::to_string(sklearn.features) + " features" +
                     (sklearn.labels.empty() ? "" : ", classes " + sklearn.labels) +
                     "): reading the features, without the target in the last column (fim --labels last "
                     "takes it as the labels)");
            // A line of column names may follow, as in boston_house_prices.csv.
            continue;
        }
        // The first row is a header only when none of its fields is a number. A row that mixes
        // numbers and text, such as "1,000.5 2" (a thousands separator), is a data row with a bad
        // value, and taking it for a header would drop a point without a word.
        const bool header = first_row && read_header(fields, where, set, trailing_separator, file_separator == ';',
                                                     line.find_first_of(",\t;") != std::string::npos);
        // Without class names, as in boston_house_prices.csv, the counts line must be followed by
        // one of column names. Otherwise, as "1,2," is, it is a data row with a missing value.
        if (first_row && !header && sklearn.active && sklearn.labels.empty()) throw empty_third_field(reader.name(), sklearn.line);
        if (header) {
            dim = static_cast<long>(set.columns.size());
            if (sklearn.active) {
                // The names of the features and of the target.
                if (dim != sklearn.features + 1) {
                    throw Error(describe("cannot read points", where,
                                         "the header has " + std::to_string(dim) + " names, but line " + std::to_string(sklearn.line) + " is "
                                         "scikit-learn's header of a file whose rows hold " +
                                             std::to_string(sklearn.features) + " features and a target",
                                         "name " + std::to_string(sklearn.features + 1) + " columns"));
                }
                set.columns.pop_back();
                dim = sklearn.features;
            }
            first_row = false;
            continue;
        }
        first_row = false;
        if (trailing_separator && fields.size() > 1 && fields.back().empty()) fields.pop_back();
        if (sklearn.active) {
            const long count = static_cast<long>(fields.size());
            if (count != sklearn.features + 1) {
                throw Error(describe("cannot read points", where,
                                     "row has " + std::to_string(count) + " values, but line " + std::to_string(sklearn.line) + " is scikit-learn's "
                                     "header of a file whose rows hold " + std::to_string(sklearn.features) +
                                     " features and a target",
                                     "give every row " + std::to_string(sklearn.features + 1) + " values"));
            }
            double target = 0;
            if (!parse_number(fields.back(), target)) {
                throw Error(describe("cannot read points", reader.name() + ": " + row_column(reader.line_number(), fields.size() - 1),
                                     quote(std::string(fields.back())) + " is not a number, but the last column of "
                                     "scikit-learn's layout is the target (a class index or a value)",
                                     "fix or remove the row"));
            }
            set.targets.push_back(target);
            fields.pop_back();
        }

        row.resize(fields.size());
        for (size_t j = 0; j < fields.size(); ++j) {
            if (fields[j].empty()) {
                throw Error(describe("cannot read points", reader.name() + ": " + row_column(reader.line_number(), j),
                                     "empty field (a missing value)", "fill in the missing value or remove the row"));
            }
        }
        for (size_t j = 0; j < fields.size(); ++j) {
            const bool parsed = file_separator == ';' ? parse_decimal_comma_number(fields[j], row[j])
                                                      : parse_number(fields[j], row[j]);
            if (!parsed) {
                const auto [reason, hint] = not_a_number(fields[j], file_separator == ';', values.empty(),
                                                         j < set.columns.size() ? set.columns[j] : std::string());
                throw Error(describe("cannot read points", reader.name() + ": " + row_column(reader.line_number(), j),
                                     reason, hint));
            }
        }
        for (size_t j = 0; j < row.size(); ++j) {
            if (!std::isfinite(row[j])) {
                // A number written out in full that reads as infinity is too large for a double.
                const bool overflow = std::isinf(row[j]) && fields[j].find_first_of("iI") == std::string_view::npos;
                throw Error(describe("cannot read points", reader.name() + ": " + row_column(reader.line_number(), j),
                                     "value " + std::string(fields[j]) +
                                         (overflow ? " is beyond the range of a double (about 1.8e308)" : " is not finite"),
                                     overflow ? "rescale the data" : "remove rows with NaN or infinite values"));
            }
        }
        if (dim < 0) dim = static_cast<long>(row.size());
        if (static_cast<long>(row.size()) != dim) {
            // The column is the first extra or missing value; a decimal comma in a CSV row ("1,5")
            // shows up here as one value too many.
            const size_t column = std::min(row.size(), static_cast<size_t>(dim));
            // R's write.table writes row names before the values but no name for them, so its
            // first data row already has one value more than the header has names.
            const bool row_names = !set.columns.empty() && values.empty() && static_cast<long>(row.size()) == dim + 1;
            throw Error(describe("cannot read points", reader.name() + ": " + row_column(reader.line_number(), column),
                                 "row has " + std::to_string(row.size()) + " values, expected " + std::to_string(dim) +
                                     (row_names ? ", one more than the header names (row names, as R's "
                                                  "write.table writes them?)"
                                                : ""),
                                 row_names ? "write the file without row names (row.names = FALSE in R) or "
                                             "remove the first column"
                                           : "every row must have the same number of values; write numbers "
                                             "without thousands separators and with a decimal point"));
        }
        values.insert(values.end(), row.begin(), row.end());
    }
    if (values.empty() && sklearn.active && sklearn.labels.empty() && set.columns.empty()) {
        throw empty_third_field(reader.name(), sklearn.line);
    }
    if (values.empty()) {
        throw Error(describe("cannot read points", reader.name(), "no data rows", "give a file with at least one point"));
    }
    long rows = static_cast<long>(values.size()) / dim;
    if (sklearn.active && rows != sklearn.samples) {
        throw Error(describe("cannot read points", reader.name(),
                             "line " + std::to_string(sklearn.line) + " (scikit-learn's data header) gives " + std::to_string(sklearn.samples) +
                                 " samples, but the file has " + std::to_string(rows) + " data rows",
                             "check that the file is complete, or correct the count on line " + std::to_string(sklearn.line)));
    }
    set.values = Eigen::Map<RowMatrix>(values.data(), rows, dim);
    return set;
}

// Reads the rows of an HDF5 point set that `choose` picks from its row count.
PointSet read_hdf5_points(const std::string& spec, const PointLocation& location, const RowBlockChoice& choose,
                          RowBlock& block) {
    Hdf5Reader reader(location.path);
    PointSet set;
    set.source = spec;
    std::string dataset = location.dataset;
    // A file name without :/dataset means /points, or else the file's only dataset, such as the
    // /samples that langevin writes. With several datasets the message lists them.
    if (split_dataset_spec(spec).dataset.empty() && !reader.exists(dataset)) {
        std::vector<std::string> datasets = reader.dataset_paths();
        if (datasets.size() == 1) {
            dataset = datasets.front();
        } else {
            std::string listing;
            for (const auto& name : datasets) listing += (listing.empty() ? "" : ", ") + name;
            throw Error(describe("dataset not found", spec + ":" + dataset,
                                 datasets.empty() ? "the file has no datasets"
                                                  : "the file has " + listing,
                                 "name one as " + spec + ":/dataset"));
        }
    }

    const std::vector<std::int64_t> shape = reader.shape(dataset);
    if (shape.size() != 1 && shape.size() != 2) {
        throw Error(describe("cannot read points", location.path + ":" + dataset,
                             "dataset has rank " + std::to_string(shape.size()) + ", expected 2 ([N, D])",
                             "reshape it to [points, dimensions]"));
    }
    const Eigen::Index columns = shape.size() == 2 ? shape[1] : 1;
    if (shape[0] == 0 || columns == 0) {
        throw Error(describe("cannot read points", spec, "dataset is empty", "give a dataset with at least one point"));
    }

    block = choose(shape[0]);
    Array array = block.begin == 0 && block.end == block.total
                      ? reader.read_array(dataset)
                      : reader.read_array(dataset, block.begin, block.end - block.begin);
    set.values = Eigen::Map<RowMatrix>(array.values.data(), array.shape[0], columns);
    for (Eigen::Index i = 0; i < set.values.rows(); ++i) {
        for (Eigen::Index j = 0; j < set.values.cols(); ++j) {
            if (!std::isfinite(set.values(i, j))) {
                // Indices from 0, as h5py and numpy index the dataset (x[row, column]).
                throw Error(describe("cannot read points",
                                     spec + " row " + std::to_string(block.begin + i) + ", column " + std::to_string(j) +
                                         " (from 0)",
                                     "value " + format_number(set.values(i, j)) + " is not finite",
                                     "remove rows with NaN or infinite values"));
            }
        }
    }
    return set;
}

// Throws unless the points have `expected_dim` columns (any number when it is 0). `total_rows`
// is the row count of the whole table, for the advice on a transposed one.
void check_point_dimension(const PointSet& set, const std::string& spec, int expected_dim, const std::string& layout,
                           std::int64_t total_rows) {
    if (expected_dim <= 0 || set.values.cols() == expected_dim) return;

    // A table stored transposed has as many rows as the expected columns.
    const std::string transposed = total_rows == expected_dim ? ", or, " + transposed_table_advice() : "";
    if (!layout.empty()) {
        throw Error(describe("cannot use", spec,
                             "rows have " + std::to_string(set.values.cols()) + " columns, expected " +
                                 std::to_string(expected_dim) + ": " + layout,
                             "give rows of " + std::to_string(expected_dim) + (expected_dim == 1 ? " column" : " columns") +
                                 transposed));
    }
    throw Error(describe("cannot use points", spec,
                         "points have dimension " + std::to_string(set.values.cols()) + ", the model expects " +
                             std::to_string(expected_dim),
                         "give points with " + std::to_string(expected_dim) + (expected_dim == 1 ? " column" : " columns") +
                             transposed));
}

}  // namespace

DatasetSpec split_dataset_spec(const std::string& spec) {
    // A name that exists as a file ("notes:1.txt", "x.h5:name") is that file. Other names are
    // split at a colon.
    if (names_existing_file(spec)) return {spec, ""};
    return split_dataset_syntax(spec);
}

bool names_existing_file(const std::string& spec) {
    struct stat status {};
    const bool has_colon = spec.find(':') != std::string::npos;
    return has_colon && stat(spec.c_str(), &status) == 0 && !S_ISDIR(status.st_mode);
}

DatasetSpec split_dataset_syntax(const std::string& spec) {
    const size_t absolute = spec.find(":/");
    if (absolute != std::string::npos) return {spec.substr(0, absolute), spec.substr(absolute + 1)};
    const size_t colon = spec.rfind(':');
    if (colon != std::string::npos && colon + 1 < spec.size() && has_hdf5_extension(spec.substr(0, colon))) {
        return {spec.substr(0, colon), "/" + spec.substr(colon + 1)};
    }
    return {spec, ""};
}

void check_dataset_path(const std::string& spec, const std::string& dataset) {
    const bool valid = dataset.size() > 1 && dataset[0] == '/' && dataset.back() != '/' &&
                       dataset.find("//") == std::string::npos;
    if (!valid) {
        throw UsageError(describe("invalid dataset path", spec, quote(dataset) + " is not a name like /group/name",
                                  "write FILE.h5:/NAME or FILE.h5:/GROUP/NAME"));
    }
}

void check_no_dataset(const std::string& spec, const std::string& option) {
    const DatasetSpec split = split_dataset_spec(spec);
    if (split.dataset.empty()) return;
    throw UsageError(describe("invalid " + option, spec,
                              "this output holds several datasets with fixed names, so it takes no dataset " +
                                  quote(split.dataset),
                              "give the file name " + quote(split.file) + " alone"));
}

void check_checkpoint_names(const std::string& checkpoint, const std::string& resume) {
    for (const auto& [option, name] : {std::pair{"--checkpoint", &checkpoint}, std::pair{"--resume", &resume}}) {
        if (*name == "-") {
            throw UsageError(describe(std::string("invalid ") + option, "-",
                                      "a checkpoint must be an HDF5 file on disk, not standard input or output",
                                      "give a file name"));
        }
    }
    check_no_dataset(checkpoint, "--checkpoint");
}

PointLocation locate_points(const std::string& spec, const std::string& default_dataset, bool for_output) {
    PointLocation location;
    DatasetSpec split = split_dataset_spec(spec);
    struct stat status {};
    if (!for_output && spec != "-" && stat(split.file.c_str(), &status) == 0 && S_ISDIR(status.st_mode)) {
        throw Error(describe("cannot read points", spec, "it is a directory", "give a file"));
    }
    if (!split.dataset.empty() && spec != "-") {
        location.path = split.file;
        location.dataset = split.dataset;
        location.hdf5 = true;
        return location;
    }
    location.path = spec;
    if (spec == "-") return location;
    location.hdf5 = for_output ? has_hdf5_extension(spec) : (has_hdf5_signature(spec) || has_hdf5_extension(spec));
    if (location.hdf5) location.dataset = default_dataset;
    return location;
}

PointSet read_points(const std::string& spec, int expected_dim, const std::string& layout) {
    RowBlock block;
    return read_point_block(
        spec, [](std::int64_t total) { return RowBlock{0, total, total}; }, block, expected_dim, layout);
}

PointSet read_point_block(const std::string& spec, const RowBlockChoice& choose, RowBlock& block, int expected_dim,
                          const std::string& layout) {
    PointLocation location = locate_points(spec);
    PointSet set;
    if (location.hdf5) {
        set = read_hdf5_points(spec, location, choose, block);
    } else {
        set = read_text_points(spec);
        block = choose(set.values.rows());
        if (block.begin != 0 || block.end != block.total) {
            set.values = RowMatrix(set.values.middleRows(block.begin, block.end - block.begin));
            if (!set.targets.empty()) {
                set.targets = std::vector<double>(set.targets.begin() + block.begin, set.targets.begin() + block.end);
            }
        }
    }
    check_point_dimension(set, spec, expected_dim, layout, block.total);
    return set;
}

std::string transposed_table_advice() {
    return "if the table is stored transposed ([D, N], as column-major writers such as MATLAB, R and Julia "
           "store it), transpose it";
}

void warn_if_transposed(const std::string& source, Eigen::Index rows, Eigen::Index columns) {
    if (rows >= columns) return;
    log_warning(quote(source) + " has " + std::to_string(rows) + (rows == 1 ? " point" : " points") +
                " of dimension " + std::to_string(columns) + ", fewer points than dimensions: " +
                transposed_table_advice());
}

void write_text_rows(std::FILE* stream, const RowMatrix& points) {
    char buffer[40];
    std::string line;
    for (Eigen::Index i = 0; i < points.rows(); ++i) {
        line.clear();
        for (Eigen::Index j = 0; j < points.cols(); ++j) {
            if (j) line += '\t';
            // The same digits as printf's %.17g, which every value reads back from exactly.
            const auto result = std::to_chars(buffer, buffer + sizeof buffer, points(i, j), std::chars_format::general, 17);
            line.append(buffer, result.ptr);
        }
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stream);
    }
}

void write_points(const std::string& spec, const RowMatrix& points, const std::vector<std::string>& columns,
                  const std::string& comment) {
    PointLocation location = locate_points(spec, "/points", true);
    if (location.hdf5) {
        Hdf5Writer writer(location.path);
        std::string dataset = location.dataset;
        for (size_t slash = dataset.find('/', 1); slash != std::string::npos; slash = dataset.find('/', slash + 1)) {
            writer.create_group(dataset.substr(0, slash));
        }
        writer.write_matrix(dataset, points);
        if (!columns.empty()) {
            std::string joined;
            for (size_t j = 0; j < columns.size(); ++j) joined += (j ? "\t" : "") + columns[j];
            writer.write_attribute(dataset, "columns", joined);
        }
        writer.commit();
        return;
    }

    auto emit_header = [&](std::FILE* stream) {
        if (!comment.empty()) std::fprintf(stream, "# %s\n", comment.c_str());
        if (columns.empty()) return;
        for (size_t j = 0; j < columns.size(); ++j) std::fprintf(stream, "%s%s", j ? "\t" : "", columns[j].c_str());
        std::fputc('\n', stream);
    };
    if (spec == "-") {
        emit_header(stdout);
        write_text_rows(stdout, points);
        return;
    }
    AtomicFile output(spec);
    std::FILE* stream = std::fopen(output.temporary_path().c_str(), "w");
    if (!stream) throw Error(describe("cannot write", spec, std::strerror(errno), "check the directory"));
    emit_header(stream);
    write_text_rows(stream, points);
    bool failed = std::ferror(stream) != 0;
    if (std::fclose(stream) != 0 || failed) {
        throw Error(describe("cannot write", spec, std::strerror(errno), "check the free disk space"));
    }
    output.commit();
}

}  // namespace scorekit
