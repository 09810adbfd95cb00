// Xen's errno values (public/errno.h): the x86 numbering Linux shares.
export const EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, E2BIG = 7, EBADF = 9, EAGAIN = 11,
  ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENODEV = 19, EINVAL = 22, ENOSPC = 28,
  ERANGE = 34, ENOSYS = 38, ENODATA = 61, ETIME = 62, EOPNOTSUPP = 95, ETIMEDOUT = 110;
