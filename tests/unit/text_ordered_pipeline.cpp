// The ordered pipeline behind --threads: results in input order, errors propagated.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "scorekit/text/ordered_pipeline.hpp"

using namespace scorekit::text;

namespace {

std::vector<int> run(int workers, int items, int fail_at = -1) {
    int next = 0;
    std::vector<int> consumed;
    std::function<bool(int&)> produce = [&](int& item) {
        if (next == items) return false;
        item = next++;
        return true;
    };
    std::function<void(int&, int&)> transform = [&](int& in, int& out) {
        // Uneven work so that later items often finish first.
        std::this_thread::sleep_for(std::chrono::microseconds((in * 7919) % 13 * 50));
        if (in == fail_at) throw std::runtime_error("item failed");
        out = in * in;
    };
    std::function<void(int&)> consume = [&](int& out) { consumed.push_back(out); };
    run_ordered_pipeline<int, int>(workers, 3, produce, transform, consume);
    return consumed;
}

}  // namespace

TEST_CASE("pipeline keeps input order", "[text][pipeline]") {
    for (int workers : {1, 2, 4}) {
        INFO(workers << " workers");
        std::vector<int> consumed = run(workers, 200);
        REQUIRE(consumed.size() == 200);
        for (int i = 0; i < 200; ++i) REQUIRE(consumed[static_cast<std::size_t>(i)] == i * i);
    }
}

TEST_CASE("pipeline rethrows a worker error", "[text][pipeline]") {
    for (int workers : {1, 3}) {
        INFO(workers << " workers");
        CHECK_THROWS_WITH(run(workers, 100, 37), "item failed");
    }
}
