/**
 * Brings a served model back after its device is lost: the state machine behind readiness while a
 * model recovers. One supervisor per model; it knows nothing of HTTP or engines, only how to load
 * a fresh instance (`load`, the closure that built the first one), how to put it in service
 * (`install`), and which promise says an instance's device is gone (`lostOf`).
 *
 *   ready ──lost──▶ recovering ──load ok──▶ ready
 *                   │  ▲  load failed, attempts left: wait (backoff), try again
 *                   │  └──┘
 *                   └──attempts spent──▶ failed (stays not-ready with the reason)
 *
 * A loss reported while recovering is ignored (the reload in progress makes a new device anyway),
 * so two reloads of one model never run at once; a late loss of an instance no longer in service
 * is ignored too.
 */

export type RecoveryPhase = 'ready' | 'recovering' | 'failed' | 'stopped';

export interface RecoveryStatus {
  phase: RecoveryPhase;
  /** Why the model is not ready (the loss, then the last failed attempt). */
  reason: string | null;
  /** Attempts made in the current recovery. */
  attempts: number;
  /** Losses seen since the model first loaded. */
  losses: number;
}

export interface RecoveryPolicy {
  /** Reload attempts before giving up. Default 5. */
  maxAttempts?: number;
  /** Wait before the first attempt; doubled after each failure. Default 1000 ms. */
  backoffMs?: number;
  /** Longest wait between attempts. Default 30 000 ms. */
  maxBackoffMs?: number;
}

export interface SupervisorHooks<T> {
  /** A fresh instance on a new device (weights reloaded). */
  load(): Promise<T>;
  /** Puts a loaded instance in service. */
  install(instance: T): void;
  /** Resolves when this instance's device is lost; undefined when it cannot be. */
  lostOf(instance: T): Promise<Error> | undefined;
  /** Called at once on a loss, before any reload: fail what is in flight on the lost instance. */
  onLost?(reason: Error, instance: T): void;
  /** Releases an instance taken out of service (or loaded after `stop`). */
  dispose?(instance: T): void;
  /** Each change of phase (for logs). */
  onChange?(status: RecoveryStatus): void;
  /** Waits between attempts; tests pass one that resolves at once. */
  sleep?(ms: number): Promise<void>;
}

const defaultSleep = (ms: number) =>
  new Promise<void>((resolve) => {
    // a pending retry must not keep a stopping process alive
    (setTimeout(resolve, ms) as { unref?: () => void }).unref?.();
  });

export class RecoverySupervisor<T> {
  private current: T;
  private phase: RecoveryPhase = 'ready';
  private lossReason: string | null = null;
  private lastError: string | null = null;
  private attempts = 0;
  private failedAttempts = 0;
  private losses = 0;
  private recovery: Promise<void> = Promise.resolve();
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    initial: T,
    private readonly hooks: SupervisorHooks<T>,
    policy: RecoveryPolicy = {},
  ) {
    this.current = initial;
    this.maxAttempts = Math.max(1, policy.maxAttempts ?? 5);
    this.backoffMs = Math.max(0, policy.backoffMs ?? 1000);
    this.maxBackoffMs = Math.max(this.backoffMs, policy.maxBackoffMs ?? 30_000);
    this.watch(initial);
  }

  /** The instance in service (a lost one until a reload succeeds). */
  get instance(): T {
    return this.current;
  }

  status(): RecoveryStatus {
    return { phase: this.phase, reason: this.reason(), attempts: this.attempts, losses: this.losses };
  }

  /** Resolves when the recovery under way (if any) has ended, in `ready`, `failed` or `stopped`. */
  settled(): Promise<void> {
    return this.recovery;
  }

  /** Reports a lost device of the instance in service; starts a recovery unless one is under way. */
  lose(reason: Error): void {
    if (this.phase !== 'ready') return;
    this.losses++;
    this.phase = 'recovering';
    this.lossReason = reason.message;
    this.lastError = null;
    this.attempts = 0;
    this.failedAttempts = 0;
    const lostInstance = this.current;
    this.hooks.onLost?.(reason, lostInstance);
    this.changed();
    this.recovery = this.recover(lostInstance);
  }

  /** No more reloads: a recovery under way stops at its next step, and what it loads is released. */
  stop(): void {
    const wasRecovering = this.phase === 'recovering';
    this.phase = 'stopped';
    if (wasRecovering) this.changed();
  }

  private watch(instance: T): void {
    void this.hooks.lostOf(instance)?.then((reason) => {
      if (instance === this.current) this.lose(reason);
    });
  }

  private async recover(lostInstance: T): Promise<void> {
    this.release(lostInstance);
    let wait = this.backoffMs;
    while (this.phase === 'recovering') {
      await (this.hooks.sleep ?? defaultSleep)(wait);
      if (this.isStopped()) return;
      this.attempts++;
      let loaded: T;
      try {
        loaded = await this.hooks.load();
      } catch (e) {
        if (this.isStopped()) return;
        this.lastError = (e as Error)?.message ?? String(e);
        this.failedAttempts++;
        if (this.attempts >= this.maxAttempts) this.phase = 'failed';
        this.changed();
        if (this.isFailed()) return;
        wait = Math.min(this.maxBackoffMs, Math.max(1, wait * 2));
        continue;
      }
      if (this.isStopped()) {
        this.release(loaded);
        return;
      }
      this.current = loaded;
      this.hooks.install(loaded);
      this.phase = 'ready';
      this.lossReason = null;
      this.lastError = null;
      this.changed();
      this.watch(loaded);
    }
  }

  /** Releasing an instance on a lost device may throw as well; the recovery goes on regardless. */
  private release(instance: T): void {
    try {
      this.hooks.dispose?.(instance);
    } catch {
      // nothing on a lost device is worth keeping
    }
  }

  // methods, so the compiler does not narrow `phase` across the awaits that may change it
  private isStopped(): boolean {
    return this.phase === 'stopped';
  }

  private isFailed(): boolean {
    return this.phase === 'failed';
  }

  private reason(): string | null {
    if (this.phase === 'ready' || this.lossReason === null) return null;
    if (this.lastError === null) return this.lossReason;
    const tries = `${this.failedAttempts} reload attempt${this.failedAttempts > 1 ? 's' : ''}`;
    return this.phase === 'failed'
      ? `${this.lossReason}; gave up after ${tries}, the last failed with: ${this.lastError}`
      : `${this.lossReason}; ${tries} failed so far, the last with: ${this.lastError}`;
  }

  private changed(): void {
    this.hooks.onChange?.(this.status());
  }
}
