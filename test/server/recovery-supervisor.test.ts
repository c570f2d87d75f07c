/**
 * The state machine that brings a model back after a lost device, driven by a fake loader:
 * recovery to ready, retries with doubling backoff, giving up with the reason, and never two
 * reloads at once (losses during a reload and late losses of retired instances are ignored).
 */
import { describe, expect, it } from 'vitest';
import {
  type RecoveryPolicy,
  RecoverySupervisor,
  type RecoveryStatus,
  type SupervisorHooks,
} from '../../src/server/recovery-supervisor.js';

interface Fake {
  id: number;
  loseDevice: (why: string) => void;
  lost: Promise<Error>;
}

function fake(id: number): Fake {
  let loseDevice!: (why: string) => void;
  const lost = new Promise<Error>((resolve) => (loseDevice = (why) => resolve(new Error(why))));
  return { id, loseDevice, lost };
}

/** A supervisor over fake instances; `results` says, per load call, whether it succeeds. */
function harness(
  results: ('ok' | 'fail' | Promise<void>)[],
  policy: RecoveryPolicy = { maxAttempts: 3, backoffMs: 100 },
) {
  const log = {
    installed: [] as number[],
    disposed: [] as number[],
    lostCalls: 0,
    sleeps: [] as number[],
    loads: 0,
    concurrentLoads: 0,
    maxConcurrentLoads: 0,
    phases: [] as RecoveryStatus['phase'][],
    statuses: [] as RecoveryStatus[],
  };
  let next = 1;
  const hooks: SupervisorHooks<Fake> = {
    load: async () => {
      const outcome = results[log.loads++] ?? 'ok';
      log.concurrentLoads++;
      log.maxConcurrentLoads = Math.max(log.maxConcurrentLoads, log.concurrentLoads);
      try {
        if (outcome instanceof Promise) await outcome;
        if (outcome === 'fail') throw new Error(`no adapter (load ${log.loads})`);
        return fake(next++);
      } finally {
        log.concurrentLoads--;
      }
    },
    install: (f) => log.installed.push(f.id),
    lostOf: (f) => f.lost,
    onLost: () => log.lostCalls++,
    dispose: (f) => log.disposed.push(f.id),
    onChange: (s) => {
      log.phases.push(s.phase);
      log.statuses.push(s);
    },
    sleep: async (ms) => {
      log.sleeps.push(ms);
    },
  };
  const first = fake(0);
  const supervisor = new RecoverySupervisor(first, hooks, policy);
  return { supervisor, first, log };
}

/** Lets the `lost` promise's reaction run. */
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('recovery supervisor', () => {
  it('a lost device is reloaded and the new instance put in service', async () => {
    const { supervisor, first, log } = harness(['ok']);
    expect(supervisor.status().phase).toBe('ready');
    first.loseDevice('device lost (destroyed)');
    await tick();
    await supervisor.settled();
    expect(log.statuses[0]).toEqual({ phase: 'recovering', reason: 'device lost (destroyed)', attempts: 0, losses: 1 });
    expect(log.lostCalls).toBe(1);
    expect(supervisor.status()).toMatchObject({ phase: 'ready', reason: null, attempts: 1 });
    expect(log.installed).toEqual([1]);
    expect(log.disposed).toEqual([0]);
    expect(supervisor.instance.id).toBe(1);
    expect(log.phases).toEqual(['recovering', 'ready']);
  });

  it('the reloaded instance is watched in turn', async () => {
    const { supervisor, first, log } = harness(['ok', 'ok']);
    first.loseDevice('first loss');
    await tick();
    await supervisor.settled();
    supervisor.instance.loseDevice('second loss');
    await tick();
    await supervisor.settled();
    expect(log.installed).toEqual([1, 2]);
    expect(supervisor.status()).toMatchObject({ phase: 'ready', losses: 2 });
  });

  it('failed reloads are retried with doubling backoff, then it serves again', async () => {
    const { supervisor, first, log } = harness(['fail', 'fail', 'ok'], { maxAttempts: 5, backoffMs: 100 });
    first.loseDevice('device lost');
    await tick();
    await supervisor.settled();
    expect(log.loads).toBe(3);
    expect(log.sleeps).toEqual([100, 200, 400]);
    expect(log.phases).toEqual(['recovering', 'recovering', 'recovering', 'ready']);
    expect(supervisor.status()).toMatchObject({ phase: 'ready', attempts: 3 });
    expect(log.statuses.map((x) => x.reason)).toEqual([
      'device lost',
      'device lost; 1 reload attempt failed so far, the last with: no adapter (load 1)',
      'device lost; 2 reload attempts failed so far, the last with: no adapter (load 2)',
      null,
    ]);
  });

  it('backoff stops growing at its maximum', async () => {
    const { supervisor, first, log } = harness(['fail', 'fail', 'fail', 'ok'], {
      maxAttempts: 9,
      backoffMs: 100,
      maxBackoffMs: 250,
    });
    first.loseDevice('device lost');
    await tick();
    await supervisor.settled();
    expect(log.sleeps).toEqual([100, 200, 250, 250]);
  });

  it('gives up after the last attempt and stays not-ready with the reason', async () => {
    const { supervisor, first, log } = harness(['fail', 'fail', 'fail', 'ok']);
    first.loseDevice('device lost (unknown: driver reset)');
    await tick();
    await supervisor.settled();
    expect(log.loads).toBe(3);
    const s = supervisor.status();
    expect(s.phase).toBe('failed');
    expect(s.reason).toBe(
      'device lost (unknown: driver reset); gave up after 3 reload attempts, the last failed with: no adapter (load 3)',
    );
    // nothing more happens on its own, nor on another report
    supervisor.lose(new Error('again'));
    await tick();
    expect(log.loads).toBe(3);
    expect(log.installed).toEqual([]);
    expect(supervisor.status().phase).toBe('failed');
  });

  it('while recovering it reports the last failed attempt', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const { supervisor, first } = harness(['fail', blocked]);
    first.loseDevice('device lost');
    await tick();
    await tick();
    await tick();
    expect(supervisor.status()).toMatchObject({
      phase: 'recovering',
      attempts: 2,
      reason: 'device lost; 1 reload attempt failed so far, the last with: no adapter (load 1)',
    });
    release();
    await supervisor.settled();
    expect(supervisor.status().phase).toBe('ready');
  });

  it('never runs two reloads at once: losses during a reload are ignored', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const { supervisor, first, log } = harness([blocked]);
    first.loseDevice('device lost');
    await tick();
    supervisor.lose(new Error('reported again by a failed step'));
    supervisor.lose(new Error('and again'));
    await tick();
    expect(log.loads).toBe(1);
    expect(log.lostCalls).toBe(1);
    release();
    await supervisor.settled();
    expect(log.maxConcurrentLoads).toBe(1);
    expect(log.installed).toEqual([1]);
    expect(supervisor.status()).toMatchObject({ phase: 'ready', losses: 1 });
  });

  it('a late loss of a retired instance is ignored', async () => {
    const { supervisor, first, log } = harness(['ok', 'ok']);
    supervisor.lose(new Error('reported by the engine first'));
    await supervisor.settled();
    expect(supervisor.instance.id).toBe(1);
    first.loseDevice('the old device reports its loss late');
    await tick();
    expect(supervisor.status()).toMatchObject({ phase: 'ready', losses: 1 });
    expect(log.loads).toBe(1);
  });

  it('stop during a reload: what it loads is released, never installed', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const { supervisor, first, log } = harness([blocked]);
    first.loseDevice('device lost');
    await tick();
    supervisor.stop();
    release();
    await supervisor.settled();
    expect(log.installed).toEqual([]);
    expect(log.disposed).toEqual([0, 1]);
    expect(supervisor.status().phase).toBe('stopped');
  });
});
