/* cdef mirroring lxc/attach_options.h (with the <sys/types.h> integers it uses).
   lxcri uses it for `exec` in a running LXC container: lxc_attach_options_t says
   how (namespaces, cwd, uid/gid and groups, environment, stdio, no_new_privs) and
   lxc_attach_run_command execs the process's args inside.
   Struct layouts and enums are left to the compiler (`...`): only the members and
   values lxcri uses are declared. */
typedef int... uid_t;
typedef int... gid_t;
typedef int... pid_t;

typedef enum lxc_attach_env_policy_t {
    LXC_ATTACH_CLEAR_ENV,
    ...
} lxc_attach_env_policy_t;

#define LXC_ATTACH_NO_NEW_PRIVS ...
#define LXC_ATTACH_SETGROUPS ...
#define LXC_ATTACH_DEFAULT ...
#define LXC_ATTACH_DETECT_PERSONALITY ...

typedef int (*lxc_attach_exec_t)(void *payload);

typedef struct lxc_groups_t {
    size_t size;
    gid_t *list;
} lxc_groups_t;

typedef struct lxc_attach_options_t {
    int attach_flags;
    int namespaces;
    long personality;
    char *initial_cwd;
    uid_t uid;
    gid_t gid;
    lxc_attach_env_policy_t env_policy;
    char **extra_env_vars;
    char **extra_keep_env;
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    int log_fd;
    lxc_groups_t groups;
    ...;
} lxc_attach_options_t;

typedef struct lxc_attach_command_t {
    char *program;
    char **argv;
} lxc_attach_command_t;

int lxc_attach_run_command(void *payload);
