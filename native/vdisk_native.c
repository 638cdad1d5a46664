/*
 * vdisk's native helper: the Linux file calls Node 20's fs lacks.
 * seekData/seekHole (lseek SEEK_DATA/SEEK_HOLE), punchHole (fallocate
 * PUNCH_HOLE|KEEP_SIZE), zeroRange (fallocate ZERO_RANGE|KEEP_SIZE, also on
 * block devices), allocate (fallocate mode 0), ofdLock (fcntl
 * F_OFD_SETLK, the lock qemu takes), pageOffset (a buffer's address
 * within its page, for O_DIRECT alignment) and cachedBytes (cachestat(2):
 * how much of a file range is in the page cache, Linux 6.5+), startWriteback
 * (sync_file_range WRITE: queue a range's dirty pages for writing, without
 * waiting) and dropCache (posix_fadvise DONTNEED), both in libuv's pool, return promises. The others throw a JS Error whose
 * `code` is the errno name; src/io/native.ts wraps them behind a pure-JS
 * fallback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <node_api.h>

/* cachestat(2)'s number, the same on every architecture (Linux 6.5, include/uapi/asm-generic/unistd.h); older headers lack it. */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

/* cachestat(2) argument and result (Linux include/uapi/linux/mman.h). */
struct vdisk_cachestat_range { uint64_t off; uint64_t len; };
struct vdisk_cachestat { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; };

static napi_value throw_errno(napi_env env, int err, const char *what) {
  const char *name = err == ENXIO ? "ENXIO" : err == EINVAL ? "EINVAL" :
                     err == EOPNOTSUPP ? "EOPNOTSUPP" : err == EAGAIN ? "EAGAIN" :
                     err == EBADF ? "EBADF" : err == EXDEV ? "EXDEV" :
                     err == ENOSPC ? "ENOSPC" : err == EACCES ? "EACCES" :
                     err == ENOSYS ? "ENOSYS" : "EIO";
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name, msg);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, int64_t *out) {
  napi_value argv[6];
  size_t argc = 6;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "EINVAL", "wrong number of arguments");
    return -1;
  }
  for (size_t i = 0; i < want; i++) {
    double d;
    if (napi_get_value_double(env, argv[i], &d) != napi_ok || d < 0 || d > 9007199254740991.0) {
      napi_throw_type_error(env, "EINVAL", "arguments must be non-negative safe integers");
      return -1;
    }
    out[i] = (int64_t)d;
  }
  return 0;
}

static napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

/* seek(fd, offset, whence): the next data (or hole) offset at or after offset; -1 when none (ENXIO). */
static napi_value seek_common(napi_env env, napi_callback_info info, int whence) {
  int64_t a[2];
  if (get_args(env, info, 2, a)) return NULL;
  off_t r = lseek((int)a[0], (off_t)a[1], whence);
  if (r < 0) {
    if (errno == ENXIO) return num(env, -1);
    return throw_errno(env, errno, "lseek");
  }
  return num(env, (double)r);
}

static napi_value seek_data(napi_env env, napi_callback_info info) { return seek_common(env, info, SEEK_DATA); }
static napi_value seek_hole(napi_env env, napi_callback_info info) { return seek_common(env, info, SEEK_HOLE); }

/* punchHole(fd, offset, length): deallocate a range, keeping the file size. */
static napi_value punch_hole(napi_env env, napi_callback_info info) {
  int64_t a[3];
  if (get_args(env, info, 3, a)) return NULL;
  if (fallocate((int)a[0], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)a[1], (off_t)a[2]) < 0)
    return throw_errno(env, errno, "fallocate");
  return num(env, 0);
}

/* zeroRange(fd, offset, length): make a range read as zeros, keeping it allocated and the size unchanged. */
static napi_value zero_range(napi_env env, napi_callback_info info) {
  int64_t a[3];
  if (get_args(env, info, 3, a)) return NULL;
  if (fallocate((int)a[0], FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)a[1], (off_t)a[2]) < 0)
    return throw_errno(env, errno, "fallocate");
  return num(env, 0);
}

/* allocate(fd, offset, length): reserve blocks for a range (fallocate mode 0, may grow the file). */
static napi_value allocate_range(napi_env env, napi_callback_info info) {
  int64_t a[3];
  if (get_args(env, info, 3, a)) return NULL;
  if (fallocate((int)a[0], 0, (off_t)a[1], (off_t)a[2]) < 0) return throw_errno(env, errno, "fallocate");
  return num(env, 0);
}

/* ofdLock(fd, mode): mode 0 unlock, 1 shared, 2 exclusive; non-blocking, throws EAGAIN when held. */
static napi_value ofd_lock(napi_env env, napi_callback_info info) {
  int64_t a[2];
  if (get_args(env, info, 2, a)) return NULL;
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = a[1] == 0 ? F_UNLCK : a[1] == 1 ? F_RDLCK : F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl((int)a[0], F_OFD_SETLK, &fl) < 0) {
    int err = errno == EACCES ? EAGAIN : errno;
    return throw_errno(env, err, "fcntl(F_OFD_SETLK)");
  }
  return num(env, 0);
}

/* pageOffset(view): where a typed array's first byte lies within its memory page (address mod 4096), to align direct-I/O buffers. */
static napi_value page_offset(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = 1;
  bool is_typed = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed) {
    napi_throw_type_error(env, "EINVAL", "pageOffset needs a typed array");
    return NULL;
  }
  void *data = NULL;
  if (napi_get_typedarray_info(env, argv[0], NULL, NULL, &data, NULL, NULL) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "pageOffset: cannot read the array");
    return NULL;
  }
  return num(env, (double)((uintptr_t)data & 4095));
}

/* cachedBytes(fd, offset, length): bytes of the range in the page cache (cachestat(2)); throws ENOSYS before Linux 6.5. */
static napi_value cached_bytes(napi_env env, napi_callback_info info) {
  int64_t a[3];
  if (get_args(env, info, 3, a)) return NULL;
  struct vdisk_cachestat_range range = {(uint64_t)a[1], (uint64_t)a[2]};
  struct vdisk_cachestat cs;
  memset(&cs, 0, sizeof cs);
  if (syscall(__NR_cachestat, (int)a[0], &range, &cs, 0) < 0) return throw_errno(env, errno, "cachestat");
  return num(env, (double)cs.nr_cache * (double)sysconf(_SC_PAGESIZE));
}

/* One page-cache call run in libuv's pool: which call, its range, and the promise it settles. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  bool drop;
  int fd;
  int64_t offset, length;
  int err;
} writeback_job;

static void writeback_execute(napi_env env, void *data) {
  (void)env;
  writeback_job *job = data;
  if (job->drop)
    job->err = posix_fadvise(job->fd, (off_t)job->offset, (off_t)job->length, POSIX_FADV_DONTNEED);
  else
    job->err = sync_file_range(job->fd, (off64_t)job->offset, (off64_t)job->length, SYNC_FILE_RANGE_WRITE) < 0 ? errno : 0;
}

static void writeback_complete(napi_env env, napi_status status, void *data) {
  writeback_job *job = data;
  napi_value result;
  if (status == napi_ok && job->err == 0) {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    napi_value msg;
    napi_create_string_utf8(env, strerror(job->err ? job->err : EIO), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &result);
    napi_reject_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free(job);
}

/* Queues a page-cache call on a range for libuv's pool; returns its promise. */
static napi_value queue_page_cache_call(napi_env env, napi_callback_info info, bool drop) {
  int64_t a[3];
  if (get_args(env, info, 3, a)) return NULL;
  writeback_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, drop ? "dropCache" : "startWriteback");
  job->drop = drop;
  job->fd = (int)a[0];
  job->offset = a[1];
  job->length = a[2];
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, drop ? "vdisk:dropCache" : "vdisk:startWriteback", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, writeback_execute, writeback_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

/*
 * startWriteback(fd, offset, length): a promise that settles once the range's
 * dirty pages are queued for writing to the device (sync_file_range
 * SYNC_FILE_RANGE_WRITE, which does not wait for the device but can block on
 * a busy queue, hence run in libuv's thread pool).
 */
static napi_value start_writeback(napi_env env, napi_callback_info info) { return queue_page_cache_call(env, info, false); }

/* dropCache(fd, offset, length): a promise that settles once the range's clean pages are dropped from the page cache (posix_fadvise POSIX_FADV_DONTNEED, in the pool: on the main thread it took 82 ms of a 1.2 GiB conversion). */
static napi_value drop_cache(napi_env env, napi_callback_info info) { return queue_page_cache_call(env, info, true); }

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"seekData", NULL, seek_data, NULL, NULL, NULL, napi_enumerable, NULL},
    {"seekHole", NULL, seek_hole, NULL, NULL, NULL, napi_enumerable, NULL},
    {"punchHole", NULL, punch_hole, NULL, NULL, NULL, napi_enumerable, NULL},
    {"zeroRange", NULL, zero_range, NULL, NULL, NULL, napi_enumerable, NULL},
    {"allocate", NULL, allocate_range, NULL, NULL, NULL, napi_enumerable, NULL},
    {"ofdLock", NULL, ofd_lock, NULL, NULL, NULL, napi_enumerable, NULL},
    {"pageOffset", NULL, page_offset, NULL, NULL, NULL, napi_enumerable, NULL},
    {"cachedBytes", NULL, cached_bytes, NULL, NULL, NULL, napi_enumerable, NULL},
    {"startWriteback", NULL, start_writeback, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dropCache", NULL, drop_cache, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
