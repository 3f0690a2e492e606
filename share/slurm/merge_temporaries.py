"""Temporary output names of the merge scripts, and the removal of those a killed merge left.

The names follow the tools' rule: ".NAME.tmp.HOST.PID.RANDOM" next to the output, so that nodes
sharing a directory never collide and a later run on the same host can tell a dead writer's file.
"""
import contextlib
import os
import socket
import sys


def temporary_base(name):
    """Returns the part of a temporary name that is the output `name`. A name of more than 167 bytes
    is cut to its first 150 bytes, '~' and a 64-bit FNV-1a hash of the whole name, as the tools cut
    theirs. The temporary name then stays within the 255 bytes that file systems allow."""
    encoded = os.fsencode(name)
    if len(encoded) <= 167:
        return name
    cut = 150
    while cut > 0 and encoded[cut] & 0xC0 == 0x80:
        cut -= 1
    value = 0xcbf29ce484222325
    for byte in encoded:
        value = ((value ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return os.fsdecode(encoded[:cut]) + f"~{value:016x}"


def temporary_prefix(name):
    """Returns the prefix of this process's temporary names for the output `name`."""
    return f".{temporary_base(name)}.tmp.{socket.gethostname()}.{os.getpid()}."


def remove_stale_temporaries(directory, name, program):
    """Removes the temporary files of output `name` that a merge on this host left when it was
    killed (SIGKILL, a node crash): their names carry this host and a process id that no longer
    runs. `program` begins the line logged for each removed file."""
    prefix = f".{temporary_base(name)}.tmp.{socket.gethostname()}."
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if not entry.startswith(prefix):
            continue
        pid = entry[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue
        except ProcessLookupError:
            pass
        except OSError:
            continue
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(directory, entry))
            print(f"{program}: removed stale temporary file {os.path.join(directory, entry)}: "
                  f"process {pid} on this host wrote it and no longer runs", file=sys.stderr)
