/* cdef mirroring src/libcrun/error.h, its error half (exported libcrun_* only).
   lxcri uses it for what every libcrun call reports on failure: the errno and the
   message of a libcrun_error_t, which crun.py's _check turns into an LxcriError and
   then releases. */
struct libcrun_error_s
{
  int status;
  char *msg;
};
typedef struct libcrun_error_s *libcrun_error_t;

int libcrun_error_release (libcrun_error_t *err);
