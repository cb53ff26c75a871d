/**
 * Pairing at a terminal: the QR code decodes back to the pairing code (jsQR reads the very
 * characters `ahenk pair` draws), the short code's commitment, proof and confirmation code agree
 * on both sides only with the same code, and `ahenk pair` / `ahenk join` with the short code run
 * as two processes in pseudo-terminals (script -qfec) on 127.0.0.1: equal confirmation codes on
 * both screens, wrong codes refused and counted, the pairing ended after three.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import jsqr from 'jsqr';
import { afterEach, describe, expect, it } from 'vitest';
import { PairingError } from '../../src/auth/pairing/errors.ts';
import {
  commitMatches,
  confirmationCode,
  createShortCode,
  decodeShortCodeMessage,
  encodeShortCodeMessage,
  normalizeShortCode,
  proofMatches,
  shortCodeCommit,
  shortCodeProof,
  shortCodeRandom,
} from '../../src/auth/pairing/short-code.ts';
import { EXIT } from '../../src/cli/main.ts';
import { renderTerminalQr } from '../../src/cli/qr.ts';
import { appDatabase, BIN, cli, fakeTerminal, LOOPBACK, PASSWORD, tempDir, todoTitles } from './helpers.ts';

/** jsQR is CommonJS: under NodeNext its default export is the module object, at run time it may be the function itself. */
const jsQR: typeof jsqr.default = (jsqr as { default?: typeof jsqr.default }).default ?? (jsqr as unknown as typeof jsqr.default);

/** The modules of a QR code drawn by renderTerminalQr: two rows per line, one column per character. */
function modulesOf(drawn: string): boolean[][] {
  const lines = drawn.replace(/\u001b\[\d+m/g, '').split('\n').filter((l) => l.length > 0);
  const size = lines[0]!.length - 2;
  const rows: boolean[][] = Array.from({ length: size }, () => Array<boolean>(size).fill(false));
  const halves: Record<string, [boolean, boolean]> = { ' ': [false, false], '▄': [false, true], '▀': [true, false], '█': [true, true] };
  lines.forEach((line, i) => {
    const top = 2 * i - 1;
    for (let x = 0; x < size; x += 1) {
      const [upper, lower] = halves[line[x + 1]!] ?? [false, false];
      if (top >= 0 && top < size) rows[top]![x] = upper;
      if (top + 1 >= 0 && top + 1 < size) rows[top + 1]![x] = lower;
    }
  });
  return rows;
}

/** Black modules on white, 4 pixels each, with a 4-module quiet zone, decoded by jsQR. */
function decode(modules: boolean[][]): string | undefined {
  const scale = 4;
  const margin = 4;
  const side = (modules.length + 2 * margin) * scale;
  const pixels = new Uint8ClampedArray(side * side * 4).fill(255);
  modules.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy += 1) {
        for (let dx = 0; dx < scale; dx += 1) {
          const at = (((y + margin) * scale + dy) * side + (x + margin) * scale + dx) * 4;
          pixels.set([0, 0, 0, 255], at);
        }
      }
    }),
  );
  return jsQR(pixels, side, side)?.data;
}

describe('the QR code at a terminal', () => {
  it('decodes back to the pairing code it was drawn from', async () => {
    const code = `ahenk-pair:1:${Buffer.from(JSON.stringify(['12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo', ['/ip4/192.168.1.5/tcp/41234/p2p/x'], 'n'.repeat(43), 1_800_000_000_000, 's'.repeat(86)])).toString('base64url')}`;
    const drawn = await renderTerminalQr(code);
    expect(drawn).toContain('\u001b[47m'); // black on an explicit white background
    expect(decode(modulesOf(drawn))).toBe(code);
    // The decoder is not fooled: one module flipped in the data area and it reads something else or nothing.
    const damaged = modulesOf(drawn);
    for (let y = 9; y < 14; y += 1) for (let x = 9; x < damaged.length - 9; x += 1) damaged[y]![x] = !damaged[y]![x];
    expect(decode(damaged)).not.toBe(code);
  });
});

describe('short code and confirmation code', () => {
  const t = { authorizer: 'A', newDevice: 'B', code: normalizeShortCode('ABCDE-FGHJK')! };

  it('shows 10 characters of an unambiguous alphabet and reads what a person types', () => {
    const code = createShortCode();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
    expect(normalizeShortCode(code.toLowerCase().replace('-', ' '))).toBe(code.replace('-', ''));
    expect(normalizeShortCode('abcde fghjk')).toBe('ABCDEFGHJK');
    expect(normalizeShortCode('O1LI0-23456')).toBe('01110' + '23456');
    expect(normalizeShortCode('ABCDE-FGHJ')).toBeUndefined();
    expect(normalizeShortCode('ABCDE-FGHJU')).toBeUndefined();
  });

  it('accepts the commit and proof only with the same code, and derives the same confirmation code on both sides', () => {
    const [rAuth, rNew] = [shortCodeRandom(), shortCodeRandom()];
    const commit = shortCodeCommit(t, rNew);
    expect(commitMatches(t, rNew, commit)).toBe(true);
    expect(commitMatches({ ...t, code: 'ABCDEFGHJM' }, rNew, commit)).toBe(false);
    expect(commitMatches({ ...t, newDevice: 'C' }, rNew, commit)).toBe(false);
    const proof = shortCodeProof(t, rAuth, rNew);
    expect(proofMatches(t, rAuth, rNew, proof)).toBe(true);
    expect(proofMatches({ ...t, code: 'ABCDEFGHJM' }, rAuth, rNew, proof)).toBe(false);
    expect(confirmationCode(t, rAuth, rNew)).toMatch(/^\d{3}-\d{3}$/);
    expect(confirmationCode({ ...t }, rAuth, rNew)).toBe(confirmationCode(t, rAuth, rNew));
    // A relay in the middle has other ids on each side: its two codes differ.
    expect(confirmationCode({ ...t, authorizer: 'M' }, rAuth, rNew)).not.toBe(confirmationCode(t, rAuth, rNew));
  });

  it('refuses a device type with control characters: it is shown in the prompt of the other terminal', () => {
    const escape = encodeShortCodeMessage({ type: 'short-reveal', random: shortCodeRandom(), deviceType: 'phone\u001b[2J\u001b[1A' });
    expect(() => decodeShortCodeMessage(escape, 'short-reveal')).toThrow(/deviceType is malformed/);
  });

  it('prints no control characters from the reason the other device gives for a reject', () => {
    const reject = encodeShortCodeMessage({ type: 'reject', code: 'REFUSED', message: 'no\u001b]0;owned\u0007\u001b[2J' });
    expect(() => decodeShortCodeMessage(reject, 'short-proof')).toThrow(/^the other device refused: no ]0;owned  \[2J$/);
  });

  it('bounds and checks every message read from the network', () => {
    const reveal = encodeShortCodeMessage({ type: 'short-reveal', random: shortCodeRandom(), deviceType: 'phone' });
    expect(decodeShortCodeMessage(reveal, 'short-reveal').deviceType).toBe('phone');
    expect(() => decodeShortCodeMessage(reveal, 'short-proof')).toThrow(/expected short-proof/);
    expect(() => decodeShortCodeMessage(encodeShortCodeMessage({ type: 'short-random', random: 'short' }), 'short-random')).toThrow(/32 bytes/);
    expect(() => decodeShortCodeMessage(new Uint8Array(5000), 'short-commit')).toThrow(PairingError);
    const rejected = (() => {
      try {
        decodeShortCodeMessage(encodeShortCodeMessage({ type: 'reject', code: 'TOO_MANY_ATTEMPTS', message: 'bye' }), 'short-proof');
      } catch (error) {
        return error as PairingError;
      }
    })();
    expect(rejected?.code).toBe('TOO_MANY_ATTEMPTS');
  });
});

const hasScript = spawnSync('script', ['--version']).status === 0;
const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface Terminal {
  output(): string;
  type(text: string): void;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<number>;
}

/** `node bin/ahenk.js ...args` in a pseudo-terminal: what it prints, and keys typed into it. */
function inTerminal(args: string[]): Terminal {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  running.push(child);
  let out = '';
  const wakers = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const wake of wakers) wake();
  });
  const exited = new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? -1)));
  return {
    output: () => out,
    type: (text) => child.stdin.write(text),
    exited,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${out}`)), timeoutMs);
        const check = (): void => {
          const match = pattern.exec(out);
          if (match) done(undefined, match);
        };
        const done = (error?: Error, match?: RegExpExecArray): void => {
          clearTimeout(timer);
          wakers.delete(check);
          if (error) reject(error);
          else resolve(match!);
        };
        wakers.add(check);
        void exited.then(() => setTimeout(() => done(new Error(`exited before ${pattern}; output:\n${out}`)), 50));
        check();
      }),
  };
}

async function laptopWithAccount(dir: string): Promise<string> {
  const laptop = appDatabase(dir, 'laptop', { id: 'before-pairing', title: 'written on the laptop' });
  expect((await cli(['init', '--db', laptop, '--user', 'ayse', '--email', 'ayse@example.test', '--device-type', 'laptop'], { env: { AHENK_PASSWORD: PASSWORD } })).code).toBe(0);
  return laptop;
}

const SHORT_LINE = /ahenk join ([0-9A-Z]{5}-[0-9A-Z]{5}) --from (\S+) /;

describe.skipIf(!hasScript)('pairing with the short code, in two terminals', () => {
  it('pairs when both people see the same confirmation code and say yes; the new device gets the data', async () => {
    const dir = tempDir();
    const laptop = await laptopWithAccount(dir);
    const phone = appDatabase(dir, 'phone');
    const pair = inTerminal(['pair', '--db', laptop, ...LOOPBACK]);
    const [, code, from] = await pair.waitFor(SHORT_LINE);
    expect(pair.output()).toContain('▄'); // the QR code was drawn
    expect(pair.output()).toMatch(/ahenk-pair:1:\S+/); // and the long code is still there for scripts
    const join = inTerminal(['join', code!.toLowerCase(), '--from', from!, '--db', phone, '--device-type', 'phone', ...LOOPBACK]);
    const onPhone = (await join.waitFor(/Does the other device show the confirmation code (\d{3}-\d{3})\?/))[1];
    const onLaptop = (await pair.waitFor(/A phone \(\S+\) typed the short code\. Does it show the confirmation code (\d{3}-\d{3})\?/))[1];
    expect(onPhone).toBe(onLaptop);
    join.type('y\r');
    pair.type('y\r');
    await join.waitFor(/First sync complete: received [1-9]\d*/);
    expect(await join.exited).toBe(0);
    expect(await pair.exited).toBe(0);
    // The device was compared once, with the short code: not asked about again in the pairing itself.
    expect(pair.output()).not.toContain('wants to join');
    expect(todoTitles(phone)).toEqual({ 'before-pairing': 'written on the laptop' });
  }, 180_000);

  it('refuses wrong short codes, counts them, and ends the pairing after three (exit 3 on both sides)', async () => {
    const dir = tempDir();
    const laptop = await laptopWithAccount(dir);
    const phone = appDatabase(dir, 'phone');
    const pair = inTerminal(['pair', '--db', laptop, ...LOOPBACK]);
    const [, code, from] = await pair.waitFor(SHORT_LINE);
    const wrong = code === 'ABCDE-FGHJK' ? 'ABCDE-FGHJM' : 'ABCDE-FGHJK';
    const attempt = () => cli(['join', wrong, '--from', from!, '--db', phone, '--device-type', 'phone', ...LOOPBACK], { stdin: fakeTerminal() });
    const first = await attempt();
    expect(first.code).toBe(EXIT.pairing);
    expect(first.stderr).toContain('wrong short code (2 attempts left)');
    expect((await attempt()).stderr).toContain('wrong short code (1 attempt left)');
    const third = await attempt();
    expect(third.code).toBe(EXIT.pairing);
    expect(third.stderr).toContain('TOO_MANY_ATTEMPTS');
    expect(await pair.exited).toBe(EXIT.pairing);
    expect(pair.output()).toContain('too many wrong short codes');
    // The right code is of no use any more.
    const late = await cli(['join', code!, '--from', from!, '--db', phone, '--device-type', 'phone', ...LOOPBACK], { stdin: fakeTerminal() });
    expect(late.code).not.toBe(EXIT.ok);
    expect(todoTitles(phone)).toEqual({});
  }, 180_000);

  it('a short code needs --from and a terminal; scripts use the full code', async () => {
    const dir = tempDir();
    const phone = appDatabase(dir, 'phone');
    const noFrom = await cli(['join', 'ABCDE-FGHJK', '--db', phone, '--device-type', 'phone'], { stdin: fakeTerminal() });
    expect(noFrom.code).toBe(EXIT.usage);
    expect(noFrom.stderr).toContain('a short code needs --from');
    const noTerminal = await cli(['join', 'ABCDE-FGHJK', '--from', '127.0.0.1:9', '--db', phone, '--device-type', 'phone'], { stdin: 'y\n' });
    expect(noTerminal.code).toBe(EXIT.usage);
    expect(noTerminal.stderr).toContain('a short code needs a terminal');
  });
});
