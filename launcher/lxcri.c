/* The `lxcri` command: a small native launcher, installed by pip as the wheel's script.

   It exists to start the interpreter once, isolated and without site processing:

     <venv>/bin/python3 -I -S <site-packages>/lxcri/_launch.py <this path> ARGS...

   (or, in place of _launch.py, the byte code of lxcri._boot where it is fresh: see
   boot_byte_code).

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
   /usr/local/bin/lxcri -> /opt/lxcri/bin/lxcri) finds the venv it belongs to.

   Where lxcri's slim byte code is there (see slim_byte_code), the interpreter also gets
   -OO -X no_debug_ranges.

   Before the interpreter starts, create, run and exec also get the kernel ready for
   the cgroup move that libcrun makes ~15 ms later (see warm_cgroup_moves).

   The interpreter runs in UTF-8 mode (-X utf8: lxcri reads and writes UTF-8, as the
   OCI state is) and, unless the caller set LC_ALL, with LC_ALL=C: then it does not
   load the locale's data (the 108 KB LC_CTYPE file of C.UTF-8 and gconv's cache, ~150
   KB of every command's RSS here), which nothing of lxcri's uses. -X lxcri_lc_all tells
   lxcri._boot to take LC_ALL out of the environment again at once, so the processes
   lxcri starts get the caller's environment as it was. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

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

/* Whether lxcri's modules are compiled for -OO (docstrings and asserts left out) as
   well: `make` compiles them so, with -X no_debug_ranges (no column tables), beside the
   ordinary byte code. Such code objects take about a fifth less memory, and a command
   imports 20-30 modules: about 0.2 MiB of a create's peak RSS. Without them (a plain
   pip install) -OO would compile every module from source on every command, so the
   launcher asks for it only when they are there; Python itself still checks each one
   against its source. The typer app, whose help is made of docstrings, runs again
   without -OO (lxcri.__main__.run_typer). */
/* The interpreter's cache tag's digits for version "X.Y": "XY". */
static void
version_digits (const char *version, char *tag, size_t size)
{
  size_t i, j = 0;

  for (i = 0; version[i] != '\0' && j + 1 < size; i++)
    if (version[i] != '.')
      tag[j++] = version[i];
  tag[j] = '\0';
}

static int
slim_byte_code (const char *launch, const char *version)
{
  char probe[PATH_MAX], tag[16];
  const char *slash = strrchr (launch, '/');

  version_digits (version, tag, sizeof tag);
  if (slash == NULL
      || snprintf (probe, sizeof probe, "%.*s/__pycache__/__main__.cpython-%s.opt-2.pyc",
                   (int) (slash - launch), launch, tag)
             >= (int) sizeof probe)
    return 0;
  return access (probe, R_OK) == 0;
}

/* Where lxcri._boot's byte code can be the interpreter's script instead of _launch.py
   (which it then runs itself; see the end of lxcri/_boot.py), its path in `out`: 1, else 0.
   A script given as source is compiled on every start, and _launch.py's imports of
   lxcri and lxcri._boot go through the path finder of site-packages (a listing of a
   directory of ~100 entries, the stats of the package): about 0.85 M instructions of a
   19.8 M `lxcri list` here, by callgrind. CPython runs a .pyc script as it is, checking
   only its magic number, so the checks Python makes of a cached pyc are made here:
   timestamp-based (PEP 552 flags 0), made from _boot.py as it is now (mtime and size,
   as importlib compares them), and for this interpreter: the tag of the venv's version
   in its name, and the interpreter, resolved, is python<that version> (a venv whose
   python3 now leads to another Python, whose magic number would differ, takes the
   script). Anything else takes _launch.py, which costs only the time. */
static int
boot_byte_code (const char *launch, const char *python, const char *version, int slim,
                char *out)
{
  char source[PATH_MAX], resolved[PATH_MAX], tag[16], name[32];
  const char *slash = strrchr (launch, '/'), *base;
  unsigned char head[16];
  struct stat st;
  uint32_t flags, mtime, size;
  ssize_t got;
  int fd, n;

  if (slash == NULL || realpath (python, resolved) == NULL)
    return 0;
  base = strrchr (resolved, '/');
  snprintf (name, sizeof name, "python%s", version);
  if (base == NULL || strcmp (base + 1, name) != 0)
    return 0;
  version_digits (version, tag, sizeof tag);
  n = snprintf (source, sizeof source, "%.*s/_boot.py", (int) (slash - launch), launch);
  if (n < 0 || n >= (int) sizeof source)
    return 0;
  n = snprintf (out, PATH_MAX, "%.*s/__pycache__/_boot.cpython-%s%s.pyc",
                (int) (slash - launch), launch, tag, slim ? ".opt-2" : "");
  if (n < 0 || n >= PATH_MAX || stat (source, &st) != 0)
    return 0;
  fd = open (out, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  got = read (fd, head, sizeof head);
  close (fd);
  if (got != (ssize_t) sizeof head)
    return 0;
  flags = (uint32_t) head[4] | (uint32_t) head[5] << 8 | (uint32_t) head[6] << 16
          | (uint32_t) head[7] << 24;
  mtime = (uint32_t) head[8] | (uint32_t) head[9] << 8 | (uint32_t) head[10] << 16
          | (uint32_t) head[11] << 24;
  size = (uint32_t) head[12] | (uint32_t) head[13] << 8 | (uint32_t) head[14] << 16
         | (uint32_t) head[15] << 24;
  return flags == 0 && mtime == (uint32_t) st.st_mtime && size == (uint32_t) st.st_size;
}

/* The command word of argv: the first argument that is not a global option or the
   value of one (the global options of lxcri.cli.grammar that take a value). NULL when
   there is none. A wrong guess costs only a wasted or a missed warm-up. */
static const char *
command_word (int argc, char **argv)
{
  static const char *const with_value[]
      = { "--root", "--log", "--log-format", "--log-level", "--cgroup-manager", "--rootless" };
  int i = 1;

  while (i < argc)
    {
      const char *arg = argv[i];
      size_t k;
      int takes = 0;

      if (arg[0] != '-')
        return arg;
      if (strcmp (arg, "--") == 0)
        return i + 1 < argc ? argv[i + 1] : NULL;
      for (k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
        takes |= strcmp (arg, with_value[k]) == 0;
      i += takes ? 2 : 1;
    }
  return NULL;
}

/* The cgroup.procs file of this process's cgroup on a cgroup v1 hierarchy, from
   /proc/self/cgroup ("N:controllers:/path", N > 0); -1 when there is no v1 hierarchy
   (a pure cgroup v2 host, where libcrun clones straight into the container's cgroup
   and moves nothing) or its file cannot be opened for writing. */
static int
open_v1_procs (void)
{
  char line[PATH_MAX], path[PATH_MAX];
  FILE *f = fopen ("/proc/self/cgroup", "re");
  int fd = -1;

  if (f == NULL)
    return -1;
  while (fd < 0 && fgets (line, sizeof line, f))
    {
      char *ctrl = strchr (line, ':'), *where, *nl;

      if (ctrl == NULL || strncmp (line, "0:", 2) == 0)
        continue;
      ctrl++;
      where = strchr (ctrl, ':');
      if (where == NULL || where == ctrl)
        continue;
      *where++ = '\0';
      if ((nl = strchr (where, '\n')) != NULL)
        *nl = '\0';
      if (strncmp (ctrl, "name=", 5) == 0)
        ctrl += 5;
      if (snprintf (path, sizeof path, "/sys/fs/cgroup/%s%s/cgroup.procs", ctrl,
                    strcmp (where, "/") == 0 ? "" : where)
          < (int) sizeof path)
        fd = open (path, O_WRONLY | O_CLOEXEC);
    }
  fclose (f);
  return fd;
}

/* How long, at most, the warm-up child keeps the kernel ready: a create or exec gets
   to its cgroup move well within this, also on a loaded machine. */
#define WARM_MS 150
#define WARM_STEP_MS 4

/* On a host with cgroup v1 hierarchies, libcrun moves the container's process into its
   cgroups by writing cgroup.procs. The kernel's first such move after a quiet spell
   waits for an RCU grace period (cgroup_threadgroup_rwsem, a percpu rwsem, has to
   switch its readers to the slow path): measured here, 10-16 ms of a 25 ms create.
   Moves that follow within a grace period do not wait. So for the commands that move a
   process (create, run, exec), a child of this launcher moves itself into the cgroup
   it is already in (no change), once at once, then every few ms: the wait overlaps
   the interpreter's start instead of following it.

   The child holds no fd of the caller (an engine reading the runtime's stderr would
   wait for it), dies with the process it belongs to (PR_SET_PDEATHSIG: the launcher's
   process, which becomes the interpreter; exec keeps it) or after WARM_MS, whichever
   comes first. LXCRI_CGROUP_WARMUP=0 turns it off. Unprivileged callers, hosts without
   v1 hierarchies and failures skip it silently: it only ever saves time.

   Returns the child's pid (0: none), which the interpreter finds in LXCRI_WARMUP_PID
   and ends right before it calls the backend (lxcri.host.warmup): a foreground run
   waits for every child of the process, and the kernel stays ready for a grace period
   after the child's last move. */
static pid_t
warm_cgroup_moves (int argc, char **argv)
{
  const char *word = command_word (argc, argv), *env = getenv ("LXCRI_CGROUP_WARMUP");
  pid_t parent = getpid (), child;
  struct timespec step = { 0, WARM_STEP_MS * 1000000L };
  char pid[24];
  int fd, len, i;

  if (word == NULL || (strcmp (word, "create") != 0 && strcmp (word, "run") != 0
                       && strcmp (word, "exec") != 0))
    return 0;
  if ((env != NULL && strcmp (env, "0") == 0) || geteuid () != 0)
    return 0;
  child = fork ();
  if (child != 0)
    return child > 0 ? child : 0; /* the parent goes on at once; a failed fork only costs the warm-up */

  if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != parent)
    _exit (0);
#ifdef SYS_close_range
  if (syscall (SYS_close_range, 0U, ~0U, 0U) != 0)
#endif
    for (i = 0; i < 1024; i++)
      close (i);
  fd = open_v1_procs ();
  if (fd < 0)
    _exit (0);
  len = snprintf (pid, sizeof pid, "%d", (int) getpid ());
  for (i = 0; i <= WARM_MS / WARM_STEP_MS && getppid () == parent; i++)
    {
      if (write (fd, pid, (size_t) len) != len)
        break;
      nanosleep (&step, NULL);
    }
  _exit (0);
}

int
main (int argc, char **argv)
{
  static char self[PATH_MAX], dir[PATH_MAX], cfg[PATH_MAX], python[PATH_MAX];
  static char launch[PATH_MAX], fallback[PATH_MAX], rel[PATH_MAX], boot[PATH_MAX];
  char version[16], warm_pid[24], **args;
  pid_t warm;
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

  args = calloc ((size_t) argc + 12, sizeof *args);
  if (args == NULL)
    return 127;
  unsetenv ("LXCRI_WARMUP_PID"); /* only ever this launcher's own child */

  if (path_join (cfg, dir, "../pyvenv.cfg") == 0
      && read_pyvenv_cfg (cfg, version, sizeof version, &system_site) == 0 && !system_site
      && path_join (python, dir, "python3") == 0 && access (python, X_OK) == 0
      && snprintf (rel, sizeof rel, "../lib/python%s/site-packages/lxcri/_launch.py", version)
             < (int) sizeof rel
      && path_join (launch, dir, rel) == 0 && access (launch, R_OK) == 0
      && !has_pth_files (launch))
    {
      int k = 0, slim, set_lc_all = getenv ("LC_ALL") == NULL;

      args[k++] = python;
      args[k++] = (char *) "-I";
      args[k++] = (char *) "-S";
      args[k++] = (char *) "-X";
      args[k++] = (char *) "utf8";
      if (set_lc_all && setenv ("LC_ALL", "C", 1) == 0)
        {
          args[k++] = (char *) "-X";
          args[k++] = (char *) "lxcri_lc_all";
        }
      else
        set_lc_all = 0;
      slim = slim_byte_code (launch, version);
      if (slim)
        {
          args[k++] = (char *) "-OO";
          args[k++] = (char *) "-X";
          args[k++] = (char *) "no_debug_ranges";
        }
      args[k++] = boot_byte_code (launch, python, version, slim, boot) ? boot : launch;
      args[k++] = self;
      for (i = 1; i < argc; i++)
        args[k++] = argv[i];
      warm = warm_cgroup_moves (argc, argv);
      if (warm > 0)
        {
          snprintf (warm_pid, sizeof warm_pid, "%d", (int) warm);
          setenv ("LXCRI_WARMUP_PID", warm_pid, 1);
        }
      execv (python, args);
      /* fall through: the slower way may still work, without the warm-up */
      if (set_lc_all)
        unsetenv ("LC_ALL");
      if (warm > 0)
        {
          unsetenv ("LXCRI_WARMUP_PID");
          kill (warm, SIGKILL);
          waitpid (warm, NULL, 0);
        }
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
