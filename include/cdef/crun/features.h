/* cdef mirroring src/libcrun/container.h, its OCI features document: not in 1.8.1,
   in 1.21 (the fact LXCRI_HAS_CONTAINER_GET_FEATURES). lxcri does not use it yet:
   it builds its own document (crun.py's build_features) from the lib.LXCRI_HAVE_*
   facts of shim.h, which serves every crun release. */
#if LXCRI_HAS_CONTAINER_GET_FEATURES
struct features_info_s;
int libcrun_container_get_features (libcrun_context_t *context, struct features_info_s **info,
                                    libcrun_error_t *err);
#endif
