/* The `lxcri` command: a small native launcher, installed by pip as the wheel's script.

   It exists to start the interpreter once, isolated and without site processing:

     <venv>/bin/python3 -I -S <site-packages>/lxcri/_launch.py <this path> ARGS...

   `-I -S` skips site (.pth files, site-packages discovery) and the user environment:
   about 4 ms of every command here. pip cannot give a console script interpreter
   flags (it drops anything after the interpreter in the #! line it writes), hence a
   binary, which pip installs verbatim.

   The fast path needs a self-contained virtual environment, as `make` and a plain
   `python -m venv` + `pip install` make: this file in <venv>/bin, <venv>/pyvenv.cfg
   with the Python version and no system site packages, <venv>/bin/python3, and
   lxcri in <venv>/lib/pythonX.Y/site-packages, and no .pth file there but setuptools'
   distutils-precedence.pth (a .pth may add the paths or run the code an installation
   relies on, which only site processing honours). Anywhere else (a system-wide or user
   install, a venv that sees system packages or has .pth files) it execs `lxcri-python` from its own
   directory: pip's ordinary console script for the same entry point, on the
   interpreter pip chose, with site processing as usual.

   /proc/self/exe, not argv[0], locates the installation: a symlink to this file (e.g.
   /usr/local/bin/lxcri -> /opt/lxcri/bin/lxcri) finds the venv it belongs to. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
path_join (char *out, const char *dir, const char *rest)
{
  int n = snprintf (out, PATH_MAX, "%s/%s", dir, rest);
  return n > 0 && n < PATH_MAX ? 0 : -1;
}

/* From pyvenv.cfg: the Python version as "X.Y" (key `version` or `version_info`), and
   whether the venv sees the system's site packages. */
static int
read_pyvenv_cfg (const char *path, char *version, size_t size, int *system_site)
{
  char line[512];
  FILE *f = fopen (path, "re");

  if (f == NULL)
    return -1;
  version[0] = '\0';
  *system_site = 0;
  while (fgets (line, sizeof line, f))
    {
      char *eq = strchr (line, '='), *key = line, *val, *end;
      int major, minor;

      if (eq == NULL)
        continue;
      *eq = '\0';
      val = eq + 1;
      while (*key == ' ' || *key == '\t')
        key++;
      for (end = eq; end > key && (end[-1] == ' ' || end[-1] == '\t'); end--)
        end[-1] = '\0';
      while (*val == ' ' || *val == '\t')
        val++;
      if ((strcmp (key, "version") == 0 || strcmp (key, "version_info") == 0)
          && sscanf (val, "%d.%d", &major, &minor) == 2 && major == 3 && minor >= 0
          && minor < 1000)
        snprintf (version, size, "%d.%d", major, minor);
      else if (strcmp (key, "include-system-site-packages") == 0)
        *system_site = strncmp (val, "true", 4) == 0;
    }
  fclose (f);
  return version[0] ? 0 : -1;
}

/* Whether the site-packages directory holding `launch` (.../site-packages/lxcri/_launch.py)
   has a .pth file that site processing would act on. */
static int
has_pth_files (const char *launch)
{
  char site[PATH_MAX];
  char *cut;
  struct dirent *de;
  DIR *d;
  int found = 0;

  snprintf (site, sizeof site, "%s", launch);
  cut = strstr (site, "/lxcri/_launch.py");
  if (cut == NULL)
    return 1;
  *cut = '\0';
  d = opendir (site);
  if (d == NULL)
    return 1;
  while ((de = readdir (d)) != NULL)
    {
      size_t n = strlen (de->d_name);
      if (n > 4 && strcmp (de->d_name + n - 4, ".pth") == 0
          && strcmp (de->d_name, "distutils-precedence.pth") != 0)
        {
          found = 1;
          break;
        }
    }
  closedir (d);
  return found;
}

int
main (int argc, char **argv)
{
  static char self[PATH_MAX], dir[PATH_MAX], cfg[PATH_MAX], python[PATH_MAX];
  static char launch[PATH_MAX], fallback[PATH_MAX], rel[PATH_MAX];
  char version[16], **args;
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  char *slash;
  int system_site, i;

  if (n <= 0 || (size_t) n >= sizeof self - 1)
    {
      fprintf (stderr, "lxcri: cannot find where lxcri is installed: /proc/self/exe: %s "
               "(is /proc mounted?)\n", n < 0 ? strerror (errno) : "name too long");
      return 127;
    }
  self[n] = '\0';
  memcpy (dir, self, (size_t) n + 1);
  slash = strrchr (dir, '/');
  if (slash == NULL)
    return 127;
  *slash = '\0';

  args = calloc ((size_t) argc + 5, sizeof *args);
  if (args == NULL)
    return 127;

  if (path_join (cfg, dir, "../pyvenv.cfg") == 0
      && read_pyvenv_cfg (cfg, version, sizeof version, &system_site) == 0 && !system_site
      && path_join (python, dir, "python3") == 0 && access (python, X_OK) == 0
      && snprintf (rel, sizeof rel, "../lib/python%s/site-packages/lxcri/_launch.py", version)
             < (int) sizeof rel
      && path_join (launch, dir, rel) == 0 && access (launch, R_OK) == 0
      && !has_pth_files (launch))
    {
      args[0] = python;
      args[1] = (char *) "-I";
      args[2] = (char *) "-S";
      args[3] = launch;
      args[4] = self;
      for (i = 1; i < argc; i++)
        args[4 + i] = argv[i];
      execv (python, args);
      /* fall through: the slower way may still work */
    }

  if (path_join (fallback, dir, "lxcri-python") == 0)
    {
      args[0] = fallback;
      for (i = 1; i < argc; i++)
        args[i] = argv[i];
      args[argc] = NULL;
      execv (fallback, args);
    }
  fprintf (stderr, "lxcri: cannot start: %s: %s (reinstall lxcri with pip, or run "
           "`python3 -m lxcri`)\n", fallback, strerror (errno));
  return 127;
}
