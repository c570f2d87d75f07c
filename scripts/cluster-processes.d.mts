import type { ChildProcess } from 'node:child_process';

export const NATS_SERVER: string | undefined;
export function freePort(): Promise<number>;
export function waitForLine(child: ChildProcess, pattern: RegExp, ms?: number): Promise<string>;
export function startNats(): Promise<{ url: string; child: ChildProcess; store: string; stop: () => Promise<void> }>;
export function bundleCli(): Promise<string>;
export function startInstance(
  cli: string,
  natsUrl: string,
  id: string,
  extra?: string[],
): Promise<{ id: string; child: ChildProcess; url: string; stop: () => Promise<void> }>;
export function stopChild(child: ChildProcess, ms?: number): Promise<void>;
