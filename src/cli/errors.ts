/**
 * Exit codes and the errors the CLI maps to them. A UsageError is the user's mistake (a missing
 * flag, a file that is not there): it is printed as one line with a hint, never as a stack trace.
 */
import { AhenkError } from '../errors.ts';

export const EXIT = {
  ok: 0,
  /** The command ran and failed: a refused login, a database error, a peer that cannot be reached. */
  failure: 1,
  /** Bad arguments or flags, or a database that does not exist. */
  usage: 2,
  /** Pairing did not happen: the code expired, was refused or was already used. */
  pairing: 3,
  /** A sync stopped making progress for longer than its idle timeout (--sync-timeout). */
  stalled: 4,
  /** Stopped by SIGINT/SIGTERM before the command had finished its work (128 + SIGINT). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class UsageError extends AhenkError {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = EXIT.usage) {
    super('CLI_USAGE', message);
    this.name = 'UsageError';
    this.exitCode = exitCode;
  }
}

/** A command that ran and failed in a way the user should read as one line (exit code attached). */
export class CommandFailedError extends AhenkError {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = EXIT.failure, options?: { cause?: unknown }) {
    super('CLI_FAILED', message, options);
    this.name = 'CommandFailedError';
    this.exitCode = exitCode;
  }
}
