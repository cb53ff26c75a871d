/**
 * Accounts: registration and login against ahenk_users. Passwords are stored only as Argon2id
 * PHC strings and never leave this module; a login that fails for any reason says only
 * 'Invalid credentials', after the same amount of hashing work.
 */
import { eq } from 'drizzle-orm';
import type { DatabaseHandle } from '../sqlite/index.ts';
import { AuthError } from '../errors.ts';
import { ahenkUsers } from '../schema/system.ts';
import { authDb, uniqueViolation } from './db.ts';
import { uuidv7 } from './ids.ts';
import { hashPassword, needsRehash, verifyDummy, verifyPassword } from './password.ts';
import { AUTH_LIMITS, checkPassword, normalizeEmail, normalizeUserName, requireString } from './validate.ts';

export interface User {
  /** UUIDv7. */
  id: string;
  /** As registered, trimmed, case kept. */
  userName: string;
  /** Trimmed and lower-cased. */
  email: string;
  /** Unix milliseconds. */
  createdAt: number;
}

const userColumns = {
  id: ahenkUsers.id,
  userName: ahenkUsers.userName,
  email: ahenkUsers.email,
  createdAt: ahenkUsers.createdAt,
};

/**
 * Creates an account. Throws AuthError 'Username already exists' (USERNAME_TAKEN),
 * 'Email already registered' (EMAIL_TAKEN), or INVALID_INPUT for a bad name, email or password.
 */
export async function registerUser(db: DatabaseHandle, userName: string, email: string, password: string): Promise<User> {
  const name = normalizeUserName(userName);
  const mail = normalizeEmail(email);
  const secret = checkPassword(password);
  const orm = authDb(db);
  // Checked before hashing so a duplicate costs no Argon2 work; the unique indexes still decide
  // when another connection registers the same name while we hash.
  assertFree(orm, name, mail);
  const passwordHash = await hashPassword(secret);
  const user: User = { id: uuidv7(), userName: name, email: mail, createdAt: Date.now() };
  try {
    orm.insert(ahenkUsers).values({ ...user, passwordHash }).run();
  } catch (error) {
    const column = uniqueViolation(error);
    if (column === 'ahenk_users.user_name') throw taken('USERNAME_TAKEN');
    if (column === 'ahenk_users.email') throw taken('EMAIL_TAKEN');
    throw error;
  }
  return user;
}

/**
 * Logs in by user name (trimmed, case-sensitive) or email (trimmed, case-insensitive). An unknown
 * user and a wrong password both throw AuthError 'Invalid credentials' (INVALID_CREDENTIALS), and
 * both cost one Argon2id verification, so neither message nor timing tells them apart.
 */
export async function loginUser(db: DatabaseHandle, userNameOrEmail: string, password: string): Promise<User> {
  const login = requireString(userNameOrEmail, 'User name or email').trim().normalize('NFC');
  const secret = requireString(password, 'Password');
  // These depend only on what the caller typed, never on what is stored, so failing fast leaks nothing.
  if (login.length === 0 || login.length > AUTH_LIMITS.email || secret.length === 0 || secret.length > AUTH_LIMITS.password) {
    throw invalidCredentials();
  }
  const orm = authDb(db);
  // Names cannot contain '@', so the identifier says which index to use.
  const where = login.includes('@') ? eq(ahenkUsers.email, login.toLowerCase()) : eq(ahenkUsers.userName, login);
  const row = orm
    .select({ ...userColumns, passwordHash: ahenkUsers.passwordHash })
    .from(ahenkUsers)
    .where(where)
    .get();
  const typed = secret.normalize('NFC');
  if (row === undefined) {
    await verifyDummy(typed);
    throw invalidCredentials();
  }
  const { passwordHash, ...user } = row;
  if (!(await verifyPassword(passwordHash, typed))) throw invalidCredentials();
  if (needsRehash(passwordHash)) {
    const upgraded = await hashPassword(typed);
    orm.update(ahenkUsers).set({ passwordHash: upgraded }).where(eq(ahenkUsers.id, user.id)).run();
  }
  return user;
}

/** The user with this id, without its password hash; throws 'User not found' (USER_NOT_FOUND). */
export function requireUser(db: DatabaseHandle, userId: unknown): User {
  const id = requireString(userId, 'User id');
  const user = authDb(db).select(userColumns).from(ahenkUsers).where(eq(ahenkUsers.id, id)).get();
  if (user === undefined) throw new AuthError('USER_NOT_FOUND', 'User not found');
  return user;
}

function assertFree(orm: ReturnType<typeof authDb>, name: string, mail: string): void {
  const byName = orm.select({ id: ahenkUsers.id }).from(ahenkUsers).where(eq(ahenkUsers.userName, name)).get();
  if (byName !== undefined) throw taken('USERNAME_TAKEN');
  const byEmail = orm.select({ id: ahenkUsers.id }).from(ahenkUsers).where(eq(ahenkUsers.email, mail)).get();
  if (byEmail !== undefined) throw taken('EMAIL_TAKEN');
}

function taken(code: 'USERNAME_TAKEN' | 'EMAIL_TAKEN'): AuthError {
  return new AuthError(code, code === 'USERNAME_TAKEN' ? 'Username already exists' : 'Email already registered');
}

function invalidCredentials(): AuthError {
  return new AuthError('INVALID_CREDENTIALS', 'Invalid credentials');
}
