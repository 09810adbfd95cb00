// sxp.show and PrettyPrint.prettyprint as xm used them; expected text is what Xen 4.4.4's
// sxp.py / PrettyPrint.py printed under CPython 2.7 for the same values.

import { describe, expect, it } from 'vitest';

import { atomp, prettyprint, show, sxpFloat, type Sxp } from '../../src/xm/format/sxp.js';

const X: Sxp = ['vbd', ['uname', 'file:/x y'], ['mode', 'w'], ['n', 1], ['f', sxpFloat(1.5)], [], '', '@', 'a=b', 'café'];

describe('sxp.show', () => {
  it('prints atoms bare and everything else as Python repr', () => {
    expect(show(X)).toBe("(vbd (uname 'file:/x y') (mode w) (n 1) (f 1.5) () '' @ 'a=b' 'caf\\xc3\\xa9')");
  });

  it('knows which strings are atoms', () => {
    for (const a of ['xenbr0', '00:16:3e:72:18:9b', '/dev/xvda', '~user', '-b----', '@', 'a.b_c-d']) expect(atomp(a), a).toBe(true);
    for (const n of ['', 'a b', 'a=b', "it's", 'x(y)', '50%', 'a|b', 'tab\t']) expect(atomp(n), n).toBe(false);
  });

  it('refuses a non-integer number that was not marked as a float', () => {
    expect(() => show(['cpu_time', 1.5])).toThrow(/sxpFloat/);
  });
});

describe('PrettyPrint.prettyprint', () => {
  it('keeps what fits on one line', () => {
    expect(prettyprint(X)).toBe(`${show(X)}\n`);
  });

  it('breaks a block that does not fit, every element on its own line', () => {
    expect(prettyprint(X, 30)).toBe(
      "(vbd\n    (uname 'file:/x y')\n    (mode w)\n    (n 1)\n    (f 1.5)\n    ()\n    ''\n    @\n    'a=b'\n    'caf\\xc3\\xa9'\n)\n",
    );
    expect(prettyprint(X, 12)).toBe(
      "(vbd\n    (uname\n        'file:/x y'\n    )\n    (mode w)\n    (n 1)\n    (f 1.5)\n    ()\n    ''\n    @\n    'a=b'\n    'caf\\xc3\\xa9'\n)\n",
    );
  });

  it('prints an atom with show and overlong text past the margin', () => {
    expect(prettyprint('atom here')).toBe("'atom here'\n");
    expect(prettyprint(['a'.repeat(90), ['b', 'c']])).toBe(`(${'a'.repeat(90)}\n    (b c)\n)\n`);
  });
});
