/**
 * Password hashing with Argon2id. Parameters are explicit so that a library upgrade cannot
 * silently change them, and every stored hash carries its own (PHC string), so old hashes keep
 * verifying after a change and are upgraded on the next successful login.
 */
import { hash, parseOptions, verify, type Options } from '@node-rs/argon2';

// The binding's `Algorithm`/`Version` are ambient const enums, which verbatimModuleSyntax cannot
// read, and they are empty objects at runtime; these are their documented numeric values.
const ARGON2ID: NonNullable<Options['algorithm']> = 2;
const VERSION_0X13: NonNullable<Options['version']> = 1;

/**
 * OWASP's first recommended Argon2id setting (19 MiB, 2 passes, 1 lane). It takes about 10 ms
 * per hash on a current x86 core: cheap enough that the test suite and a phone's login stay
 * fast, while a guessing attacker still pays 19 MiB and two passes per guess. Raising it later
 * is safe (see `needsRehash`); lowering it is not.
 */
export const PASSWORD_HASH_OPTIONS = Object.freeze({
  algorithm: ARGON2ID,
  version: VERSION_0X13,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
} satisfies Options);

/**
 * Verified instead of a real hash when the user does not exist, so "unknown user" costs the same
 * as "wrong password". Made once with PASSWORD_HASH_OPTIONS from 32 random bytes nobody kept;
 * a test checks its parameters still match, and the result of verifying it is always ignored.
 */
export const DUMMY_PASSWORD_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$0Y8sOhVulsgjAGVbseYiBA$0nhd+VQ8c6oug1RlmduXfz+YFhaw8jCyoXkuZOClIIE';

export function hashPassword(password: string): Promise<string> {
  return hash(password, PASSWORD_HASH_OPTIONS);
}

/** False for a wrong password and for a stored hash that cannot be parsed. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  try {
    return await verify(storedHash, password);
  } catch {
    // A damaged hash must read as "wrong password", never as an error that names the account.
    return false;
  }
}

/** Burns one verification's worth of time and memory for a login that cannot succeed. */
export async function verifyDummy(password: string): Promise<void> {
  await verifyPassword(DUMMY_PASSWORD_HASH, password);
}

/** True when a stored hash was made with other parameters than today's. */
export function needsRehash(storedHash: string): boolean {
  try {
    const used = parseOptions(storedHash);
    return (
      used.algorithm !== PASSWORD_HASH_OPTIONS.algorithm ||
      used.version !== PASSWORD_HASH_OPTIONS.version ||
      used.memoryCost !== PASSWORD_HASH_OPTIONS.memoryCost ||
      used.timeCost !== PASSWORD_HASH_OPTIONS.timeCost ||
      used.parallelism !== PASSWORD_HASH_OPTIONS.parallelism ||
      used.outputLen !== PASSWORD_HASH_OPTIONS.outputLen
    );
  } catch {
    return false;
  }
}
