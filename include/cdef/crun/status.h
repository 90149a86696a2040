/* cdef mirroring src/libcrun/status.h. lxcri uses it for `list`: the ids of the
   containers under the state root, as libcrun keeps them. */
struct libcrun_container_list_s
{
  struct libcrun_container_list_s *next;
  char *name;
};
typedef struct libcrun_container_list_s libcrun_container_list_t;

int libcrun_get_containers_list (libcrun_container_list_t **ret, const char *state_root,
                                 libcrun_error_t *err);
void libcrun_free_containers_list (libcrun_container_list_t *list);
