/* lxcri_lxc_shim.h: the C compiled into lxcri._lxc around liblxc's headers (declared
   for CFFI in include/cdef/lxc/shim.h). Everything here is lxcri's own code. */
#ifndef LXCRI_LXC_SHIM_H
#define LXCRI_LXC_SHIM_H

#include <stdbool.h>
#include <lxc/lxccontainer.h>
#include <lxc/attach_options.h>

#ifndef LXCRI_VERSION
#  error "build_ffi.py passes LXCRI_VERSION"
#endif

static const char *
lxcri_lxc_module_version (void)
{
  return LXCRI_VERSION;
}

#endif
