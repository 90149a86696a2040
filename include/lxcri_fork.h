/* lxcri_fork.h: one libcrun operation, in this process or in a forked child.

   lxcri_op_call() performs the operation described by a struct lxcri_op here and now;
   the CLI uses it directly (a short-lived process can live with what libcrun changes).

   lxcri_op_child_main() is the body of a child forked for one operation by lxcri's
   zygote (launcher/zygote.c), the small C process the library's helper hands its
   crun operations to. The child puts the caller's fds on 0, 1, 2, ... (closing the
   fds of other requests in flight), resets what its parent set up that a container
   must not inherit, sets up libcrun's logging, performs the operation and writes one
   struct lxcri_op_result (plus the error text) to result_fd, having closed the
   caller's fds first, then _exit()s. The
   record is written with one write() of at most PIPE_BUF bytes, so a reader sees all
   of it or none. */
#ifndef LXCRI_FORK_H
#define LXCRI_FORK_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libcrun/container.h>
#include <libcrun/error.h>

enum
{
  LXCRI_OP_RUN = 1,
  LXCRI_OP_CREATE = 2,
  LXCRI_OP_EXEC = 3,
  LXCRI_OP_START = 4,
  LXCRI_OP_DELETE = 5,
  LXCRI_OP_PAUSE = 6,
  LXCRI_OP_UNPAUSE = 7,
  LXCRI_OP_UPDATE = 8,
};

struct lxcri_op
{
  int kind;
  libcrun_context_t *context;
  libcrun_container_t *container; /* run, create */
  const char *id;                 /* the others */
  const char *arg;                /* exec: the process file; update: the resources JSON */
  size_t arg_len;                 /* update */
  int flag;                       /* run/create: libcrun's options; delete: force */
  const char *config;             /* run/create without a container: load this file first */
};

struct lxcri_op_result
{
  int32_t ret;
  int32_t status;   /* the error's errno, or LXCRI_OP_DIED */
  uint32_t len;     /* bytes of the error's message after the record */
  uint32_t logged;  /* then bytes of what libcrun wrote to stderr (its tail) */
};

/* status of a result written for a child that died without writing one */
#define LXCRI_OP_DIED (-1)
/* ret of a run or create whose config.json did not load, or that lxcri refuses (the
   message then does not name the file: the caller knows it) */
#define LXCRI_OP_BAD_CONFIG (-2)
#define LXCRI_OP_MSG_MAX 1024
#define LXCRI_OP_LOGGED_MAX (PIPE_BUF - (int) sizeof (struct lxcri_op_result) - LXCRI_OP_MSG_MAX)

static int lxcri_op_dispatch (struct lxcri_op *op, libcrun_error_t *err);

static void
lxcri_op_on_sigpipe (int sig)
{
  (void) sig;
}

/* Performs the operation with a SIGPIPE handler that does nothing: a write libcrun
   makes to a pipe nobody reads any more (a hook that exited without reading the state
   on its stdin) fails with EPIPE instead of killing this process, and, unlike an
   ignored SIGPIPE, a handler is not handed on through exec to the hooks. */
static int
lxcri_op_call (struct lxcri_op *op, libcrun_error_t *err)
{
  struct sigaction quiet, before;
  int ret, saved;

  memset (&quiet, 0, sizeof quiet);
  quiet.sa_handler = lxcri_op_on_sigpipe;
  quiet.sa_flags = SA_RESTART;
  sigemptyset (&quiet.sa_mask);
  if (sigaction (SIGPIPE, &quiet, &before) < 0)
    return lxcri_op_dispatch (op, err);
  ret = lxcri_op_dispatch (op, err);
  saved = errno;
  sigaction (SIGPIPE, &before, NULL);
  errno = saved;
  return ret;
}

static int
lxcri_op_dispatch (struct lxcri_op *op, libcrun_error_t *err)
{
  if ((op->kind == LXCRI_OP_RUN || op->kind == LXCRI_OP_CREATE) && op->container == NULL)
    {
      const char *problem;

      if (op->config == NULL)
        return libcrun_make_error (err, EINVAL, "no container configuration to run");
      op->container = libcrun_container_load_from_file (op->config, err);
      if (op->container == NULL)
        return LXCRI_OP_BAD_CONFIG;
      problem = lxcri_container_problem (op->container);
      if (problem != NULL)
        {
          libcrun_make_error (err, 0, "%s", problem);
          return LXCRI_OP_BAD_CONFIG;
        }
    }
  switch (op->kind)
    {
    case LXCRI_OP_RUN:
      return libcrun_container_run (op->context, op->container, (unsigned int) op->flag, err);
    case LXCRI_OP_CREATE:
      return libcrun_container_create (op->context, op->container, (unsigned int) op->flag, err);
    case LXCRI_OP_EXEC:
      return libcrun_container_exec_process_file (op->context, op->id, op->arg, err);
    case LXCRI_OP_START:
      return libcrun_container_start (op->context, op->id, err);
    case LXCRI_OP_DELETE:
      return libcrun_container_delete (op->context, NULL, op->id, op->flag != 0, err);
    case LXCRI_OP_PAUSE:
      return libcrun_container_pause (op->context, op->id, err);
    case LXCRI_OP_UNPAUSE:
      return libcrun_container_unpause (op->context, op->id, err);
    case LXCRI_OP_UPDATE:
      return libcrun_container_update (op->context, op->id, op->arg, op->arg_len, err);
    }
  errno = EINVAL;
  return -1;
}

/* Write a whole result record (one write of at most PIPE_BUF: the pipe keeps it atomic).
   logged: what libcrun wrote to stderr meanwhile; its end is kept when it is long. */
static void
lxcri_op_write_result (int fd, int32_t ret, int32_t status, const char *msg, const char *logged)
{
  char buf[PIPE_BUF];
  struct lxcri_op_result res = { ret, status, 0, 0 };
  size_t len = msg ? strlen (msg) : 0, n = logged ? strlen (logged) : 0;

  if (len > (size_t) LXCRI_OP_MSG_MAX)
    len = LXCRI_OP_MSG_MAX;
  if (n > (size_t) LXCRI_OP_LOGGED_MAX)
    {
      logged += n - LXCRI_OP_LOGGED_MAX;
      n = LXCRI_OP_LOGGED_MAX;
    }
  res.len = (uint32_t) len;
  res.logged = (uint32_t) n;
  memcpy (buf, &res, sizeof res);
  if (len)
    memcpy (buf + sizeof res, msg, len);
  if (n)
    memcpy (buf + sizeof res + len, logged, n);
  while (write (fd, buf, sizeof res + len + n) < 0 && errno == EINTR)
    ;
}

struct lxcri_op_child
{
  const char *cwd;        /* chdir here first (run/create: the bundle), or NULL */
  const char *log;        /* --log, or NULL */
  const char *log_format; /* --log-format other than text, or NULL */
  int verbosity;          /* libcrun_set_verbosity */
  int pass_through;       /* libcrun's messages go to the caller's stderr as they come too */
};

/* Let go of the caller's fds before it has the answer: it may expect EOF on them then
   (the container has copies of its own). */
static void __attribute__ ((unused))
lxcri_op_release_fds (int nfds)
{
  int i;

  for (i = 0; i < nfds; i++)
    close (i);
}

/* glibc keeps signals 32 to SIGRTMIN - 1 for itself, and its sigaction() refuses them,
   so libcrun's reset of every disposition before the container's program leaves them
   as inherited. A caller that ignores them (GNU make ignores 32 and 33 for its
   children) would hand that on to the container: set them back to the default here,
   through the system call. Only the handler matters, so the kernel's struct sigaction
   is not spelled out per architecture. */
static void __attribute__ ((unused))
lxcri_op_reset_reserved_signals (void)
{
  struct
  {
    void *handler;
    unsigned long rest[8];
  } old, dfl;
  int sig;

  memset (&dfl, 0, sizeof dfl); /* SIG_DFL, no flags, empty mask */
  for (sig = 32; sig < SIGRTMIN; sig++)
    {
      memset (&old, 0, sizeof old);
      if (syscall (SYS_rt_sigaction, sig, NULL, &old, (size_t) 8) == 0
          && old.handler == (void *) SIG_IGN)
        (void) syscall (SYS_rt_sigaction, sig, &dfl, NULL, (size_t) 8);
    }
}

static void __attribute__ ((noreturn, unused))
lxcri_op_child_main (struct lxcri_op *op, const struct lxcri_op_child *how, const int *fds,
                     int nfds, const int *close_fds, int nclose, int result_fd)
{
  libcrun_error_t err = NULL;
  sigset_t none;
  int moved[256];
  int floor = nfds + 3, i, ret = -1, limits_failed;
  const char *logged;

  /* The zygote reaps through a signalfd and ignores SIGPIPE; libcrun waits for its own
     children, and an ignored SIGPIPE would pass on to the hooks (lxcri_op_call catches
     it while libcrun works). */
  signal (SIGCHLD, SIG_DFL);
  signal (SIGPIPE, SIG_DFL);
  lxcri_op_reset_reserved_signals ();
  for (i = 0; i < nclose; i++)
    close (close_fds[i]);
  /* The received fds may sit on the numbers they must land on: move all of them (and
     the result pipe) above every target first, then put each in place. dup2 leaves
     the targets inheritable, so the container gets exactly these. */
  result_fd = fcntl (result_fd, F_DUPFD_CLOEXEC, floor);
  for (i = 0; i < nfds; i++)
    moved[i] = fcntl (fds[i], F_DUPFD_CLOEXEC, floor);
  for (i = 0; i < nfds; i++)
    close (fds[i]);
  for (i = 0; i < nfds; i++)
    {
      if (moved[i] < 0 || dup2 (moved[i], i) < 0)
        {
          lxcri_op_write_result (result_fd, -1, errno, "cannot pass the caller's fds on", NULL);
          _exit (0);
        }
      close (moved[i]);
    }
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);

  if (how->cwd && chdir (how->cwd) < 0)
    {
      lxcri_op_write_result (result_fd, -1, errno, "cannot change to the bundle directory", NULL);
      _exit (0);
    }
  libcrun_set_verbosity (how->verbosity);
  /* Keep what libcrun writes to stderr (a failing hook is only logged), and where asked
     pass it on to the caller's stderr as it comes (the rlimits it sets die with this
     process). */
  lxcri_call_begin (how->pass_through);
  if (how->log)
    {
      crun_output_handler handler = NULL;
      void *handler_arg = NULL;

      if (libcrun_init_logging (&handler, &handler_arg, NULL, how->log, &err) < 0
          || (how->log_format && libcrun_set_log_format (how->log_format, &err) < 0))
        goto failed;
      op->context->output_handler = handler;
      op->context->output_handler_arg = handler_arg;
    }
  ret = lxcri_op_call (op, &err);
  if (ret >= 0)
    {
      logged = lxcri_call_end (&limits_failed); /* warnings, for the caller to show */
      lxcri_op_release_fds (nfds);
      lxcri_op_write_result (result_fd, ret, 0, NULL, logged);
      _exit (0);
    }
failed:
  logged = lxcri_call_end (&limits_failed);
  lxcri_op_release_fds (nfds);
  lxcri_op_write_result (result_fd, ret, err ? err->status : 0, err ? err->msg : NULL, logged);
  _exit (0);
}

#endif
