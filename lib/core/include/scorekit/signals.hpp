// SIGINT/SIGTERM handling for long jobs and cleanup of temporary output files.
//
// By default a signal removes every registered temporary file and ends the process with the
// usual status (128 + signal), after one line on stderr that names `tool` and reports that
// unfinished outputs were removed. A job that can save its state calls `catch_interrupts()`; the
// signal then only sets a flag that the job polls with `interrupt_requested()`.
#pragma once

#include <string>

namespace scorekit {

void install_signal_handlers(const std::string& tool);
// Replaces the line that a signal ending the process writes (at most 511 bytes, with its newline).
void set_signal_notice(const std::string& line);
void catch_interrupts();
bool interrupt_requested();
int interrupt_signal();

// Interrupted ends a tool with status 130. A job whose callers tell the signals apart by the status
// (SLURM's 143 for SIGTERM, 129 for SIGHUP) calls this first to end with 128 + the signal instead.
void report_signal_in_exit_status();
int interrupted_exit_status();

// Registers a temporary file to unlink if a signal ends the process, or a directory that the run
// created, which is then removed if it is empty once the files are gone. Returns a slot id.
int register_temporary(const std::string& path);
void unregister_temporary(int slot);

}  // namespace scorekit
