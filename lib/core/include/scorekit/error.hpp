// Exception types shared by every scorekit tool.
//
// The library reports failures only by throwing; tool mains map the type to an exit status
// (Error -> 1, UsageError -> 2, Interrupted -> 130) and print the message once, prefixed by
// the tool name. Messages follow one grammar:
//   <what failed> "<file, record or value>": <reason>; <what to do>
#pragma once

#include <stdexcept>
#include <string>

namespace scorekit {

// A data or runtime failure: bad input file, numerical failure, I/O error. Exit status 1.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An invalid option value or combination that the option parser could not catch. Exit status 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A long job stopped by SIGINT or SIGTERM after saving what it had. Exit status 130.
class Interrupted : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Standard output is a pipe whose reader has exited (`tool | head`), seen as EPIPE where
// SIGPIPE is ignored. Tools end quietly with status 141, as the default SIGPIPE action would.
class OutputPipeClosed : public Error {
public:
    OutputPipeClosed() : Error("standard output: the reading end of the pipe is closed") {}
};

// Throws OutputPipeClosed if standard output is a pipe or socket that no process reads any
// more. Writers of standard output call it after a failed write.
void check_output_pipe_open();

// Returns `value` in double quotes, with control bytes and bytes that are not valid UTF-8
// written as \xHH, so that a message never sends raw binary to a terminal.
std::string quote(const std::string& value);

// Composes a message in the common grammar. `hint` may be empty.
std::string describe(const std::string& what, const std::string& subject, const std::string& reason,
                     const std::string& hint = "");

// The same grammar when the subject is a position or a count rather than a file, record or
// value: `<what> <where>: <reason>; <hint>` with `where` unquoted ("at step 200", "in 3 of 50
// pairs"), so that a reader never takes it for a file name.
std::string describe_at(const std::string& what, const std::string& where, const std::string& reason,
                        const std::string& hint = "");

// Formats a double so that it reads back to the same value (shortest round-trip form).
std::string format_number(double value);

// Formats a double with 4 significant digits, for log lines.
std::string format_short(double value);

}  // namespace scorekit
