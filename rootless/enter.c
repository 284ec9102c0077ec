// The fast way into the user's namespace: the first skiff process of a
// command that needs it enters in a constructor, before the Go runtime
// starts, instead of re-executing itself (rootless.Reexec). It joins the
// namespace of a live holder, or makes the namespace itself, with the id
// maps the Go side computed and checked the last time it made one (the
// idmaps file, valid while /etc/subuid and /etc/subgid are unchanged).
//
// Whenever anything here is unusual — a global flag before the command, no
// runtime directory, no idmaps file yet, a helper that fails — it leaves
// the process as it was and the Go side takes the slow path, which does the
// same work with full error reporting. The one exception is a namespace
// already joined halfway (user but not mount), which cannot be undone.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keep.h"

extern int skiff_joined;

/* Read by the Go side (rootless.fastEntered). */
int skiff_fast_entered;
unsigned long long skiff_fast_uid, skiff_fast_gid, skiff_fast_uids, skiff_fast_gids;

/* The top-level commands that run in the namespace; a test keeps this
 * list equal to the commands the CLI marks as needing storage. */
static const char *const fast_commands[] = {
	"run", "create", "start", "stop", "restart", "kill", "rm", "wait", "logs", "exec",
	"pull", "push", "images", "inspect", "rmi", "tag", "untag", "history", "save", "load", "import", "info",
	"commit", "diff", "export", "cp", "rename", "pause", "unpause", "top", "stats", "port", "attach",
	"auto-update", "build", NULL,
};

const char *skiff_fast_command(int i) { return fast_commands[i]; }

static int wants_namespace(int argc, char **argv)
{
	if (argc < 2)
		return 0;
	for (int i = 0; fast_commands[i]; i++)
		if (strcmp(argv[1], fast_commands[i]) == 0)
			return 1;
	return 0;
}

/* The helpers' command lines from the idmaps file, when still valid. */
struct maps {
	char buf[4096];
	char *uid[64], *gid[64];
};

static int stat_key_matches(const char *line, const char *path)
{
	struct stat st;
	char want[128];

	if (stat(path, &st) < 0)
		snprintf(want, sizeof want, "0 0 0 0 0");
	else
		snprintf(want, sizeof want, "%llu %llu %llu %lld %ld", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino, (unsigned long long)st.st_size,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	return strcmp(line, want) == 0;
}

/* Splits a line into argv[1..] after a slot for the pid at argv[1]. */
static int split_args(char *line, char **argv, unsigned long long *total)
{
	int n = 0;
	char *save = NULL;

	*total = 0;
	for (char *tok = strtok_r(line, " ", &save); tok && n < 60; tok = strtok_r(NULL, " ", &save)) {
		argv[n == 0 ? 0 : n + 1] = tok;
		if (n > 0 && n % 3 == 0)
			*total += strtoull(tok, NULL, 10);
		n++;
	}
	argv[n + 1] = NULL;
	return n >= 4 && (n - 1) % 3 == 0;
}

static int read_maps(const char *dir, struct maps *m)
{
	char path[4096], *lines[6];
	ssize_t len;
	int fd, n = 0;

	snprintf(path, sizeof path, "%s/idmaps", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	len = read(fd, m->buf, sizeof m->buf - 1);
	close(fd);
	if (len <= 0)
		return 0;
	m->buf[len] = 0;
	for (char *p = m->buf; n < 6 && p && *p; n++) {
		lines[n] = p;
		p = strchr(p, '\n');
		if (p)
			*p++ = 0;
	}
	return n == 5 && strcmp(lines[0], "skiff-idmaps 1") == 0 &&
	       stat_key_matches(lines[1], "/etc/subuid") && stat_key_matches(lines[2], "/etc/subgid") &&
	       split_args(lines[3], m->uid, &skiff_fast_uids) && split_args(lines[4], m->gid, &skiff_fast_gids);
}

static pid_t spawn_helper(char **argv, const char *pid)
{
	pid_t child = fork();

	if (child == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		argv[1] = (char *)pid;
		execv(argv[0], argv);
		_exit(127);
	}
	return child;
}

static int helper_ok(pid_t pid)
{
	int status;

	if (pid < 0)
		return 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The inode of the user namespace that owns the namespace fd. */
static unsigned long long ns_owner(int fd)
{
	struct stat st;
	int owner = ioctl(fd, NS_GET_USERNS);
	unsigned long long ino = 0;

	if (owner < 0)
		return 0;
	if (fstat(owner, &st) == 0)
		ino = st.st_ino;
	close(owner);
	return ino;
}

static void fatal(const char *what)
{
	fprintf(stderr, "Error: %s: %s\n", what, strerror(errno));
	_exit(125);
}

/* A holder record: "USERINO MNTINO", the inodes of the holder's user and
 * mount namespaces (records of older skiffs have the first only). */
static int read_record(const char *dir, const char *name, unsigned long long *user, unsigned long long *mnt)
{
	char path[4096], data[64], *end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, data, sizeof data - 1);
	close(fd);
	data[n > 0 ? n : 0] = 0;
	*user = strtoull(data, &end, 10);
	*mnt = strtoull(end, NULL, 10);
	return 1;
}

/* A process that has exited and waits to be reaped keeps its user
 * namespace but no longer has a mount namespace. */
static int is_zombie(const char *pid)
{
	char path[64], data[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	n = read(fd, data, sizeof data - 1);
	close(fd);
	data[n > 0 ? n : 0] = 0;
	p = strrchr(data, ')');
	return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

/* Joins the namespace of a live holder and enters the caller's working
 * directory there; removes the records of dead holders. Returns 1 once
 * joined, 0 when no holder lives, and -1 when one lives but could not be
 * joined just now (it is ending, or still on its way in): the caller tries
 * again rather than making a second namespace beside a live one. */
static int join_holder(const char *dir, const struct skiff_wd *wd)
{
	DIR *d = opendir(dir);
	struct dirent *ent;
	int joined = 0, busy = 0;

	if (!d)
		return 0;
	while (!joined && (ent = readdir(d))) {
		char path[4096];
		unsigned long long want, wantmnt;
		struct stat st;
		int userfd = -1, mntfd = -1, stale = 0;

		if (strspn(ent->d_name, "0123456789") != strlen(ent->d_name) || !ent->d_name[0])
			continue;
		if (!read_record(dir, ent->d_name, &want, &wantmnt))
			continue; /* unregistered meanwhile */
		snprintf(path, sizeof path, "/proc/%s/ns/user", ent->d_name);
		userfd = open(path, O_RDONLY | O_CLOEXEC);
		if (userfd < 0 && errno != ENOENT && errno != ESRCH) {
			busy = 1; /* out of descriptors, say: no verdict */
			goto next;
		}
		if (want == 0 || userfd < 0 || fstat(userfd, &st) < 0 || st.st_ino != want) {
			stale = 1;
			goto next;
		}
		snprintf(path, sizeof path, "/proc/%s/ns/mnt", ent->d_name);
		mntfd = open(path, O_RDONLY | O_CLOEXEC);
		if (mntfd < 0) {
			if (is_zombie(ent->d_name))
				stale = 1;
			else
				busy = 1;
			goto next;
		}
		if (wantmnt != 0 && (fstat(mntfd, &st) < 0 || st.st_ino != wantmnt)) {
			/* The PID is reused by another process of the same user
			 * namespace: a container's, with its own mounts. */
			stale = 1;
			goto next;
		}
		if (wantmnt == 0 && ns_owner(mntfd) != want) {
			busy = 1;
			goto next;
		}
		if (setns(userfd, CLONE_NEWUSER) < 0) {
			busy = 1;
			goto next;
		}
		if (setns(mntfd, CLONE_NEWNS) < 0)
			fatal("joining the mount namespace");
		skiff_wd_restore(wd);
		joined = 1;
	next:
		if (stale) {
			snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
			unlink(path);
		}
		if (userfd >= 0)
			close(userfd);
		if (mntfd >= 0)
			close(mntfd);
	}
	closedir(d);
	return joined ? 1 : busy ? -1 : 0;
}

/* Whether the directory at path has an entry. */
static int has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *ent;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (ent = readdir(d)))
		found = ent->d_name[0] != '.';
	closedir(d);
	return found;
}

/* Whether a namespace directory in run has a container's runtime state:
 * without one there is nothing to adopt, and no need to look through
 * every process. */
static int any_runtime_state(const char *run)
{
	char path[4096];
	DIR *d;
	struct dirent *ent;
	int found = 0;

	snprintf(path, sizeof path, "%s/skiff", run);
	if (!(d = opendir(path)))
		return 0;
	while (!found && (ent = readdir(d))) {
		if (strncmp(ent->d_name, "ns-", 3) != 0 || strchr(ent->d_name, '.'))
			continue;
		snprintf(path, sizeof path, "%s/skiff/%s/runtime", run, ent->d_name);
		found = has_entries(path);
	}
	closedir(d);
	return found;
}

/* A namespace of the user's whose holders all ended while a container of
 * it still runs (its monitor was killed): its directory has the runtime's
 * state of that container, and the container's processes keep the user
 * namespace. With no holder, this process adopts it rather than making a
 * second one beside it, where the container could not be reached (exec
 * needs its runtime state, and only a process in the container's user
 * namespace may join it): it joins the user namespace, found from the host
 * by a process of the user's in it (the host side may look at every one,
 * dumpable or not), and makes a mount namespace of its own there, as a
 * namespace's creator does. Returns 1 once in. */
static int adopt_orphan(const char *run, const struct skiff_wd *wd)
{
	unsigned long long seen[64];
	int nseen = 0, adopted = 0;
	struct stat self;
	DIR *proc;
	struct dirent *ent;

	if (!any_runtime_state(run) || stat("/proc/self/ns/user", &self) < 0 || !(proc = opendir("/proc")))
		return 0;
	while (!adopted && (ent = readdir(proc))) {
		char path[4200];
		struct stat st;
		int fd, known = 0;

		if (strspn(ent->d_name, "0123456789") != strlen(ent->d_name) || !ent->d_name[0])
			continue;
		snprintf(path, sizeof path, "/proc/%s", ent->d_name);
		if (stat(path, &st) < 0 || st.st_uid != getuid())
			continue;
		snprintf(path, sizeof path, "/proc/%s/ns/user", ent->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) < 0 || st.st_ino == self.st_ino)
			goto next;
		for (int i = 0; i < nseen; i++)
			known |= seen[i] == (unsigned long long)st.st_ino;
		if (known)
			goto next;
		if (nseen < 64)
			seen[nseen++] = st.st_ino;
		snprintf(path, sizeof path, "%s/skiff/ns-%llu/runtime", run, (unsigned long long)st.st_ino);
		if (!has_entries(path) || setns(fd, CLONE_NEWUSER) < 0)
			goto next;
		if (unshare(CLONE_NEWNS) < 0)
			fatal("creating a mount namespace");
		skiff_make_rslave();
		skiff_wd_restore(wd);
		adopted = 1;
	next:
		close(fd);
	}
	closedir(proc);
	return adopted;
}

/* Makes the namespace: a child unshares a user namespace, newuidmap and
 * newgidmap map it side by side, and this process moves into it and makes
 * its own mount namespace there. The child ends once this process is in,
 * so that nothing is left in a namespace that failed. */
static int create_namespace(struct maps *m)
{
	int up[2], down[2], ok = 0, fd;
	char c = 0, pid[32], path[64];
	pid_t child, u, g;

	if (pipe2(up, O_CLOEXEC) < 0)
		return 0;
	if (pipe2(down, O_CLOEXEC) < 0) {
		close(up[0]);
		close(up[1]);
		return 0;
	}
	child = fork();
	if (child == 0) {
		close(up[0]);
		close(down[1]);
		c = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'e';
		if (write(up[1], &c, 1) == 1)
			(void)!read(down[0], &c, 1);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if (child < 0 || read(up[0], &c, 1) != 1 || c != 'u')
		goto out;
	snprintf(pid, sizeof pid, "%d", child);
	u = spawn_helper(m->uid, pid);
	g = spawn_helper(m->gid, pid);
	ok = helper_ok(u) & helper_ok(g);
	if (!ok)
		goto out;
	snprintf(path, sizeof path, "/proc/%d/ns/user", child);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ok = fd >= 0 && setns(fd, CLONE_NEWUSER) == 0;
	if (fd >= 0)
		close(fd);
	if (!ok)
		goto out;
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		fatal("becoming root in the user namespace");
	if (unshare(CLONE_NEWNS) < 0)
		fatal("creating a mount namespace");
	skiff_make_rslave();
out:
	close(up[0]);
	close(down[1]);
	if (child > 0)
		helper_ok(child);
	return ok;
}

/* A namespace just made has an inode an older, ended one may have had:
 * that one's directory (rootless.Layout.Namespace) is moved aside, so that
 * nothing of it passes for this one's (see RetireNamespaceDir). */
static void retire_namespace_dir(const char *run)
{
	char path[4096], stale[4200];
	struct stat user;
	if (stat("/proc/self/ns/user", &user) < 0)
		return;
	snprintf(path, sizeof path, "%s/skiff/ns-%llu", run, (unsigned long long)user.st_ino);
	snprintf(stale, sizeof stale, "%s.stale-%d", path, getpid());
	(void)rename(path, stale);
}

/* Records this process as a holder (see rootless/holders.go). */
static void register_holder(const char *dir)
{
	char path[4096], tmp[4096], data[64];
	struct stat user, mnt;
	int fd, n;

	if (stat("/proc/self/ns/user", &user) < 0 || stat("/proc/self/ns/mnt", &mnt) < 0)
		return;
	snprintf(path, sizeof path, "%s/%d", dir, getpid());
	snprintf(tmp, sizeof tmp, "%s/.%d.tmp", dir, getpid());
	n = snprintf(data, sizeof data, "%llu %llu", (unsigned long long)user.st_ino, (unsigned long long)mnt.st_ino);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, data, n) == n)
		rename(tmp, path);
	close(fd);
}

__attribute__((constructor)) static void skiff_fast_enter(int argc, char **argv, char **envp)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	char dir[4096], lockpath[4200];
	struct maps m;
	struct stat st;
	int lock;

	(void)envp;
	if (geteuid() == 0 || !wants_namespace(argc, argv) || !run || run[0] != '/')
		return;
	if (getenv("_SKIFF_JOIN_FDS") || getenv("_SKIFF_MAP_SYNC") || getenv("_SKIFF_MONITOR") || getenv("_SKIFF_NO_FAST_ENTER"))
		return;
	if (stat(run, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
		return;
	snprintf(dir, sizeof dir, "%s/skiff/ns", run);
	snprintf(lockpath, sizeof lockpath, "%s/lock", dir);
	lock = open(lockpath, O_RDWR | O_CLOEXEC);
	if (lock < 0)
		return;
	if (flock(lock, LOCK_EX) < 0) {
		close(lock);
		return;
	}
	skiff_fast_uid = getuid();
	skiff_fast_gid = getgid();
	if (read_maps(dir, &m)) {
		struct skiff_wd wd;
		int joined;

		skiff_wd_save(&wd);
		skiff_keep_host_root();
		/* A holder on its way in or out is a matter of microseconds;
		 * after 100 ms the slow path decides, with its own checks. */
		for (int try = 0; (joined = join_holder(dir, &wd)) < 0 && try < 50; try++)
			usleep(2000);
		if (joined <= 0 && skiff_host_root >= 0) {
			close(skiff_host_root);
			skiff_host_root = -1;
		}
		int adopted = joined == 0 && adopt_orphan(run, &wd);
		int created = joined == 0 && !adopted && create_namespace(&m);
		if (created)
			retire_namespace_dir(run);
		if (joined > 0 || adopted || created) {
			register_holder(dir);
			skiff_fast_entered = 1;
			skiff_joined = 1;
		}
	}
	close(lock);
}
