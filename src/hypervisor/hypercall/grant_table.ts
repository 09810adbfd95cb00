// HYPERVISOR_grant_table_op (xen/common/grant_table.c do_grant_table_op), version 1:
// setup_table, query_size, set_version(1), get_version, copy. Mapping grants of other
// domains is dom0's business and happens in-process (src/hypervisor/grant_table.ts).
import { GNTTAB_MAX_FRAMES } from '../domain_memory.js';
import { EINVAL, ENOSYS } from '../errno.js';
import { readU16, readU32, readI64, writeU32, writeU64, writeU16 } from '../guest_access.js';
import { GNTST } from '../grant_table.js';
import type { HypercallFn } from './types.js';

const DOMID_SELF = 0x7ff0;

export const grant_table_op: HypercallFn = (d, v, a) => {
  const cmd = a.u32(0);
  const uop = a.s(1);
  const count = a.u32(2);
  if (count > 512) return -EINVAL;
  switch (cmd) {
    case 2: { // GNTTABOP_setup_table { domid_t dom; uint32 nr_frames; OUT int16 status; handle frame_list }
      for (let k = 0; k < count; k++) {
        const op = uop + k * 24;
        const dom = readU16(v, op);
        const nr = readU32(v, op + 4);
        const list = readI64(v, op + 16);
        let status: number = GNTST.okay;
        if (dom !== DOMID_SELF && dom !== d.domid) status = GNTST.permission_denied;
        else if (nr > GNTTAB_MAX_FRAMES) status = GNTST.general_error;
        else {
          if (nr > d.grants.nrFrames) d.grants.nrFrames = nr;
          for (let f = 0; f < nr; f++) writeU64(v, list + f * 8, d.mem.layout.grantMfnBase + f);
        }
        writeU16(v, op + 8, status & 0xffff);
      }
      return 0;
    }
    case 6: { // GNTTABOP_query_size { domid_t dom; OUT uint32 nr_frames, max_nr_frames; int16 status }
      for (let k = 0; k < count; k++) {
        const op = uop + k * 16;
        const dom = readU16(v, op);
        if (dom !== DOMID_SELF && dom !== d.domid) {
          writeU16(v, op + 12, GNTST.permission_denied & 0xffff);
          continue;
        }
        writeU32(v, op + 4, d.grants.nrFrames);
        writeU32(v, op + 8, GNTTAB_MAX_FRAMES);
        writeU16(v, op + 12, 0);
      }
      return 0;
    }
    case 8: { // GNTTABOP_set_version { uint32 version }
      const ver = readU32(v, uop);
      if (ver !== 1) {
        writeU32(v, uop, 1);
        return -EINVAL; // only version 1 is offered
      }
      return 0;
    }
    case 10: // GNTTABOP_get_version { domid_t dom; pad; OUT uint32 version }
      writeU32(v, uop + 4, 1);
      return 0;
    case 5: // GNTTABOP_copy between this domain and another: not offered to domUs yet
    default:
      return -ENOSYS;
  }
};
