#include "scorekit/error.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace scorekit {

void check_output_pipe_open() {
    struct stat status {};
    if (fstat(STDOUT_FILENO, &status) != 0 || !(S_ISFIFO(status.st_mode) || S_ISSOCK(status.st_mode))) return;
    // poll(2) reports POLLERR for the writing end of a pipe without readers, and POLLHUP for a
    // socket that the peer shut down.
    struct pollfd output {STDOUT_FILENO, POLLOUT, 0};
    if (poll(&output, 1, 0) == 1 && (output.revents & (POLLERR | POLLHUP)) != 0) throw OutputPipeClosed();
}

namespace {

// Length of the valid UTF-8 sequence that starts at `text[i]`, or 0 when the bytes there are
// not one (stray continuation byte, overlong or truncated sequence).
std::size_t utf8_sequence_length(const std::string& text, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    std::size_t length = 0;
    if (lead >= 0xC2 && lead < 0xE0) length = 2;
    if (lead >= 0xE0 && lead < 0xF0) length = 3;
    if (lead >= 0xF0 && lead <= 0xF4) length = 4;
    if (length == 0 || i + length > text.size()) return 0;
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
    }
    if ((lead == 0xE0 && byte(i + 1) < 0xA0) || (lead == 0xF0 && byte(i + 1) < 0x90) ||
        (lead == 0xF4 && byte(i + 1) >= 0x90)) {
        return 0;
    }
    return length;
}

}  // namespace

std::string quote(const std::string& value) {
    std::string quoted = "\"";
    for (std::size_t i = 0; i < value.size();) {
        const auto byte = static_cast<unsigned char>(value[i]);
        const bool printable_ascii = byte >= 0x20 && byte < 0x7F;
        std::size_t length = printable_ascii ? 1 : 0;
        if (byte >= 0x80) length = utf8_sequence_length(value, i);
        if (length == 0) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\x%02X", byte);
            quoted += escaped;
            ++i;
        } else {
            quoted.append(value, i, length);
            i += length;
        }
    }
    return quoted + "\"";
}

std::string describe(const std::string& what, const std::string& subject, const std::string& reason,
                     const std::string& hint) {
    std::string message = what + " " + quote(subject) + ": " + reason;
    if (!hint.empty()) message += "; " + hint;
    return message;
}

std::string describe_at(const std::string& what, const std::string& where, const std::string& reason,
                        const std::string& hint) {
    std::string message = what + " " + where + ": " + reason;
    if (!hint.empty()) message += "; " + hint;
    return message;
}

std::string format_number(double value) {
    char buffer[32];
    for (int precision = 15; precision <= 17; ++precision) {
        std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
        if (std::strtod(buffer, nullptr) == value) break;
    }
    return buffer;
}

std::string format_short(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.4g", value);
    return buffer;
}

}  // namespace scorekit
