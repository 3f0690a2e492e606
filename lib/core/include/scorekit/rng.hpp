// Counter-free, platform-independent random numbers (xoshiro256++ seeded by SplitMix64).
//
// Standard-library distributions differ between implementations, so scorekit draws its own:
// the same seed gives the same numbers with any compiler. Independent streams are derived from
// (seed, stream id), which keeps results independent of thread count and sharding.
#pragma once

#include <cmath>
#include <cstdint>

namespace scorekit {

inline std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Mixes a seed and a stream id into one 64-bit seed.
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t state = seed ^ (0xd1b54a32d192ed03ULL * (stream + 1));
    splitmix64(state);
    return splitmix64(state);
}

class Rng {
public:
    explicit Rng(std::uint64_t seed = 0, std::uint64_t stream = 0) {
        std::uint64_t state = derive_seed(seed, stream);
        for (auto& word : s_) word = splitmix64(state);
    }

    std::uint64_t next() {
        std::uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
        std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform on [0, 1) with 53 random bits.
    double uniform() { return (next() >> 11) * 0x1.0p-53; }

    // Uniform integer on [0, n) without modulo bias (Lemire's method).
    std::uint64_t below(std::uint64_t n) {
        __uint128_t product = static_cast<__uint128_t>(next()) * n;
        auto low = static_cast<std::uint64_t>(product);
        if (low < n) {
            std::uint64_t threshold = -n % n;
            while (low < threshold) {
                product = static_cast<__uint128_t>(next()) * n;
                low = static_cast<std::uint64_t>(product);
            }
        }
        return static_cast<std::uint64_t>(product >> 64);
    }

    // Standard normal by the Marsaglia polar method.
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u, v, s;
        do {
            u = 2 * uniform() - 1;
            v = 2 * uniform() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        double factor = std::sqrt(-2 * std::log(s) / s);
        spare_ = v * factor;
        has_spare_ = true;
        return u * factor;
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
    double spare_ = 0;
    bool has_spare_ = false;
};

}  // namespace scorekit
