#include "scorekit/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace scorekit {

std::string describe(const std::string& what, const std::string& subject, const std::string& reason,
                     const std::string& hint) {
    std::string message = what + " \"" + subject + "\": " + reason;
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
