/**
 * Whose turn it is on the database connection. Where one connection is shared with code that holds
 * transactions across awaits (a browser's tabs, whose BEGIN ... COMMIT arrive as separate
 * requests at the worker that holds the database), a session must not read or write in the middle
 * of one: its batch would be committed or rolled back with the tab's, and rows a tab may still
 * roll back would be sent to the peer. The session asks `free()` right before it touches the
 * connection and, while it is not, waits. Without a turn (Node: every transaction there is
 * synchronous) the session uses the connection whenever it likes.
 */
export interface DatabaseTurn {
  /** The connection is the session's to use now; asked synchronously right before it is used. */
  free(): boolean;
  /** Resolves when the connection may be free again (ask `free()` once more); rejects on abort. */
  wait(signal: AbortSignal): Promise<void>;
}

/**
 * A turn bound to one session: its wait ends with the session. Callers loop
 * `while (!turn.free()) await turn.wait();` and use the connection right after, in the same
 * continuation, so nothing can take the connection between the check and the use.
 */
export interface SessionTurn {
  free(): boolean;
  wait(): Promise<void>;
}

/**
 * Resolves once `turn` is free, on a microtask (before any task, so before a tab's next request):
 * the caller writes right after it, in the same continuation. Rejects when `signal` aborts.
 */
export async function takeTurn(turn: DatabaseTurn, signal: AbortSignal): Promise<void> {
  while (!turn.free()) await turn.wait(signal);
}
