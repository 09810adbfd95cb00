// Every problem in a domain config names where it is: file, line and the key it concerns.
// xm printed such problems as "Error: <message>" (opts.err / create.err) and exited 1; the
// CLI does the same with `Error: ${err.message}`.

/** The `file` of problems that come from `key=value` arguments rather than a file. */
export const COMMAND_LINE = 'command line';

export class XmConfigError extends Error {
  override readonly name = 'XmConfigError';

  constructor(
    /** Config file path as given to xm, or COMMAND_LINE. */
    readonly file: string,
    /** 1-based line; 0 when the problem has no line (command line, missing key). */
    readonly line: number,
    /** The config key concerned, or null for a syntax error outside any assignment. */
    readonly key: string | null,
    /** What is wrong, without the location prefix. */
    readonly detail: string,
  ) {
    super(formatLocation(file, line, key) + detail);
  }
}

function formatLocation(file: string, line: number, key: string | null): string {
  let s = file;
  if (line > 0) s += `:${line}`;
  s += ': ';
  if (key !== null) s += `${key}: `;
  return s;
}
