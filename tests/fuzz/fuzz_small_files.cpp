// Fuzzes the small inputs of ccnet-filter: the perplexity cutoff CSV and the dedup hash file.
#include "fuzz_support.hpp"
#include "scorekit/text/dedup.hpp"
#include "scorekit/text/language_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string path = fuzz::write_input(data, size, ".bin");
    fuzz::expect_clean_failure([&] { scorekit::text::PerplexityCutoffs::load(path); });
    fuzz::expect_clean_failure([&] {
        scorekit::text::DedupHashSet set;
        scorekit::text::load_hash_file(path, set);
    });
    return 0;
}
