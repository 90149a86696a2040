/* cdef of lxcri's own C helper, implemented in include/lxcri_lxc_shim.h (no upstream
   header): the lxcri version this module was built for, checked at import
   (lxc_liblxc.load_binding). */
const char *lxcri_lxc_module_version(void);
