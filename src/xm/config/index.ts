// xm's config files: the Python subset they are written in, the keys xm accepted, the disk
// and vif entry languages, and where `xm create NAME` finds them.
export { XmConfigError, COMMAND_LINE } from './errors.js';
export { parsePyConfig, type PyValue, type PyScript, type PyBinding } from './pysubset.js';
export { XM_KEYS, type KeyDef, type KeyKind, type KeyUse } from './keys.js';
export {
  parseDiskSpec,
  vbdNumber,
  DiskSpecError,
  type DiskSpec,
  type DiskType,
  type DiskFormat,
  type DiskMode,
} from '../../devices/block/disk-spec.js';
export { parseVifSpec, normaliseMac, randomMac, parseRate, VifSpecError, type VifSpec, type VifRate } from '../../devices/net/vif-spec.js';
export {
  parseDomainConfig,
  pyRepr,
  type DomainConfig,
  type ParseOptions,
  type RestartAction,
} from './domain-config.js';
export {
  loadDomainConfig,
  findConfigFile,
  configCandidates,
  defaultConfigDir,
  projectImagesDir,
  ConfigNotFoundError,
  type LookupOptions,
} from './lookup.js';
