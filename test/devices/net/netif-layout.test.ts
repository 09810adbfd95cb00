// The netif structures against netif.h: its octet diagrams (always), and the C compiler's own
// offsetof/sizeof over Xen's header when Debian's libxen-dev is installed.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { off } from '../../../src/hypervisor/abi/layout.js';
import {
  NET_RX_RING_SIZE, NET_TX_RING_SIZE, SRING_ENTRIES_OFFSET, sring_header, xen_netif_extra_info, xen_netif_rx_request,
  xen_netif_rx_response, xen_netif_rx_sring_entry, xen_netif_tx_request, xen_netif_tx_response, xen_netif_tx_sring_entry,
} from '../../../src/devices/net/netif.js';

const HEADER = '/usr/include/xen/io/netif.h';

const FIELDS: Array<[string, number, number]> = [
  ['sizeof(struct netif_tx_request)', xen_netif_tx_request.size, 12],
  ['offsetof(struct netif_tx_request, gref)', off(xen_netif_tx_request, 'gref'), 0],
  ['offsetof(struct netif_tx_request, offset)', off(xen_netif_tx_request, 'offset'), 4],
  ['offsetof(struct netif_tx_request, flags)', off(xen_netif_tx_request, 'flags'), 6],
  ['offsetof(struct netif_tx_request, id)', off(xen_netif_tx_request, 'id'), 8],
  ['offsetof(struct netif_tx_request, size)', off(xen_netif_tx_request, 'size'), 10],
  ['sizeof(struct netif_tx_response)', xen_netif_tx_response.size, 4],
  ['offsetof(struct netif_tx_response, status)', off(xen_netif_tx_response, 'status'), 2],
  ['sizeof(struct netif_rx_request)', xen_netif_rx_request.size, 8],
  ['offsetof(struct netif_rx_request, gref)', off(xen_netif_rx_request, 'gref'), 4],
  ['sizeof(struct netif_rx_response)', xen_netif_rx_response.size, 8],
  ['offsetof(struct netif_rx_response, offset)', off(xen_netif_rx_response, 'offset'), 2],
  ['offsetof(struct netif_rx_response, flags)', off(xen_netif_rx_response, 'flags'), 4],
  ['offsetof(struct netif_rx_response, status)', off(xen_netif_rx_response, 'status'), 6],
  ['sizeof(struct netif_extra_info)', xen_netif_extra_info.size, 8],
  ['offsetof(struct netif_extra_info, u.gso.size)', off(xen_netif_extra_info, 'u.gso.size'), 2],
  ['offsetof(struct netif_extra_info, u.gso.type)', off(xen_netif_extra_info, 'u.gso.type'), 4],
  ['offsetof(struct netif_extra_info, u.gso.features)', off(xen_netif_extra_info, 'u.gso.features'), 6],
  ['offsetof(struct netif_extra_info, u.mcast.addr)', off(xen_netif_extra_info, 'u.mcast.addr'), 2],
  ['offsetof(struct netif_extra_info, u.hash.value)', off(xen_netif_extra_info, 'u.hash.value'), 4],
  ['sizeof(union netif_tx_sring_entry)', xen_netif_tx_sring_entry.size, 12],
  ['sizeof(union netif_rx_sring_entry)', xen_netif_rx_sring_entry.size, 8],
  ['offsetof(struct netif_tx_sring, rsp_event)', off(sring_header, 'rsp_event'), 12],
  ['offsetof(struct netif_tx_sring, ring)', SRING_ENTRIES_OFFSET, 64],
  ['NET_TX_RING_SIZE', NET_TX_RING_SIZE, 256],
  ['NET_RX_RING_SIZE', NET_RX_RING_SIZE, 256],
];

describe('netif layouts', () => {
  it("match netif.h's octet diagrams and io/ring.h's page layout", () => {
    for (const [what, ours, diagram] of FIELDS) expect(ours, what).toBe(diagram);
  });

  it.skipIf(!existsSync(HEADER))('match what gcc computes from /usr/include/xen/io/netif.h', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsxen-netif-'));
    try {
      const prints = FIELDS.map(([expr]) => {
        const e = expr.startsWith('NET_') ? `__CONST_RING_SIZE(netif_${expr === 'NET_TX_RING_SIZE' ? 'tx' : 'rx'}, 4096)` : expr;
        return `  printf("%lu\\n", (unsigned long)(${e}));`;
      });
      const src = `#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <xen/xen.h>\n#include <xen/io/netif.h>\nint main(void) {\n${prints.join('\n')}\n  return 0;\n}\n`;
      writeFileSync(join(dir, 'l.c'), src);
      execFileSync('gcc', ['-o', join(dir, 'l'), join(dir, 'l.c')], { stdio: 'pipe' });
      const got = execFileSync(join(dir, 'l'), { encoding: 'utf8' }).trim().split('\n').map(Number);
      FIELDS.forEach(([what, ours], i) => expect(ours, what).toBe(got[i]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
