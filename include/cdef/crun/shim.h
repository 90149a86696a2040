/* cdef of lxcri's own C helpers, implemented in include/lxcri_shim.h (no upstream
   header): the module's version, libcrun's build facts (config.h's HAVE_*), the
   libcrun calls that write to a FILE* (state, spec) as malloc'ed strings, the child
   subreaper flag, the signal mask libcrun leaves blocked, and config.json checks
   libcrun would only make inside the container; what libcrun writes to stderr and the
   rlimits it sets on the caller, around each call (lxcri_call_begin/end); the in-place seal of /proc/self/exe
   (include/lxcri_seal.h). */
#define LXCRI_HAVE_SYSTEMD ...
#define LXCRI_HAVE_CAP ...
#define LXCRI_HAVE_SECCOMP ...
#define LXCRI_HAVE_EBPF ...
#define LXCRI_HAVE_YAJL ...
#define LXCRI_HAVE_CRIU ...

const char *lxcri_module_version (void);
const char *lxcri_libcrun_version (void);
int lxcri_container_state_json (libcrun_context_t *context, const char *id, char **out,
                                libcrun_error_t *err);
int lxcri_spec_json (bool rootless, char **out, libcrun_error_t *err);
void lxcri_free (void *ptr);
int lxcri_set_child_subreaper (int on);

typedef struct { ...; } sigset_t;
int lxcri_sigmask_save (sigset_t *out);
int lxcri_sigmask_restore (const sigset_t *mask);

int lxcri_call_begin (int pass_through);
const char *lxcri_call_end (int *limits_failed);

const char *lxcri_container_problem (libcrun_container_t *container);

#define LXCRI_HAVE_TIME_NS ...
const char *lxcri_mount_options (void);
const char *lxcri_seccomp_version (void);

/* 0, or -errno with *what naming the step that failed (a static string). */
int lxcri_seal_exe_in_place (const char **what);
