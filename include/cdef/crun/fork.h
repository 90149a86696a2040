/* cdef of lxcri's own include/lxcri_fork.h: one libcrun operation, here (lxcri_op_call); the
   zygote (launcher/zygote.c) runs the same in forked children of its own. */
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
  const char *config;
};

struct lxcri_op_result {
  int32_t ret;
  int32_t status;
  uint32_t len;
  uint32_t logged;
};


int lxcri_op_call (struct lxcri_op *op, libcrun_error_t *err);
