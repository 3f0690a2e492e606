// Internal: finds the compressions other than gzip by their magic bytes. Inputs inflate gzip
// only, so a file of another compression would otherwise read as binary text.
#pragma once

#include <string_view>

namespace scorekit::text {

struct OtherCompression {
    const char* format;   // "xz", "zstd" or "bzip2"
    const char* command;  // the command that decompresses it to standard output
};

// The compression whose magic bytes start `head`, or null for gzip, plain text and the rest.
inline const OtherCompression* other_compression(std::string_view head) {
    static const struct {
        std::string_view magic;
        OtherCompression compression;
    } kMagics[] = {{std::string_view("\xFD" "7zXZ", 5), {"xz", "xz -dc"}},
                   {std::string_view("\x28\xB5\x2F\xFD", 4), {"zstd", "zstd -dc"}},
                   {std::string_view("BZh", 3), {"bzip2", "bzip2 -dc"}}};
    for (const auto& entry : kMagics) {
        if (head.substr(0, entry.magic.size()) == entry.magic) return &entry.compression;
    }
    return nullptr;
}

}  // namespace scorekit::text
