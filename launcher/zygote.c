/* zygote.c: lxcri/_zygote.so, the operation server of the library's helper.

   A Python program that uses lxcri.Runtime gets one helper process (lxcri/isolation.py).
   The helper is an interpreter of 14 MiB or more; forking it for every libcrun
   operation cost more than crun's whole run (page tables, copy-on-write faults and
   the exit of a big process, then libcrun's own clone of that copy). So the helper
   starts this small process once, from a sealed memfd copy of launcher/zygote-loader.c
   (which dlopen()s this library and calls lxcri_zygote_main), and hands it every
   operation that changes process state: run, create, exec, start, delete, pause,
   resume, update. The zygote forks a child per operation; the child is
   lxcri_op_child_main (include/lxcri_fork.h): it takes the caller's fds, performs the
   one operation and writes its result record. Every process-wide effect of libcrun
   (signal mask, subreaper, session keyring, cwd, rlimits, logging) dies with that
   child.

   Protocol, over the SEQPACKET socket the helper passes as ctrl_fd:
   - request: struct lxcri_zreq, then the strings it announces (their bytes only, no
     NUL), with SCM_RIGHTS fds: the write end of the request's result pipe, then the
     caller's stdio and preserved fds;
   - on the result pipe the zygote's child writes one struct lxcri_op_result record; a
     child that dies without one gets one written by the zygote (status LXCRI_OP_DIED
     and why);
   - the child closes the caller's fds before it writes its record, so the helper
     answers as soon as it has the record;
   - on ctrl the zygote sends struct lxcri_zevent: one with kind LXCRI_ZEV_READY once it
     is set up (a one-shot zygote too: then it is the only one), and one for every
     process it reaps other than its operation children (LXCRI_ZEV_REAPED: the zygote
     is a child subreaper, so a created container's init is its child once the
     operation child exits). Before this library runs, the loader may send a text
     instead: why it could not be loaded (launcher/zygote-loader.c).
   EOF on ctrl: no more requests; the zygote waits for the operations in flight (a
   foreground run) and exits. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lxcri_shim.h"
#include "lxcri_fork.h"
#include "lxcri_zygote.h"

struct lxcri_pending
{
  pid_t pid;
  int result_fd;
};

static struct lxcri_pending *pending;
static size_t npending, pending_cap;
static struct custom_handler_manager_s *handlers;
static int ctrl = -1, sigfd = -1;
static int oneshot; /* lxcri_zygote_one_shot: the request is performed here, no fork */

static void
send_event (int32_t kind, int32_t pid, int32_t status)
{
  struct lxcri_zevent ev = { kind, pid, status };

  if (ctrl >= 0)
    (void) send (ctrl, &ev, sizeof ev, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void
fail_request (int fd, int err, const char *msg)
{
  lxcri_op_write_result (fd, -1, err, msg, NULL);
}

static void
died (int fd, int status)
{
  char msg[128];

  if (WIFSIGNALED (status))
    snprintf (msg, sizeof msg, "the lxcri operation process died (killed by signal %d)",
              WTERMSIG (status));
  else
    snprintf (msg, sizeof msg, "the lxcri operation process died (exit status %d)",
              WIFEXITED (status) ? WEXITSTATUS (status) : status);
  lxcri_op_write_result (fd, -1, LXCRI_OP_DIED, msg, NULL);
}

static void
reap (void)
{
  for (;;)
    {
      int status;
      size_t i;
      pid_t pid = waitpid (-1, &status, WNOHANG);

      if (pid <= 0)
        return;
      for (i = 0; i < npending && pending[i].pid != pid; i++)
        ;
      if (i == npending)
        {
          send_event (LXCRI_ZEV_REAPED, pid, status);
          continue;
        }
      if (status != 0) /* it always exits 0 once its record is written */
        died (pending[i].result_fd, status);
      close (pending[i].result_fd);
      pending[i] = pending[--npending];
    }
}

/* The strings of a request, NUL-terminated, in out (room for len + LXCRI_Z_NSTR bytes);
   0, or -1 when the lengths do not add up. */
static int
parse (const char *buf, size_t len, struct lxcri_zreq *req, char *out, const char *str[])
{
  size_t at = sizeof *req, i;

  if (len < sizeof *req)
    return -1;
  memcpy (req, buf, sizeof *req);
  if (req->magic != LXCRI_Z_MAGIC)
    return -1;
  for (i = 0; i < LXCRI_Z_NSTR; i++)
    {
      uint32_t n = req->len[i];

      if (n == UINT32_MAX)
        {
          str[i] = NULL;
          continue;
        }
      if (n > len - at)
        return -1;
      memcpy (out, buf + at, n);
      out[n] = '\0';
      str[i] = out;
      out += n + 1;
      at += n;
    }
  return at == len ? 0 : -1;
}

static void __attribute__ ((noreturn))
child (const struct lxcri_zreq *req, const char *str[], const int *fds, int nfds)
{
  libcrun_context_t ctx;
  struct lxcri_op op;
  struct lxcri_op_child how;
  int closing[2];
  int nclose = 0;
  size_t i;

  /* The fds of other requests in flight are not this one's; neither are ctrl and the
     signalfd (close-on-exec only: libcrun forks before it execs). */
  for (i = 0; i < npending; i++)
    close (pending[i].result_fd);
  closing[nclose++] = ctrl;
  closing[nclose++] = sigfd;

  memset (&ctx, 0, sizeof ctx);
  ctx.state_root = str[LXCRI_Z_STATE_ROOT];
  ctx.id = str[LXCRI_Z_ID];
  ctx.bundle = str[LXCRI_Z_BUNDLE];
  ctx.console_socket = str[LXCRI_Z_CONSOLE_SOCKET];
  ctx.pid_file = str[LXCRI_Z_PID_FILE];
  ctx.notify_socket = str[LXCRI_Z_NOTIFY_SOCKET];
  /* libcrun passes the container's READY=1 on with sd_notify(), to $NOTIFY_SOCKET of the
     process it runs in, not to ctx.notify_socket: make that the request's (this child's
     environment is the helper's, whose caller's NOTIFY_SOCKET is not the container's). */
  if (ctx.notify_socket != NULL)
    setenv ("NOTIFY_SOCKET", ctx.notify_socket, 1);
  else
    unsetenv ("NOTIFY_SOCKET");
  ctx.preserve_fds = req->preserve_fds;
  ctx.listen_fds = req->listen_fds;
  ctx.fifo_exec_wait_fd = -1; /* a zeroed struct would mean stdin */
  ctx.systemd_cgroup = (req->flags & LXCRI_ZF_SYSTEMD_CGROUP) != 0;
  ctx.force_no_cgroup = (req->flags & LXCRI_ZF_FORCE_NO_CGROUP) != 0;
  ctx.detach = (req->flags & LXCRI_ZF_DETACH) != 0;
  ctx.no_pivot = (req->flags & LXCRI_ZF_NO_PIVOT) != 0;
  ctx.no_new_keyring = (req->flags & LXCRI_ZF_NO_NEW_KEYRING) != 0;
#if LXCRI_HAS_CONTEXT_NO_SUBREAPER
  ctx.no_subreaper = (req->flags & LXCRI_ZF_NO_SUBREAPER) != 0;
#endif
  ctx.handler_manager = handlers;

  memset (&op, 0, sizeof op);
  op.kind = req->kind;
  op.context = &ctx;
  op.id = str[LXCRI_Z_ID];
  op.arg = str[LXCRI_Z_ARG];
  op.arg_len = op.arg ? req->len[LXCRI_Z_ARG] : 0;
  op.flag = req->flag;
  op.config = str[LXCRI_Z_CONFIG];

  how.cwd = str[LXCRI_Z_CWD];
  how.log = str[LXCRI_Z_LOG];
  how.log_format = str[LXCRI_Z_LOG_FORMAT];
#if LXCRI_HAS_VERBOSITY_DEBUG
  how.verbosity = req->verbosity ? LIBCRUN_VERBOSITY_DEBUG : LIBCRUN_VERBOSITY_ERROR;
#else /* 1.8.1, whose crun --debug sets WARNING */
  how.verbosity = req->verbosity ? LIBCRUN_VERBOSITY_WARNING : LIBCRUN_VERBOSITY_ERROR;
#endif
  how.pass_through = (req->flags & LXCRI_ZF_PASS_THROUGH) != 0;
  lxcri_op_child_main (&op, &how, fds + 1, nfds - 1, closing, nclose, fds[0]);
}

static void
serve_one (char *buf, size_t len, char *strings, const int *fds, int nfds)
{
  struct lxcri_zreq req;
  const char *str[LXCRI_Z_NSTR];
  struct lxcri_pending *grown;
  pid_t pid;
  int i;

  if (nfds < 1)
    return; /* nowhere to answer: the helper never sends this */
  if (nfds < 4 || parse (buf, len, &req, strings, str) < 0)
    {
      fail_request (fds[0], EINVAL, "lxcri zygote: a malformed request");
      goto close_all;
    }
  if (! oneshot && npending == pending_cap)
    {
      grown = realloc (pending, (pending_cap ? pending_cap * 2 : 16) * sizeof *pending);
      if (grown == NULL)
        {
          fail_request (fds[0], ENOMEM, "lxcri zygote: out of memory");
          goto close_all;
        }
      pending = grown;
      pending_cap = pending_cap ? pending_cap * 2 : 16;
    }
  pid = oneshot ? 0 : fork ();
  if (pid == 0)
    child (&req, str, fds, nfds);
  if (pid < 0)
    {
      fail_request (fds[0], errno, "cannot fork the lxcri operation process");
      goto close_all;
    }
  pending[npending].pid = pid;
  pending[npending].result_fd = fds[0];
  npending++;
  for (i = 1; i < nfds; i++)
    close (fds[i]);
  return;

close_all:
  for (i = 0; i < nfds; i++)
    close (fds[i]);
}

/* Receives one request; 0 at EOF, -1 when there was nothing to read, else 1. */
static int
receive (char *buf, char *strings)
{
  union
  {
    char space[CMSG_SPACE (sizeof (int) * LXCRI_Z_MAX_FDS)];
    struct cmsghdr align;
  } control;
  struct iovec iov = { buf, LXCRI_Z_MAX_REQUEST };
  struct msghdr msg;
  struct cmsghdr *c;
  int fds[LXCRI_Z_MAX_FDS];
  int nfds = 0;
  ssize_t n;

  memset (&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.space;
  msg.msg_controllen = sizeof control.space;
  n = recvmsg (ctrl, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0)
    return errno == EAGAIN || errno == EINTR ? -1 : 0;
  for (c = CMSG_FIRSTHDR (&msg); c != NULL; c = CMSG_NXTHDR (&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      {
        int k = (int) ((c->cmsg_len - CMSG_LEN (0)) / sizeof (int));
        if (k > LXCRI_Z_MAX_FDS - nfds)
          k = LXCRI_Z_MAX_FDS - nfds;
        memcpy (fds + nfds, CMSG_DATA (c), (size_t) k * sizeof (int));
        nfds += k;
      }
  if (n == 0 && nfds == 0)
    return 0;
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
    {
      if (nfds > 0)
        fail_request (fds[0], E2BIG, "lxcri zygote: a request too large");
      while (nfds > 0)
        close (fds[--nfds]);
      return 1;
    }
  serve_one (buf, (size_t) n, strings, fds, nfds);
  return 1;
}

/* What the helper's Python does once per process (binding.prepare_process): libcrun's
   logging and handler registry, shared by every child. */
static int
setup_libcrun (void)
{
  libcrun_error_t err = NULL;
  crun_output_handler handler = NULL;
  void *handler_arg = NULL;

  if (libcrun_init_logging (&handler, &handler_arg, NULL, NULL, &err) < 0
      || (handlers = libcrun_handler_manager_create (&err)) == NULL)
    {
      fprintf (stderr, "lxcri zygote: cannot set up libcrun: %s\n",
               err && err->msg ? err->msg : "unknown error");
      return -1;
    }
  return 0;
}

/* One request, performed in this process, which then exits (lxcri_op_child_main): what
   the CLI runs for create, run and exec (lxcri.backends.crun.zygote.OneShot), so that its
   own process, the interpreter, never has to be sealed. Not a subreaper: a created
   container's init goes to the caller's (an engine's conmon or shim). */
static int
one_shot (void)
{
  char *buf = malloc (LXCRI_Z_MAX_REQUEST), *strings = malloc (LXCRI_Z_MAX_REQUEST + LXCRI_Z_NSTR);
  struct pollfd p = { ctrl, POLLIN, 0 };
  struct ucred peer;
  socklen_t peer_len = sizeof peer;
  int r;

  if (buf == NULL || strings == NULL)
    {
      fprintf (stderr, "lxcri zygote: out of memory\n");
      return 1;
    }
  /* It dies with the command that started it (an engine that gives up on a hung create
     kills the command, and `delete --force` kills the creator its record names): the
     operation must not go on unrecorded. The socket's other end was made by the command
     (SO_PEERCRED), so a command already gone shows as another parent. */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0
      || getsockopt (ctrl, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) < 0
      || peer.pid != getppid ())
    return 1;
  if (setup_libcrun () < 0)
    return 1;
  /* Loaded: the command, which may have waited for this before it chose the crun
     backend (lxcri.backends.crun.zygote.early_problem), sends its request. */
  send_event (LXCRI_ZEV_READY, (int32_t) getpid (), 0);
  do
    {
      while (poll (&p, 1, -1) < 0 && errno == EINTR)
        ;
      r = receive (buf, strings);
    }
  while (r < 0);
  return 1; /* a request serve_one took returns only when it was refused */
}

__attribute__ ((visibility ("default"))) int
lxcri_zygote_one_shot (int ctrl_fd)
{
  ctrl = ctrl_fd;
  oneshot = 1;
  return one_shot ();
}

__attribute__ ((visibility ("default"))) int
lxcri_zygote_main (int ctrl_fd)
{
  sigset_t chld;
  char *buf, *strings;
  int open = 1;

  ctrl = ctrl_fd;
  (void) fcntl (ctrl, F_SETFD, FD_CLOEXEC);
  sigemptyset (&chld);
  sigaddset (&chld, SIGCHLD);
  sigprocmask (SIG_BLOCK, &chld, NULL);
  sigfd = signalfd (-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  signal (SIGPIPE, SIG_IGN); /* a caller that went away must not end the zygote */
  buf = malloc (LXCRI_Z_MAX_REQUEST);
  strings = malloc (LXCRI_Z_MAX_REQUEST + LXCRI_Z_NSTR);
  if (sigfd < 0 || buf == NULL || strings == NULL
      || prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
    {
      fprintf (stderr, "lxcri zygote: cannot set up: %s\n", strerror (errno));
      return 1;
    }
  if (setup_libcrun () < 0)
    return 1;
  send_event (LXCRI_ZEV_READY, (int32_t) getpid (), 0);

  while (open || npending > 0)
    {
      struct pollfd p[2] = { { sigfd, POLLIN, 0 }, { open ? ctrl : -1, POLLIN, 0 } };

      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          fprintf (stderr, "lxcri zygote: poll: %s\n", strerror (errno));
          return 1;
        }
      if (p[0].revents)
        {
          struct signalfd_siginfo info;
          while (read (sigfd, &info, sizeof info) > 0)
            ;
          reap ();
        }
      if (open && p[1].revents)
        {
          int r;
          while ((r = receive (buf, strings)) > 0)
            ;
          if (r == 0)
            open = 0;
        }
    }
  return 0;
}
