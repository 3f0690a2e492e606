"""Temporary outputs of the merge scripts: their names, their atomic writing, and the removal of
those that a killed merge or tool left.

The names follow the scheme of the C++ tools (lib/core/src/stale_temporaries.cpp), so that either
side removes the other's leftovers: ".BASE.tmp.HOST.PID.XXXXXX" beside the output, where BASE is
the output's file name (cut as temporary_base() cuts it), HOST is the host name with characters
other than letters, digits, '-', '_' and '.' replaced by '_' and cut to 64 characters, PID is the
writer's process id, and XXXXXX is 6 random letters and digits, as mkstemp(3) makes them.
"""
import contextlib
import errno
import os
import random
import socket
import stat
import string
import sys

# The inode of the initial PID namespace (PROC_PID_INIT_INO in the Linux sources since 3.8).
INITIAL_PID_NAMESPACE = 0xEFFFFFFC
SUFFIX_CHARACTERS = string.ascii_letters + string.digits
SUFFIX_LENGTH = 6


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


def host_name():
    """Returns the host name as temporary names carry it, or "" when it cannot be read."""
    try:
        name = socket.gethostname()
    except OSError:
        return ""
    # Byte by byte, as the tools do it, so that each byte of a non-ASCII character becomes '_'.
    plain = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
    return "".join(chr(byte) if byte in plain else "_" for byte in os.fsencode(name))[:64]


def temporary_prefix(name):
    """Returns the prefix of this process's temporary names for the output `name`."""
    return f".{temporary_base(name)}.tmp.{host_name() or 'unknown-host'}.{os.getpid()}."


def create_temporary(directory, name):
    """Creates an empty temporary file for the output `name` in `directory` with mode 0600, as
    mkstemp(3) does, and returns its path. Raises OSError when it cannot be created."""
    prefix = os.path.join(directory, temporary_prefix(name))
    randomness = random.SystemRandom()
    for _ in range(100):
        path = prefix + "".join(randomness.choice(SUFFIX_CHARACTERS) for _ in range(SUFFIX_LENGTH))
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name", prefix)


def pid_identifies_writer():
    """Returns whether process ids in temporary names of this host name refer to this process's PID
    namespace. Only the initial namespace is shared by every process that reports this host name."""
    host = host_name()
    if not host or host == "localhost" or host.startswith("localhost."):
        return False
    try:
        return os.stat("/proc/self/ns/pid").st_ino == INITIAL_PID_NAMESPACE
    except OSError:
        return False


def writer_on_this_host(rest):
    """Returns the process id in `rest`, the part of a temporary name after ".BASE.tmp.", when it
    reads "HOST.PID.XXXXXX" with this host's name, or 0. Host names may contain dots, so the fields
    are split from the right."""
    fields = rest.rsplit(".", 2)
    if len(fields) != 3:
        return 0
    host, pid, suffix = fields
    if len(suffix) != SUFFIX_LENGTH or not all(c in SUFFIX_CHARACTERS for c in suffix):
        return 0
    if not (pid.isascii() and pid.isdigit()) or len(pid) > 10 or host != host_name():
        return 0
    value = int(pid)
    return value if 0 < value <= 0x7FFFFFFF else 0


def process_is_gone(pid):
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_stale_temporaries(directory, name, program):
    """Removes the temporary files of output `name` that a merge or a tool on this host left when it
    was killed (SIGKILL, a node crash): their names carry this host and a process id that no longer
    runs. `program` begins the line logged for each removed file."""
    if not pid_identifies_writer():
        return
    prefix = f".{temporary_base(name)}.tmp."
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if len(entry) <= len(prefix) or not entry.startswith(prefix):
            continue
        pid = writer_on_this_host(entry[len(prefix):])
        path = os.path.join(directory, entry)
        if pid == 0 or not process_is_gone(pid):
            continue
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            os.remove(path)
        except OSError:
            continue  # another process removed it first, or it cannot be removed
        print(f"{program}: removed stale temporary file {path}: "
              f"process {pid} on this host wrote it and no longer runs", file=sys.stderr)


@contextlib.contextmanager
def written_atomically(path, program, display_path=None):
    """Yields a temporary name beside `path` for the caller to write, then renames that file to
    `path`, so that an interrupted merge leaves no half-written output. The file and its directory
    are flushed to the disk around the rename, so that a crash of the node leaves no empty output.
    The temporary file is removed if the block raises. A failure of the file system ends the script
    with one line that starts with `program` (exit status 1) and names `display_path` (default: `path`),
    for a caller that writes into a directory that later takes another name."""
    directory, name = os.path.split(os.path.abspath(path))
    display_path = path if display_path is None else display_path
    if os.path.isdir(path):
        sys.exit(f"{program}: cannot write {display_path}: it is a directory; give a file name")
    remove_stale_temporaries(directory, name, program)
    try:
        temporary = create_temporary(directory, name)
    except OSError as error:
        sys.exit(f"{program}: cannot write {display_path}: {error.strerror}; check that the directory exists and is writable")
    try:
        try:
            yield temporary
            # The temporary name is created 0600, and the output gets the usual mode under the umask.
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(temporary, 0o666 & ~mask)
            with open(temporary, "rb+") as written:
                os.fsync(written.fileno())
            os.replace(temporary, path)
            directory_descriptor = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(directory_descriptor)
            finally:
                os.close(directory_descriptor)
        except OSError as error:
            sys.exit(f"{program}: cannot write {display_path}: {error.strerror}; check free disk space and the directory")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
