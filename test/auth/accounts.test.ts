import { parseOptions } from '@node-rs/argon2';
import { describe, expect, it } from 'vitest';
import { AUTH_LIMITS, loginUser, PASSWORD_HASH_OPTIONS, registerUser } from '../../src/auth/index.ts';
import { DUMMY_PASSWORD_HASH } from '../../src/auth/password.ts';
import { AuthError, initializeDatabase } from '../../src/index.ts';

function openDb() {
  return initializeDatabase(':memory:');
}

/** Runs `fn`, expecting an AuthError with this message and code. */
async function expectAuthError(fn: () => Promise<unknown>, message: string, code: string): Promise<void> {
  const error = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthError);
  expect(error).toMatchObject({ name: 'AuthError', message, code });
}

function storedRows(db: ReturnType<typeof openDb>) {
  return db.$connection.prepare('SELECT id, user_name, email, password_hash, created_at FROM ahenk_users ORDER BY created_at, id', { integers: 'number' }).all() as {
    id: string;
    user_name: string;
    email: string;
    password_hash: string;
    created_at: number;
  }[];
}

describe('registerUser', () => {
  it('trims the name keeping its case, trims and lower-cases the email, and returns no hash', async () => {
    const db = openDb();
    const before = Date.now();
    const user = await registerUser(db, '  Bob Smith ', '  Bob@Example.COM ', 'correct horse');
    expect(Object.keys(user).sort()).toEqual(['createdAt', 'email', 'id', 'userName']);
    expect(user).toMatchObject({ userName: 'Bob Smith', email: 'bob@example.com' });
    expect(user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(user.createdAt).toBeGreaterThanOrEqual(before);
    expect(JSON.stringify(user)).not.toMatch(/argon2|correct horse/);

    const [row] = storedRows(db);
    expect(row).toMatchObject({ id: user.id, user_name: 'Bob Smith', email: 'bob@example.com', created_at: user.createdAt });
    expect(row?.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(row?.password_hash).not.toContain('correct horse');
  });

  it('rejects a taken name and a taken email after normalisation', async () => {
    const db = openDb();
    await registerUser(db, ' Bob ', 'A@X.com', 'pw-1');
    await expectAuthError(() => registerUser(db, 'Bob', 'other@x.com', 'pw-2'), 'Username already exists', 'USERNAME_TAKEN');
    await expectAuthError(() => registerUser(db, 'Alice', ' a@x.com ', 'pw-2'), 'Email already registered', 'EMAIL_TAKEN');
    // Names keep their case: 'bob' is another user, as long as the email is free.
    const bob2 = await registerUser(db, 'bob', 'b@x.com', 'pw-3');
    expect(bob2.userName).toBe('bob');
    expect(storedRows(db).map((r) => r.user_name)).toEqual(['Bob', 'bob']);
  });

  it('reports the name first when both name and email are taken', async () => {
    const db = openDb();
    await registerUser(db, 'Bob', 'bob@x.com', 'pw');
    await expectAuthError(() => registerUser(db, 'Bob', 'bob@x.com', 'pw'), 'Username already exists', 'USERNAME_TAKEN');
  });

  it('keeps the unique indexes as the last word when two registrations race', async () => {
    const db = openDb();
    // Both pass the early check before either has finished hashing, so the index must decide.
    const race = async (a: [string, string], b: [string, string]) => {
      const results = await Promise.allSettled([registerUser(db, ...a, 'pw'), registerUser(db, ...b, 'pw')]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      return results.flatMap((r) => (r.status === 'rejected' ? [r.reason as AuthError] : []));
    };
    const [nameError] = await race(['Race', 'one@x.com'], ['Race', 'two@x.com']);
    expect(nameError).toMatchObject({ name: 'AuthError', code: 'USERNAME_TAKEN', message: 'Username already exists' });
    const [emailError] = await race(['Left', 'same@x.com'], ['Right', 'SAME@x.com']);
    expect(emailError).toMatchObject({ name: 'AuthError', code: 'EMAIL_TAKEN', message: 'Email already registered' });
    expect(storedRows(db)).toHaveLength(2);
  });

  it('validates every input with a typed INVALID_INPUT error', async () => {
    const db = openDb();
    const cases: [string, string, string, string][] = [
      ['   ', 'a@x.com', 'pw', 'User name cannot be empty'],
      ['x'.repeat(AUTH_LIMITS.userName + 1), 'a@x.com', 'pw', 'User name is too long (at most 64 characters)'],
      ['bob@home', 'a@x.com', 'pw', "User name cannot contain '@'"],
      ['bo\nb', 'a@x.com', 'pw', 'User name cannot contain control characters'],
      ['bob', '  ', 'pw', 'Email cannot be empty'],
      ['bob', 'not-an-email', 'pw', 'Email is not a valid address'],
      ['bob', 'a@', 'pw', 'Email is not a valid address'],
      ['bob', '@x.com', 'pw', 'Email is not a valid address'],
      ['bob', 'a b@x.com', 'pw', 'Email is not a valid address'],
      ['bob', 'a@@x.com', 'pw', 'Email is not a valid address'],
      ['bob', 'a@x..com', 'pw', 'Email is not a valid address'],
      ['bob', 'a@localhost', 'pw', 'Email is not a valid address'],
      ['bob', `${'l'.repeat(65)}@x.com`, 'pw', 'Email is not a valid address'],
      ['bob', `a@${'d'.repeat(250)}.com`, 'pw', 'Email is too long (at most 254 characters)'],
      ['bob', 'a@x.com', '', 'Password cannot be empty'],
      ['bob', 'a@x.com', 'p'.repeat(AUTH_LIMITS.password + 1), 'Password is too long (at most 1024 characters)'],
    ];
    for (const [name, email, password, message] of cases) {
      await expectAuthError(() => registerUser(db, name, email, password), message, 'INVALID_INPUT');
    }
    await expectAuthError(() => registerUser(db, 42 as unknown as string, 'a@x.com', 'pw'), 'User name must be a string', 'INVALID_INPUT');
    expect(storedRows(db)).toHaveLength(0);
    // The bounds themselves are accepted, and a password is never trimmed.
    const edge = await registerUser(db, 'x'.repeat(AUTH_LIMITS.userName), 'a@x.com', ` ${'p'.repeat(AUTH_LIMITS.password - 2)} `);
    await expect(loginUser(db, edge.userName, ` ${'p'.repeat(AUTH_LIMITS.password - 2)} `)).resolves.toEqual(edge);
    await expectAuthError(() => loginUser(db, edge.userName, 'p'.repeat(AUTH_LIMITS.password - 2)), 'Invalid credentials', 'INVALID_CREDENTIALS');
  });
});

describe('loginUser', () => {
  it('logs in by trimmed name or by trimmed, case-insensitive email and returns the same user', async () => {
    const db = openDb();
    const user = await registerUser(db, 'Bob', 'Bob@Example.com', 's3cret');
    await expect(loginUser(db, 'Bob', 's3cret')).resolves.toEqual(user);
    await expect(loginUser(db, '  Bob  ', 's3cret')).resolves.toEqual(user);
    await expect(loginUser(db, ' BOB@example.COM ', 's3cret')).resolves.toEqual(user);
    const loggedIn = await loginUser(db, 'bob@example.com', 's3cret');
    expect(Object.keys(loggedIn).sort()).toEqual(['createdAt', 'email', 'id', 'userName']);
  });

  it("treats names case-sensitively: 'bob' is not 'Bob'", async () => {
    const db = openDb();
    await registerUser(db, 'Bob', 'bob@x.com', 'pw');
    await expectAuthError(() => loginUser(db, 'bob', 'pw'), 'Invalid credentials', 'INVALID_CREDENTIALS');
  });

  it("answers 'Invalid credentials' alike for an unknown user, a wrong password and empty input", async () => {
    const db = openDb();
    await registerUser(db, 'Bob', 'bob@x.com', 'right');
    await expectAuthError(() => loginUser(db, 'Bob', 'wrong'), 'Invalid credentials', 'INVALID_CREDENTIALS');
    await expectAuthError(() => loginUser(db, 'Bob', 'Right'), 'Invalid credentials', 'INVALID_CREDENTIALS');
    await expectAuthError(() => loginUser(db, 'Nobody', 'right'), 'Invalid credentials', 'INVALID_CREDENTIALS');
    await expectAuthError(() => loginUser(db, 'nobody@x.com', 'right'), 'Invalid credentials', 'INVALID_CREDENTIALS');
    await expectAuthError(() => loginUser(db, '', 'right'), 'Invalid credentials', 'INVALID_CREDENTIALS');
    await expectAuthError(() => loginUser(db, 'Bob', ''), 'Invalid credentials', 'INVALID_CREDENTIALS');
    await expectAuthError(() => loginUser(db, 'Bob', 'x'.repeat(AUTH_LIMITS.password + 1)), 'Invalid credentials', 'INVALID_CREDENTIALS');
    await expectAuthError(() => loginUser(db, 'Bob', null as unknown as string), 'Password must be a string', 'INVALID_INPUT');
  });

  it('the dummy password hash is verified with the same parameters as real hashes', () => {
    expect(parseOptions(DUMMY_PASSWORD_HASH)).toMatchObject({ ...PASSWORD_HASH_OPTIONS, saltLen: 16 });
  });

  it('takes about as long for an unknown user as for a wrong password', async () => {
    const db = openDb();
    await registerUser(db, 'Bob', 'bob@x.com', 'right');
    const time = async (login: string): Promise<number> => {
      const start = performance.now();
      await loginUser(db, login, 'wrong').catch((e: unknown) => e);
      return performance.now() - start;
    };
    await time('Bob');
    await time('Nobody');
    const known: number[] = [];
    const unknown: number[] = [];
    // Interleaved, so load from other test files slows both sides alike.
    for (let i = 0; i < 9; i++) {
      known.push(await time('Bob'));
      unknown.push(await time(`nobody-${i}`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(unknown) / median(known);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
    // Both do real Argon2 work: a lookup alone takes well under a millisecond.
    expect(median(unknown)).toBeGreaterThan(2);
  });

  it('upgrades a hash made with older parameters on the next successful login', async () => {
    const db = openDb();
    const { hash } = await import('@node-rs/argon2');
    const user = await registerUser(db, 'Old', 'old@x.com', 'pw');
    const weak = await hash('pw', { algorithm: 2, memoryCost: 8192, timeCost: 1, parallelism: 1 });
    db.$connection.prepare('UPDATE ahenk_users SET password_hash = ? WHERE id = ?').run(weak, user.id);
    await expect(loginUser(db, 'Old', 'pw')).resolves.toEqual(user);
    const stored = storedRows(db)[0]!.password_hash;
    expect(stored).not.toBe(weak);
    expect(parseOptions(stored)).toMatchObject(PASSWORD_HASH_OPTIONS);
    await expect(loginUser(db, 'Old', 'pw')).resolves.toEqual(user);
  });

  it('treats a damaged stored hash as a wrong password', async () => {
    const db = openDb();
    const user = await registerUser(db, 'Bob', 'bob@x.com', 'pw');
    db.$connection.prepare('UPDATE ahenk_users SET password_hash = ? WHERE id = ?').run('not a hash', user.id);
    await expectAuthError(() => loginUser(db, 'Bob', 'pw'), 'Invalid credentials', 'INVALID_CREDENTIALS');
  });

  it('accepts a password typed in another Unicode normal form', async () => {
    const db = openDb();
    await registerUser(db, 'Zoë', 'zoe@x.com', 'cr\u00e8me');
    await expect(loginUser(db, 'Zoe\u0308', 'cre\u0300me')).resolves.toMatchObject({ userName: 'Zoë' });
  });
});
