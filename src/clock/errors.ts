import { AhenkError } from '../errors.ts';

/** A remote timestamp is further ahead of our wall clock than maxDrift allows. */
export class ClockDriftError extends AhenkError {
  readonly remote: string;
  readonly aheadMs: number;

  constructor(remote: string, aheadMs: number, maxDriftMs: number) {
    super('CLOCK_DRIFT', `remote clock ${remote} is ${aheadMs} ms ahead of ours (max drift ${maxDriftMs} ms)`);
    this.name = 'ClockDriftError';
    this.remote = remote;
    this.aheadMs = aheadMs;
  }
}
