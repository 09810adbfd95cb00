// dom0's domain model: configuration in, state and devices out. xend, the toolstack and the
// command lines (xm, xl) all speak it; it imports nothing above dom0.
export type * from './info.js';
export type { DomainConfig } from './config.js';
export type { DiskSpec, DiskType, DiskFormat, DiskMode } from '../../devices/block/disk-spec.js';
export type { VifSpec, VifRate } from '../../devices/net/vif-spec.js';
