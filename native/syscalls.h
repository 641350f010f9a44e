/* Declarations shared by the cffi cdef and syscalls.c.
 * Each function returns 0 (or a non-negative value) on success and -errno on
 * failure, so the Python facade can raise OSError with the right errno without
 * consulting a thread-local errno after the call returns. */
int oc_mount(const char *src, const char *target, const char *fstype,
             unsigned long flags, const char *data);
int oc_umount2(const char *target, int flags);
int oc_pivot_root(const char *new_root, const char *put_old);
int oc_unshare(int flags);
int oc_setns(int fd, int nstype);
int oc_sethostname(const char *name, size_t len);
int oc_setdomainname(const char *name, size_t len);
int oc_prctl(int option, unsigned long a2, unsigned long a3,
             unsigned long a4, unsigned long a5);
int oc_capget(int pid, uint32_t out[6]);
int oc_capset(const uint32_t caps[6]);
int oc_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
               uint64_t resolve);
int oc_pidfd_open(int pid, unsigned int flags);
int oc_pidfd_send_signal(int pidfd, int sig);
int oc_close_range(unsigned int first, unsigned int last, unsigned int flags);
long oc_join_session_keyring(const char *name);
int oc_mount_setattr(int dirfd, const char *path, unsigned int at_flags,
                     uint64_t attr_set, uint64_t attr_clr, uint64_t propagation,
                     uint64_t userns_fd);
int oc_open_tree(int dirfd, const char *path, unsigned int flags);
int oc_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                  const char *to_path, unsigned int flags);
int oc_ioprio_set(int which, int who, int ioprio);
int oc_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                     uint32_t priority, uint64_t runtime, uint64_t deadline,
                     uint64_t period);
int oc_personality(unsigned long persona);
int oc_fstatfs_type(int fd, long *type);
int oc_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode);
