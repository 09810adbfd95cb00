// Every instruction family registers its opcodes when imported.
import './alu.js';
import './mov.js';
import './stack.js';
import './branch.js';
import './shift.js';
import './muldiv.js';
import './bits.js';
import './string.js';
import './atomic.js';
import './system.js';
