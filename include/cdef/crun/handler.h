/* cdef mirroring src/libcrun/custom-handler.h. lxcri uses it to create libcrun's
   registry of custom handlers (run.oci.handler: krun, wasm, ...) once per process;
   every context points at it, as crun's CLI does. */
struct custom_handler_manager_s;

struct custom_handler_manager_s *libcrun_handler_manager_create (libcrun_error_t *err);
