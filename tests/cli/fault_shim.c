/* An LD_PRELOAD library that injects file-system faults into a tool, for the CLI tests. Each
 * fault is off unless its variable is set:
 *   SCOREKIT_SHIM_FLOCK_ERRNO=N      flock(2) fails with errno N, as on a file system without
 *                                    locks (ENOLCK 37, ENOSYS 38, EOPNOTSUPP 95 on Linux).
 *   SCOREKIT_SHIM_KILL_AT_RENAME=S   the process kills itself with SIGKILL at a rename(2) whose
 *                                    new name ends with S, before renaming: a crash mid-commit.
 *   SCOREKIT_SHIM_FAIL_RENAME=S      a rename(2) whose new name ends with S fails with EACCES. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

static int ends_with(const char* text, const char* suffix) {
    size_t text_length = strlen(text), suffix_length = strlen(suffix);
    return suffix_length > 0 && text_length >= suffix_length &&
           strcmp(text + text_length - suffix_length, suffix) == 0;
}

int flock(int fd, int operation) {
    const char* error = getenv("SCOREKIT_SHIM_FLOCK_ERRNO");
    if (error && *error) {
        errno = atoi(error);
        return -1;
    }
    int (*next)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
    return next(fd, operation);
}

int rename(const char* old_path, const char* new_path) {
    const char* kill_at = getenv("SCOREKIT_SHIM_KILL_AT_RENAME");
    if (kill_at && ends_with(new_path, kill_at)) raise(SIGKILL);
    const char* fail_at = getenv("SCOREKIT_SHIM_FAIL_RENAME");
    if (fail_at && ends_with(new_path, fail_at)) {
        errno = EACCES;
        return -1;
    }
    int (*next)(const char*, const char*) = (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "rename");
    return next(old_path, new_path);
}
