/* cdef of lxcri's own include/lxcri_fork.h: one libcrun operation, here (lxcri_op_call) or in a
   forked child that runs no Python (lxcri_op_fork, for the library's helper). */
#define LXCRI_OP_RUN ...
#define LXCRI_OP_CREATE ...
#define LXCRI_OP_EXEC ...
#define LXCRI_OP_START ...
#define LXCRI_OP_DELETE ...
#define LXCRI_OP_PAUSE ...
#define LXCRI_OP_UNPAUSE ...
#define LXCRI_OP_UPDATE ...
#define LXCRI_OP_DIED ...

struct lxcri_op {
  int kind;
  libcrun_context_t *context;
  libcrun_container_t *container;
  const char *id;
  const char *arg;
  size_t arg_len;
  int flag;
};

struct lxcri_op_result {
  int32_t ret;
  int32_t status;
  uint32_t len;
  uint32_t logged;
};

struct lxcri_op_child {
  const char *cwd;
  const char *log;
  const char *log_format;
  int verbosity;
};

int lxcri_op_call (struct lxcri_op *op, libcrun_error_t *err);
pid_t lxcri_op_fork (struct lxcri_op *op, const struct lxcri_op_child *how, const int *fds,
                     int nfds, const int *close_fds, int nclose, int result_fd);
