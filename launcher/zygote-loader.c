/* zygote-loader.c: lxcri/lxcri-zygote, the executable of the library's zygote.

   The helper (lxcri/isolation.py) runs it from a sealed memfd copy: a container's
   first process is a fork of the zygote, and /proc/<pid>/exe of it must not lead to
   a file on the host that the container could write (CVE-2019-5736). Run from a memfd,
   $ORIGIN means nothing to the dynamic linker, so this program links no libcrun: it
   dlopen()s lxcri/_zygote.so by the path it is given, which finds libcrun.so.0 beside
   itself, and calls lxcri_zygote_main (launcher/zygote.c).

   argv: lxcri-zygote CTRL_FD EXE_FD LIBRARY [one-shot]. EXE_FD is the memfd it runs
   from, closed here; one-shot: perform one request in this process and exit (the CLI's
   way), instead of serving a helper.

   Where the library does not load (a libcrun.so.0 that is broken, or a library it needs
   that is missing), the reason goes to whoever started it, as one message on CTRL_FD
   (a text, where a zygote that loaded sends a struct lxcri_zevent): the CLI then falls
   back as it does for a missing libcrun, and the helper says why. stderr only where
   that message cannot be sent. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int
number (const char *s)
{
  char *end;
  long v = strtol (s, &end, 10);
  return (*s && ! *end && v >= 0 && v < 1 << 20) ? (int) v : -1;
}

/* Close every fd but stdio and ctrl: the zygote holds nothing of the process that
   started it (a one-shot zygote gets the fds it passes on through ctrl). */
static void
keep_only (int ctrl)
{
  int fd;

  if (ctrl > 3 && syscall (SYS_close_range, 3U, (unsigned int) ctrl - 1, 0U) < 0)
    for (fd = 3; fd < ctrl; fd++)
      close (fd);
  if (syscall (SYS_close_range, (unsigned int) ctrl + 1, ~0U, 0U) < 0)
    for (fd = ctrl + 1; fd < 65536; fd++)
      close (fd);
}

/* Why the library cannot be used, to the starter (see above); exit status 1. */
static int
cannot_load (int ctrl)
{
  char text[1024];
  const char *why = dlerror ();
  int n = snprintf (text, sizeof text, "%s", why ? why : "unknown dlopen error");

  if (n < 0 || send (ctrl, text, strnlen (text, sizeof text - 1), MSG_NOSIGNAL) < 0)
    fprintf (stderr, "lxcri-zygote: %s\n", text);
  return 1;
}

int
main (int argc, char **argv)
{
  int (*entry) (int);
  void *library;
  int ctrl, exe;

  if ((argc != 4 && ! (argc == 5 && strcmp (argv[4], "one-shot") == 0))
      || (ctrl = number (argv[1])) < 0 || (exe = number (argv[2])) < 0)
    {
      fprintf (stderr, "lxcri-zygote: this program is started by lxcri's helper process only\n");
      return 2;
    }
  close (exe);
  keep_only (ctrl);
  library = dlopen (argv[3], RTLD_NOW | RTLD_LOCAL);
  if (library == NULL)
    return cannot_load (ctrl);
  *(void **) &entry = dlsym (library, argc == 5 ? "lxcri_zygote_one_shot" : "lxcri_zygote_main");
  if (entry == NULL)
    return cannot_load (ctrl);
  return entry (ctrl);
}
