/* What lxcri._lxc binds of liblxc (lxc/lxccontainer.h, lxc/attach_options.h).
 *
 * Struct layouts are left to the compiler (`...;`): only the members lxcri uses
 * are declared, and a function-pointer member is declared only when lxcri calls it.
 */

/* integer types whose width the compiler knows */
typedef int... uid_t;
typedef int... gid_t;
typedef int... pid_t;

/* lxc/attach_options.h */
typedef enum lxc_attach_env_policy_t {
    LXC_ATTACH_KEEP_ENV,
    LXC_ATTACH_CLEAR_ENV,
    ...
} lxc_attach_env_policy_t;

#define LXC_ATTACH_MOVE_TO_CGROUP ...
#define LXC_ATTACH_DROP_CAPABILITIES ...
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
    char *lsm_label;
    lxc_groups_t groups;
    ...;
} lxc_attach_options_t;

typedef struct lxc_attach_command_t {
    char *program;
    char **argv;
} lxc_attach_command_t;

int lxc_attach_run_command(void *payload);

/* lxc/lxccontainer.h */
struct lxc_container {
    char *error_string;
    int error_num;
    bool daemonize;
    char *config_path;
    bool (*is_defined)(struct lxc_container *c);
    const char *(*state)(struct lxc_container *c);
    bool (*is_running)(struct lxc_container *c);
    bool (*freeze)(struct lxc_container *c);
    bool (*unfreeze)(struct lxc_container *c);
    pid_t (*init_pid)(struct lxc_container *c);
    bool (*load_config)(struct lxc_container *c, const char *alt_file);
    bool (*start)(struct lxc_container *c, int useinit, char *const argv[]);
    bool (*stop)(struct lxc_container *c);
    bool (*want_daemonize)(struct lxc_container *c, bool state);
    bool (*want_close_all_fds)(struct lxc_container *c, bool state);
    char *(*config_file_name)(struct lxc_container *c);
    bool (*set_config_item)(struct lxc_container *c, const char *key, const char *value);
    bool (*destroy)(struct lxc_container *c);
    int (*get_config_item)(struct lxc_container *c, const char *key, char *retv, int inlen);
    int (*attach)(struct lxc_container *c, lxc_attach_exec_t exec_function,
                  void *exec_payload, lxc_attach_options_t *options, pid_t *attached_process);
    int (*get_cgroup_item)(struct lxc_container *c, const char *subsys, char *retv, int inlen);
    ...;
};

struct lxc_container *lxc_container_new(const char *name, const char *configpath);
int lxc_container_put(struct lxc_container *c);
const char *lxc_get_version(void);
bool lxc_config_item_is_supported(const char *key);
bool lxc_has_api_extension(const char *extension);

/* lxcri's own: the version this module was built for, checked at import. */
const char *lxcri_lxc_module_version(void);
