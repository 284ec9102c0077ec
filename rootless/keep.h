/* What a process keeps when it moves into the user's namespace (keep.c),
 * and the holder records both ways in use (enter.c, join.c). */
#ifndef SKIFF_KEEP_H
#define SKIFF_KEEP_H

#include <limits.h>
#include <sys/types.h>

/* The caller's working directory, taken before setns(CLONE_NEWNS), which
 * resets it to the namespace's root. */
struct skiff_wd {
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	int err; /* why the caller itself cannot use it (0: it can) */
};

void skiff_wd_save(struct skiff_wd *w);
/* Enters the same directory inside the namespace, or says why not on
 * stderr and ends the process with 125: a silent "/" would resolve every
 * relative path elsewhere. */
void skiff_wd_restore(const struct skiff_wd *w);

/* The host's root, kept open (close-on-exec) across a join, so that
 * rootless.CheckHostView can tell a host path the namespace does not see
 * as the host does; -1 when this process made the namespace (a copy of
 * the host's mounts as they are now). */
extern int skiff_host_root;
void skiff_keep_host_root(void);

/* Makes every mount of a new mount namespace a slave of the mount it was
 * copied from: mounts the host makes later (a tmpfs, a disk holding the
 * graph root) appear in the namespace, as in podman's. */
void skiff_make_rslave(void);

#endif
