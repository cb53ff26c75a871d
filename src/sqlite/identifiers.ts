/** Identifier quoting for the few places where a validated name must be spliced into SQL. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new TypeError('identifier contains NUL');
  return `"${name.replaceAll('"', '""')}"`;
}
