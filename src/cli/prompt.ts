/**
 * What the CLI asks a person. The account password never comes from argv (it would sit in shell
 * history and `ps`): it is read from AHENK_PASSWORD, or from stdin — a pipe is read to its end, a
 * terminal is prompted without echo. Yes/no questions are asked only on a terminal.
 */
import type { CliIo, Reader } from './io.ts';
import { EXIT, UsageError } from './errors.ts';

export async function readPassword(io: CliIo, prompt = 'Password: '): Promise<string> {
  const fromEnv = io.env.AHENK_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const stdin = io.stdin;
  if (stdin === undefined) throw new UsageError('no password: set AHENK_PASSWORD or pipe it on stdin');
  const password = isTerminal(stdin) ? await readTyped(stdin, io, prompt, false) : await readAll(stdin, io.signal);
  if (password === '') throw new UsageError('no password: set AHENK_PASSWORD or pipe it on stdin');
  return password;
}

/** True when there is a person at a terminal to ask. */
export function canAsk(io: CliIo): boolean {
  return io.stdin !== undefined && isTerminal(io.stdin);
}

/** Asks a yes/no question on the terminal; anything but y/yes is no. */
export async function confirm(io: CliIo, question: string): Promise<boolean> {
  if (io.stdin === undefined || !isTerminal(io.stdin)) return false;
  const answer = await readTyped(io.stdin, io, `${question} [y/N] `, true);
  return /^y(es)?$/i.test(answer.trim());
}

function isTerminal(stdin: Reader): stdin is Reader & Required<Pick<Reader, 'setRawMode' | 'on' | 'off'>> {
  return stdin.isTTY === true && stdin.setRawMode !== undefined && stdin.on !== undefined && stdin.off !== undefined;
}

/** Reads a pipe to its end; a signal (SIGINT/SIGTERM) stops the wait, as a pipe may never close. */
async function readAll(stdin: Reader, signal: AbortSignal | undefined): Promise<string> {
  const reading = (async () => {
    let text = '';
    for await (const chunk of stdin) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return text;
  })();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new UsageError('cancelled while reading the password', EXIT.interrupted));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const text = await Promise.race([reading, aborted]);
    // One trailing newline belongs to `echo`, not to the password.
    return text.replace(/\r?\n$/, '');
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** One line typed at the terminal, in raw mode so a password is not echoed and Ctrl-C cancels. */
function readTyped(stdin: Reader & Required<Pick<Reader, 'setRawMode' | 'on' | 'off'>>, io: CliIo, prompt: string, echo: boolean): Promise<string> {
  io.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding?.('utf8');
  stdin.resume?.();
  return new Promise((resolve, reject) => {
    let typed = '';
    // In raw mode Ctrl-C arrives as a byte, but a SIGTERM (or a SIGINT sent with kill) aborts io.signal:
    // that cancels the prompt too, instead of leaving the command waiting for a key.
    const onAbort = (): void => finish(new UsageError('cancelled', EXIT.interrupted));
    const finish = (error?: Error): void => {
      io.signal?.removeEventListener('abort', onAbort);
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause?.();
      io.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string | Uint8Array): void => {
      for (const char of typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') return finish();
        if (char === '\u0003') return finish(new UsageError('cancelled', EXIT.interrupted));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else {
          typed += char;
          if (echo) io.stderr.write(char);
        }
      }
    };
    stdin.on('data', onData);
    if (io.signal?.aborted) onAbort();
    else io.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
