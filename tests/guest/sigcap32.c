/*
 * A 32-bit (i386) FreeBSD process receiving SIGCAP, run by the guest init
 * on the amd64 kernel's COMPAT_FREEBSD32 layer.  The image has no lib32,
 * so this is freestanding: raw "int $0x80" system calls, no libc; the
 * kernel's own signal trampoline returns from the handler.
 *
 * In capability mode with PROC_TRAPCAP_CTL_ENABLE_SIGCAP it makes
 * openat(AT_FDCWD, ...) three ways -- directly, through syscall(2) and
 * through __syscall(2) -- and checks the 32-bit siginfo the handler gets:
 * si_signo SIGCAP, si_errno ECAPMODE, si_code CAPV_NAMEI, si_syscall the
 * number as made (SYS_openat, SYS_syscall, SYS___syscall) and
 * si_realsyscall SYS_openat, both through siginfo_to_siginfo32()'s copy
 * of the _timer member.  On a kernel without the series procctl refuses
 * the mode and every case is reported skipped.
 *
 * Output: SIGCAP-TEST lines, suite "kconf32"; exit status 0 if no case
 * failed.
 */

#define	SYS_syscall	0
#define	SYS_exit	1
#define	SYS_write	4
#define	SYS___syscall	198
#define	SYS_sigaction	416
#define	SYS_cap_enter	516
#define	SYS_openat	499
#define	SYS_procctl	544

#define	AT_FDCWD	(-100)
#define	ECAPMODE	94
#define	SIGCAP		34
#define	SA_SIGINFO	0x0040
#define	CAPV_NAMEI	7
#define	P_PID		0
#define	PROC_TRAPCAP_CTL 9
#define	PROC_TRAPCAP_CTL_ENABLE_SIGCAP 3

struct sigaction32 {
	unsigned int	sa_u;
	int		sa_flags;
	unsigned int	sa_mask[4];
};

/* struct __siginfo32, as the kernel copies it out. */
struct siginfo32 {
	int		si_signo;
	int		si_errno;
	int		si_code;
	int		si_pid;
	unsigned int	si_uid;
	int		si_status;
	unsigned int	si_addr;
	unsigned int	si_value;
	int		si_syscall;	/* _reason._timer._timerid */
	int		si_realsyscall;	/* _reason._timer._overrun */
	int		spare[6];
};

/*
 * do_syscall(n, a1..a6): the i386 system call convention, arguments on
 * the stack above a return address slot.  They are copied into a frame of
 * their own: a signal frame is pushed below %esp during the call, so
 * nothing live may sit there.  Returns the result, or -errno.
 */
int do_syscall(int, int, int, int, int, int, int);
__asm__(
    ".text\n"
    ".globl do_syscall\n"
    "do_syscall:\n"
    "	pushl %ebp\n"
    "	movl %esp, %ebp\n"
    "	pushl 32(%ebp)\n"
    "	pushl 28(%ebp)\n"
    "	pushl 24(%ebp)\n"
    "	pushl 20(%ebp)\n"
    "	pushl 16(%ebp)\n"
    "	pushl 12(%ebp)\n"
    "	pushl $0\n"
    "	movl 8(%ebp), %eax\n"
    "	int $0x80\n"
    "	jnb 1f\n"
    "	negl %eax\n"
    "1:	leave\n"
    "	ret\n");

static volatile int got;
static struct siginfo32 info;

static void
handler(int sig, struct siginfo32 *si, void *uc)
{
	(void)sig;
	(void)uc;
	info = *si;
	got++;
}

/* The compiler may emit calls to these even when freestanding. */
void *memcpy(void *, const void *, unsigned int);
void *memset(void *, int, unsigned int);

void *
memcpy(void *d, const void *s, unsigned int n)
{
	char *dp = d;
	const char *sp = s;

	while (n-- > 0)
		*dp++ = *sp++;
	return (d);
}

void *
memset(void *d, int c, unsigned int n)
{
	char *dp = d;

	while (n-- > 0)
		*dp++ = (char)c;
	return (d);
}

static char outbuf[256];
static int outlen;

static void
put(const char *s)
{
	while (*s != '\0' && outlen < (int)sizeof(outbuf) - 1)
		outbuf[outlen++] = *s++;
}

static void
putnum(int v)
{
	char d[12];
	int i = 0;
	unsigned int u;

	if (v < 0) {
		put("-");
		u = -(unsigned int)v;
	} else
		u = v;
	do {
		d[i++] = '0' + u % 10;
		u /= 10;
	} while (u != 0);
	while (i > 0) {
		char c[2] = { d[--i], '\0' };
		put(c);
	}
}

static void
flush(void)
{
	outbuf[outlen++] = '\n';
	do_syscall(SYS_write, 1, (int)outbuf, outlen, 0, 0, 0);
	outlen = 0;
}

static int failed;

/* One violation made as "how"; check what the handler saw. */
static void
check(const char *name, int ret, int made)
{
	put("SIGCAP-TEST kconf32 ");
	put(name);
	if (ret != -ECAPMODE || got != 1 || info.si_signo != SIGCAP ||
	    info.si_errno != ECAPMODE || info.si_code != CAPV_NAMEI ||
	    info.si_syscall != made || info.si_realsyscall != SYS_openat) {
		failed = 1;
		put(" fail");
	} else
		put(" pass");
	put(" ret ");
	putnum(ret);
	put(" signals ");
	putnum(got);
	put(" signo ");
	putnum(info.si_signo);
	put(" errno ");
	putnum(info.si_errno);
	put(" code ");
	putnum(info.si_code);
	put(" syscall ");
	putnum(info.si_syscall);
	put(" realsyscall ");
	putnum(info.si_realsyscall);
	flush();
	got = 0;
	info.si_signo = info.si_code = info.si_syscall = 0;
}

void _start(void) __attribute__((noreturn));

void
_start(void)
{
	static const char path[] = "/etc/passwd";
	static const char *cases[] = { "openat_direct", "openat_syscall",
	    "openat___syscall" };
	struct sigaction32 sa;
	int i, mode, r;

	mode = PROC_TRAPCAP_CTL_ENABLE_SIGCAP;
	/* procctl(P_PID, (id_t)0 as two words, PROC_TRAPCAP_CTL, &mode) */
	r = do_syscall(SYS_procctl, P_PID, 0, 0, PROC_TRAPCAP_CTL, (int)&mode,
	    0);
	if (r != 0) {
		for (i = 0; i < 3; i++) {
			put("SIGCAP-TEST kconf32 ");
			put(cases[i]);
			put(" skip no SIGCAP mode (procctl: ");
			putnum(r);
			put(")");
			flush();
		}
		do_syscall(SYS_exit, 0, 0, 0, 0, 0, 0);
	}
	sa.sa_u = (unsigned int)handler;
	sa.sa_flags = SA_SIGINFO;
	for (i = 0; i < 4; i++)
		sa.sa_mask[i] = 0;
	r = do_syscall(SYS_sigaction, SIGCAP, (int)&sa, 0, 0, 0, 0);
	r |= do_syscall(SYS_cap_enter, 0, 0, 0, 0, 0, 0);
	if (r != 0) {
		put("SIGCAP-TEST kconf32 setup fail sigaction/cap_enter");
		flush();
		do_syscall(SYS_exit, 1, 0, 0, 0, 0, 0);
	}
	r = do_syscall(SYS_openat, AT_FDCWD, (int)path, 0, 0, 0, 0);
	check(cases[0], r, SYS_openat);
	r = do_syscall(SYS_syscall, SYS_openat, AT_FDCWD, (int)path, 0, 0, 0);
	check(cases[1], r, SYS_syscall);
	/* __syscall(2) takes the number as a 64-bit quad: low word first. */
	r = do_syscall(SYS___syscall, SYS_openat, 0, AT_FDCWD, (int)path, 0, 0);
	check(cases[2], r, SYS___syscall);
	do_syscall(SYS_exit, failed, 0, 0, 0, 0, 0);
	for (;;)
		;
}
