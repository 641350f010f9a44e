/*
 * rusage-exec PROG ARGS...: run PROG, then write
 * "<wall_ns> <maxrss_kib> <status> <user_us> <sys_us>" to fd 3.
 *
 * Why a C helper: ru_maxrss of a child counts the memory of the process it
 * was forked from (with vfork, the very same mm), so a child of the Python
 * harness reports ~20 MiB whatever it really used.  Forked from this tiny
 * static process the baseline is a few hundred KiB, and the wall clock
 * (fork to reap) excludes the harness's own spawn cost.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	int status = 0;
	long long t0, t1;
	pid_t pid;

	if (argc < 2)
		return 125;
	/* The measured program must not inherit the report channel. */
	fcntl(3, F_SETFD, FD_CLOEXEC);
	t0 = now_ns();
	pid = fork();
	if (pid < 0)
		return 126;
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		return 126;
	t1 = now_ns();
	dprintf(3, "%lld %ld %d %lld %lld\n", t1 - t0, ru.ru_maxrss, status,
		ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
		ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
