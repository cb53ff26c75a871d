/**
 * The command tree as data. Each command group file exports a CommandSpec; `buildProgram` turns the
 * tree into a commander program whose output goes to the injected streams and which throws instead
 * of exiting, so `run()` works in-process.
 */
import { Command, Option } from 'commander';
import type { CliIo } from './io.ts';

export interface OptionSpec {
  /** Commander flags, e.g. '--db <path>' or '--json'. */
  flags: string;
  description: string;
  /** May be given more than once; the values collect in an array. */
  repeatable?: boolean;
  /** Commander fails the command when the option is missing. */
  required?: boolean;
  default?: string | boolean;
}

export interface ArgumentSpec {
  /** '<name>' for a required argument, '[name]' for an optional one. */
  name: string;
  description: string;
}

export interface CommandContext {
  /** Declared arguments, in order. */
  args: readonly (string | undefined)[];
  /** Parsed options by camelCased name, as commander gives them. */
  options: Readonly<Record<string, unknown>>;
  io: CliIo;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Longer text shown under `--help`. */
  description?: string;
  args?: readonly ArgumentSpec[];
  options?: readonly OptionSpec[];
  commands?: readonly CommandSpec[];
  /** Returns the exit code (0 when nothing is returned). */
  run?: (context: CommandContext) => Promise<number | void>;
}

/** Builds the commander program; `done` receives the exit code of the command that ran. */
export function buildProgram(root: CommandSpec, io: CliIo, done: (code: number) => void, version: string): Command {
  const program = buildCommand(root, io, done);
  program.version(version, '-V, --version', 'print the version');
  // Options belong to the command they follow (see buildCommand); commander needs this on the root too.
  program.enablePositionalOptions();
  return program;
}

function buildCommand(spec: CommandSpec, io: CliIo, done: (code: number) => void): Command {
  const command = new Command(spec.name)
    .summary(spec.summary)
    .description(spec.description ?? spec.summary)
    .exitOverride()
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  for (const arg of spec.args ?? []) command.argument(arg.name, arg.description);
  for (const option of spec.options ?? []) command.addOption(toOption(option));
  // A command that runs and has subcommands (`relay` and `relay token`) keeps its options for
  // itself: `relay token --state x` gives --state to `token`, not to `relay`.
  if (spec.run !== undefined && spec.commands !== undefined) command.enablePositionalOptions();
  for (const child of spec.commands ?? []) command.addCommand(buildCommand(child, io, done));
  const run = spec.run;
  if (run !== undefined) {
    command.action(async (...received: unknown[]) => {
      const self = received.at(-1) as Command;
      done((await run({ args: self.processedArgs as (string | undefined)[], options: self.opts(), io })) ?? 0);
    });
  }
  return command;
}

function toOption(spec: OptionSpec): Option {
  const option = new Option(spec.flags, spec.description);
  // No default: commander would print "(default: [])"; an absent flag reads as [] (stringsOption).
  if (spec.repeatable) option.argParser((value: string, previous: unknown) => [...(Array.isArray(previous) ? previous : []), value]);
  else if (spec.default !== undefined) option.default(spec.default);
  if (spec.required) option.makeOptionMandatory(true);
  return option;
}
