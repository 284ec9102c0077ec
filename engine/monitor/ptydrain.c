// The keeper of a detached process's terminal (exec -d -t, or exec -it
// left with the detach keys): the skiff binary started with
// _SKIFF_PTYDRAIN=FD, holding the terminal's master side at FD. It keeps
// the terminal open, so the process is not hung up, and reads and drops
// what the process writes until every holder of the other side is gone. A
// small C program, before (and instead of) the Go runtime, as the monitor.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static void drain_terminal(int fd)
{
	char buf[4096];
	int devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
	setsid();
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		break; /* EIO: the process and all it started are gone */
	}
	_exit(0);
}

__attribute__((constructor)) static void skiff_ptydrain(void)
{
	const char *fd = getenv("_SKIFF_PTYDRAIN");
	if (fd && *fd)
		drain_terminal(atoi(fd));
}
