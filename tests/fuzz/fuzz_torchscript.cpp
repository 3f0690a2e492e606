// Fuzzes the TorchScript archive reader (zip, pickle, forward code) with whole files.
#include "fuzz_support.hpp"
#include "torchscript_archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = fuzz::write_input(data, size, ".pt");
    fuzz::expect_clean_failure([&] { scorekit::read_archive_sequential(path); });
    fuzz::expect_clean_failure([&] { scorekit::reject_torch_save_file(path); });
    return 0;
}
