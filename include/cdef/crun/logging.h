/* cdef mirroring src/libcrun/error.h, its logging half. lxcri uses it to set up
   libcrun's messages once per process (libcrun_init_logging with no log: stderr),
   to point them at --log / --log-format, and to set the verbosity --debug asks for.
   The log callback's third parameter changed type between releases: probed
   (LXCRI_OUTPUT_HANDLER_*), as is whether LIBCRUN_VERBOSITY_DEBUG exists. */
#if LXCRI_OUTPUT_HANDLER_INT_VERBOSITY
/* 1.21 (not 1.8.1): the LIBCRUN_VERBOSITY_* level of the message, not a warning flag. */
typedef void (*crun_output_handler) (int errno_, const char *msg, int verbosity, void *arg);
#else
typedef void (*crun_output_handler) (int errno_, const char *msg, bool warning, void *arg);
#endif

int libcrun_set_log_format (const char *format, libcrun_error_t *err);
int libcrun_init_logging (crun_output_handler *output_handler, void **output_handler_arg,
                          const char *id, const char *log, libcrun_error_t *err);
void libcrun_set_verbosity (int verbosity);

#define LIBCRUN_VERBOSITY_ERROR ...
#define LIBCRUN_VERBOSITY_WARNING ...
#if LXCRI_HAS_VERBOSITY_DEBUG
#define LIBCRUN_VERBOSITY_DEBUG ...
#endif
