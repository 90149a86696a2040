/* cdef mirroring src/libcrun/container.h, its container lifecycle (the types it takes
   from <sys/types.h> and libocispec's runtime_spec_schema_config_schema.h opaque).
   lxcri uses it for every OCI operation of the crun backend: load config.json,
   create / start / run, kill, pause / resume, exec, update, ps, delete. */
typedef int... pid_t;
typedef ... runtime_spec_schema_config_schema;

typedef struct libcrun_container_s libcrun_container_t;

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
