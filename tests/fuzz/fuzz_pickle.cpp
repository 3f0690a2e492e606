// Fuzzes the TorchScript archive reader's pickle and tensor code: the input is data.pkl, stored
// in a valid zip archive with the other entries that torch.jit.save writes, so that mutations
// reach the unpickler instead of failing the zip checks.
#include <zlib.h>

#include <string>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"
#include "torchscript_archive.hpp"

namespace {

void append_le(std::string& out, std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i) & 0xff));
}

// A zip archive of stored (uncompressed) entries, as APPNOTE.TXT 4.3 lays it out.
std::string stored_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
    std::string archive, directory;
    for (const auto& [name, bytes] : entries) {
        const auto crc = crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
        const std::uint64_t offset = archive.size();
        append_le(archive, 0x04034b50, 4);
        append_le(archive, 20, 2);  // version needed
        append_le(archive, 0, 2);   // flags
        append_le(archive, 0, 2);   // method: stored
        append_le(archive, 0, 4);   // time and date
        append_le(archive, crc, 4);
        append_le(archive, bytes.size(), 4);
        append_le(archive, bytes.size(), 4);
        append_le(archive, name.size(), 2);
        append_le(archive, 0, 2);
        archive += name + bytes;

        append_le(directory, 0x02014b50, 4);
        append_le(directory, 20, 2);  // version made by
        append_le(directory, 20, 2);  // version needed
        append_le(directory, 0, 2);
        append_le(directory, 0, 2);
        append_le(directory, 0, 4);
        append_le(directory, crc, 4);
        append_le(directory, bytes.size(), 4);
        append_le(directory, bytes.size(), 4);
        append_le(directory, name.size(), 2);
        append_le(directory, 0, 2);  // extra
        append_le(directory, 0, 2);  // comment
        append_le(directory, 0, 2);  // disk
        append_le(directory, 0, 2);  // internal attributes
        append_le(directory, 0, 4);  // external attributes
        append_le(directory, offset, 4);
        directory += name;
    }
    const std::uint64_t directory_offset = archive.size();
    archive += directory;
    append_le(archive, 0x06054b50, 4);
    append_le(archive, 0, 4);  // disk numbers
    append_le(archive, entries.size(), 2);
    append_le(archive, entries.size(), 2);
    append_le(archive, directory.size(), 4);
    append_le(archive, directory_offset, 4);
    append_le(archive, 0, 2);  // comment length
    return archive;
}

// The forward of an unmangled two-child Sequential, in the form that torch.jit.script writes.
const char* const container_code =
    "class Sequential(Module):\n"
    "  __parameters__ = []\n"
    "  __buffers__ = []\n"
    "  training : bool\n"
    "  def forward(self: __torch__.torch.nn.modules.container.Sequential,\n"
    "    input: Tensor) -> Tensor:\n"
    "    _0 = getattr(self, \"0\")\n"
    "    _1 = getattr(self, \"1\")\n"
    "    input0 = (_0).forward(input, )\n"
    "    return (_1).forward(input0, )\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::pair<std::string, std::string>> entries = {
        {"archive/data.pkl", std::string(reinterpret_cast<const char*>(data), size)},
        {"archive/constants.pkl", std::string("\x80\x02).", 4)},
        {"archive/version", "3\n"},
        {"archive/code/__torch__/torch/nn/modules/container.py", container_code},
    };
    // Storages "0" to "3" of 48 bytes each (12 float32 values), enough for a small stack.
    for (int key = 0; key < 4; ++key) entries.emplace_back("archive/data/" + std::to_string(key), std::string(48, '\x3f'));
    const std::string archive = stored_zip(entries);
    const std::string path =
        fuzz::write_input(reinterpret_cast<const std::uint8_t*>(archive.data()), archive.size(), ".pt");
    fuzz::expect_clean_failure([&] { scorekit::read_archive_sequential(path); });
    return 0;
}
