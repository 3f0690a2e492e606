// The TorchScript archive reader on files exported by Debian's python3-torch
// (tests/fixtures/make_archive_fixtures.py): stacks it must read exactly as PyTorch stores them,
// and files it must leave to LibTorch, each with its reason.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "scorekit/fim.hpp"
#include "torchscript_archive.hpp"

using namespace scorekit;

namespace {

struct Fixtures {
    std::string dir;
    Fixtures() {
        char pattern[] = "/tmp/scorekit-archive.XXXXXX";
        dir = mkdtemp(pattern);
        REQUIRE(std::system(("/usr/bin/python3 " SCOREKIT_SOURCE "/tests/fixtures/make_archive_fixtures.py " + dir).c_str()) ==
                0);
    }
    ~Fixtures() { std::system(("rm -rf '" + dir + "'").c_str()); }
};

std::vector<std::string> lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> result;
    for (std::string line; std::getline(in, line);) result.push_back(line);
    return result;
}

std::vector<double> numbers(const std::string& path) {
    std::ifstream in(path);
    std::vector<double> result;
    for (double value; in >> value;) result.push_back(value);
    return result;
}

// The children's parameters in fim's order: each Linear's weight row-major, then its bias.
std::vector<double> flat_parameters(const std::vector<SequentialChild>& children) {
    std::vector<double> values;
    for (const auto& child : children) {
        if (child.kind != "Linear") continue;
        values.insert(values.end(), child.weight.data(), child.weight.data() + child.weight.size());
        values.insert(values.end(), child.bias.data(), child.bias.data() + child.bias.size());
    }
    return values;
}

}  // namespace

TEST_CASE("archive reader on exported TorchScript files", "[core][fim][torchscript]") {
    Fixtures f;

    SECTION("scripted and traced stacks read exactly") {
        const std::vector<std::string> names = {"scripted_f32", "traced_f32", "scripted_f64", "traced_f64",
                                                "activations",  "strided",    "tanh",         "deflated",
                                                "identity_traced", "float16",   "bfloat16"};
        for (const std::string& name : names) {
            INFO(name);
            ArchiveSequential archive = read_archive_sequential(f.dir + "/" + name + ".pt");
            REQUIRE(archive.rejection.empty());
            std::vector<std::string> kinds = lines(f.dir + "/" + name + ".layers.txt");
            REQUIRE(archive.children.size() == kinds.size());
            for (std::size_t i = 0; i < kinds.size(); ++i) {
                CHECK(archive.children[i].kind == kinds[i]);
                CHECK(archive.children[i].name == std::to_string(i));
            }
            // float32 values convert to float64 exactly, so the values are equal, not close.
            CHECK(flat_parameters(archive.children) == numbers(f.dir + "/" + name + ".theta.tsv"));
        }
    }

    SECTION("fim records the file's dtypes") {
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"scripted_f32", "float32"}, {"scripted_f64", "float64"}, {"float16", "float16"}, {"bfloat16", "bfloat16"}};
        for (const auto& [name, dtype] : cases) {
            INFO(name);
            FisherModel model = FisherModel::load(f.dir + "/" + name + ".pt");
            REQUIRE(model.is_linear_stack());
            for (const auto& p : model.parameters()) CHECK(p.dtype == dtype);
        }
    }

    SECTION("a layer without bias has none") {
        for (const std::string name : {"scripted_f32", "traced_f32"}) {
            ArchiveSequential archive = read_archive_sequential(f.dir + "/" + name + ".pt");
            REQUIRE(archive.children.size() == 5);
            CHECK(archive.children[0].has_bias);
            CHECK_FALSE(archive.children[2].has_bias);
            CHECK(archive.children[2].weight.rows() == 4);
            CHECK(archive.children[2].weight.cols() == 5);
        }
    }

    SECTION("fim lists the parameters as LibTorch names them") {
        FisherModel model = FisherModel::load(f.dir + "/scripted_f32.pt");
        REQUIRE(model.is_linear_stack());
        std::vector<std::string> names;
        for (const auto& p : model.parameters()) names.push_back(p.name);
        CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "4.weight", "4.bias"});
        CHECK(model.parameters()[2].shape == std::vector<std::int64_t>{4, 5});
        CHECK(model.parameters()[2].offset == 20);
        CHECK(model.input_dim() == 3);
        const Vector theta = model.parameter_vector();
        CHECK(std::vector<double>(theta.data(), theta.data() + theta.size()) ==
              numbers(f.dir + "/scripted_f32.theta.tsv"));
    }

    SECTION("hand-written archive is read") {
        // The control for the crafted archives below: the same writer with valid values.
        ArchiveSequential archive = read_archive_sequential(f.dir + "/crafted.pt");
        REQUIRE(archive.rejection.empty());
        REQUIRE(archive.children.size() == 1);
        CHECK(archive.children[0].weight.rows() == 2);
        CHECK(archive.children[0].weight.cols() == 2);
        CHECK_FALSE(archive.children[0].has_bias);
    }

    SECTION("files for LibTorch are rejected with the reason") {
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"softplus_beta.pt", "beta is not stored as an attribute"},
            {"custom.pt", "Wrapped, not torch.nn.Sequential"},
            {"frozen.pt", "has no children"},
            {"complex.pt", "ComplexFloatStorage, not float16, bfloat16, float32 or float64"},
            {"tanh_marked.pt", "its own tensor marker"},
            {"hook_scripted.pt", "has forward hooks"},
            {"hook_traced.pt", "forward does more than call its children in order"},
            {"shared.pt", "share a tensor storage (shared parameters)"},
            {"truncated.pt", "no zip end of central directory record"},
            {"plain.zip", "no data.pkl"},
            {"damaged.pt", "entry tanh/data/0 fails its CRC-32 check"},
            {"opcode.pt", "data.pkl uses the pickle opcode 0x95, which this reader does not implement"},
            {"inputs.tsv", "no zip end of central directory record"},
            {"missing.pt", "cannot open the file"},
            // Crafted archives past the reader's bounds: nesting, sizes, strides, long runs.
            {"huge_index.pt", "forward does more than call its children in order"},
            {"wrapping_strides.pt", "a tensor reaches past its storage 0"},
            {"expanded.pt", "a tensor has more elements than its storage 0"},
            {"nested.pt", "the root module is not a module"},
            {"long_tuple.pt", "the root module is not a module"},
            {"many_values.pt", "data.pkl has more than 1000000 values"},
        };
        for (const auto& [name, reason] : cases) {
            INFO(name);
            ArchiveSequential archive = read_archive_sequential(f.dir + "/" + name);
            CHECK(archive.rejection.find(reason) != std::string::npos);
            CHECK(archive.children.empty());
        }
    }
}
