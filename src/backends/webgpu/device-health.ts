/**
 * A backend's view of its device's health: the promise that resolves when the device is lost, and
 * the WebGPU errors no error scope caught (validation of a pass, OOM of a scratch buffer), which
 * are raised at the next flush or read rather than where the work was encoded.
 */
import type { GpuContext } from './device.js';
import { DeviceLostError, GpuError } from './errors.js';

export class DeviceHealth {
  /**
   * Resolves once the device is lost: by the driver, or destroyed by anything but the backend's
   * own `destroy()` (a test forcing the loss through `device.destroy()` is a loss like any other).
   */
  readonly lost: Promise<DeviceLostError>;
  private destroyedHere = false;
  private uncaptured: string[] = [];

  constructor(private readonly ctx: GpuContext) {
    this.lost = new Promise((resolve) => {
      void ctx.device.lost.then((info) => {
        if (this.destroyedHere) return;
        // device.ts records driver losses only; a destroy from outside must fail later calls too
        ctx.lost ??= new DeviceLostError(info.reason, info.message || 'the device was destroyed');
        resolve(ctx.lost);
      });
    });
    ctx.device.addEventListener('uncapturederror', (ev) => {
      this.uncaptured.push((ev as GPUUncapturedErrorEvent).error.message.split('\n')[0]!);
    });
  }

  /** Called just before the backend destroys its own device: that is not a loss. */
  destroying(): void {
    this.destroyedHere = true;
  }

  /** Throws the loss, if the device is lost. */
  checkAlive(): void {
    if (this.ctx.lost) throw this.ctx.lost;
  }

  /** The uncaptured errors since the last call, cleared. */
  takeUncaptured(): string[] {
    const errors = this.uncaptured;
    this.uncaptured = [];
    return errors;
  }

  /** Throws the loss, else one error for the uncaptured `errors` (from `takeUncaptured`), if any. */
  raise(errors: readonly string[]): void {
    this.checkAlive();
    if (errors.length) {
      throw new GpuError(
        `WebGPU rejected work (${errors.length} error${errors.length > 1 ? 's' : ''}; first: ${errors[0]})`,
        'results of the work since the last flush are invalid; this is a Tessera bug unless the device ran out of memory',
      );
    }
  }
}
