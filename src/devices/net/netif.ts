// The netif wire format, xen/include/public/io/netif.h (Linux 6.1 carries the same file as
// include/xen/interface/io/netif.h), and the shared-ring header of io/ring.h. Offsets come
// from these tables; the ASCII octet diagrams in netif.h are checked against them in the tests.

import { off, struct, union, type Layout } from '../../hypervisor/abi/layout.js';
import { PAGE_SIZE } from '../../hypervisor/domain_memory.js';

/** io/ring.h: the four indices and 48 bytes of padding that precede the entries. */
export const sring_header = struct('sring_header', [
  ['req_prod', 'u32'],
  ['req_event', 'u32'],
  ['rsp_prod', 'u32'],
  ['rsp_event', 'u32'],
  ['__pad', 'u8', 48],
]);

export const xen_netif_tx_request = struct('xen_netif_tx_request', [
  ['gref', 'u32'],
  ['offset', 'u16'],
  ['flags', 'u16'],
  ['id', 'u16'],
  ['size', 'u16'],
]);

export const xen_netif_tx_response = struct('xen_netif_tx_response', [
  ['id', 'u16'],
  ['status', 'i16'],
]);

export const xen_netif_rx_request = struct('xen_netif_rx_request', [
  ['id', 'u16'],
  ['pad', 'u16'],
  ['gref', 'u32'],
]);

export const xen_netif_rx_response = struct('xen_netif_rx_response', [
  ['id', 'u16'],
  ['offset', 'u16'],
  ['flags', 'u16'],
  ['status', 'i16'],
]);

export const xen_netif_extra_info = struct('xen_netif_extra_info', [
  ['type', 'u8'],
  ['flags', 'u8'],
  ['u', union('xen_netif_extra_info.u', [
    ['gso', struct('gso', [['size', 'u16'], ['type', 'u8'], ['pad', 'u8'], ['features', 'u16']])],
    ['mcast', struct('mcast', [['addr', 'u8', 6]])],
    ['hash', struct('hash', [['type', 'u8'], ['algorithm', 'u8'], ['value', 'u8', 4]])],
    ['xdp', struct('xdp', [['headroom', 'u16'], ['pad', 'u16', 2]])],
    ['pad', 'u16', 3],
  ])],
]);

/** DEFINE_RING_TYPES' union __name##_sring_entry. */
export const xen_netif_tx_sring_entry = union('xen_netif_tx_sring_entry', [
  ['req', xen_netif_tx_request],
  ['rsp', xen_netif_tx_response],
]);
export const xen_netif_rx_sring_entry = union('xen_netif_rx_sring_entry', [
  ['req', xen_netif_rx_request],
  ['rsp', xen_netif_rx_response],
]);

/** Byte offset of ring[0] in a shared ring page (offsetof(struct _s##_sring, ring)). */
export const SRING_ENTRIES_OFFSET = sring_header.size;

/** __RD32: round down to a power of two. */
function roundDownPow2(x: number): number {
  return x < 1 ? 0 : 2 ** Math.floor(Math.log2(x));
}

/** __CONST_RING_SIZE(name, PAGE_SIZE). */
export function constRingSize(entry: Layout, pageSize = PAGE_SIZE): number {
  return roundDownPow2(Math.floor((pageSize - SRING_ENTRIES_OFFSET) / entry.size));
}

export const NET_TX_RING_SIZE = constRingSize(xen_netif_tx_sring_entry);
export const NET_RX_RING_SIZE = constRingSize(xen_netif_rx_sring_entry);

/** XEN_NETTXF_*: flags of a transmit request. */
export const NETTXF = {
  csum_blank: 1 << 0,
  data_validated: 1 << 1,
  more_data: 1 << 2,
  extra_info: 1 << 3,
} as const;

/** XEN_NETRXF_*: flags of a receive response. */
export const NETRXF = {
  data_validated: 1 << 0,
  csum_blank: 1 << 1,
  more_data: 1 << 2,
  extra_info: 1 << 3,
  gso_prefix: 1 << 4,
} as const;

/** XEN_NETIF_EXTRA_TYPE_*. */
export const NETIF_EXTRA_TYPE = {
  none: 0,
  gso: 1,
  mcast_add: 2,
  mcast_del: 3,
  hash: 4,
  xdp: 5,
  max: 6,
} as const;

export const NETIF_EXTRA_FLAG_MORE = 1 << 0;

/** XEN_NETIF_RSP_*. */
export const NETIF_RSP = {
  dropped: -2,
  error: -1,
  okay: 0,
  null: 1,
} as const;

/** XEN_NETIF_MAX_TX_SIZE: the first tx request's 16-bit size field bounds a packet. */
export const NETIF_MAX_TX_SIZE = 0xffff;

/** XEN_NETIF_NR_SLOTS_MIN: slots a backend must accept for one packet. */
export const NETIF_NR_SLOTS_MIN = 18;

/**
 * Linux netback's fatal_skb_slots default (drivers/net/xen-netback/netback.c): a frontend
 * using this many slots for one packet is treated as malicious; between NETIF_NR_SLOTS_MIN and
 * this the packet is only dropped.
 */
export const NETBK_FATAL_SKB_SLOTS = 20;

export const ETH_HLEN = 14;

/** Offsets used on the hot path, taken from the layout tables once. */
export const OFF = {
  reqProd: off(sring_header, 'req_prod'),
  reqEvent: off(sring_header, 'req_event'),
  rspProd: off(sring_header, 'rsp_prod'),
  rspEvent: off(sring_header, 'rsp_event'),
  txReq: {
    gref: off(xen_netif_tx_request, 'gref'),
    offset: off(xen_netif_tx_request, 'offset'),
    flags: off(xen_netif_tx_request, 'flags'),
    id: off(xen_netif_tx_request, 'id'),
    size: off(xen_netif_tx_request, 'size'),
  },
  txRsp: {
    id: off(xen_netif_tx_response, 'id'),
    status: off(xen_netif_tx_response, 'status'),
  },
  rxReq: {
    id: off(xen_netif_rx_request, 'id'),
    gref: off(xen_netif_rx_request, 'gref'),
  },
  rxRsp: {
    id: off(xen_netif_rx_response, 'id'),
    offset: off(xen_netif_rx_response, 'offset'),
    flags: off(xen_netif_rx_response, 'flags'),
    status: off(xen_netif_rx_response, 'status'),
  },
  extra: {
    type: off(xen_netif_extra_info, 'type'),
    flags: off(xen_netif_extra_info, 'flags'),
    mcastAddr: off(xen_netif_extra_info, 'u.mcast.addr'),
    gsoSize: off(xen_netif_extra_info, 'u.gso.size'),
    gsoType: off(xen_netif_extra_info, 'u.gso.type'),
  },
} as const;

export interface TxRequest {
  gref: number;
  offset: number;
  flags: number;
  id: number;
  size: number;
}

export interface RxRequest {
  id: number;
  gref: number;
}

export interface ExtraInfo {
  type: number;
  flags: number;
}
