/* cdef: what lxcri uses of libcrun's src/libcrun/container.h and custom-handler.h.
   Structs end in "...;": CFFI checks the layout against the real header at build time,
   so fields crun adds in later versions do not break the binding. What differs between
   the crun releases lxcri builds with is under `#if FACT`, a fact build_crun.py probes
   in the tree (its PROBES); the module has each as a bool, lib.FACT. */
typedef int... pid_t;
typedef ... runtime_spec_schema_config_schema;
struct custom_handler_manager_s;

struct libcrun_context_s
{
  const char *state_root;
  const char *id;
  const char *bundle;
  const char *console_socket;
  const char *pid_file;
  const char *notify_socket;
  const char *handler;
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
  char **argv;
  int argc;
  struct custom_handler_manager_s *handler_manager;
  ...;
};
typedef struct libcrun_context_s libcrun_context_t;

typedef struct libcrun_container_s libcrun_container_t;

#define LIBCRUN_RUN_OPTIONS_PREFORK ...

libcrun_container_t *libcrun_container_load_from_file (const char *path, libcrun_error_t *err);
void libcrun_container_free (libcrun_container_t *);
int libcrun_container_run (libcrun_context_t *context, libcrun_container_t *container,
                           unsigned int options, libcrun_error_t *error);
int libcrun_container_create (libcrun_context_t *context, libcrun_container_t *container,
                              unsigned int options, libcrun_error_t *err);
int libcrun_container_start (libcrun_context_t *context, const char *id, libcrun_error_t *err);
int libcrun_container_delete (libcrun_context_t *context, runtime_spec_schema_config_schema *def,
                              const char *id, bool force, libcrun_error_t *err);
int libcrun_container_kill (libcrun_context_t *context, const char *id, const char *signal,
                            libcrun_error_t *err);
int libcrun_container_killall (libcrun_context_t *context, const char *id, const char *signal,
                               libcrun_error_t *err);
int libcrun_container_pause (libcrun_context_t *context, const char *id, libcrun_error_t *err);
int libcrun_container_unpause (libcrun_context_t *context, const char *id, libcrun_error_t *err);
int libcrun_container_exec_process_file (libcrun_context_t *context, const char *id,
                                         const char *path, libcrun_error_t *err);
int libcrun_container_update (libcrun_context_t *context, const char *id, const char *content,
                              size_t len, libcrun_error_t *err);
int libcrun_container_read_pids (libcrun_context_t *context, const char *id, bool recurse,
                                 pid_t **pids, libcrun_error_t *err);

struct custom_handler_manager_s *libcrun_handler_manager_create (libcrun_error_t *err);

#if LXCRI_HAS_CONTAINER_GET_FEATURES
/* Not in 1.8.1, in 1.21: the OCI features document as libcrun builds it (unused so far:
   lxcri builds its own). */
struct features_info_s;
int libcrun_container_get_features (libcrun_context_t *context, struct features_info_s **info,
                                    libcrun_error_t *err);
#endif
