/* Thin wrappers over the Linux system calls Python's os module lacks.
 * Kept deliberately dumb: policy lives in Python, this file only makes the
 * calls and turns errno into a negative return value. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <linux/mount.h>

#define RET(expr) do { long r_ = (long)(expr); return r_ < 0 ? -errno : (int)r_; } while (0)

int oc_mount(const char *src, const char *target, const char *fstype,
             unsigned long flags, const char *data)
{ RET(mount(src, target, fstype, flags, data)); }

int oc_umount2(const char *target, int flags) { RET(umount2(target, flags)); }

int oc_pivot_root(const char *new_root, const char *put_old)
{ RET(syscall(SYS_pivot_root, new_root, put_old)); }

int oc_unshare(int flags) { RET(unshare(flags)); }

int oc_setns(int fd, int nstype) { RET(setns(fd, nstype)); }

int oc_sethostname(const char *name, size_t len) { RET(sethostname(name, len)); }

int oc_setdomainname(const char *name, size_t len) { RET(setdomainname(name, len)); }

int oc_prctl(int option, unsigned long a2, unsigned long a3,
             unsigned long a4, unsigned long a5)
{ RET(prctl(option, a2, a3, a4, a5)); }

/* out/caps: effective[0..1], permitted[0..1], inheritable[0..1] (64-bit sets
 * split in two 32-bit words, as capability version 3 requires). */
int oc_capget(int pid, uint32_t out[6])
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, pid };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        out[i] = data[i].effective;
        out[2 + i] = data[i].permitted;
        out[4 + i] = data[i].inheritable;
    }
    return 0;
}

int oc_capset(const uint32_t caps[6])
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = caps[i];
        data[i].permitted = caps[2 + i];
        data[i].inheritable = caps[4 + i];
    }
    RET(syscall(SYS_capset, &hdr, data));
}

int oc_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
               uint64_t resolve)
{
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    long fd = -1;
    /* With RESOLVE_IN_ROOT/BENEATH the kernel answers EAGAIN when a rename or
     * mount anywhere on the system raced with the lookup (openat2(2)): retry,
     * as the man page says to; a busy host (many containers starting at once)
     * otherwise fails a create now and then. */
    for (int attempt = 0; attempt < 256; attempt++) {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN)
            break;
    }
    RET(fd);
}

int oc_pidfd_open(int pid, unsigned int flags)
{ RET(syscall(SYS_pidfd_open, pid, flags)); }

int oc_pidfd_send_signal(int pidfd, int sig)
{ RET(syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0)); }

int oc_close_range(unsigned int first, unsigned int last, unsigned int flags)
{ RET(syscall(SYS_close_range, first, last, flags)); }

long oc_join_session_keyring(const char *name)
{
    /* KEYCTL_JOIN_SESSION_KEYRING = 1 */
    long r = syscall(SYS_keyctl, 1, name, 0, 0, 0);
    return r < 0 ? -errno : r;
}

/* mount_setattr(2) with every field: recursive attributes, propagation and
 * an ID mapping (MOUNT_ATTR_IDMAP with the user namespace fd). */
int oc_mount_setattr(int dirfd, const char *path, unsigned int at_flags,
                     uint64_t attr_set, uint64_t attr_clr, uint64_t propagation,
                     uint64_t userns_fd)
{
    struct mount_attr attr = { .attr_set = attr_set, .attr_clr = attr_clr,
                               .propagation = propagation, .userns_fd = userns_fd };
    RET(syscall(SYS_mount_setattr, dirfd, path, at_flags, &attr, sizeof(attr)));
}

int oc_open_tree(int dirfd, const char *path, unsigned int flags)
{ RET(syscall(SYS_open_tree, dirfd, path, flags)); }

int oc_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                  const char *to_path, unsigned int flags)
{ RET(syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags)); }

int oc_ioprio_set(int which, int who, int ioprio)
{ RET(syscall(SYS_ioprio_set, which, who, ioprio)); }

/* sched_setattr(2): the only call that sets every field of process.scheduler
 * (deadline parameters, flags); glibc has no wrapper. */
int oc_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                     uint32_t priority, uint64_t runtime, uint64_t deadline,
                     uint64_t period)
{
    struct {
        uint32_t size, sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime, sched_deadline, sched_period;
    } attr = { 48, policy, flags, nice, priority, runtime, deadline, period };
    RET(syscall(SYS_sched_setattr, pid, &attr, 0));
}

int oc_personality(unsigned long persona)
{ RET(syscall(SYS_personality, persona)); }

/* The filesystem type of an open file, to check that what we are about to
 * write to is really procfs and not something the image put there. */
int oc_fstatfs_type(int fd, long *type)
{
    struct statfs st;
    if (fstatfs(fd, &st) < 0)
        return -errno;
    *type = (long)st.f_type;
    return 0;
}

/* NUMA memory policy of the calling process (linux.memoryPolicy); maxnode
 * counts the bits of nodemask plus one, as the kernel expects. */
int oc_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode)
{ RET(syscall(SYS_set_mempolicy, mode, nodemask, maxnode)); }
