// SDK methods that newer daemons and SDK builds add (model and approval
// mode: issue 5; terminals: issue 6). The client is written against their
// agreed names; calling one this SDK build lacks, or one whose route this
// daemon lacks, is an `unsupported` error with a hint, not a crash.
import type { Client } from '@switchyard/sdk';
import { ClientError } from './errors';

/** The agreed signatures (see the SDK's README once they land). */
export interface NewerClient {
  setModel(sessionId: string, modelId: string): Promise<unknown>;
  setApprovalMode(sessionId: string, mode: string, persist?: boolean): Promise<unknown>;
  input(sessionId: string, data: string): Promise<unknown>;
  resize(sessionId: string, cols: number, rows: number): Promise<unknown>;
  signal(sessionId: string, signal: 'INT' | 'TERM' | 'HUP' | 'KILL' | 'QUIT'): Promise<unknown>;
  clearScrollback(sessionId: string): Promise<unknown>;
  claimOwner(sessionId: string): Promise<unknown>;
  releaseOwner(sessionId: string): Promise<unknown>;
}

/** `client[name]`, bound, or an `unsupported` error. */
export function newer<K extends keyof NewerClient>(client: Client, name: K): NewerClient[K] {
  const fn = (client as unknown as Partial<NewerClient>)[name];
  if (typeof fn !== 'function') {
    throw new ClientError(
      'unsupported',
      `this SDK build has no ${name}()`,
      'rebuild the SDK (scripts/build-sdk.sh) from a newer switchyard',
    );
  }
  return (fn as (...args: unknown[]) => unknown).bind(client) as NewerClient[K];
}

/** Terminal session options for `createSession` (issue 6's shape). */
export interface TerminalOptions {
  kind: 'terminal';
  command?: string;
  args?: string[];
  cwd?: string;
  cols?: number;
  rows?: number;
  name?: string;
}
