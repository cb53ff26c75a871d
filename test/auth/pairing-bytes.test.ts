// Pairing's cryptography without node:crypto (it runs in a browser's worker too): the results
// are the bytes node:crypto gives for the same inputs, so Node and page devices agree.
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, decodeBase64url, randomBelow } from '../../src/auth/pairing/bytes.ts';
import { confirmationCode, createShortCode, normalizeShortCode, shortCodeCommit, shortCodeProof } from '../../src/auth/pairing/short-code.ts';

const fields = (...parts: string[]) => parts.map((p) => `${p.length}:${p}`).join('|');
const t = { authorizer: '12D3KooWAuthorizer', newDevice: '12D3KooWNewDevice', code: 'ABCDE12345' };
const [rAuth, rNew] = ['a'.repeat(43), 'b'.repeat(43)];

describe('pairing bytes on Web Crypto and @noble/hashes', () => {
  it('commits, proves and confirms with the bytes node:crypto gives', () => {
    expect(shortCodeCommit(t, rNew)).toBe(createHash('sha256').update(fields('ahenk-short-commit', t.authorizer, t.newDevice, t.code, rNew)).digest('base64url'));
    expect(shortCodeProof(t, rAuth, rNew)).toBe(createHmac('sha256', t.code).update(fields('ahenk-short-proof', t.authorizer, t.newDevice, rAuth, rNew)).digest('base64url'));
    const digits = String(createHash('sha256').update(fields('ahenk-short-confirm', t.authorizer, t.newDevice, t.code, rAuth, rNew)).digest().readUInt32BE(0) % 1_000_000).padStart(6, '0');
    expect(confirmationCode(t, rAuth, rNew)).toBe(`${digits.slice(0, 3)}-${digits.slice(3)}`);
  });

  it('decodes only base64url, and compares bytes by value', () => {
    expect(decodeBase64url('AAEC_w')).toEqual(new Uint8Array([0, 1, 2, 255]));
    expect(decodeBase64url('AAEC/w')).toBeUndefined();
    expect(decodeBase64url('AA=')).toBeUndefined();
    expect(decodeBase64url('A')).toBeUndefined();
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1]), new Uint8Array([1, 0]))).toBe(false);
  });

  it('draws short codes over the whole alphabet', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(randomBelow(32));
    expect(seen.size).toBe(32);
    expect(normalizeShortCode(createShortCode())).toMatch(/^[0-9A-HJKMNP-TV-Z]{10}$/);
  });
});
