// Option validators, quoting of values in messages and dataset names in file arguments.
#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <vector>

#include "scorekit/cli.hpp"
#include "scorekit/error.hpp"
#include "scorekit/points.hpp"

using namespace scorekit;

namespace {

// The validator's message for `text`, "" when it accepts the value.
std::string check(const CLI::Validator& validator, std::string text) { return validator(text); }

}  // namespace

TEST_CASE("whole_number accepts its range only", "[cli]") {
    const CLI::Validator at_least_one = whole_number(1);
    CHECK(check(at_least_one, "1").empty());
    CHECK(check(at_least_one, "9223372036854775807").empty());
    CHECK(check(at_least_one, "0") == "\"0\": must be a whole number of at least 1");
    CHECK(check(at_least_one, "-5") == "\"-5\": must be a whole number of at least 1");
    // strtoll saturates at INT64_MAX, which CLI11 2.1 would take as the value.
    CHECK(check(at_least_one, "9223372036854775808") == "\"9223372036854775808\": must be a whole number of at least 1");
    CHECK(check(at_least_one, "99999999999999999999") == "\"99999999999999999999\": must be a whole number of at least 1");
    // CLI11 reads integers in base 0, so 010 would be 8 and 0x10 16.
    CHECK_FALSE(check(at_least_one, "0x10").empty());
    CHECK_FALSE(check(at_least_one, "1e3").empty());
    CHECK_FALSE(check(at_least_one, "").empty());
    CHECK_FALSE(check(at_least_one, "-").empty());

    const CLI::Validator int_range = whole_number(0, std::numeric_limits<int>::max());
    CHECK(check(int_range, "2147483647").empty());
    CHECK(check(int_range, "2147483648") == "\"2147483648\": must be a whole number from 0 to 2147483647");
}

// The message of --threads VALUE, "" when the common options accept it.
std::string threads_message(const std::string& value) {
    CLI::App app;
    CommonOptions options;
    add_common_options(app, options);
    try {
        app.parse(std::vector<std::string>{value, "--threads"});  // CLI11 takes the arguments reversed
    } catch (const CLI::ValidationError& error) {
        return error.what();
    }
    return "";
}

TEST_CASE("threads option checks whole numbers", "[cli]") {
    CHECK(threads_message("0").empty());
    CHECK(threads_message("1024").empty());
    CHECK(threads_message("-1") == "--threads: \"-1\": must be 0 or positive");
    CHECK(threads_message("40000") ==
          "--threads: \"40000\": more than 1024 threads; use at most one per CPU core (0 picks that)");
    CHECK(threads_message("1.5") == "--threads: \"1.5\": must be a whole number from 0 to 1024");
    CHECK(threads_message("0x10") == "--threads: \"0x10\": must be a whole number from 0 to 1024");
    CHECK(threads_message("99999999999999999999") ==
          "--threads: \"99999999999999999999\": must be a whole number from 0 to 1024");
}

TEST_CASE("finite_number rejects NaN, infinities and the range's outside", "[cli]") {
    const CLI::Validator unit = finite_number(0, 1, false, true);
    CHECK(check(unit, "0").empty());
    CHECK(check(unit, "0.999").empty());
    CHECK(check(unit, "1") == "\"1\": must be in [0, 1)");
    CHECK(check(unit, "nan") == "\"nan\": must be a finite number");
    CHECK(check(unit, "-0.5") == "\"-0.5\": must be in [0, 1)");
    CHECK(check(positive_number(), "inf") == "\"inf\": must be a finite number");
    CHECK(check(positive_number(), "1e400") == "\"1e400\": must be a finite number");
    CHECK(check(positive_number(), "0") == "\"0\": must be positive");
    CHECK(check(positive_number(), "1e-300").empty());
    CHECK(check(finite_number(0), "0").empty());
    CHECK(check(finite_number(0), "-1") == "\"-1\": must be 0 or positive");
    CHECK(check(finite_number(0), "abc") == "\"abc\": must be a number");
}

TEST_CASE("quote escapes control bytes and invalid UTF-8", "[error]") {
    CHECK(quote("plain.h5") == "\"plain.h5\"");
    CHECK(quote("caf\xC3\xA9") == "\"caf\xC3\xA9\"");  // valid UTF-8 stays
    CHECK(quote("caf\xE9") == "\"caf\\xE9\"");           // Latin-1 byte
    CHECK(quote("a\tb\x1B[31m") == "\"a\\x09b\\x1B[31m\"");
    CHECK(quote("\xC0\xAF") == "\"\\xC0\\xAF\"");  // overlong encoding of '/'
    CHECK(quote("\xE2\x82") == "\"\\xE2\\x82\"");  // truncated sequence
    CHECK(describe("cannot read", "x\xFFy", "bad") == "cannot read \"x\\xFFy\": bad");
}

TEST_CASE("dataset names in file arguments", "[points]") {
    CHECK(split_dataset_spec("s.h5:/grp/samp").file == "s.h5");
    CHECK(split_dataset_spec("s.h5:/grp/samp").dataset == "/grp/samp");
    CHECK(split_dataset_spec("s.h5:samp").file == "s.h5");
    CHECK(split_dataset_spec("s.h5:samp").dataset == "/samp");
    CHECK(split_dataset_spec("s.hdf5:grp/samp").dataset == "/grp/samp");
    // Without an HDF5 extension a colon is part of the file name.
    CHECK(split_dataset_spec("run:3.tsv").file == "run:3.tsv");
    CHECK(split_dataset_spec("run:3.tsv").dataset.empty());
    CHECK(split_dataset_spec("s.h5").dataset.empty());
    CHECK(locate_points("s.h5:samp", "/samples", true).dataset == "/samp");
    CHECK(locate_points("s.h5:samp", "/samples", true).hdf5);

    CHECK_NOTHROW(check_dataset_path("s.h5:/a/b", "/a/b"));
    CHECK_THROWS_AS(check_dataset_path("s.h5:/a//b", "/a//b"), UsageError);
    CHECK_THROWS_AS(check_dataset_path("s.h5:/a/", "/a/"), UsageError);
    CHECK_THROWS_AS(check_dataset_path("s.h5:/", "/"), UsageError);
}
