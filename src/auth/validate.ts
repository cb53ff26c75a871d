/**
 * Normalisation and bounds for account and device input. Every string that reaches the database
 * or the password hash is bounded, so no caller can make Ahenk store or hash megabytes.
 */
import { AuthError } from '../errors.ts';

/** Lengths in UTF-16 code units (JavaScript string length), after trimming. */
export const AUTH_LIMITS = Object.freeze({
  /** Long enough for any display name people type; short enough to list in a CLI column. */
  userName: 64,
  /** RFC 5321: a forward path is at most 256 octets including the angle brackets. */
  email: 254,
  /** RFC 5321 local-part limit. */
  emailLocalPart: 64,
  /** Generous for passphrases; bounds the bytes fed to Argon2 on every login attempt. */
  password: 1024,
  /** 'phone', 'laptop', 'Pixel 8 Pro (work)': a label, not a document. */
  deviceType: 64,
  /** APNs tokens are 64 hex characters and FCM tokens about 160; 4 KiB leaves room for others. */
  pushToken: 4096,
  /** A libp2p peer id string is 52 (Ed25519) to about 60 characters; RSA ones are longer. */
  peerId: 128,
});

// Control characters would let a name print as something else in logs and terminals.
const CONTROL = /\p{Cc}/u;
// One '@', no whitespace or control characters, a dotted domain without empty labels.
const EMAIL = /^[^\s@\p{Cc}]+@[^\s@.\p{Cc}]+(?:\.[^\s@.\p{Cc}]+)+$/u;

export function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new AuthError('INVALID_INPUT', `${what} must be a string`);
  return value;
}

/** Trimmed, NFC (so one name typed on two keyboards is one name), case kept. */
export function normalizeUserName(value: unknown): string {
  const name = requireString(value, 'User name').trim().normalize('NFC');
  if (name.length === 0) throw new AuthError('INVALID_INPUT', 'User name cannot be empty');
  if (name.length > AUTH_LIMITS.userName) {
    throw new AuthError('INVALID_INPUT', `User name is too long (at most ${AUTH_LIMITS.userName} characters)`);
  }
  // Login accepts a name or an email; a name with '@' could shadow another user's email.
  if (name.includes('@')) throw new AuthError('INVALID_INPUT', "User name cannot contain '@'");
  if (CONTROL.test(name)) throw new AuthError('INVALID_INPUT', 'User name cannot contain control characters');
  return name;
}

/** Trimmed, lower-cased, NFC. */
export function normalizeEmail(value: unknown): string {
  const email = requireString(value, 'Email').trim().normalize('NFC').toLowerCase();
  if (email.length === 0) throw new AuthError('INVALID_INPUT', 'Email cannot be empty');
  if (email.length > AUTH_LIMITS.email) {
    throw new AuthError('INVALID_INPUT', `Email is too long (at most ${AUTH_LIMITS.email} characters)`);
  }
  const at = email.indexOf('@');
  if (!EMAIL.test(email) || at > AUTH_LIMITS.emailLocalPart) throw new AuthError('INVALID_INPUT', 'Email is not a valid address');
  return email;
}

/** Passwords are never trimmed or case-folded: every character the user typed counts. */
export function checkPassword(value: unknown): string {
  const password = requireString(value, 'Password');
  if (password.length === 0) throw new AuthError('INVALID_INPUT', 'Password cannot be empty');
  if (password.length > AUTH_LIMITS.password) {
    throw new AuthError('INVALID_INPUT', `Password is too long (at most ${AUTH_LIMITS.password} characters)`);
  }
  return password.normalize('NFC');
}

export function normalizeDeviceType(value: unknown): string {
  const type = requireString(value, 'Device type').trim();
  if (type.length === 0) throw new AuthError('DEVICE_TYPE_EMPTY', 'Device type cannot be empty');
  if (type.length > AUTH_LIMITS.deviceType) {
    throw new AuthError('INVALID_INPUT', `Device type is too long (at most ${AUTH_LIMITS.deviceType} characters)`);
  }
  if (CONTROL.test(type)) throw new AuthError('INVALID_INPUT', 'Device type cannot contain control characters');
  return type;
}

/** Undefined, null or blank means "no push token". */
export function normalizePushToken(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const token = requireString(value, 'Push token').trim();
  if (token.length === 0) return null;
  if (token.length > AUTH_LIMITS.pushToken) {
    throw new AuthError('INVALID_INPUT', `Push token is too long (at most ${AUTH_LIMITS.pushToken} characters)`);
  }
  return token;
}
