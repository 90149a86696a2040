/* lxcri_seal.h: replace this process's executable (/proc/self/exe) in place by a
   sealed memfd copy of it: the CVE-2019-5736 guard without a second interpreter start.

   A container's first process is a copy of the runtime, and /proc/<pid>/exe of it
   leads to the runtime's binary, here the host's Python interpreter. Instead of
   re-executing from a sealed copy (lxcri.sealed.reexec_if_needed), this
   1. copies /proc/self/exe into a memfd and seals it (SEAL|SHRINK|GROW|WRITE);
   2. maps every mapping of the old executable again, from the memfd, at the same
      address, offset and protection (MAP_FIXED|MAP_PRIVATE); a mapping whose
      contents no longer match the file (relocated data, RELRO, .data, the zeroed
      start of .bss) gets its saved contents back;
   3. points the mm's exe_file at the memfd: prctl PR_SET_MM_MAP with exe_fd (needs
      CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), else PR_SET_MM_EXE_FILE (needs
      CAP_SYS_RESOURCE); the kernel allows either only once nothing maps the old file.
   Needs a kernel with CONFIG_CHECKPOINT_RESTORE, and a
   single-threaded process (another thread could run the code being remapped). All
   signals are blocked meanwhile: a handler could touch the executable's data while
   a mapping is being swapped. Returns 0, or -errno with `what` naming the step. */
#ifndef LXCRI_SEAL_H
#define LXCRI_SEAL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#ifndef MFD_CLOEXEC
#  define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#  define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_EXEC
#  define MFD_EXEC 0x0010U
#endif
#ifndef F_ADD_SEALS
#  define F_ADD_SEALS 1033
#  define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SEAL
#  define F_SEAL_SEAL 0x0001
#  define F_SEAL_SHRINK 0x0002
#  define F_SEAL_GROW 0x0004
#  define F_SEAL_WRITE 0x0008
#endif
#ifndef PR_SET_MM
#  define PR_SET_MM 35
#endif
#ifndef PR_SET_MM_EXE_FILE
#  define PR_SET_MM_EXE_FILE 13
#endif
#ifndef PR_SET_MM_MAP
#  define PR_SET_MM_MAP 14
#endif

/* linux/prctl.h's, spelled out: that header clashes with glibc's sys/prctl.h. */
struct lxcri_prctl_mm_map
{
  uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
  uint64_t arg_start, arg_end, env_start, env_end;
  uint64_t *auxv;
  uint32_t auxv_size;
  uint32_t exe_fd;
};

#define LXCRI_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define LXCRI_SEAL_MAX_MAPS 64

struct lxcri_exe_map
{
  uintptr_t start, end;
  off_t offset;
  int prot;
  int changed; /* it holds pages of its own (copied on write), or that is not known */
};

static int
lxcri_seal_memfd_create (const char *name, unsigned int flags)
{
  return (int) syscall (SYS_memfd_create, name, flags);
}

/* A sealed memfd holding a copy of src (its size), close-on-exec. */
static int
lxcri_seal_copy (int src, off_t size, const char **what)
{
  off_t done = 0;
  int fd, saved;

  *what = "memfd_create";
  fd = lxcri_seal_memfd_create ("lxcri", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) /* a kernel before 6.3 knows no MFD_EXEC */
    fd = lxcri_seal_memfd_create ("lxcri", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return -errno;
  *what = "copying /proc/self/exe";
  while (done < size)
    {
      ssize_t n = sendfile (fd, src, &done, (size_t) (size - done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          saved = n < 0 ? errno : EIO;
          close (fd);
          return -saved;
        }
    }
  *what = "F_ADD_SEALS";
  if (fcntl (fd, F_ADD_SEALS, LXCRI_SEALS) < 0)
    {
      saved = errno;
      close (fd);
      return -saved;
    }
  return fd;
}

/* Which mappings hold pages the process changed: /proc/self/smaps says how many of a
   mapping's pages are anonymous (copied on write: relocated data, RELRO, .data, the
   zeroed start of .bss), or swapped out (Swap). The others are what the file holds,
   page for page, and are mapped again without being read: reading them would fault in
   (and count in the RSS) every page of the executable, twice; for a statically linked
   interpreter, 7 MB. A mapping smaps does not answer for stays marked changed. */
static void
lxcri_seal_find_changed (struct lxcri_exe_map *maps, int n)
{
  char line[4096];
  FILE *f;
  int i, current = -1;

  for (i = 0; i < n; i++)
    maps[i].changed = 1;
  f = fopen ("/proc/self/smaps", "re");
  if (f == NULL)
    return;
  while (fgets (line, sizeof (line), f) != NULL)
    {
      unsigned long start, end, kb;

      if (sscanf (line, "%lx-%lx ", &start, &end) == 2 && strchr (line, ':') != NULL
          && line[0] != ' ')
        {
          current = -1;
          for (i = 0; i < n; i++)
            if (maps[i].start == start && maps[i].end == end)
              {
                current = i;
                maps[i].changed = 0;
              }
          continue;
        }
      /* A changed page swapped out counts under Swap, not Anonymous. */
      if (current >= 0 && (sscanf (line, "Anonymous: %lu kB", &kb) == 1
                           || sscanf (line, "Swap: %lu kB", &kb) == 1) && kb != 0)
        maps[current].changed = 1;
    }
  fclose (f);
}

/* The mappings of the file (dev, ino) in /proc/self/maps. */
static int
lxcri_seal_exe_maps (dev_t dev, ino_t ino, struct lxcri_exe_map *maps, int *count,
                     const char **what)
{
  char line[4096];
  FILE *f;
  int n = 0;

  *what = "reading /proc/self/maps";
  f = fopen ("/proc/self/maps", "re");
  if (f == NULL)
    return -errno;
  while (fgets (line, sizeof (line), f) != NULL)
    {
      unsigned long start, end, offset, inode;
      unsigned int major, minor;
      char perms[8];

      if (sscanf (line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &offset, &major, &minor,
                  &inode) != 7)
        continue;
      if (inode != (unsigned long) ino || makedev (major, minor) != dev)
        continue;
      if (perms[3] != 'p')
        {
          *what = "a shared mapping of the executable";
          fclose (f);
          return -EINVAL;
        }
      if (n == LXCRI_SEAL_MAX_MAPS)
        {
          *what = "too many mappings of the executable";
          fclose (f);
          return -E2BIG;
        }
      maps[n].start = start;
      maps[n].end = end;
      maps[n].offset = (off_t) offset;
      maps[n].prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0)
                     | (perms[2] == 'x' ? PROT_EXEC : 0);
      n++;
    }
  fclose (f);
  *count = n;
  if (n == 0)
    {
      *what = "no mapping of the executable in /proc/self/maps";
      return -ENOENT;
    }
  lxcri_seal_find_changed (maps, n);
  return 0;
}

static int
lxcri_seal_single_threaded (void)
{
  DIR *d = opendir ("/proc/self/task");
  struct dirent *e;
  int tasks = 0;

  if (d == NULL)
    return 0;
  while ((e = readdir (d)) != NULL)
    if (e->d_name[0] != '.')
      tasks++;
  closedir (d);
  return tasks == 1;
}

/* The mm's layout as it is (from /proc/self/stat and brk), to hand back to
   PR_SET_MM_MAP with only exe_fd new. */
static int
lxcri_seal_mm_map (struct lxcri_prctl_mm_map *map, const char **what)
{
  char buf[2048], *p;
  unsigned long long v[52];
  ssize_t n;
  int fd, field;

  *what = "reading /proc/self/stat";
  fd = open ("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  n = read (fd, buf, sizeof (buf) - 1);
  close (fd);
  if (n <= 0)
    return n < 0 ? -errno : -EIO;
  buf[n] = '\0';
  p = strrchr (buf, ')'); /* the command name may hold anything */
  if (p == NULL)
    return -EINVAL;
  p += 2;
  /* Fields 3 (state) to 51 (env_end); state is a letter. */
  p = strchr (p, ' ');
  for (field = 4; field <= 51; field++)
    {
      char *end;
      if (p == NULL)
        return -EINVAL;
      v[field] = strtoull (p, &end, 10);
      if (end == p)
        return -EINVAL;
      p = end;
    }
  memset (map, 0, sizeof (*map));
  map->start_code = v[26];
  map->end_code = v[27];
  map->start_stack = v[28];
  map->start_data = v[45];
  map->end_data = v[46];
  map->start_brk = v[47];
  map->arg_start = v[48];
  map->arg_end = v[49];
  map->env_start = v[50];
  map->env_end = v[51];
  map->brk = (uint64_t) syscall (SYS_brk, 0);
  map->exe_fd = (uint32_t) -1;
  return 0;
}

/* Point the mm's exe_file at fd: PR_SET_MM_MAP (CAP_SYS_ADMIN or
   CAP_CHECKPOINT_RESTORE), else PR_SET_MM_EXE_FILE (CAP_SYS_RESOURCE). */
static int
lxcri_seal_set_exe (int fd, const char **what)
{
  struct lxcri_prctl_mm_map map;
  int ret = lxcri_seal_mm_map (&map, what);

  if (ret == 0)
    {
      map.exe_fd = (uint32_t) fd;
      *what = "prctl PR_SET_MM_MAP";
      if (prctl (PR_SET_MM, PR_SET_MM_MAP, (unsigned long) &map, sizeof (map), 0) == 0)
        return 0;
      ret = -errno;
    }
  if (prctl (PR_SET_MM, PR_SET_MM_EXE_FILE, (unsigned long) fd, 0, 0) == 0)
    return 0;
  if (ret == 0)
    {
      *what = "prctl PR_SET_MM_EXE_FILE";
      return -errno;
    }
  *what = "prctl PR_SET_MM_MAP (and PR_SET_MM_EXE_FILE)";
  return ret; /* the first one's error: PR_SET_MM_EXE_FILE's is EPERM without CAP_SYS_RESOURCE */
}

/* Map one mapping again from fd, keeping what the process wrote into it. */
static int
lxcri_seal_remap (const struct lxcri_exe_map *m, int fd, const char **what)
{
  size_t len = m->end - m->start;
  void *addr = (void *) m->start;
  void *saved = NULL;
  int ret = 0;

  if ((m->prot & PROT_READ) && m->changed)
    {
      *what = "saving a mapping";
      saved = malloc (len);
      if (saved == NULL)
        return -ENOMEM;
      memcpy (saved, addr, len);
    }
  else if (m->prot != PROT_NONE && ! (m->prot & PROT_READ))
    {
      *what = "an unreadable mapping of the executable";
      return -EINVAL;
    }
  /* Writable at first when it has contents to take back: they are compared with
     the file's and copied back where they differ. */
  *what = "mmap MAP_FIXED";
  if (mmap (addr, len, saved ? m->prot | PROT_READ | PROT_WRITE : m->prot,
            MAP_FIXED | MAP_PRIVATE, fd, m->offset) == MAP_FAILED)
    {
      /* The old mapping is still in place: MAP_FIXED replaces only on success. */
      ret = -errno;
      goto out;
    }
  if (saved)
    {
      if (memcmp (saved, addr, len) != 0)
        memcpy (addr, saved, len);
      *what = "mprotect";
      if (! (m->prot & PROT_WRITE) && mprotect (addr, len, m->prot) < 0)
        ret = -errno;
    }
out:
  free (saved);
  return ret;
}

static int
lxcri_seal_exe_in_place (const char **what)
{
  struct lxcri_exe_map maps[LXCRI_SEAL_MAX_MAPS];
  sigset_t all, old;
  struct stat st;
  int src, fd, seals, count = 0, i, ret;

  *what = "checking the threads";
  if (! lxcri_seal_single_threaded ())
    return -EBUSY;

  *what = "opening /proc/self/exe";
  src = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (src < 0)
    return -errno;
  seals = fcntl (src, F_GET_SEALS);
  if (seals >= 0 && (seals & LXCRI_SEALS) == LXCRI_SEALS)
    {
      close (src); /* sealed already */
      return 0;
    }
  *what = "fstat /proc/self/exe";
  if (fstat (src, &st) < 0)
    {
      ret = -errno;
      close (src);
      return ret;
    }
  ret = lxcri_seal_exe_maps (st.st_dev, st.st_ino, maps, &count, what);
  if (ret < 0)
    {
      close (src);
      return ret;
    }
  fd = lxcri_seal_copy (src, st.st_size, what);
  close (src);
  if (fd < 0)
    return fd;

  sigfillset (&all);
  sigprocmask (SIG_SETMASK, &all, &old);
  for (i = 0; i < count; i++)
    {
      ret = lxcri_seal_remap (&maps[i], fd, what);
      if (ret < 0)
        /* Some mappings now come from the copy, others still from the file: both
           hold the same bytes, so the process runs on; exe_file stays the file. */
        goto out;
    }
  ret = lxcri_seal_set_exe (fd, what);
out:
  sigprocmask (SIG_SETMASK, &old, NULL);
  close (fd); /* the mappings and the mm hold the file */
  return ret;
}

#endif
