// The data-parallel group's handling of a rank that failed before training.
#include <catch2/catch.hpp>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "data_parallel.hpp"
#include "scorekit/error.hpp"

using namespace scorekit;

namespace {

std::vector<std::uint8_t> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

}  // namespace

TEST_CASE("joining rank names the failure a peer posted", "[data-parallel]") {
    char pattern[] = "/tmp/scorekit-dp.XXXXXX";
    const std::string dir = mkdtemp(pattern);
    const std::string path = dir + "/store";
    setenv("GLOO_SOCKET_IFNAME", "lo", 1);

    // Rank 0 joined, failed on its data file and posted that, as DataParallel::report_failure does;
    // its Gloo side is gone. Rank 1 times out setting up its connections, and the posted failure,
    // not the timeout, is what it reports.
    {
        c10d::FileStore rank0(path, 2);
        rank0.set("scorekit/config/0", bytes_of("failed\t0\tcannot open \"data.csv\": No such file or directory"));
        DataParallelPlacement placement;
        placement.rank = 1;
        placement.world_size = 2;
        placement.rendezvous = path;
        CHECK_THROWS_WITH(DataParallel(placement, std::chrono::milliseconds(1500)),
                          "data-parallel rank 0 failed before training: cannot open \"data.csv\": No such file or "
                          "directory");
    }
    std::system(("rm -rf '" + dir + "'").c_str());
}
