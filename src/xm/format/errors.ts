// How xm reported failures: "Error: <message>" on stderr (main.err / create.err /
// opts.err all print `"Error:", msg`), and the exit status main() passed to sys.exit.
// Reference: tools/python/xen/xm/main.py (err, _run_cmd, main) and
// tools/python/xen/xend/XendClient.py (ERROR_* fault codes), Xen 4.4.4.

/** XendClient fault codes; _run_cmd exits with the fault code for an unknown domain. */
export const ERROR_INTERNAL = 1;
export const ERROR_GENERIC = 2;
export const ERROR_INVALID_DOMAIN = 3;

export interface XmFailure {
  /** Exactly what xm wrote to stderr. */
  readonly stderr: string;
  readonly exitCode: number;
}

/** err(msg): one "Error: " line. */
export function errorLine(message: string): string {
  return `Error: ${message}\n`;
}

/**
 * A command naming a domain xend does not know: _run_cmd catches the xmlrpc Fault with
 * faultCode ERROR_INVALID_DOMAIN, prints this and returns the fault code as exit status.
 */
export function domainDoesNotExist(domain: string): XmFailure {
  return { stderr: errorLine(`Domain '${domain}' does not exist.`), exitCode: ERROR_INVALID_DOMAIN };
}

/** Any other failure xm reported with err(): exit status 1. */
export function failure(message: string): XmFailure {
  return { stderr: errorLine(message), exitCode: 1 };
}
