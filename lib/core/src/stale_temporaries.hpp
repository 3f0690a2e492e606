// Internal: the names of AtomicFile's temporary files, and the removal of those that a killed
// process left behind.
//
// A temporary file is named ".BASE.tmp.HOST.PID.XXXXXX" beside its target BASE, where HOST is
// the writer's host name, PID its process id and XXXXXX mkstemp's random suffix. A BASE of more
// than 167 bytes is shortened to its first 150 bytes, '~' and a hash of the whole name, so that
// the temporary name stays within the 255 bytes that file systems allow. A process
// killed by SIGKILL, or a node that crashed, leaves that file behind. The name lets a later
// process on the same host tell that the writer is gone.
#pragma once

#include <string>
#include <vector>

namespace scorekit {

// The mkstemp pattern of a temporary file for `base` in `directory` ("" or ending in '/'),
// written by this process on this host.
std::string temporary_file_pattern(const std::string& directory, const std::string& base);

// Removes the temporary files of target `base` in `directory` ("" or ending in '/') that a
// process on this host wrote and that no process owns any more: kill(pid, 0) fails with ESRCH.
// Keeps the files of other hosts, of live processes (also those of other users, for which
// kill fails with EPERM), of other targets, names in another format, and anything that is not
// a regular file. Logs one line per removed file and returns their paths.
//
// Removes nothing when this process runs in a PID namespace other than the host's initial one
// (a container), or when the host name is empty or "localhost". In those cases another PID
// namespace or another machine could use the same host name with its own process ids.
std::vector<std::string> remove_stale_temporaries(const std::string& directory, const std::string& base);

}  // namespace scorekit
