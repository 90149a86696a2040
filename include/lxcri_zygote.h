/* lxcri_zygote.h: the protocol between the library's helper (lxcri/isolation.py, which
   packs the same layout with struct) and the zygote (launcher/zygote.c). Native byte
   order: both ends are processes of one host. */
#ifndef LXCRI_ZYGOTE_H
#define LXCRI_ZYGOTE_H

#include <stdint.h>

#define LXCRI_Z_MAGIC 0x317a786cu /* "lxz1" */
#define LXCRI_Z_MAX_REQUEST (1 << 20)
#define LXCRI_Z_MAX_FDS (1 + 3 + 250) /* the result pipe, stdio, fds kept by --preserve-fds */

/* The strings of a request, in this order. */
enum
{
  LXCRI_Z_STATE_ROOT,
  LXCRI_Z_ID,
  LXCRI_Z_BUNDLE,
  LXCRI_Z_CONSOLE_SOCKET,
  LXCRI_Z_PID_FILE,
  LXCRI_Z_NOTIFY_SOCKET,
  LXCRI_Z_CONFIG,     /* run/create: the config.json to load */
  LXCRI_Z_ARG,        /* exec: the process file; update: the resources JSON */
  LXCRI_Z_CWD,        /* chdir here first */
  LXCRI_Z_LOG,        /* --log */
  LXCRI_Z_LOG_FORMAT, /* --log-format other than text */
  LXCRI_Z_NSTR
};

/* struct lxcri_zreq.flags: the context's booleans, and how to show libcrun's messages */
#define LXCRI_ZF_SYSTEMD_CGROUP 1u
#define LXCRI_ZF_FORCE_NO_CGROUP 2u
#define LXCRI_ZF_DETACH 4u
#define LXCRI_ZF_NO_PIVOT 8u
#define LXCRI_ZF_NO_NEW_KEYRING 16u
#define LXCRI_ZF_NO_SUBREAPER 32u
#define LXCRI_ZF_PASS_THROUGH 64u /* not a context's: libcrun's messages also as they come */

struct lxcri_zreq
{
  uint32_t magic;
  int32_t kind; /* LXCRI_OP_* */
  int32_t flag;
  int32_t verbosity; /* 0: errors only; else what crun --debug shows */
  int32_t preserve_fds;
  int32_t listen_fds;
  uint32_t flags;
  uint32_t len[LXCRI_Z_NSTR]; /* UINT32_MAX: NULL */
};

enum
{
  LXCRI_ZEV_READY = 1,  /* pid: the zygote's */
  LXCRI_ZEV_REAPED = 2, /* a process other than an operation child was reaped */
};

struct lxcri_zevent
{
  int32_t kind;
  int32_t pid;
  int32_t status; /* as waitpid gives it */
};

#endif
