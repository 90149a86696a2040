/* lxcri_shim.h: small C helpers compiled into lxcri._crun (FILE*-based libcrun calls,
   build facts, prctl, the in-place seal of lxcri_seal.h). Everything here is lxcri's
   own code. */
#ifndef LXCRI_SHIM_H
#define LXCRI_SHIM_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <libcrun/container.h>
#include <libcrun/status.h>
#include <libcrun/error.h>
#include <libcrun/custom-handler.h>

#include "lxcri_seal.h"

#ifdef HAVE_SECCOMP /* from config.h, through the libcrun headers */
#  include <seccomp.h>
#endif

#ifndef LXCRI_VERSION
#  error "build_ffi.py passes LXCRI_VERSION"
#endif

#ifdef HAVE_SYSTEMD
#  define LXCRI_HAVE_SYSTEMD 1
#else
#  define LXCRI_HAVE_SYSTEMD 0
#endif
#ifdef HAVE_CAP
#  define LXCRI_HAVE_CAP 1
#else
#  define LXCRI_HAVE_CAP 0
#endif
#ifdef HAVE_SECCOMP
#  define LXCRI_HAVE_SECCOMP 1
#else
#  define LXCRI_HAVE_SECCOMP 0
#endif
#ifdef HAVE_EBPF
#  define LXCRI_HAVE_EBPF 1
#else
#  define LXCRI_HAVE_EBPF 0
#endif
#ifdef HAVE_YAJL
#  define LXCRI_HAVE_YAJL 1
#else
#  define LXCRI_HAVE_YAJL 0
#endif
#ifdef HAVE_CRIU
#  define LXCRI_HAVE_CRIU 1
#else
#  define LXCRI_HAVE_CRIU 0
#endif

static const char *
lxcri_module_version (void)
{
  return LXCRI_VERSION;
}

static const char *
lxcri_libcrun_version (void)
{
  return PACKAGE_VERSION;
}

/* libcrun writes state and spec documents to a FILE*; hand them to Python as a
   malloc'ed string (freed with lxcri_free). */
static int
lxcri_container_state_json (libcrun_context_t *context, const char *id, char **out,
                            libcrun_error_t *err)
{
  size_t len = 0;
  FILE *stream;
  int ret;

  *out = NULL;
  stream = open_memstream (out, &len);
  if (stream == NULL)
    return libcrun_make_error (err, errno, "open_memstream");
  ret = libcrun_container_state (context, id, stream, err);
  fclose (stream);
  return ret;
}

static int
lxcri_spec_json (bool rootless, char **out, libcrun_error_t *err)
{
  size_t len = 0;
  FILE *stream;
  int ret;

  *out = NULL;
  stream = open_memstream (out, &len);
  if (stream == NULL)
    return libcrun_make_error (err, errno, "open_memstream");
  ret = libcrun_container_spec (! rootless, stream, err);
  fclose (stream);
  return ret;
}

static void
lxcri_free (void *ptr)
{
  free (ptr);
}

static int
lxcri_set_child_subreaper (int on)
{
  return prctl (PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0);
}

/* libcrun's run/create block every signal and leave them blocked: callers save the
   mask before and restore it after (done here so Python need not import `signal`). */
static int
lxcri_sigmask_save (sigset_t *out)
{
  return pthread_sigmask (SIG_BLOCK, NULL, out);
}

static int
lxcri_sigmask_restore (const sigset_t *mask)
{
  return pthread_sigmask (SIG_SETMASK, mask, NULL);
}

/* Around one libcrun call (lxcri_call_begin ... lxcri_call_end), two things libcrun
   leaves to the calling process are taken back.

   Its messages. libcrun writes every error-level message to the C `stderr` stream
   (1.8.1: its default handler, or beside --log; 1.21: its default handler, or beside
   any other one), but some failures only go there: a failing prestart or
   createRuntime hook is logged ("error executing hook ...") and the call returns -1
   with no error. For the call's length `stderr` is a stream that keeps what this
   process writes (the last LXCRI_CAPTURE_SIZE bytes); with pass_through it also goes
   on to fd 2 at once (--debug). What a forked child (the container's init before it
   execs, a hook before it execs) writes still goes to fd 2 as before.

   Its rlimits. libcrun applies the container's process.rlimits to the caller itself
   before it clones the container's init ("before we enter a user namespace"), and
   never undoes them: with RLIMIT_NOFILE 0 the caller cannot open a file afterwards.
   Every limit is saved before and set back after. */
#define LXCRI_CAPTURE_SIZE 8192

static char lxcri_capture_buf[LXCRI_CAPTURE_SIZE + 1];
static size_t lxcri_capture_len;
static int lxcri_capture_pass;
static pid_t lxcri_capture_pid;
static FILE *lxcri_capture_stream;
static FILE *lxcri_capture_saved;
static int lxcri_call_depth;
static struct rlimit lxcri_saved_limits[RLIM_NLIMITS];
static int lxcri_saved_have[RLIM_NLIMITS];

static void
lxcri_write_fd2 (const char *buf, size_t size)
{
  while (size > 0)
    {
      ssize_t n = write (2, buf, size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      buf += n;
      size -= (size_t) n;
    }
}

static ssize_t
lxcri_capture_write (void *cookie, const char *buf, size_t size)
{
  (void) cookie;
  if (getpid () != lxcri_capture_pid)
    {
      lxcri_write_fd2 (buf, size);
      return (ssize_t) size;
    }
  if (lxcri_capture_pass)
    lxcri_write_fd2 (buf, size);
  if (size >= LXCRI_CAPTURE_SIZE)
    {
      memcpy (lxcri_capture_buf, buf + size - LXCRI_CAPTURE_SIZE, LXCRI_CAPTURE_SIZE);
      lxcri_capture_len = LXCRI_CAPTURE_SIZE;
    }
  else
    {
      if (lxcri_capture_len + size > LXCRI_CAPTURE_SIZE)
        {
          size_t drop = lxcri_capture_len + size - LXCRI_CAPTURE_SIZE;
          memmove (lxcri_capture_buf, lxcri_capture_buf + drop, lxcri_capture_len - drop);
          lxcri_capture_len -= drop;
        }
      memcpy (lxcri_capture_buf + lxcri_capture_len, buf, size);
      lxcri_capture_len += size;
    }
  return (ssize_t) size;
}

/* 0, or -errno when the capture stream cannot be made (the rlimits are saved anyway). */
static int
lxcri_call_begin (int pass_through)
{
  cookie_io_functions_t io = { NULL, lxcri_capture_write, NULL, NULL };
  int resource;

  if (lxcri_call_depth++ > 0)
    return 0; /* nested: the outer call saves, captures and restores */
  for (resource = 0; resource < RLIM_NLIMITS; resource++)
    lxcri_saved_have[resource] = getrlimit (resource, &lxcri_saved_limits[resource]) == 0;
  lxcri_capture_len = 0;
  lxcri_capture_pass = pass_through;
  lxcri_capture_pid = getpid ();
  lxcri_capture_stream = fopencookie (NULL, "w", io);
  if (lxcri_capture_stream == NULL)
    return -errno;
  setvbuf (lxcri_capture_stream, NULL, _IONBF, 0);
  lxcri_capture_saved = stderr;
  stderr = lxcri_capture_stream;
  return 0;
}

/* Ends what lxcri_call_begin began. Returns what libcrun wrote (NUL-terminated, valid
   until the next lxcri_call_begin); *limits_failed: how many rlimits could not be set
   back (a lowered hard limit needs CAP_SYS_RESOURCE to raise again). */
static const char *
lxcri_call_end (int *limits_failed)
{
  int resource, failed = 0;

  *limits_failed = 0;
  if (lxcri_call_depth > 1)
    {
      lxcri_call_depth--;
      lxcri_capture_buf[lxcri_capture_len] = '\0';
      return lxcri_capture_buf;
    }
  lxcri_call_depth = 0;
  for (resource = 0; resource < RLIM_NLIMITS; resource++)
    {
      struct rlimit now;
      if (! lxcri_saved_have[resource] || getrlimit (resource, &now) < 0)
        continue;
      if (now.rlim_cur == lxcri_saved_limits[resource].rlim_cur
          && now.rlim_max == lxcri_saved_limits[resource].rlim_max)
        continue;
      if (setrlimit (resource, &lxcri_saved_limits[resource]) == 0)
        continue;
      /* A lowered hard limit stays without CAP_SYS_RESOURCE: get the soft one as close
         to what it was as the hard one allows. */
      if (lxcri_saved_limits[resource].rlim_cur > now.rlim_cur)
        {
          struct rlimit soft = now;
          soft.rlim_cur = lxcri_saved_limits[resource].rlim_cur < now.rlim_max
                            ? lxcri_saved_limits[resource].rlim_cur : now.rlim_max;
          (void) setrlimit (resource, &soft);
        }
      failed++;
    }
  *limits_failed = failed;
  if (lxcri_capture_stream != NULL)
    {
      stderr = lxcri_capture_saved;
      fclose (lxcri_capture_stream);
      lxcri_capture_stream = NULL;
    }
  lxcri_capture_buf[lxcri_capture_len] = '\0';
  return lxcri_capture_buf;
}

/* What libcrun would only notice inside the container's process (so the failure
   would look like the program's own exit status): checked right after loading. */
static const char *
lxcri_container_problem (libcrun_container_t *container)
{
  runtime_spec_schema_config_schema *def = container->container_def;

  if (def == NULL)
    return "the configuration is empty";
  if (def->process == NULL)
    return "process: missing; a container needs a process to run";
  if (def->process->args == NULL || def->process->args_len == 0 || def->process->args[0] == NULL
      || def->process->args[0][0] == '\0')
    return "process.args: missing or empty; it must be an array naming the program to run";
  return NULL;
}

#ifndef CLONE_NEWTIME
#  define LXCRI_HAVE_TIME_NS 0
#else
#  define LXCRI_HAVE_TIME_NS 1
#endif

/* Build facts for the OCI features document. */
static const char *
lxcri_mount_options (void)
{
  return LXCRI_MOUNT_OPTIONS;
}

static const char *
lxcri_seccomp_version (void)
{
#ifdef HAVE_SECCOMP
  static char buf[32];
  const struct scmp_version *v = seccomp_version ();
  if (v == NULL)
    return "";
  snprintf (buf, sizeof (buf), "%u.%u.%u", v->major, v->minor, v->micro);
  return buf;
#else
  return "";
#endif
}

#endif
