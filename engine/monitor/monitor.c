// The per-container monitor, like conmon: one small process per running
// container. It is the skiff binary started with _SKIFF_MONITOR set, and it
// does all its work here, in a constructor, before the Go runtime starts, so
// it costs the memory of a small C program rather than of a Go heap.
//
// A first start spawns it before the container's bundle exists: it waits
// at its gate (_SKIFF_MONITOR_GATE=FD:ID) until skiff has recorded it as
// the container's monitor and says "go". Should skiff end before that (a
// SIGKILL in any window), the gate reads end-of-file and the monitor
// becomes `skiff container cleanup ID` at once, which undoes what skiff
// had prepared (network helper, mount, bundle): it never depends on its
// parent surviving. Past the gate it owns the start.
//
// It creates and starts the container through the OCI runtime (`run
// --detach`, one runtime process) with pipes
// (or a terminal) for its output, tells skiff the container's PID, writes every
// line the container prints to the log with a timestamp and the stream,
// reaps the container (it is a child subreaper, so the container is its
// child once the runtime has exited), records the exit status and
// then becomes `skiff container cleanup ID`, which updates the state, applies
// --rm and ends — or, when the restart policy says so, becomes this monitor
// again (same PID) with a back-off to wait and start=1: it then starts the
// container itself, as nobody waits for its report. It keeps the user namespace alive while it runs by being in
// it, and records itself as a holder so later commands find it.
//
// Every file and message it exchanges with skiff (the configuration, the
// gate and the report, the log, the exit file, the pid file, the holder
// record, the FIFOs) and how each side syncs them is documented once, in
// the package doc (doc.go, "The monitor's protocol"); the Go side is in
// this package too, and protocol_test.go runs this monitor against it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "monlog.h"

struct mon {
	char id[128], runtime[512], root[512], bundle[512], logpath[512];
	char exitpath[512], pidfile[512], holders[512], consock[512];
	char runclog[600]; /* the runtime's --log, in the bundle */
	int tty, keepstdin, syncfd, start;
	/* attach: a client runs the container in the foreground: it gets the
	 * output on ATTACH_OUT/ERR, gives the input on ATTACH_IN, hears the
	 * end on the report, and says on the gate whether it cleans up. */
	int attach;
	long delay_ms;
};

/* The attached client's descriptors (Go: AttachOutFD, AttachErrFD,
 * AttachInFD), and the gate, which an attached run keeps open. */
enum { ATTACH_OUT = 5, ATTACH_ERR = 6, ATTACH_IN = 7 };
static int gate_fd = -1;

/* Reads the configuration Go's Config.Write made: "key=value" lines (see
 * doc.go for the keys). */
static int getconf(struct mon *m, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	if (!f)
		return -1;
	memset(m, 0, sizeof *m);
	m->syncfd = -1;
	while (fgets(line, sizeof line, f)) {
		char *v = strchr(line, '=');
		if (!v)
			continue;
		*v++ = 0;
		v[strcspn(v, "\n")] = 0;
#define KEY(k, field) if (!strcmp(line, k)) snprintf(m->field, sizeof m->field, "%s", v);
		KEY("id", id) KEY("runtime", runtime) KEY("root", root) KEY("bundle", bundle)
		KEY("log", logpath) KEY("exit", exitpath) KEY("pidfile", pidfile)
		KEY("holders", holders)
#undef KEY
		if (!strcmp(line, "tty")) m->tty = atoi(v);
		if (!strcmp(line, "stdin")) m->keepstdin = atoi(v);
		if (!strcmp(line, "sync")) m->syncfd = atoi(v);
		if (!strcmp(line, "start")) m->start = atoi(v);
		if (!strcmp(line, "attach")) m->attach = atoi(v);
		if (!strcmp(line, "delay_ms")) m->delay_ms = atol(v);
	}
	fclose(f);
	/* Not for the runtime: crun's container init keeps what it inherits
	 * until it starts, and skiff reads this pipe to its end. */
	if (m->syncfd >= 0)
		fcntl(m->syncfd, F_SETFD, FD_CLOEXEC);
	for (int fd = ATTACH_OUT; m->attach && fd <= ATTACH_IN; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return m->id[0] && m->runtime[0] && m->bundle[0] ? 0 : -1;
}

/* Tells the waiting skiff; returns whether it was there to be told. */
static int report(struct mon *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int report(struct mon *m, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int told;
	if (m->syncfd < 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* SIGPIPE is ignored: a skiff that went away is EPIPE here. */
	told = write(m->syncfd, buf, strlen(buf)) == (ssize_t)strlen(buf);
	if (!m->attach || !told) { /* an attached client hears the end too */
		close(m->syncfd);
		m->syncfd = -1;
	}
	return told;
}

/* Records pid as a holder of this user and mount namespace (see
 * rootless/holders.go), under the lock of the records: a reader that found
 * a dead holder's record under this PID must not remove this one. */
static void register_holder(struct mon *m, pid_t pid)
{
	struct stat user, mnt;
	char path[600], tmp[620], val[64];
	if (!m->holders[0] || stat("/proc/self/ns/user", &user) < 0 || stat("/proc/self/ns/mnt", &mnt) < 0)
		return;
	snprintf(path, sizeof path, "%s/lock", m->holders);
	int lock = open(path, O_RDWR | O_CLOEXEC);
	if (lock >= 0)
		while (flock(lock, LOCK_EX) < 0 && errno == EINTR)
			;
	snprintf(path, sizeof path, "%s/%d", m->holders, pid);
	snprintf(tmp, sizeof tmp, "%s/.%d.tmp", m->holders, pid);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		int n = snprintf(val, sizeof val, "%llu %llu", (unsigned long long)user.st_ino, (unsigned long long)mnt.st_ino);
		if (write(fd, val, n) == n)
			rename(tmp, path);
		close(fd);
	}
	if (lock >= 0)
		close(lock);
}

/* Drops pid's holder record, under the same lock. */
static void unregister_holder(struct mon *m, pid_t pid)
{
	char path[600];
	if (!m->holders[0])
		return;
	snprintf(path, sizeof path, "%s/lock", m->holders);
	int lock = open(path, O_RDWR | O_CLOEXEC);
	if (lock >= 0)
		while (flock(lock, LOCK_EX) < 0 && errno == EINTR)
			;
	snprintf(path, sizeof path, "%s/%d", m->holders, pid);
	unlink(path);
	if (lock >= 0)
		close(lock);
}

static void write_exit(struct mon *m, int code)
{
	char tmp[600], buf[64];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(tmp, sizeof tmp, "%s.tmp", m->exitpath);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	int n = snprintf(buf, sizeof buf, "%d %lld\n", code, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	int whole = write(fd, buf, n) == n; /* not fsync'd: see doc.go, Syncing */
	close(fd);
	if (whole)
		rename(tmp, m->exitpath);
	else
		unlink(tmp);
}

/* Becomes `skiff container cleanup ID`, with the signals as skiff found
 * them. */
static void become_cleanup(const char *id)
{
	unsetenv("_SKIFF_MONITOR");
	unsetenv("_SKIFF_MONITOR_GATE");
	signal(SIGPIPE, SIG_DFL);
	execl("/proc/self/exe", "skiff", "container", "cleanup", id, (char *)NULL);
	_exit(1);
}

/* A failure before the container runs: a first start reports it to the
 * skiff that waits, which undoes the start; a restart has nobody waiting,
 * nor has a first start whose skiff was killed (the report went nowhere),
 * so it records an exit and hands over to cleanup like any end. */
static void give_up(struct mon *m, int reported)
{
	if (!m->start && reported)
		_exit(1);
	write_exit(m, 125);
	become_cleanup(m->id);
}

/* The gate of a first start: returns once skiff said "go"; at end of
 * input (skiff ended before it recorded this monitor, or gave up) hands
 * the container to cleanup. */
static void await_go(const char *gate)
{
	char *end, buf[3];
	long fd = strtol(gate, &end, 10);
	size_t got = 0;
	if (*end != ':' || !end[1])
		_exit(125);
	while (got < sizeof buf) {
		ssize_t n = read(fd, buf + got, sizeof buf - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	gate_fd = fd; /* an attached client's; closed by setup otherwise */
	if (got == sizeof buf && !memcmp(buf, "go\n", 3))
		return;
	become_cleanup(end + 1);
}

/* Sleeps ms milliseconds, signals or not. */
static void sleep_ms(long ms)
{
	struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&d, &d) < 0 && errno == EINTR)
		;
}

/* The monitor's own start: out of skiff's way, past the gate, configured,
 * in the bundle, recorded as a holder, and the restart's back-off waited. */
static void setup(struct mon *m, const char *conf)
{
	const char *gate = getenv("_SKIFF_MONITOR_GATE");
	/* Out of skiff's session first: a signal to its process group (a
	 * terminal's ^C) ends skiff, never the container's monitor. */
	setsid();
	/* A report to a skiff that was killed must not kill the monitor;
	 * children get the default back before they exec. */
	signal(SIGPIPE, SIG_IGN);
	if (gate && *gate)
		await_go(gate);
	unsetenv("_SKIFF_MONITOR_GATE");
	if (getconf(m, conf) < 0) {
		fprintf(stderr, "skiff monitor: unreadable configuration %s\n", conf);
		_exit(125);
	}
	if (gate_fd >= 0 && !m->attach) {
		close(gate_fd);
		gate_fd = -1;
	}
	if (gate_fd >= 0)
		fcntl(gate_fd, F_SETFD, FD_CLOEXEC);
	unsetenv("_SKIFF_MONITOR");
	if (chdir(m->bundle) < 0)
		give_up(m, report(m, "err entering %s: %s\n", m->bundle, strerror(errno)));
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	register_holder(m, getpid());
	if (m->delay_ms > 0)
		sleep_ms(m->delay_ms);
	snprintf(m->runclog, sizeof m->runclog, "%s/runtime.log", m->bundle);
}

/* What the monitor holds of the container while it runs. */
struct io {
	sigset_t mask;           /* SIGCHLD, blocked: it comes through sfd */
	int sfd;                 /* the signalfd of mask */
	int out[2], err[2], in[2]; /* the container's pipes (-1: none) */
	int csock;               /* a -t container's console socket */
	struct stream so, se;    /* its output: so is the terminal with -t */
	int input;               /* where its input goes (-1: none) */
	int fifo, fifo_keep;     /* attach.stdin, and our writer of it */
	int ain;                 /* an attached client's input (-1: none) */
	int ctl, ctl_keep;       /* ctl, and our writer of it */
};

static void io_init(struct io *io)
{
	memset(io, 0, sizeof *io);
	io->sfd = io->csock = io->input = io->ain = -1;
	io->out[0] = io->out[1] = io->err[0] = io->err[1] = io->in[0] = io->in[1] = -1;
	io->fifo = io->fifo_keep = io->ctl = io->ctl_keep = -1;
	io->so.name = "stdout";
	io->se.name = "stderr";
	io->so.fd = io->se.fd = io->so.fwd = io->se.fwd = -1;
}

/* SIGCHLD through a descriptor, the log, and the container's stdio: a
 * console socket for a terminal, or pipes. */
static void open_io(struct mon *m, struct io *io)
{
	sigemptyset(&io->mask);
	sigaddset(&io->mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &io->mask, NULL);
	io->sfd = signalfd(-1, &io->mask, SFD_CLOEXEC | SFD_NONBLOCK);

	skmon_logfd = open(m->logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (skmon_logfd < 0)
		give_up(m, report(m, "err opening the log %s: %s\n", m->logpath, strerror(errno)));
	if (m->tty) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		/* Relative to the bundle, the monitor's working directory: a
		 * socket path must be short. */
		snprintf(sa.sun_path, sizeof sa.sun_path, "console.sock");
		snprintf(m->consock, sizeof m->consock, "console.sock");
		io->csock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		unlink(m->consock);
		if (io->csock < 0 || bind(io->csock, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(io->csock, 1) < 0)
			give_up(m, report(m, "err console socket %s: %s\n", m->consock, strerror(errno)));
	} else if (pipe2(io->out, O_CLOEXEC) < 0 || pipe2(io->err, O_CLOEXEC) < 0) {
		give_up(m, report(m, "err pipes: %s\n", strerror(errno)));
	}
	if (m->keepstdin && pipe2(io->in, O_CLOEXEC) < 0)
		give_up(m, report(m, "err pipes: %s\n", strerror(errno)));
}

/* In a child that is to become the runtime: the signals as skiff found
 * them. */
static void restore_signals(struct io *io)
{
	sigprocmask(SIG_UNBLOCK, &io->mask, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* A monitor killed (stop during a restart's back-off) takes its
	 * runtime's run with it, rather than leave a container
	 * half made that nobody watches. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* The child that becomes `RUNTIME run --detach`, with the container's
 * stdio: one runtime process creates and starts the container (a create
 * and a start cost a second runtime process, which nothing between them
 * needs: the monitor does nothing there). */
static void exec_run(struct mon *m, struct io *io)
{
	int devnull = open("/dev/null", O_RDWR);
	restore_signals(io);
	dup2(m->keepstdin ? io->in[0] : devnull, 0);
	dup2(m->tty ? devnull : io->out[1], 1);
	dup2(m->tty ? devnull : io->err[1], 2);
	if (m->tty)
		execl(m->runtime, m->runtime, "--root", m->root, "--log", m->runclog, "--log-format", "json",
		      "run", "--detach", "--bundle", m->bundle, "--pid-file", m->pidfile, "--console-socket", m->consock, m->id, (char *)NULL);
	else
		execl(m->runtime, m->runtime, "--root", m->root, "--log", m->runclog, "--log-format", "json",
		      "run", "--detach", "--bundle", m->bundle, "--pid-file", m->pidfile, m->id, (char *)NULL);
	_exit(127);
}

/* The terminal's master side, which the runtime hands over while it
 * creates the container, or gives up when it exits first. */
static int receive_terminal(struct mon *m, struct io *io, pid_t runner)
{
	struct pollfd p = {io->csock, POLLIN};
	while (poll(&p, 1, 100) == 0) {
		if (waitpid(runner, NULL, WNOHANG) == runner)
			give_up(m, report(m, "err the runtime failed to start the container (see %s)\n", m->runclog));
	}
	int conn = accept4(io->csock, NULL, NULL, SOCK_CLOEXEC);
	int master = conn < 0 ? -1 : skmon_recv_fd(conn);
	if (conn >= 0)
		close(conn);
	close(io->csock);
	io->csock = -1;
	unlink(m->consock);
	return master;
}

/* The monitor starts the container itself, first start or restart:
 * nothing of the start is left to a skiff that may be killed. Returns its
 * PID, from the runtime's pid file. The container, a child of the runtime,
 * is the monitor's once the runtime exits (the monitor is a subreaper),
 * with its exit status if it ended already. What runs of a failed start
 * ends with the runtime state: skiff's abort deletes it, or cleanup does. */
static pid_t start_container(struct mon *m, struct io *io)
{
	pid_t runner = fork();
	if (runner == 0)
		exec_run(m, io);
	io->so.fd = io->out[0];
	io->se.fd = io->err[0];
	if (!m->tty) {
		close(io->out[1]);
		close(io->err[1]);
	}
	if (m->keepstdin)
		close(io->in[0]);
	if (m->tty)
		io->so.fd = receive_terminal(m, io, runner);
	int status;
	while (waitpid(runner, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		give_up(m, report(m, "err the runtime failed to start the container (see %s)\n", m->runclog));
	char pidbuf[32] = {0};
	int pf = open(m->pidfile, O_RDONLY | O_CLOEXEC);
	if (pf < 0 || read(pf, pidbuf, sizeof pidbuf - 1) <= 0)
		give_up(m, report(m, "err no pid file from the runtime\n"));
	close(pf);
	return atoi(pidbuf);
}

/* The FIFOs of a running container, and its output without blocking. */
static void open_fifos(struct mon *m, struct io *io)
{
	/* attach writes the container's input here (a FIFO in the bundle); a
	 * writer of our own keeps it from reporting end-of-file between
	 * attaches. */
	io->input = m->tty ? io->so.fd : (m->keepstdin ? io->in[1] : -1);
	if (m->keepstdin && io->input >= 0) {
		unlink("attach.stdin");
		if (mkfifo("attach.stdin", 0600) == 0) {
			io->fifo = open("attach.stdin", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
			io->fifo_keep = open("attach.stdin", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		}
	}
	if (m->tty) {
		skmon_eager_partial = 1;
		io->ctl = skmon_ctl_open(&io->ctl_keep);
	}
	if (m->attach && !m->tty) {
		io->so.fwd = ATTACH_OUT;
		io->se.fwd = ATTACH_ERR;
		if (m->keepstdin && io->input >= 0)
			io->ain = ATTACH_IN;
	}
	for (int s = 0; s < 2; s++) {
		struct stream *st = s ? &io->se : &io->so;
		if (st->fd >= 0)
			fcntl(st->fd, F_SETFL, fcntl(st->fd, F_GETFL) | O_NONBLOCK);
	}
}

/* Reaps what ended; returns the container's exit code once it did, else
 * -1. */
static int reap(struct io *io, pid_t cpid)
{
	struct signalfd_siginfo si;
	int status, code = -1;
	pid_t w;
	while (read(io->sfd, &si, sizeof si) > 0)
		;
	while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
		if (w == cpid)
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	return code;
}

/* Passes an attached client's input on; at its end (or the client's) the
 * container's input ends too, as a pipe's would. */
static void pass_input(struct io *io)
{
	char buf[4096];
	ssize_t n = read(io->ain, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0 && io->input >= 0 && write(io->input, buf, n) == n)
		return;
	close(io->ain);
	io->ain = -1;
	if (n <= 0 && io->input >= 0) {
		close(io->input);
		io->input = -1;
	}
}

/* Logs the container's output, passes on its input and window sizes, and
 * reaps it (and whatever it leaves to us); returns its exit code. */
static int supervise(struct io *io, pid_t cpid)
{
	int code = -1;
	while (code < 0) {
		struct pollfd p[6] = {{io->sfd, POLLIN}, {io->so.fd, POLLIN}, {io->se.fd, POLLIN}, {io->fifo, POLLIN}, {io->ctl, POLLIN}, {io->ain, POLLIN}};
		if (poll(p, 6, -1) < 0 && errno != EINTR)
			break;
		if (io->ain >= 0 && p[5].revents)
			pass_input(io);
		for (int s = 1; s < 3; s++) {
			struct stream *st = s == 1 ? &io->so : &io->se;
			if (st->fd >= 0 && p[s].revents) {
				if (!skmon_pump(st)) {
					skmon_flush_lines(st, 1);
					close(st->fd);
					st->fd = -1;
				}
			}
		}
		if (io->ctl >= 0 && (p[4].revents & POLLIN))
			skmon_ctl_read(io->ctl, io->so.fd);
		if (io->fifo >= 0 && (p[3].revents & POLLIN)) {
			char buf[4096];
			ssize_t n = read(io->fifo, buf, sizeof buf);
			if (n > 0 && io->input >= 0 && write(io->input, buf, n) < 0) {
				/* the container closed its input; drop it */
			}
		}
		if (p[0].revents)
			code = reap(io, cpid);
	}
	return code;
}

/* An attached client hears the end on the report ("exit CODE") and says
 * on the gate "mine" when it cleans up itself: the monitor then ends,
 * without its record as a holder. A client gone (end of file) leaves the
 * cleanup to the monitor, as for a detached container. */
static void hand_over(struct mon *m, int code)
{
	char buf[5];
	size_t got = 0;
	if (m->syncfd < 0 || dprintf(m->syncfd, "exit %d\n", code) < 0 || gate_fd < 0)
		return;
	while (got < sizeof buf) {
		ssize_t n = read(gate_fd, buf + got, sizeof buf - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		got += n;
	}
	if (memcmp(buf, "mine\n", 5))
		return;
	unregister_holder(m, getpid());
	_exit(0);
}

/* The container ended: the rest of its output and its end go to the log,
 * its status to the exit file, and the monitor hands over to skiff for the
 * state update, --rm and the unmount. */
static void finish(struct mon *m, struct io *io, int code)
{
	/* What the container wrote before it ended; don't wait for helpers
	 * that inherited the pipes. */
	for (int s = 0; s < 2; s++) {
		struct stream *st = s ? &io->se : &io->so;
		if (st->fd >= 0) {
			skmon_drain_stream(st);
			skmon_flush_lines(st, 1);
		}
	}
	if (io->fifo >= 0) {
		close(io->fifo);
		close(io->fifo_keep);
		unlink("attach.stdin");
	}
	if (io->ctl >= 0) {
		close(io->ctl);
		close(io->ctl_keep);
		unlink("ctl");
	}
	for (int s = 0; s < 2; s++) {
		struct stream *st = s ? &io->se : &io->so;
		if (st->fwd >= 0)
			close(st->fwd); /* the attached client's end of output */
	}
	skmon_emit_exit(code);
	write_exit(m, code);
	close(skmon_logfd);
	if (m->attach)
		hand_over(m, code);
	become_cleanup(m->id);
}

static void run_monitor(const char *conf)
{
	struct mon m;
	struct io io;
	io_init(&io);
	setup(&m, conf);
	open_io(&m, &io);
	pid_t cpid = start_container(&m, &io);
	report(&m, "ok %d\n", cpid);
	open_fifos(&m, &io);
	finish(&m, &io, supervise(&io, cpid));
}

__attribute__((constructor)) static void skiff_monitor(void)
{
	const char *conf = getenv("_SKIFF_MONITOR");
	if (conf && *conf)
		run_monitor(conf);
}
