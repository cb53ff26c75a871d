/**
 * The account password never comes from argv (it would sit in shell history and `ps`): it is read
 * from AHENK_PASSWORD, or from stdin — a pipe is read to its end, a terminal is prompted without echo.
 */
import type { CliIo, Reader } from './io.ts';
import { UsageError } from './errors.ts';

export async function readPassword(io: CliIo, prompt = 'Password: '): Promise<string> {
  const fromEnv = io.env.AHENK_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const stdin = io.stdin;
  if (stdin === undefined) throw new UsageError('no password: set AHENK_PASSWORD or pipe it on stdin');
  const password = stdin.isTTY ? await readHidden(stdin, io, prompt) : await readAll(stdin);
  if (password === '') throw new UsageError('no password: set AHENK_PASSWORD or pipe it on stdin');
  return password;
}

async function readAll(stdin: Reader): Promise<string> {
  let text = '';
  for await (const chunk of stdin) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  // One trailing newline belongs to `echo`, not to the password.
  return text.replace(/\r?\n$/, '');
}

function readHidden(stdin: Reader, io: CliIo, prompt: string): Promise<string> {
  if (!stdin.setRawMode || !stdin.on || !stdin.off) return readAll(stdin);
  const { on, off } = { on: stdin.on.bind(stdin), off: stdin.off.bind(stdin) };
  io.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding?.('utf8');
  stdin.resume?.();
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error?: Error): void => {
      off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause?.();
      io.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string | Uint8Array): void => {
      for (const char of typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish();
        if (char === '\u0003') return finish(new UsageError('cancelled', 130));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    on('data', onData);
  });
}
