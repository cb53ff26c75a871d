/**
 * Shared by the pairing tests: nodes and workflows stopped after each test, an authorizing device
 * with an account showing a code, and a way to read a promise's failure as a PairingError.
 */
import { afterEach, expect } from 'vitest';
import { AuthorizerWorkflow, createSyncNode, PairingError, registerUser, type AuthorizerOptions, type P2PConfig, type SyncNode } from '../../src/index.ts';
import { openDevice } from '../helpers/db.ts';

export type Device = ReturnType<typeof openDevice>;

const nodes: SyncNode[] = [];
const workflows: AuthorizerWorkflow[] = [];
afterEach(async () => {
  await Promise.all(workflows.splice(0).map((w) => w.close()));
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

/** A sync node on 127.0.0.1 for `db`, stopped after the test. */
export async function node(db: Device, config: P2PConfig = {}): Promise<SyncNode> {
  const started = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], reconnect: false, ...config });
  nodes.push(started);
  return started;
}

/** Device A (or the given one) with an account and a node, showing a fresh pairing code. */
export async function authorizer(options: Omit<AuthorizerOptions, 'userId'> = {}, existing?: { a: Device; nodeA: SyncNode }) {
  const a = existing?.a ?? openDevice('a');
  const user = await registerUser(a, 'ayse', 'ayse@example.test', 'a long pass phrase');
  const nodeA = existing?.nodeA ?? (await node(a));
  const workflow = new AuthorizerWorkflow(a, nodeA, { userId: user.id, deviceType: 'laptop', ...options });
  workflows.push(workflow);
  await workflow.createChallenge();
  return { a, user, nodeA, workflow, qr: workflow.getQrCodeString() };
}

/** The PairingError the promise rejects with (fails the test if it resolves or throws anything else). */
export async function caught(promise: Promise<unknown>): Promise<PairingError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PairingError);
  return error as PairingError;
}
