// What a process keeps when it moves into the user's namespace.
//
// setns(CLONE_NEWNS) sets the working directory (and root) of the caller to
// the root of the namespace it joins, so every relative path a user gives
// (-v ./dir, --env-file e, save -o out.tar, cp ./f …) would be resolved
// against "/". The umask, the environment and the descriptors survive a
// setns; the working directory is entered again here by its path, and must
// be the same directory on both sides.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keep.h"

void skiff_wd_save(struct skiff_wd *w)
{
	struct stat st;

	memset(w, 0, sizeof *w);
	if (getcwd(w->path, sizeof w->path) == NULL) {
		w->err = errno;
		return;
	}
	if (stat(".", &st) < 0) {
		w->err = errno;
		return;
	}
	w->dev = st.st_dev;
	w->ino = st.st_ino;
}

void skiff_wd_restore(const struct skiff_wd *w)
{
	struct stat st;

	if (w->err == EACCES) {
		/* Not searchable by the caller either (sudo -u USER from
		 * /root): no relative path worked before the join. */
		if (chdir("/") == 0)
			return;
	}
	if (w->err) {
		fprintf(stderr, "Error: the working directory is gone (%s): change to an existing directory\n", strerror(w->err));
		_exit(125);
	}
	if (chdir(w->path) < 0) {
		fprintf(stderr, "Error: the working directory %s is not in the user's namespace (%s): it was mounted after the namespace was made, which lives while a container runs; change to another directory\n",
			w->path, strerror(errno));
		_exit(125);
	}
	if (stat(".", &st) < 0 || st.st_dev != w->dev || st.st_ino != w->ino) {
		fprintf(stderr, "Error: the working directory %s is another directory in the user's namespace: it was mounted after the namespace was made, which lives while a container runs; change to another directory\n",
			w->path);
		_exit(125);
	}
}

int skiff_host_root = -1;

void skiff_keep_host_root(void)
{
	skiff_host_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

void skiff_make_rslave(void)
{
	/* Fails only where nothing could propagate anyway. */
	(void)mount("none", "/", NULL, MS_REC | MS_SLAVE, NULL);
}
