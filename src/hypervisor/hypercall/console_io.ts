// HYPERVISOR_console_io (xen/drivers/char/console.c do_console_io): a domU may write to the
// hypervisor console (kept as the log `xm dmesg` prints); reading is dom0's.
import { EINVAL, EPERM, ENOSYS } from '../errno.js';
import { readBytes } from '../guest_access.js';
import type { HypercallFn } from './types.js';

const CONSOLEIO_write = 0;
const CONSOLEIO_read = 1;

export const console_io: HypercallFn = (d, v, a) => {
  const cmd = a.u32(0);
  const count = a.u32(1);
  if (cmd === CONSOLEIO_write) {
    if (count > 1 << 20) return -EINVAL;
    const bytes = readBytes(v, a.s(2), count);
    d.host.consoleWrite(d.domid, bytes);
    return 0;
  }
  if (cmd === CONSOLEIO_read) return -EPERM;
  return -ENOSYS;
};
