/*
 * A Linux program (static, built on the host) run by linux-abi.sh under
 * the guest's Linux ABI (linux64.ko), to see what a Linux process observes
 * of SIGCAP, which Linux does not have:
 *
 *   linux-sigcap catch      print "ready <pid>", then wait up to 20 s for
 *                           a signal; print "caught <linux signo>" for any
 *                           of SIGHUP..SIGSYS that arrives.
 *   linux-sigcap wait PROG  fork, execve the native FreeBSD PROG (which
 *                           kills itself with SIGCAP), print the child's
 *                           wait status as "termsig <n>" or "exit <n>".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t caught;

static void
handler(int sig)
{
	caught = sig;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	int i, st;
	pid_t pid;

	if (argc >= 2 && strcmp(argv[1], "catch") == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = handler;
		sigemptyset(&sa.sa_mask);
		for (i = SIGHUP; i <= SIGSYS; i++)
			if (i != SIGKILL && i != SIGSTOP)
				sigaction(i, &sa, NULL);
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		for (i = 0; i < 200 && caught == 0; i++)
			usleep(100000);
		printf("caught %d\n", (int)caught);
		return (caught == 0);
	}
	if (argc >= 3 && strcmp(argv[1], "wait") == 0) {
		pid = fork();
		if (pid < 0)
			return (2);
		if (pid == 0) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		if (waitpid(pid, &st, 0) != pid)
			return (2);
		if (WIFSIGNALED(st))
			printf("termsig %d\n", WTERMSIG(st));
		else
			printf("exit %d\n", WEXITSTATUS(st));
		return (0);
	}
	fprintf(stderr, "usage: linux-sigcap catch | wait PROG [ARGS]\n");
	return (2);
}
