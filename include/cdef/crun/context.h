/* cdef mirroring src/libcrun/container.h, its libcrun_context_t: what crun's CLI
   options become. lxcri uses it to say how to run each operation, one context per
   call (crun.py's CrunBackend._context).
   Only the fields lxcri sets are declared, and the struct ends in "...;": CFFI checks
   them against the real header at build time, and fields crun adds do not matter.
   A field that went between releases is under `#if FACT`, a fact build_crun.py
   probes in the tree (its PROBES); the module has each as a bool, lib.FACT. */
struct libcrun_context_s
{
  const char *state_root;
  const char *id;
  const char *bundle;
  const char *console_socket;
  const char *pid_file;
  const char *notify_socket;
  int preserve_fds;
  int listen_fds;
  crun_output_handler output_handler;
  void *output_handler_arg;
  int fifo_exec_wait_fd;
  bool systemd_cgroup;
  bool detach;
#if LXCRI_HAS_CONTEXT_NO_SUBREAPER
  bool no_subreaper; /* in 1.8.1, not in 1.21; libcrun never read it */
#endif
  bool no_new_keyring;
  bool force_no_cgroup;
  bool no_pivot;
  struct custom_handler_manager_s *handler_manager;
  ...;
};
typedef struct libcrun_context_s libcrun_context_t;
