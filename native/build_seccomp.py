"""cffi builder for ocirt._seccomp: libseccomp bindings plus raw seccomp(2) helpers.

libseccomp is used only in the runtime (parent) to compile a profile to BPF.
The container's init loads that BPF with the plain seccomp(2) syscall via
ocirt_seccomp_load(), so nothing of libseccomp runs after fork.

Build in place:  python3 native/build_inplace.py
(setup.py lists "native/build_seccomp.py:ffibuilder" in cffi_modules.)
"""

import cffi

ffibuilder = cffi.FFI()

# Values come from the real headers: "..." makes cffi take them at build time.
ffibuilder.cdef(
    """
    typedef void *scmp_filter_ctx;
    typedef uint64_t scmp_datum_t;

    enum scmp_filter_attr {
        SCMP_FLTATR_ACT_DEFAULT, SCMP_FLTATR_ACT_BADARCH, SCMP_FLTATR_CTL_NNP,
        SCMP_FLTATR_CTL_TSYNC, SCMP_FLTATR_CTL_OPTIMIZE, ...
    };
    enum scmp_compare {
        SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE,
        SCMP_CMP_GT, SCMP_CMP_MASKED_EQ, ...
    };
    struct scmp_arg_cmp {
        unsigned int arg;
        enum scmp_compare op;
        scmp_datum_t datum_a;
        scmp_datum_t datum_b;
    };
    struct scmp_version {
        unsigned int major;
        unsigned int minor;
        unsigned int micro;
    };

    #define SCMP_ACT_KILL_PROCESS ...
    #define SCMP_ACT_KILL_THREAD ...
    #define SCMP_ACT_TRAP ...
    #define SCMP_ACT_NOTIFY ...
    #define SCMP_ACT_LOG ...
    #define SCMP_ACT_ALLOW ...

    #define SECCOMP_FILTER_FLAG_TSYNC ...
    #define SECCOMP_FILTER_FLAG_LOG ...
    #define SECCOMP_FILTER_FLAG_SPEC_ALLOW ...
    #define SECCOMP_FILTER_FLAG_NEW_LISTENER ...
    #define SECCOMP_FILTER_FLAG_TSYNC_ESRCH ...
    #define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ...

    #define SECCOMP_RET_KILL_PROCESS ...
    #define SECCOMP_RET_KILL_THREAD ...
    #define SECCOMP_RET_TRAP ...
    #define SECCOMP_RET_ERRNO ...
    #define SECCOMP_RET_USER_NOTIF ...
    #define SECCOMP_RET_TRACE ...
    #define SECCOMP_RET_LOG ...
    #define SECCOMP_RET_ALLOW ...

    scmp_filter_ctx seccomp_init(uint32_t def_action);
    void seccomp_release(scmp_filter_ctx ctx);
    int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr,
                         uint32_t value);
    uint32_t seccomp_arch_resolve_name(const char *arch_name);
    uint32_t seccomp_arch_native(void);
    int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
    int seccomp_syscall_resolve_name(const char *name);
    int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
    int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action,
                               int syscall, unsigned int arg_cnt,
                               const struct scmp_arg_cmp *arg_array);
    int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);
    const struct scmp_version *seccomp_version(void);

    uint32_t ocirt_act_errno(uint32_t code);
    uint32_t ocirt_act_trace(uint32_t code);
    int ocirt_seccomp_load(unsigned int flags, const void *prog, size_t size);
    int ocirt_seccomp_flag_supported(unsigned int flag);
    int ocirt_seccomp_action_available(uint32_t action);
    int ocirt_set_no_new_privs(void);
    """
)

# The C helpers return -errno on failure so Python needs no errno juggling
# in the child, where as little as possible should run.
ffibuilder.set_source(
    "ocirt._seccomp",
    r"""
    #include <errno.h>
    #include <stddef.h>
    #include <unistd.h>
    #include <sys/prctl.h>
    #include <sys/syscall.h>
    #include <linux/filter.h>
    #include <linux/seccomp.h>
    #include <seccomp.h>

    #ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    #define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
    #endif

    static uint32_t ocirt_act_errno(uint32_t code) { return SCMP_ACT_ERRNO(code); }
    static uint32_t ocirt_act_trace(uint32_t code) { return SCMP_ACT_TRACE(code); }

    /* Returns the listener fd (NEW_LISTENER), 0, or -errno. */
    static int ocirt_seccomp_load(unsigned int flags, const void *prog, size_t size)
    {
        struct sock_fprog fprog;
        long rc;

        fprog.len = (unsigned short)(size / sizeof(struct sock_filter));
        fprog.filter = (struct sock_filter *)prog;
        rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
        return rc < 0 ? -errno : (int)rc;
    }

    /* The kernel validates flags before the program pointer: EFAULT on a
       NULL program means the flag is known, EINVAL means it is not. */
    static int ocirt_seccomp_flag_supported(unsigned int flag)
    {
        long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flag, NULL);
        return rc < 0 && errno == EFAULT;
    }

    static int ocirt_seccomp_action_available(uint32_t action)
    {
        return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
    }

    static int ocirt_set_no_new_privs(void)
    {
        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
    }
    """,
    libraries=["seccomp"],
)
