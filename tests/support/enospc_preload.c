// LD_PRELOAD library for failure tests: a disk that fills up, on chosen MPI ranks only.
//
//   SARSCALE_ENOSPC_PATH   writes to files whose path contains this text are counted (required)
//   SARSCALE_ENOSPC_RANKS  comma-separated ranks (OMPI_COMM_WORLD_RANK) it acts on; unset: all
//   SARSCALE_ENOSPC_AFTER  bytes such writes may place before every further one fails with
//                          ENOSPC (default 0); a write crossing the limit is cut short there,
//                          as a real full disk does
//   SARSCALE_STALL_PATH    instead: the first write to a file whose path contains this text
//                          sleeps for an hour (a job to interrupt)
//
// mpirun itself has no rank and is left alone. Only write, pwrite, pwritev and writev (what HDF5's
// sec2 driver and Open MPI's MPI-IO use) are wrapped; once the limit is reached, statvfs of a
// directory on the counted file's path reports no free block, as a full file system does.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long written = 0;
static int full = 0;  // the limit was reached
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int this_rank_selected(void) {
  const char* rank = getenv("OMPI_COMM_WORLD_RANK");
  if (!rank) return 0;
  const char* ranks = getenv("SARSCALE_ENOSPC_RANKS");
  if (!ranks || !*ranks) return 1;
  char list[256];
  snprintf(list, sizeof list, ",%s,", ranks);
  char mine[32];
  snprintf(mine, sizeof mine, ",%s,", rank);
  return strstr(list, mine) != NULL;
}

static int fd_matches(int fd, const char* env) {
  const char* pattern = getenv(env);
  if (!pattern || !*pattern) return 0;
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = '\0';
  return strstr(target, pattern) != NULL;
}

// How many of `want` bytes a counted write may place: want, fewer, or -1 (ENOSPC).
static ssize_t allowance(int fd, size_t want) {
  if (fd_matches(fd, "SARSCALE_STALL_PATH") && this_rank_selected()) sleep(3600);
  if (!fd_matches(fd, "SARSCALE_ENOSPC_PATH") || !this_rank_selected()) return (ssize_t)want;
  const char* after = getenv("SARSCALE_ENOSPC_AFTER");
  const long long limit = after ? atoll(after) : 0;
  pthread_mutex_lock(&lock);
  long long room = limit - written;
  ssize_t allowed = room <= 0 ? -1 : (ssize_t)(room < (long long)want ? room : (long long)want);
  if (allowed > 0) written += allowed;
  pthread_mutex_unlock(&lock);
  if (allowed < (ssize_t)want) full = 1;
  if (allowed < 0) errno = ENOSPC;
  return allowed;
}

typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*pwritev_fn)(int, const struct iovec*, int, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec*, int);
#define REAL(name, type)                 \
  static type real_##name = NULL;        \
  if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void* buf, size_t n) {
  REAL(write, write_fn);
  const ssize_t allowed = allowance(fd, n);
  if (allowed < 0) return -1;
  return real_write(fd, buf, (size_t)allowed);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  REAL(pwrite, pwrite_fn);
  const ssize_t allowed = allowance(fd, n);
  if (allowed < 0) return -1;
  return real_pwrite(fd, buf, (size_t)allowed, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) { return pwrite(fd, buf, n, offset); }

// Vector writes: the whole request or ENOSPC (a partial vector write is not needed to fill a disk).
static ssize_t vector_allowance(int fd, const struct iovec* iov, int count) {
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  const ssize_t allowed = allowance(fd, total);
  if (allowed >= 0 && (size_t)allowed < total) {
    errno = ENOSPC;
    return -1;
  }
  return allowed;
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
  REAL(pwritev, pwritev_fn);
  if (vector_allowance(fd, iov, count) < 0) return -1;
  return real_pwritev(fd, iov, count, offset);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int count, off_t offset) {
  return pwritev(fd, iov, count, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  REAL(writev, writev_fn);
  if (vector_allowance(fd, iov, count) < 0) return -1;
  return real_writev(fd, iov, count);
}

typedef int (*statvfs_fn)(const char*, struct statvfs*);

int statvfs(const char* path, struct statvfs* buf) {
  REAL(statvfs, statvfs_fn);
  const int rc = real_statvfs(path, buf);
  const char* pattern = getenv("SARSCALE_ENOSPC_PATH");
  if (rc == 0 && full && pattern && this_rank_selected() && strstr(pattern, path)) {
    buf->f_bavail = 0;
    buf->f_bfree = 0;
  }
  return rc;
}

int statvfs64(const char* path, struct statvfs64* buf) {  // the same layout on 64-bit Linux
  return statvfs(path, (struct statvfs*)buf);
}
