// HYPERVISOR_event_channel_op (xen/common/event_channel.c do_event_channel_op), 2-level ABI.
import { PortState } from '../event_channel.js';
import { EINVAL, ENOSYS, EPERM, ESRCH } from '../errno.js';
import { readU16, readU32, writeU32 } from '../guest_access.js';
import { NR_VIRQS } from '../public.js';
import type { HypercallFn } from './types.js';

const DOMID_SELF = 0x7ff0;

export const event_channel_op: HypercallFn = (d, v, a) => {
  const cmd = a.u32(0);
  const arg = a.s(1);
  const ev = d.evtchn;
  switch (cmd) {
    case 0: { // EVTCHNOP_bind_interdomain { domid_t remote_dom; evtchn_port_t remote_port; OUT local_port }
      const rdom = readU16(v, arg);
      const rport = readU32(v, arg + 4);
      const remote = rdom === DOMID_SELF ? d.domid : rdom;
      let local: number;
      if (remote === d.domid) {
        if (!ev.valid(rport) || ev.ports[rport].state !== PortState.Unbound || ev.ports[rport].remoteDom !== d.domid) return -EINVAL;
        local = ev.bindInterdomain(d.domid, rport);
        if (local < 0) return local;
        ev.connectUnbound(rport, d.domid, local);
      } else {
        local = d.host.bindRemote(d, remote, rport);
        if (local < 0) return local;
      }
      writeU32(v, arg + 8, local);
      return 0;
    }
    case 1: { // EVTCHNOP_bind_virq { uint32 virq; uint32 vcpu; OUT port }
      const virq = readU32(v, arg);
      const vcpu = readU32(v, arg + 4);
      if (virq >= NR_VIRQS) return -EINVAL;
      const p = ev.bindVirq(virq, vcpu);
      if (p < 0) return p;
      writeU32(v, arg + 8, p);
      return 0;
    }
    case 2: // EVTCHNOP_bind_pirq: no physical IRQs for a domU
      return -EPERM;
    case 3: // EVTCHNOP_close { port }
      return d.closePort(readU32(v, arg));
    case 4: // EVTCHNOP_send { port }
      return ev.send(readU32(v, arg));
    case 5: { // EVTCHNOP_status { domid_t dom; port; OUT status; vcpu; union u }
      const dom = readU16(v, arg);
      if (dom !== DOMID_SELF && dom !== d.domid) return -ESRCH;
      const st = ev.status(readU32(v, arg + 4));
      if (typeof st === 'number') return st;
      const statusCode = [0, 0, 1, 2, 3, 4, 5][st.state]; // EVTCHNSTAT_closed/unbound/interdomain/pirq/virq/ipi
      writeU32(v, arg + 8, statusCode);
      writeU32(v, arg + 12, st.port.vcpu);
      if (st.state === PortState.Unbound) writeU32(v, arg + 16, st.port.remoteDom);
      else if (st.state === PortState.Interdomain) {
        writeU32(v, arg + 16, st.port.remoteDom);
        writeU32(v, arg + 20, st.port.remotePort);
      } else if (st.state === PortState.Virq) writeU32(v, arg + 16, st.port.virq);
      return 0;
    }
    case 6: { // EVTCHNOP_alloc_unbound { domid_t dom, remote_dom; OUT port }
      const dom = readU16(v, arg);
      const rdom = readU16(v, arg + 2);
      if (dom !== DOMID_SELF && dom !== d.domid) return -EPERM;
      const p = ev.allocUnbound(rdom === DOMID_SELF ? d.domid : rdom);
      if (p < 0) return p;
      writeU32(v, arg + 4, p);
      return 0;
    }
    case 7: { // EVTCHNOP_bind_ipi { uint32 vcpu; OUT port }
      const p = ev.bindIpi(readU32(v, arg));
      if (p < 0) return p;
      writeU32(v, arg + 4, p);
      return 0;
    }
    case 8: // EVTCHNOP_bind_vcpu { port; vcpu }
      return ev.bindVcpu(readU32(v, arg), readU32(v, arg + 4));
    case 9: // EVTCHNOP_unmask { port }
      return ev.unmask(readU32(v, arg));
    case 10: // EVTCHNOP_reset
      return -ENOSYS;
    case 11: // EVTCHNOP_init_control: FIFO ABI not offered; Linux falls back to 2-level
    case 12: // EVTCHNOP_expand_array
    case 13: // EVTCHNOP_set_priority
      return -ENOSYS;
    default:
      return -ENOSYS;
  }
};

export { EINVAL };
