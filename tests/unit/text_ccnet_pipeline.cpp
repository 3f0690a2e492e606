// In-process runs of `ccnet-filter hash` and `mine`: dedup semantics, sharding, done markers,
// thread-count independence.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/text/ccnet_filter.hpp"
#include "scorekit/text/dedup.hpp"
#include "text_test_support.hpp"

using namespace scorekit;
using text_test::TempDir;

namespace {

// Real English sentences from the LID fixture, so that CLD2 labels the documents "en".
std::vector<std::string> english(std::size_t from, std::size_t count) {
    std::ifstream in(text_test::fixture("lid/en.txt"));
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return std::vector<std::string>(lines.begin() + static_cast<long>(from), lines.begin() + static_cast<long>(from + count));
}

std::string join(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& line : lines) out += line + "\n";
    return out;
}

std::vector<std::string> output_lines(const std::string& path) {
    std::string text = text_test::gunzip_file(path);
    std::vector<std::string> lines;
    for (std::size_t start = 0; start < text.size();) {
        std::size_t end = text.find('\n', start);
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

CcnetMineOptions mine_options(const std::vector<std::string>& inputs, const std::string& output) {
    CcnetMineOptions options;
    options.input.inputs = inputs;
    options.input.min_length = 0;
    options.output = output;
    return options;
}

}  // namespace

TEST_CASE("two-document dedup removes every shared copy", "[text][pipeline]") {
    TempDir dir;
    std::vector<std::string> a = english(0, 6), b = english(6, 6);
    std::string shared = english(20, 1)[0];
    // Document A: title, a0, SHARED, a1, a1 (repeat inside A), a2..a5.
    // Document B: title, b0, b1, "shared" differently cased and with a changed digit, b2..b5.
    std::string shared_variant = shared;
    for (char& c : shared_variant) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string body_a = "Title A\n" + a[0] + "\n" + shared + "\n" + a[1] + "\n" + a[1] + "\n" + join({a[2], a[3], a[4], a[5]});
    std::string body_b = "Title B\n" + b[0] + "\n" + b[1] + "\n  " + shared_variant + "  \n" + join({b[2], b[3], b[4], b[5]});
    text_test::write_file(dir.file("in.wet"), text_test::wet_record("http://a.example/", body_a) +
                                                  text_test::wet_record("http://b.example/", body_b));

    CcnetHashOptions hash;
    hash.input.inputs = {dir.file("in.wet")};
    hash.input.min_length = 0;
    hash.output = dir.file("h.bin");
    run_ccnet_hash(hash);
    CHECK(text_test::read_file(dir.file("h.bin.done")).find("\"shard\": 0") != std::string::npos);

    CcnetMineOptions mine = mine_options({dir.file("in.wet")}, dir.file("mined"));
    mine.hashes = {dir.file("h.bin")};
    run_ccnet_mine(mine);
    std::vector<std::string> lines = output_lines(dir.file("mined/en.json.gz"));
    REQUIRE(lines.size() == 2);
    // A: lines a0 SHARED a1 a1 a2 a3 a4 a5 -> ids 0, 2, 4..7 (shared gone, repeat of a1 gone).
    CHECK_THAT(lines[0], Catch::Contains("\"url\": \"http://a.example/\""));
    CHECK_THAT(lines[0], Catch::Contains("\"original_nlines\": 8, "));
    CHECK_THAT(lines[0], Catch::Contains("\"line_ids\": [0, 2, 4, 5, 6, 7], "));
    CHECK_THAT(lines[0], Catch::Contains("\"nlines\": 6, "));
    CHECK(lines[0].find(shared) == std::string::npos);
    // B: b0 b1 SHARED' b2 b3 b4 b5 -> the normalised shared line is gone here too.
    CHECK_THAT(lines[1], Catch::Contains("\"line_ids\": [0, 1, 3, 4, 5, 6], "));
    CHECK_THAT(lines[1], Catch::Contains("\"language\": \"en\", \"language_score\": "));
    CHECK_THAT(lines[1], Catch::Contains("\"language_identifier\": \"cld2\"}"));
    CHECK(lines[0].find("\"raw_content\": \"" + a[0] + "\\n" + a[1] + "\\n") != std::string::npos);

    std::string stats = text_test::read_file(dir.file("mined.stats.json"));
    CHECK_THAT(stats, Catch::Contains("\"lines_in\": 15"));
    CHECK(text_test::read_file(dir.file("mined.done")).size() > 0);
}

TEST_CASE("mine rejects hashes of another --min-len", "[text][pipeline]") {
    TempDir dir;
    text_test::write_file(dir.file("in.wet"), text_test::wet_record("http://a.example/", "Title\n" + join(english(0, 6))));
    CcnetHashOptions hash;
    hash.input.inputs = {dir.file("in.wet")};
    hash.input.min_length = 100;
    hash.output = dir.file("h.bin");
    run_ccnet_hash(hash);
    CHECK(scorekit::text::read_hash_file_header(dir.file("h.bin")).min_length == 100);

    CcnetMineOptions mine = mine_options({dir.file("in.wet")}, dir.file("mined"));
    mine.hashes = {dir.file("h.bin")};
    mine.input.min_length = 300;
    CHECK_THROWS_AS(run_ccnet_mine(mine), UsageError);
    CHECK_THROWS_WITH(run_ccnet_mine(mine), Catch::Contains("--min-len 100 there, 300 here"));
    CHECK(access(dir.file("mined.done").c_str(), F_OK) != 0);

    mine.input.min_length = 100;
    run_ccnet_mine(mine);
    CHECK(access(dir.file("mined.done").c_str(), F_OK) == 0);
}

TEST_CASE("mine output does not depend on the thread count", "[text][pipeline]") {
    TempDir dir;
    std::vector<std::string> lines = english(0, 300);
    std::string wet;
    for (int d = 0; d < 120; ++d) {
        std::string body = "Page " + std::to_string(d) + "\n";
        // Two lines shared with neighbouring documents (removed by dedup), four of its own.
        for (int i = 0; i < 2; ++i) body += lines[static_cast<std::size_t>((d + i) % 300)] + "\n";
        for (int i = 0; i < 4; ++i) body += lines[static_cast<std::size_t>(120 + (d * 4 + i) % 180)] + " " + std::to_string(d) + "\n";
        wet += text_test::wet_record("http://site" + std::to_string(d % 7) + ".example/" + std::to_string(d), body);
    }
    text_test::write_file(dir.file("in.wet"), wet);
    CcnetHashOptions hash;
    hash.input.inputs = {dir.file("in.wet")};
    hash.input.min_length = 0;
    hash.input.batch_records = 7;
    hash.output = dir.file("h1.bin");
    run_ccnet_hash(hash);
    hash.input.threads = 3;
    hash.output = dir.file("h3.bin");
    run_ccnet_hash(hash);
    CHECK(text_test::read_file(dir.file("h1.bin")) == text_test::read_file(dir.file("h3.bin")));

    std::string outputs[2];
    int thread_counts[2] = {1, 4};
    for (int k = 0; k < 2; ++k) {
        CcnetMineOptions mine = mine_options({dir.file("in.wet")}, dir.file("m" + std::to_string(k)));
        mine.hashes = {dir.file("h1.bin")};
        mine.input.batch_records = 7;
        mine.input.threads = thread_counts[k];
        run_ccnet_mine(mine);
        outputs[k] = text_test::read_file(dir.file("m" + std::to_string(k) + "/en.json.gz"));
    }
    CHECK(outputs[0].size() > 1000);
    CHECK(outputs[0] == outputs[1]);
}

TEST_CASE("hash over many files with any thread count", "[text][pipeline]") {
    // Seven gzip files whose documents share lines across files, two of them cut inside a gzip
    // member: every thread count must give the same hash file and report the same first error.
    TempDir dir;
    std::vector<std::string> lines = english(0, 200);
    std::vector<std::string> files;
    for (int f = 0; f < 7; ++f) {
        std::string gzip;
        for (int d = 0; d < 30; ++d) {
            std::string body = "Page " + std::to_string(f) + "." + std::to_string(d) + "\n";
            for (int i = 0; i < 5; ++i) body += lines[static_cast<std::size_t>((f * 13 + d * 3 + i) % 200)] + "\n";
            gzip += text_test::gzip_member(text_test::wet_record("http://x.example/" + std::to_string(d), body));
        }
        if (f == 2 || f == 5) gzip.resize(gzip.size() - 40);  // cuts the last member
        files.push_back(dir.file("f" + std::to_string(f) + ".warc.wet.gz"));
        text_test::write_file(files.back(), gzip);
    }

    std::vector<std::string> hash_files, errors;
    for (int threads : {1, 2, 3, 8}) {
        CcnetHashOptions hash;
        hash.input.inputs = files;
        hash.input.min_length = 0;
        hash.input.threads = threads;
        hash.output = dir.file("h" + std::to_string(threads) + ".bin");
        std::string error;
        try {
            run_ccnet_hash(hash);
        } catch (const Error& e) {
            error = e.what();
        }
        hash_files.push_back(text_test::read_file(hash.output));
        errors.push_back(error);
    }

    CHECK(errors[0].find("f2.warc.wet.gz") != std::string::npos);
    CHECK(errors[0].find("and 1 more damaged files") != std::string::npos);
    CHECK(scorekit::text::read_hash_file_header(dir.file("h1.bin")).documents == 7 * 30 - 2);

    for (std::size_t k = 1; k < hash_files.size(); ++k) {
        INFO("run " << k);
        CHECK(hash_files[k] == hash_files[0]);
        CHECK(errors[k] == errors[0]);
    }
}

TEST_CASE("shards split the path list and done markers skip", "[text][pipeline]") {
    TempDir dir;
    std::vector<std::string> lines = english(100, 40);
    std::string list;
    for (int f = 0; f < 5; ++f) {
        std::string body = "Title\n" + lines[static_cast<std::size_t>(f)] + "\n" + lines[static_cast<std::size_t>(f + 10)] + "\n";
        std::string path = dir.file("f" + std::to_string(f) + ".wet.gz");
        text_test::write_file(path, text_test::gzip_member(text_test::wet_record("http://f" + std::to_string(f) + ".example/", body)));
        list += path + "\n";
    }
    text_test::write_file(dir.file("paths.txt"), "# five files\n" + list);

    CcnetHashOptions hash;
    hash.input.paths_file = dir.file("paths.txt");
    hash.input.min_length = 0;
    hash.input.shard = "1/2";  // files [5/2, 10/2) = 2..4
    hash.output = dir.file("hashes/{shard}.bin");
    // hash creates no directory, like every scorekit tool: a missing one is an error.
    CHECK_THROWS_WITH(run_ccnet_hash(hash), Catch::Contains("cannot create a file in directory"));
    REQUIRE(mkdir(dir.file("hashes").c_str(), 0777) == 0);
    run_ccnet_hash(hash);
    scorekit::text::HashFileHeader header = scorekit::text::read_hash_file_header(dir.file("hashes/0001.bin"));
    CHECK(header.documents == 3);
    std::string stats = text_test::read_file(dir.file("hashes/0001.bin.stats.json"));
    CHECK_THAT(stats, Catch::Contains("f2.wet.gz"));
    CHECK(stats.find("f1.wet.gz") == std::string::npos);

    // A second run finds the done marker and leaves the file alone.
    text_test::write_file(dir.file("hashes/0001.bin"), "overwritten");
    run_ccnet_hash(hash);
    CHECK(text_test::read_file(dir.file("hashes/0001.bin")) == "overwritten");
    hash.input.force = true;
    run_ccnet_hash(hash);
    CHECK(text_test::read_file(dir.file("hashes/0001.bin")).compare(0, 8, "SKCCHASH") == 0);

    // mine with --hashes-dir needs every hash file of the group.
    CcnetMineOptions mine = mine_options({}, dir.file("mined/{shard}"));
    mine.input.paths_file = dir.file("paths.txt");
    mine.input.shard = "1/2";
    mine.hashes_dir = dir.file("hashes");
    CHECK_THROWS_WITH(run_ccnet_mine(mine), Catch::Contains("0000.bin"));
    hash.input.shard = "0/2";
    run_ccnet_hash(hash);
    run_ccnet_mine(mine);
    CHECK(text_test::read_file(dir.file("mined/0001.stats.json")).find("\"hash_files\": [") != std::string::npos);
    CHECK(output_lines(dir.file("mined/0001/en.json.gz")).size() == 3);

    // A hash file without its done marker (a failed run) is not used.
    std::remove(dir.file("hashes/0000.bin.done").c_str());
    mine.input.force = true;
    CHECK_THROWS_WITH(run_ccnet_mine(mine), Catch::Contains("hash file incomplete") && Catch::Contains("0000.bin"));

    // An explicit --shard may write any path (one Makefile rule per shard); a shard from the
    // SLURM array variables must put {shard} in the path, or every task would write it.
    hash.output = dir.file("same.bin");
    hash.input.force = true;
    CHECK_NOTHROW(run_ccnet_hash(hash));
    hash.input.shard.clear();
    setenv("SLURM_ARRAY_TASK_ID", "0", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "2", 1);
    CHECK_THROWS_AS(run_ccnet_hash(hash), scorekit::UsageError);
    unsetenv("SLURM_ARRAY_TASK_ID");
    unsetenv("SLURM_ARRAY_TASK_COUNT");
}
