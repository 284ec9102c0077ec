/* The monitor's output handling (monlog.c): the log, the streams of the
 * container's output, the control FIFO and the console socket's
 * descriptor. See doc.go for the formats. */
#ifndef SKIFF_MONLOG_H
#define SKIFF_MONLOG_H
#include <stddef.h>

/* A log record per line: "TIMESTAMP STREAM F|P TEXT\n". */
struct stream {
	const char *name;
	int fd;
	int fwd; /* an attached client's copy of the stream (-1: none) */
	char buf[16384];
	size_t len;
};

extern int skmon_logfd;         /* the container's log, appended to */
extern int skmon_eager_partial; /* a -t container's output: logged as it comes */

void skmon_emit(const char *stream, const char *text, size_t n, int full);
void skmon_flush_lines(struct stream *s, int final);
int skmon_pump(struct stream *s);
void skmon_emit_exit(int code);
void skmon_drain_stream(struct stream *s);
int skmon_ctl_open(int *keep);
void skmon_ctl_read(int fd, int master);
int skmon_recv_fd(int sock);
#endif
