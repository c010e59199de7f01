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

#define	COLLECT(arg0, argc, argv, ap) do {				\
	ptrdiff_t i_;							\
									\
	(argv)[0] = (char *)(arg0);					\
	for (i_ = 1; i_ <= (argc); i_++)				\
		(argv)[i_] = va_arg((ap), char *);			\
} while (0)

int
sigcap_run_execl(const char *path, const char *arg0, ...)
{
	va_list ap;
	ptrdiff_t argc;

	va_start(ap, arg0);
	argc = count_args(arg0, ap);
	va_end(ap);
	if (argc < 0) {
		errno = E2BIG;
		return (-1);
	}
	char *argv[argc + 1];
	va_start(ap, arg0);
	COLLECT(arg0, argc, argv, ap);
	va_end(ap);
	return (execve(path, argv, environ));
}

int
sigcap_run_execle(const char *path, const char *arg0, ...)
{
	va_list ap;
	ptrdiff_t argc;
	char **envp;

	va_start(ap, arg0);
	argc = count_args(arg0, ap);
	va_end(ap);
	if (argc < 0) {
		errno = E2BIG;
		return (-1);
	}
	char *argv[argc + 1];
	va_start(ap, arg0);
	COLLECT(arg0, argc, argv, ap);
	/* The environment follows the NULL that ends the arguments. */
	envp = va_arg(ap, char **);
	va_end(ap);
	return (execve(path, argv, envp));
}

int
sigcap_run_execlp(const char *file, const char *arg0, ...)
{
	va_list ap;
	ptrdiff_t argc;

	va_start(ap, arg0);
	argc = count_args(arg0, ap);
	va_end(ap);
	if (argc < 0) {
		errno = E2BIG;
		return (-1);
	}
	char *argv[argc + 1];
	va_start(ap, arg0);
	COLLECT(arg0, argc, argv, ap);
	va_end(ap);
	return (execvpe(file, argv, environ));
}
