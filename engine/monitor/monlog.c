// The monitor's output (see monitor.c and doc.go): every line the
// container prints goes to the log with a timestamp and its stream, and to
// an attached client as it comes; the control FIFO sets a terminal's size.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "monlog.h"


int skmon_logfd = -1;

void skmon_emit(const char *stream, const char *text, size_t n, int full)
{
	struct timespec ts;
	struct tm tm;
	char head[96];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int h = snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s %c ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec, stream, full ? 'F' : 'P');
	struct iovec iov[3] = {{head, (size_t)h}, {(void *)text, n}, {"\n", 1}};
	if (writev(skmon_logfd, iov, 3) < 0) {
		/* a full disk loses log lines, never the container */
	}
}

void skmon_flush_lines(struct stream *s, int final)
{
	size_t start = 0;
	for (size_t i = 0; i < s->len; i++) {
		if (s->buf[i] == '\n') {
			skmon_emit(s->name, s->buf + start, i - start, 1);
			start = i + 1;
		}
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
	/* A last line without its newline is a piece too: logs gives it
	 * back as the container wrote it (podman's k8s-file does the same). */
	if (s->len == sizeof s->buf || (final && s->len > 0)) {
		skmon_emit(s->name, s->buf, s->len, 0);
		s->len = 0;
	}
}

/* A -t container's output goes to the log as it comes, partial lines
 * too: a prompt has no newline, and attach follows the log. */
int skmon_eager_partial;

static void skmon_flush_partial(struct stream *s)
{
	if (skmon_eager_partial && s->len > 0) {
		skmon_emit(s->name, s->buf, s->len, 0);
		s->len = 0;
	}
}

/* Passes what was just read on to the attached client, as it came; a
 * client that went away gets no more. */
static void skmon_forward(struct stream *s, const char *p, size_t n)
{
	while (s->fwd >= 0 && n > 0) {
		ssize_t w = write(s->fwd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(s->fwd);
			s->fwd = -1;
			return;
		}
		p += w;
		n -= w;
	}
}

/* Reads what is there; returns 0 at EOF or error. */
int skmon_pump(struct stream *s)
{
	ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
	if (n <= 0)
		return n < 0 && errno == EAGAIN;
	skmon_forward(s, s->buf + s->len, n);
	s->len += n;
	skmon_flush_lines(s, 0);
	skmon_flush_partial(s);
	return 1;
}

/* The end of the container, for attach, which ends on this record (the
 * log outlives a --rm container's record for whoever has it open). */
void skmon_emit_exit(int code)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d", code);
	skmon_emit("exit", buf, n, 1);
}

/* The control FIFO of a -t container ("ctl" in the bundle, as conmon's
 * ctl file): lines "1 ROWS COLS" set the terminal's window size. A writer
 * of our own keeps it from reporting end-of-file between writers. */
int skmon_ctl_open(int *keep)
{
	unlink("ctl");
	if (mkfifo("ctl", 0600) < 0)
		return -1;
	int fd = open("ctl", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	*keep = open("ctl", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	return fd;
}

void skmon_ctl_read(int fd, int master)
{
	static char buf[512];
	static size_t len;
	ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
	if (n <= 0)
		return;
	len += n;
	char *line = buf, *nl;
	while ((nl = memchr(line, '\n', buf + len - line))) {
		*nl = 0;
		unsigned rows, cols;
		int kind;
		if (sscanf(line, "%d %u %u", &kind, &rows, &cols) == 3 && kind == 1 && master >= 0) {
			struct winsize ws = {.ws_row = rows, .ws_col = cols};
			ioctl(master, TIOCSWINSZ, &ws);
		}
		line = nl + 1;
	}
	len -= line - buf;
	memmove(buf, line, len);
	if (len == sizeof buf - 1)
		len = 0; /* no line this long is ours */
}

/* What is left to read once the container ended, without waiting: a
 * helper that inherited the pipe may hold it open (EAGAIN is the end). */
void skmon_drain_stream(struct stream *s)
{
	for (;;) {
		ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
		if (n <= 0)
			return;
		skmon_forward(s, s->buf + s->len, n);
		s->len += n;
		skmon_flush_lines(s, 0);
		skmon_flush_partial(s);
	}
}

int skmon_recv_fd(int sock)
{
	char data[64], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {data, sizeof data};
	struct msghdr msg = {0};
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof cbuf;
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0)
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

