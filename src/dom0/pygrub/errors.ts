// One error type for everything pygrub reports, so the toolstack can show the message as is
// (it already names the disk, the partition and the file) and branch on `code` if it must.

export type PygrubErrorCode =
  | 'EINVAL' // bad option (unknown --flag, bad --offset)
  | 'EDISK' // the image could not be opened or read (missing, truncated, not an image)
  | 'EPART' // partition table is inconsistent (GPT CRC, loops in the extended chain)
  | 'EFS' // no ext2/3/4 file system, or its metadata is corrupt or hostile
  | 'EUNSUPPORTED' // a valid file system feature this reader does not do
  | 'ENOCONFIG' // none of the boot loader config files pygrub looks for exists
  | 'ECONFIG' // the config file exists but cannot be parsed, or has no usable entry
  | 'ENOENT' // the kernel or ramdisk named by the entry is not there
  | 'ETOOBIG'; // a file is larger than the cap (kernel/ramdisk, config, directory, symlink)

export class PygrubError extends Error {
  override readonly name = 'PygrubError';
  constructor(
    readonly code: PygrubErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// Longest piece of guest text (a title, a path) quoted in a message.
const SHOWN_MAX = 120;

/**
 * Guest-controlled text made safe to put in a message that xm prints on a terminal: control
 * characters (an escape sequence in a menu title) become \xNN, and long text is cut.
 */
export function shown(text: string): string {
  const cut = text.length > SHOWN_MAX ? `${text.slice(0, SHOWN_MAX)}…` : text;
  return cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
