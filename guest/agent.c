/* lxcri-agent: the init (pid 1) of an lxcri vm backend guest, built static (gcc -static).
 *
 * It mounts /proc, /sys and /dev of the initramfs, loads the kernel modules listed
 * in /modules.list (dependency order, written by scripts/build-vm-initramfs.py), waits
 * until the `lxcri.slots=N` virtio-serial ports named lxcri.0 .. lxcri.N-1 appear, and
 * then serves the host's monitor (lxcri/backends/vm/monitor.py) over them. Slot 0
 * carries the container's process, slots 1.. carry exec'd processes; each port is a
 * stream of frames: one type byte, a 4-byte big-endian length, the payload.
 *
 * host -> guest:  h hostname | M fstype\0source\0target\0flags\0data\0 (a mount, or
 *                 fstype "devnodes": populate a /dev tmpfs) | a arg | e env | c cwd |
 *                 u "uid gid" | g gid (supplementary) | R prepare the root (slot 0) |
 *                 T (the next process gets a terminal) | W "rows cols" (its size) |
 *                 S spawn | I stdin bytes (empty: EOF) | K "signal all"
 * guest -> host:  H "uptime release" (hello) | r root ready | P pid | O stdout bytes |
 *                 E stderr bytes | F message (a failure) | X exit code (128+N: signal N)
 *
 * With `lxcri.net=user` on the command line eth0 gets QEMU's user-mode network
 * (10.0.2.15/24, gateway 10.0.2.2); otherwise the guest has only loopback.
 *
 * The process runs chrooted into /root (the container's rootfs over 9p) in its own
 * session; its stdio are pipes the agent relays, so that stdout, stderr and the exit
 * code of one process travel in order on one port. PID 1 never exits: on a fatal error
 * it reports F on slot 0 and powers the VM off.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SLOTS 32
#define ROOT "/root"

struct buf {
    unsigned char *data;
    size_t len, cap;
};

struct slot {
    int port;            /* the virtio-serial port, -1 when absent */
    pid_t pid;           /* the running process, 0 when none */
    int in, out, err;    /* agent ends of the process's stdio pipes, -1 when closed */
    int exited, status;  /* the process has been reaped: its wait status */
    struct buf rx;       /* frames from the host not yet handled */
    struct buf pending;  /* stdin bytes not yet taken by the process */
    int in_eof;          /* the host closed stdin: close the pipe once pending is written */
    /* the next process's configuration */
    char **argv; int argc;
    char **envp; int envc;
    char *cwd;
    uid_t uid; gid_t gid;
    gid_t groups[64]; int ngroups;
    int terminal;        /* the next process gets a pseudo-terminal */
    int tty;             /* the running process's pty master, -1 when none */
    struct winsize ws;   /* its window size, from W frames */
};

static struct slot slots[MAX_SLOTS];
static int nslots;

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lxcri-agent: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void buf_add(struct buf *b, const void *data, size_t len) {
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        b->data = realloc(b->data, cap);
        if (!b->data) {
            say("out of memory");
            reboot(RB_POWER_OFF);
        }
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void buf_drop(struct buf *b, size_t n) {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static int write_all(int fd, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                poll(&pfd, 1, 1000);
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void send_frame(int slot, char type, const void *data, size_t len) {
    unsigned char head[5];
    if (slots[slot].port < 0)
        return;
    head[0] = (unsigned char)type;
    head[1] = (unsigned char)(len >> 24);
    head[2] = (unsigned char)(len >> 16);
    head[3] = (unsigned char)(len >> 8);
    head[4] = (unsigned char)len;
    if (write_all(slots[slot].port, head, 5) < 0 || (len && write_all(slots[slot].port, data, len) < 0))
        say("slot %d: cannot write to the host: %s", slot, strerror(errno));
}

static void send_text(int slot, char type, const char *fmt, ...) {
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof text)
        n = sizeof text - 1;
    send_frame(slot, type, text, (size_t)n);
}

static void fatal(const char *fmt, ...) {
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    say("%s", text);
    send_frame(0, 'F', text, strlen(text));
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

/* --- boot ------------------------------------------------------------------------------ */

static void mkdir_p(const char *path, mode_t mode) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, mode);
            *p = '/';
        }
    }
    mkdir(tmp, mode);
}

static void load_modules(void) {
    FILE *f = fopen("/modules.list", "r");
    char line[512];
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0])
            continue;
        int fd = open(line, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            say("cannot open module %s: %s", line, strerror(errno));
            continue;
        }
        if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
            say("cannot load module %s: %s", line, strerror(errno));
        close(fd);
    }
    fclose(f);
}

static char cmdline[4096];

static void read_cmdline(void) {
    int fd = open("/proc/cmdline", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
        (void)n;
        close(fd);
    }
}

static int cmdline_slots(void) {
    char *p = strstr(cmdline, "lxcri.slots=");
    int n = p ? atoi(p + strlen("lxcri.slots=")) : 1;
    if (n < 1)
        n = 1;
    if (n > MAX_SLOTS)
        n = MAX_SLOTS;
    return n;
}

/* Port names arrive asynchronously after the driver binds: wait until all are named. */
static void open_ports(void) {
    for (int i = 0; i < nslots; i++)
        slots[i].port = -1;
    for (int tries = 0; tries < 6000; tries++) {
        int found = 0;
        DIR *d = opendir("/sys/class/virtio-ports");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char path[512], name[64] = {0};
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
            int fd = open(path, O_RDONLY);
            if (fd < 0)
                continue;
            ssize_t n = read(fd, name, sizeof name - 1);
            close(fd);
            if (n <= 0)
                continue;
            name[strcspn(name, "\n")] = 0;
            if (strncmp(name, "lxcri.", 6) != 0)
                continue;
            int idx = atoi(name + 6);
            if (idx < 0 || idx >= nslots)
                continue;
            if (slots[idx].port < 0) {
                snprintf(path, sizeof path, "/dev/%s", e->d_name);
                slots[idx].port = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
            }
            if (slots[idx].port >= 0)
                found++;
        }
        if (d)
            closedir(d);
        if (found == nslots)
            return;
        usleep(10000);
    }
    fatal("the lxcri virtio-serial ports did not appear");
}

static void loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    if (s < 0)
        return;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
}

static void set_addr(struct sockaddr *sa, const char *ip) {
    struct sockaddr_in *sin = (struct sockaddr_in *)sa;
    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &sin->sin_addr);
}

/* lxcri.net=user: QEMU's user-mode network (slirp) on eth0, its fixed addresses. */
static void user_net_up(void) {
    for (int i = 0; i < 500 && access("/sys/class/net/eth0", F_OK) < 0; i++)
        usleep(10000);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    struct rtentry rt;
    if (s < 0)
        return;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "eth0");
    set_addr(&ifr.ifr_addr, "10.0.2.15");
    if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
        say("eth0: cannot set its address: %s", strerror(errno));
    set_addr(&ifr.ifr_netmask, "255.255.255.0");
    ioctl(s, SIOCSIFNETMASK, &ifr);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    memset(&rt, 0, sizeof rt);
    set_addr(&rt.rt_dst, "0.0.0.0");
    set_addr(&rt.rt_gateway, "10.0.2.2");
    set_addr(&rt.rt_genmask, "0.0.0.0");
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    if (ioctl(s, SIOCADDRT, &rt) < 0)
        say("eth0: cannot add the default route: %s", strerror(errno));
    close(s);
}

/* --- the root and its mounts ------------------------------------------------------------- */

static void devnodes(const char *dir) {
    static const struct { const char *name; unsigned maj, min; } nodes[] = {
        {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8},
        {"urandom", 1, 9}, {"tty", 5, 0},
    };
    static const struct { const char *name, *target; } links[] = {
        {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}, {"core", "/proc/kcore"},
    };
    char path[4096];
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, nodes[i].name);
        if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) == 0)
            chmod(path, 0666);
    }
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, links[i].name);
        if (symlink(links[i].target, path) < 0 && errno != EEXIST)
            say("cannot link %s: %s", path, strerror(errno));
    }
}

/* One M frame: fstype\0source\0target\0flags\0data\0 */
static int do_mount(const unsigned char *p, size_t len, char *why, size_t whylen) {
    const char *field[5];
    size_t at = 0;
    for (int i = 0; i < 5; i++) {
        if (at >= len) {
            snprintf(why, whylen, "a malformed mount request");
            return -1;
        }
        field[i] = (const char *)p + at;
        at += strnlen(field[i], len - at) + 1;
    }
    const char *fstype = field[0], *source = field[1], *target = field[2], *data = field[4];
    unsigned long flags = strtoul(field[3], NULL, 10);
    struct stat st;
    if (strcmp(fstype, "devnodes") == 0) {
        devnodes(target);
        return 0;
    }
    if (strcmp(fstype, "bind") == 0) {
        if (stat(source, &st) < 0) {
            snprintf(why, whylen, "bind source %s: %s", source, strerror(errno));
            return -1;
        }
        if (S_ISDIR(st.st_mode)) {
            mkdir_p(target, 0755);
        } else if (access(target, F_OK) < 0) {
            char parent[4096];
            snprintf(parent, sizeof parent, "%s", target);
            char *slash = strrchr(parent, '/');
            if (slash && slash != parent) {
                *slash = 0;
                mkdir_p(parent, 0755);
            }
            int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0)
                close(fd);
        }
        if (mount(source, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0) {
            snprintf(why, whylen, "bind %s on %s: %s", source, target, strerror(errno));
            return -1;
        }
        if (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) {
            unsigned long re = MS_BIND | MS_REMOUNT | (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC));
            if (mount(NULL, target, NULL, re, NULL) < 0) {
                snprintf(why, whylen, "remount %s: %s", target, strerror(errno));
                return -1;
            }
        }
        return 0;
    }
    mkdir_p(target, 0755);
    if (mount(source, target, fstype, flags, data[0] ? data : NULL) < 0) {
        snprintf(why, whylen, "mount %s (%s) on %s: %s", source, fstype, target, strerror(errno));
        return -1;
    }
    return 0;
}

/* --- processes --------------------------------------------------------------------------- */

static void reset_config(struct slot *s) {
    for (int i = 0; i < s->argc; i++)
        free(s->argv[i]);
    for (int i = 0; i < s->envc; i++)
        free(s->envp[i]);
    free(s->argv);
    free(s->envp);
    free(s->cwd);
    s->argv = NULL; s->envp = NULL; s->cwd = NULL;
    s->argc = s->envc = 0;
    s->uid = 0; s->gid = 0; s->ngroups = 0;
    s->terminal = 0;
}

static char *dup_n(const unsigned char *p, size_t len) {
    char *s = malloc(len + 1);
    if (!s)
        fatal("out of memory");
    memcpy(s, p, len);
    s[len] = 0;
    return s;
}

static void push(char ***list, int *count, char *item) {
    *list = realloc(*list, sizeof(char *) * (size_t)(*count + 2));
    if (!*list)
        fatal("out of memory");
    (*list)[(*count)++] = item;
    (*list)[*count] = NULL;
}

/* execvpe with the process's own PATH, looked up inside the root (after chroot). */
static void exec_in_path(struct slot *s) {
    const char *file = s->argv[0];
    if (strchr(file, '/')) {
        execve(file, s->argv, s->envp ? s->envp : (char *[]){NULL});
        return;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (int i = 0; i < s->envc; i++)
        if (strncmp(s->envp[i], "PATH=", 5) == 0)
            path = s->envp[i] + 5;
    int saved = ENOENT;
    char candidate[4096];
    const char *p = path;
    while (*p) {
        size_t n = strcspn(p, ":");
        snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n, p, file);
        execve(candidate, s->argv, s->envp ? s->envp : (char *[]){NULL});
        if (errno != ENOENT && errno != ENOTDIR)
            saved = errno;
        p += n;
        if (*p == ':')
            p++;
    }
    errno = saved;
}

static void spawn(int idx) {
    struct slot *s = &slots[idx];
    int pin[2], pout[2], perr[2], report[2];
    if (s->argc == 0) {
        send_text(idx, 'F', "no process arguments");
        send_text(idx, 'X', "%d", 127);
        return;
    }
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0 ||
        pipe2(report, O_CLOEXEC) < 0)
        fatal("pipe: %s", strerror(errno));
    int master = -1, peer = -1;
    if (s->terminal) {
        /* The container's own devpts instance when it has one, so that its tty is there. */
        master = open(ROOT "/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
            master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        int unlock = 0;
        if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0 ||
            (peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
            send_text(idx, 'F', "cannot allocate a terminal: %s", strerror(errno));
            send_text(idx, 'X', "%d", 126);
            if (master >= 0)
                close(master);
            close(pin[0]); close(pin[1]); close(pout[0]); close(pout[1]);
            close(perr[0]); close(perr[1]); close(report[0]); close(report[1]);
            reset_config(s);
            return;
        }
        if (s->ws.ws_row)
            ioctl(master, TIOCSWINSZ, &s->ws);
    }
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int sig = 1; sig < NSIG; sig++)
            signal(sig, SIG_DFL);
        setsid();
        if (peer >= 0) {
            ioctl(peer, TIOCSCTTY, 0);
            dup2(peer, 0);
            dup2(peer, 1);
            dup2(peer, 2);
        } else {
            dup2(pin[0], 0);
            dup2(pout[1], 1);
            dup2(perr[1], 2);
        }
        const char *step = "chroot";
        if (chroot(ROOT) < 0)
            goto fail;
        step = "chdir";
        if (chdir(s->cwd ? s->cwd : "/") < 0)
            goto fail;
        step = "setgroups";
        if (setgroups((size_t)s->ngroups, s->groups) < 0)
            goto fail;
        step = "setgid";
        if (setgid(s->gid) < 0)
            goto fail;
        step = "setuid";
        if (setuid(s->uid) < 0)
            goto fail;
        step = "exec";
        exec_in_path(s);
    fail:;
        char msg[4200];
        int code = errno == ENOENT ? 127 : 126;
        int n = snprintf(msg, sizeof msg, "%d %s %s: %s", code, step,
                         strcmp(step, "exec") == 0 ? s->argv[0] : (s->cwd ? s->cwd : ""),
                         strerror(errno));
        if (write(report[1], msg, (size_t)n) < 0)
            _exit(code);
        _exit(code);
    }
    close(pin[0]); close(pout[1]); close(perr[1]); close(report[1]);
    s->pid = pid;
    s->exited = 0;
    if (master >= 0) {
        close(peer);
        close(pin[1]); close(pout[0]); close(perr[0]);
        s->tty = master;
        s->out = master;
        s->in = fcntl(master, F_DUPFD_CLOEXEC, 3);
        s->err = -1;
    } else {
        s->in = pin[1];
        s->out = pout[0];
        s->err = perr[0];
    }
    fcntl(s->in, F_SETFL, O_NONBLOCK);
    fcntl(s->out, F_SETFL, O_NONBLOCK);
    fcntl(s->err, F_SETFL, O_NONBLOCK);
    /* The report pipe closes on a successful exec: then the process runs. */
    char msg[4200];
    ssize_t n;
    do
        n = read(report[0], msg, sizeof msg - 1);
    while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n > 0) {
        msg[n] = 0;
        char *space = strchr(msg, ' ');
        send_text(idx, 'F', "%s", space ? space + 1 : msg);
    } else {
        send_text(idx, 'P', "%d", (int)pid);
    }
    reset_config(s);
}

static void drain(int idx, int *fd, char type) {
    unsigned char data[65536];
    while (*fd >= 0) {
        ssize_t n = read(*fd, data, sizeof data);
        if (n > 0) {
            send_frame(idx, type, data, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        close(*fd);
        *fd = -1;
    }
}

static void flush_stdin(struct slot *s) {
    while (s->in >= 0 && s->pending.len > 0) {
        ssize_t n = write(s->in, s->pending.data, s->pending.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            s->pending.len = 0;  /* the process closed its stdin */
            break;
        }
        buf_drop(&s->pending, (size_t)n);
    }
    if (s->in >= 0 && s->in_eof && s->pending.len == 0) {
        close(s->in);
        s->in = -1;
    }
}

static void finish(int idx) {
    struct slot *s = &slots[idx];
    drain(idx, &s->out, 'O');
    drain(idx, &s->err, 'E');
    int code = WIFEXITED(s->status) ? WEXITSTATUS(s->status)
             : WIFSIGNALED(s->status) ? 128 + WTERMSIG(s->status) : 255;
    send_text(idx, 'X', "%d", code);
    if (s->out >= 0) { close(s->out); s->out = -1; }
    s->tty = -1;
    if (s->err >= 0) { close(s->err); s->err = -1; }
    if (s->in >= 0) { close(s->in); s->in = -1; }
    s->pending.len = 0;
    s->in_eof = 0;
    s->pid = 0;
    s->exited = 0;
}

static void reap(void) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < nslots; i++) {
            if (slots[i].pid == pid) {
                slots[i].status = status;
                slots[i].exited = 1;
                finish(i);
            }
        }
    }
}

/* --- frames from the host ------------------------------------------------------------- */

static void handle(int idx, char type, const unsigned char *p, size_t len) {
    struct slot *s = &slots[idx];
    char why[4400];
    switch (type) {
    case 'h': {
        char *name = dup_n(p, len);
        if (sethostname(name, strlen(name)) < 0)
            say("sethostname: %s", strerror(errno));
        free(name);
        break;
    }
    case 'M':
        if (do_mount(p, len, why, sizeof why) < 0)
            fatal("%s", why);
        break;
    case 'a': push(&s->argv, &s->argc, dup_n(p, len)); break;
    case 'e': push(&s->envp, &s->envc, dup_n(p, len)); break;
    case 'c': free(s->cwd); s->cwd = dup_n(p, len); break;
    case 'u': {
        char *t = dup_n(p, len);
        unsigned long uid = 0, gid = 0;
        sscanf(t, "%lu %lu", &uid, &gid);
        s->uid = (uid_t)uid;
        s->gid = (gid_t)gid;
        free(t);
        break;
    }
    case 'g': {
        char *t = dup_n(p, len);
        if (s->ngroups < 64)
            s->groups[s->ngroups++] = (gid_t)strtoul(t, NULL, 10);
        free(t);
        break;
    }
    case 'R':
        send_text(idx, 'r', "ready");
        break;
    case 'T':
        s->terminal = 1;
        break;
    case 'W': {
        char *t = dup_n(p, len);
        unsigned rows = 0, cols = 0;
        sscanf(t, "%u %u", &rows, &cols);
        free(t);
        s->ws.ws_row = (unsigned short)rows;
        s->ws.ws_col = (unsigned short)cols;
        if (s->tty >= 0)
            ioctl(s->tty, TIOCSWINSZ, &s->ws);
        break;
    }
    case 'S':
        if (s->pid != 0) {
            send_text(idx, 'F', "a process is already running in slot %d", idx);
            break;
        }
        spawn(idx);
        break;
    case 'I':
        if (len == 0)
            s->in_eof = 1;
        else
            buf_add(&s->pending, p, len);
        flush_stdin(s);
        break;
    case 'K': {
        char *t = dup_n(p, len);
        int sig = atoi(t);
        int all = strstr(t, "all") != NULL;
        free(t);
        if (s->pid > 0 && kill(all ? -s->pid : s->pid, sig) < 0 && all)
            kill(s->pid, sig);
        break;
    }
    default:
        say("slot %d: unknown frame %c", idx, type);
    }
}

static void read_port(int idx) {
    struct slot *s = &slots[idx];
    unsigned char data[65536];
    for (;;) {
        ssize_t n = read(s->port, data, sizeof data);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf_add(&s->rx, data, (size_t)n);
    }
    while (s->rx.len >= 5) {
        size_t len = ((size_t)s->rx.data[1] << 24) | ((size_t)s->rx.data[2] << 16) |
                     ((size_t)s->rx.data[3] << 8) | s->rx.data[4];
        if (s->rx.len < 5 + len)
            break;
        handle(idx, (char)s->rx.data[0], s->rx.data + 5, len);
        buf_drop(&s->rx, 5 + len);
    }
}

int main(void) {
    mkdir("/proc", 0755);
    mkdir("/sys", 0755);
    mkdir("/dev", 0755);
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL);
    mkdir("/dev/pts", 0755);  /* /dev/ptmx's instance, for a terminal without the rootfs's */
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=0620");
    mkdir(ROOT, 0755);
    load_modules();
    read_cmdline();
    loopback_up();
    if (strstr(cmdline, "lxcri.net=user"))
        user_net_up();
    nslots = cmdline_slots();
    open_ports();

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        fatal("signalfd: %s", strerror(errno));
    for (int i = 0; i < nslots; i++)
        slots[i].in = slots[i].out = slots[i].err = slots[i].tty = -1;

    char uptime[64] = "0";
    int fd = open("/proc/uptime", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, uptime, sizeof uptime - 1);
        uptime[n > 0 ? n : 0] = 0;
        uptime[strcspn(uptime, " ")] = 0;
        close(fd);
    }
    struct utsname u;
    uname(&u);
    send_text(0, 'H', "%s %s", uptime, u.release);

    for (;;) {
        struct pollfd pfd[1 + MAX_SLOTS * 4];
        int owner[1 + MAX_SLOTS * 4];
        char kind[1 + MAX_SLOTS * 4];
        int n = 0;
        pfd[n] = (struct pollfd){.fd = sfd, .events = POLLIN};
        owner[n] = -1; kind[n++] = 's';
        for (int i = 0; i < nslots; i++) {
            struct slot *s = &slots[i];
            pfd[n] = (struct pollfd){.fd = s->port, .events = POLLIN};
            owner[n] = i; kind[n++] = 'p';
            if (s->out >= 0) {
                pfd[n] = (struct pollfd){.fd = s->out, .events = POLLIN};
                owner[n] = i; kind[n++] = 'O';
            }
            if (s->err >= 0) {
                pfd[n] = (struct pollfd){.fd = s->err, .events = POLLIN};
                owner[n] = i; kind[n++] = 'E';
            }
            if (s->in >= 0 && s->pending.len > 0) {
                pfd[n] = (struct pollfd){.fd = s->in, .events = POLLOUT};
                owner[n] = i; kind[n++] = 'I';
            }
        }
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            fatal("poll: %s", strerror(errno));
        }
        for (int k = 0; k < n; k++) {
            if (!pfd[k].revents)
                continue;
            int i = owner[k];
            switch (kind[k]) {
            case 's': {
                struct signalfd_siginfo info;
                while (read(sfd, &info, sizeof info) > 0)
                    ;
                reap();
                break;
            }
            case 'p':
                read_port(i);
                break;
            case 'O':
                drain(i, &slots[i].out, 'O');
                break;
            case 'E':
                drain(i, &slots[i].err, 'E');
                break;
            case 'I':
                flush_stdin(&slots[i]);
                break;
            }
        }
    }
}
