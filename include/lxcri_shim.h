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
#include <sys/prctl.h>

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
