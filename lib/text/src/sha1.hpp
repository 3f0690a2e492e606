// Internal: SHA-1 (FIPS 180-4) of many short messages, truncated to cc_net's 8-byte prefix.
//
// Messages are hashed in place, already padded: the caller writes each message with 72 bytes
// of room after it and calls sha1_pad(). With AVX-512, sixteen messages run at once in the
// lanes of vector registers. Without it, the x86 SHA extensions (SHA-NI) run eight at once, so
// that the latency of one message's round chain overlaps the others'. CPUs with neither use a
// portable implementation of the same function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace scorekit::text {

// Room that sha1_pad() needs after a message: the 0x80 byte, up to 63 zeros and the length.
constexpr std::size_t kSha1PadRoom = 72;

// Appends SHA-1 padding (FIPS 180-4, section 5.1.1) after the `length` bytes at `message`;
// returns the padded size, a multiple of 64 bytes. Writes up to kSha1PadRoom bytes past them.
std::size_t sha1_pad(unsigned char* message, std::size_t length);

// Implementation of the compression function.
enum class Sha1Backend { automatic, portable, sha_ni, avx512 };

// True if this CPU has the SHA extensions (and SSSE3 and SSE4.1, which the code also uses).
bool cpu_has_sha_ni();

// True if this CPU and the operating system support AVX-512F and AVX-512BW.
bool cpu_has_avx512();

// out[i] = the first 8 bytes of SHA-1(message i), read as a little-endian integer, for
// `count` messages padded by sha1_pad(): message i starts at `messages[i]` and has
// `padded_sizes[i]` bytes. `automatic` picks AVX-512, then SHA-NI, then the portable code, as
// the CPU allows; asking for `sha_ni` or `avx512` on a CPU without it throws Error.
void sha1_prefix64_padded(const unsigned char* const* messages, const std::size_t* padded_sizes, std::size_t count,
                          std::uint64_t* out, Sha1Backend backend = Sha1Backend::automatic);

// Messages (normalised lines), each followed by its SHA-1 padding, in one reused buffer, so
// that they can be hashed in one batch.
class PaddedMessages {
public:
    void clear();

    // Returns where the next message may be written, with room for `bytes` bytes and the padding.
    // Earlier pointers become invalid.
    char* room(std::size_t bytes);

    // Pads the `size` bytes just written at room() and keeps them as the next message.
    void add(std::size_t size);

    std::size_t count() const { return offsets_.size(); }

    // Appends the hashes (sha1_prefix64) of messages [first, first + n) to `out`.
    void hash(std::size_t first, std::size_t n, std::vector<std::uint64_t>& out);

private:
    std::vector<unsigned char> buffer_;
    std::size_t used_ = 0;
    std::vector<std::size_t> offsets_, padded_sizes_;
    std::vector<const unsigned char*> pointers_;
};

}  // namespace scorekit::text
