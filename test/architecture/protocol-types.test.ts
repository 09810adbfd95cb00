// xend's protocol is one typed table (src/dom0/xend/protocol.ts XendOps): a wrong op, a missing
// or mistyped argument, or a misused result is a compile error in xm and xl. The fixture's
// calls are compiled with the project's own compiler settings.

import { describe, expect, it } from 'vitest';
import ts from 'typescript';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/xend-calls.ts', import.meta.url));

describe('the xend protocol types', () => {
  it('accept right calls and refuse every wrong one marked in the fixture', () => {
    const program = ts.createProgram([FIXTURE], {
      strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: ['node'],
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    // An @ts-expect-error that meets no error is itself reported ("Unused '@ts-expect-error'").
    expect(problems).toEqual([]);
  }, 60_000);
});
