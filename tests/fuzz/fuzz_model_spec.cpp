// Fuzzes the parser of analytic models given on the command line (gaussian:, gmm:, halfplane).
#include "fuzz_support.hpp"
#include "scorekit/score_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string spec(reinterpret_cast<const char*>(data), size);
    fuzz::expect_clean_failure([&] {
        if (scorekit::is_analytic_model_spec(spec)) scorekit::make_analytic_model(spec);
    });
    fuzz::expect_clean_failure([&] { scorekit::parse_analytic_model(spec); });
    return 0;
}
