/* cdef mirroring lxc/lxccontainer.h. lxcri uses it for the liblxc driver's
   operations on a container whose config lxcri wrote: start it in the monitor
   (not daemonized, lxcri's fds kept) and read how it ended, freeze / unfreeze it
   (pause, resume), attach to it (exec); and for liblxc's version (`lxcri info`).
   The struct's layout is left to the compiler (`...;`): a function-pointer member
   is declared only when lxcri calls it. */
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
