// HYPERVISOR_console_io (xen/drivers/char/console.c do_console_io): a domU may write to the
// hypervisor console (kept as the log `xm dmesg` prints); reading is dom0's.
import { EINVAL, EPERM, ENOSYS } from '../errno.js';
import { readBytes } from '../guest_access.js';
import { sarg, uarg, type HypercallFn } from './types.js';

const CONSOLEIO_write = 0;
const CONSOLEIO_read = 1;

export const console_io: HypercallFn = (d, v, a) => {
  const cmd = uarg(a[0]);
  const count = uarg(a[1]);
  if (cmd === CONSOLEIO_write) {
    if (count > 1 << 20) return -EINVAL;
    const bytes = readBytes(v, sarg(a[2]), count);
    d.host.consoleWrite(d.domid, bytes);
    return 0;
  }
  if (cmd === CONSOLEIO_read) return -EPERM;
  return -ENOSYS;
};
