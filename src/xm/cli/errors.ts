// How xm ended a command, after tools/python/xen/xm/main.py (_run_cmd, err, usage, arg_check)
// and opts.py (OptionError), Xen 4.4.4.

/** The command already printed what it had to; exit with this status. */
export class XmExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'XmExit';
  }
}

/** opts.OptionError: "Error: MSG", the command's usage, then the error's usage text. */
export class OptionError extends Error {
  constructor(
    message: string,
    readonly usageText = '',
  ) {
    super(message);
    this.name = 'OptionError';
  }
}

/** Python's ValueError from int(): _run_cmd printed "Error: Invalid argument." and usage. */
export class InvalidArgument extends Error {
  constructor(readonly what: string) {
    super('Invalid argument.');
    this.name = 'InvalidArgument';
  }
}

/** An error create.py/opts.err printed as "Error: MSG" and exited 1, without usage. */
export class PlainError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
    this.name = 'PlainError';
  }
}

/** Python int(): blanks and a sign around decimal digits. */
export function pyInt(s: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(s)) throw new InvalidArgument(s);
  const n = Number.parseInt(s, 10);
  if (!Number.isSafeInteger(n)) throw new InvalidArgument(s);
  return n;
}
