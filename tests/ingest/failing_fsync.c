/* LD_PRELOAD shim for the fault tests: while the file named by FAILING_FSYNC_FLAG exists,
 * fsync and fdatasync of write-ahead log segments (paths holding "/wal/seg-") fail with the
 * errno in FAILING_FSYNC_ERRNO (default EIO), as a failing disk's would. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failing(int fd) {
    const char *flag = getenv("FAILING_FSYNC_FLAG");
    if (flag == NULL || access(flag, F_OK) != 0) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return 0;
    path[n] = 0;
    if (strstr(path, "/wal/seg-") == NULL) return 0;
    const char *code = getenv("FAILING_FSYNC_ERRNO");
    errno = code ? atoi(code) : EIO;
    return 1;
}

int fsync(int fd) {
    static int (*real)(int);
    if (failing(fd)) return -1;
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (failing(fd)) return -1;
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
