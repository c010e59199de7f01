/*
 * The bodies of execl(3), execle(3) and execlp(3) for the shim (Linux).
 *
 * glibc's own execl family calls its internal execve, which the shim
 * cannot interpose, so inside the sandbox they would reach the kernel
 * and fail.  These collect the arguments as glibc does and call execve
 * and execvpe by name, which are the shim's (exec_linux.rs).  Rust
 * exports them under the real names through naked jumps.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

extern char **environ;
int execvpe(const char *, char *const[], char *const[]);

/* The number of arguments after arg0, up to the terminating NULL. */
static ptrdiff_t
count_args(const char *arg0, va_list ap)
{
	ptrdiff_t n;

	if (arg0 == NULL)
		return (0);
	for (n = 1; va_arg(ap, const char *) != NULL; n++)
		if (n == INT_MAX)
			return (-1);
	return (n);
}

enum form { LIST, LIST_ENV, LIST_PATH };

/*
 * The arguments from arg0 to the NULL that ends them as an argv, then
 * execve (with the environment after that NULL for execle) or execvpe.
 */
static int
run_list(const char *file, const char *arg0, va_list ap, enum form form)
{
	va_list count;
	ptrdiff_t argc, i;
	char **envp;

	va_copy(count, ap);
	argc = count_args(arg0, count);
	va_end(count);
	if (argc < 0) {
		errno = E2BIG;
		return (-1);
	}
	char *argv[argc + 1];
	argv[0] = (char *)arg0;
	for (i = 1; i <= argc; i++)
		argv[i] = va_arg(ap, char *);
	switch (form) {
	case LIST_ENV:
		envp = va_arg(ap, char **);
		return (execve(file, argv, envp));
	case LIST_PATH:
		return (execvpe(file, argv, environ));
	default:
		return (execve(file, argv, environ));
	}
}

int
sigcap_run_execl(const char *path, const char *arg0, ...)
{
	va_list ap;
	int r;

	va_start(ap, arg0);
	r = run_list(path, arg0, ap, LIST);
	va_end(ap);
	return (r);
}

int
sigcap_run_execle(const char *path, const char *arg0, ...)
{
	va_list ap;
	int r;

	va_start(ap, arg0);
	r = run_list(path, arg0, ap, LIST_ENV);
	va_end(ap);
	return (r);
}

int
sigcap_run_execlp(const char *file, const char *arg0, ...)
{
	va_list ap;
	int r;

	va_start(ap, arg0);
	r = run_list(file, arg0, ap, LIST_PATH);
	va_end(ap);
	return (r);
}
