// better-sqlite3 loads the copy built for this Node (AHENK_BETTER_SQLITE3_ENTRY): the bare
// specifier, and files of the installed package that a tool (vitest) resolved to a path itself.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const entry = process.env.AHENK_BETTER_SQLITE3_ENTRY;
const installed = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'better-sqlite3')).href + '/';
const built = entry === undefined ? undefined : pathToFileURL(dirname(dirname(entry))).href + '/';

export async function resolve(specifier, context, next) {
  if (entry === undefined) return next(specifier, context);
  if (specifier === 'better-sqlite3') return { url: pathToFileURL(entry).href, format: 'commonjs', shortCircuit: true };
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith(installed)) return { ...resolved, url: built + resolved.url.slice(installed.length) };
  return resolved;
}
