// Joining the user and mount namespace of a running skiff process.
//
// setns(CLONE_NEWUSER) is refused to a multi-threaded process, and the Go
// runtime starts threads before main, so the join happens here, in a
// constructor that runs before the runtime does — the technique of runc's
// nsexec. The parent (rootless.Reexec) opens the namespaces of a live holder
// and passes them as file descriptors, which also keeps them alive until
// this process is in; it names the inode the user namespace must have.
// The working directory, which setns(CLONE_NEWNS) resets, is entered again
// (keep.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keep.h"

/* What happened, for the Go side (Joined): setenv here would not be seen,
 * Go reads the environment the process started with. */
int skiff_joined;
char skiff_join_error[64];

static void fail(const char *what, int err)
{
	snprintf(skiff_join_error, sizeof skiff_join_error, "%s: %s", what, strerror(err));
}

__attribute__((constructor)) static void skiff_join_namespace(void)
{
	const char *fds = getenv("_SKIFF_JOIN_FDS");
	const char *ino = getenv("_SKIFF_JOIN_INO");
	int userfd = -1, mntfd = -1;
	struct skiff_wd wd;
	struct stat st;

	if (fds == NULL || ino == NULL)
		return;
	skiff_wd_save(&wd);
	skiff_keep_host_root();
	if (sscanf(fds, "%d,%d", &userfd, &mntfd) != 2) {
		fail("bad-fds", EINVAL);
		return;
	}
	if (fstat(userfd, &st) < 0 || (unsigned long long)st.st_ino != strtoull(ino, NULL, 10)) {
		fail("stale", ESRCH);
		goto out;
	}
	if (setns(userfd, CLONE_NEWUSER) < 0) {
		fail("setns-user", errno);
		goto out;
	}
	if (setns(mntfd, CLONE_NEWNS) < 0) {
		/* Half joined is no use: stop before anything runs. */
		fprintf(stderr, "Error: joining the mount namespace: %s\n", strerror(errno));
		_exit(125);
	}
	skiff_wd_restore(&wd);
	skiff_joined = 1;
out:
	close(userfd);
	close(mntfd);
}

/* The first process of a new user namespace (rootless.runInNewNamespace):
 * it unshares the user namespace here, before the Go runtime starts, tells
 * its parent, waits until the parent has written the id maps with
 * newuidmap/newgidmap, becomes root of the namespace and makes its mount
 * namespace. Done after exec, so the capabilities the new namespace grants
 * are kept (an exec into an unmapped namespace would drop them), and with
 * no second exec. The parent closes the socket without answering when the
 * maps failed, and says why. */
__attribute__((constructor)) static void skiff_new_namespace(void)
{
	const char *fdstr = getenv("_SKIFF_MAP_SYNC");
	char c = 'r';
	int fd;

	if (fdstr == NULL)
		return;
	fd = atoi(fdstr);
	if (unshare(CLONE_NEWUSER) < 0) {
		fprintf(stderr, "Error: creating a user namespace: %s; check that unprivileged user namespaces are enabled (sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces)\n", strerror(errno));
		_exit(125);
	}
	if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
		_exit(125);
	close(fd);
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
		fprintf(stderr, "Error: becoming root in the user namespace: %s\n", strerror(errno));
		_exit(125);
	}
	if (unshare(CLONE_NEWNS) < 0) {
		fprintf(stderr, "Error: creating a mount namespace: %s\n", strerror(errno));
		_exit(125);
	}
	skiff_make_rslave();
}
