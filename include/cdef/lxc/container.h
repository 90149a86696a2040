/* cdef mirroring lxc/lxccontainer.h. lxcri uses it for the liblxc driver's
   operations on a container whose config lxcri wrote: start it in the monitor
   (not daemonized, lxcri's fds kept) and read how it ended, freeze / unfreeze it
   (pause, resume), attach to it (exec); and for liblxc's version (`lxcri info`).
   The struct's layout is left to the compiler (`...;`): only the members lxcri
   reads or calls are declared. */
struct lxc_container {
    char *error_string;
    int error_num;
    bool (*freeze)(struct lxc_container *c);
    bool (*unfreeze)(struct lxc_container *c);
    bool (*start)(struct lxc_container *c, int useinit, char *const argv[]);
    bool (*want_daemonize)(struct lxc_container *c, bool state);
    bool (*want_close_all_fds)(struct lxc_container *c, bool state);
    int (*attach)(struct lxc_container *c, lxc_attach_exec_t exec_function,
                  void *exec_payload, lxc_attach_options_t *options, pid_t *attached_process);
    ...;
};

struct lxc_container *lxc_container_new(const char *name, const char *configpath);
int lxc_container_put(struct lxc_container *c);
const char *lxc_get_version(void);
