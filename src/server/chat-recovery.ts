/**
 * A chat model that comes back after its GPU device is lost: the supervisor (recovery-supervisor.ts)
 * over a chat model's engine, and the errors clients get meanwhile. On a loss the model's requests
 * in flight end at once with a 503 `device_lost` (a stream with an error event, never a finish
 * reason), new ones get 503 `model_recovering` with Retry-After, readiness says `recovering` with
 * the reason; the reload opens a new device, uploads the weights again and starts a new engine
 * with the options of the first. A model whose reloads all fail stays not-ready with the reason.
 *
 * A model that served LoRA adapters comes back with the same ones: those given at start and those
 * added through /v1/adapters live in the runner's registry as host copies, which outlive the lost
 * device, so each is added to the reloaded runner's registry before it goes into service (a reload
 * that cannot take them fails like any other attempt).
 *
 * Each served model is watched on its own: models on other devices keep serving. Models that
 * share one device all see its loss; each reloads through its own loader, so afterwards they no
 * longer share a device.
 */
import type { Engine } from '../engine/engine.js';
import { type RecoveryPolicy, RecoverySupervisor } from './recovery-supervisor.js';
import { describeChange } from './recovery-messages.js';
import type { ChatModel } from './served-models.js';

/** An engine in service, with what says its device is gone and what releases it. */
export interface ChatInstance {
  engine: Engine;
  /** Resolves when the engine's device is lost (the runner's `Backend.lost`). */
  lost?: Promise<Error>;
  /** Releases the runner and its backend once the engine is out of service. */
  dispose?: () => void;
}

/** How to bring a chat model back: where its first device's loss shows, and the loader that built it. */
export interface ChatRecoverySource {
  lost: Promise<Error>;
  dispose?: () => void;
  /** Loads the model again on a new device and starts an engine over it (the options of the first). */
  reload: () => Promise<ChatInstance>;
}

/** Ends engines out of service: give the loop a moment to stop before the runner is released. */
function retire(instance: ChatInstance): void {
  const grace = new Promise((resolve) => (setTimeout(resolve, 1000) as { unref?: () => void }).unref?.());
  void Promise.race([instance.engine.shutdown().catch(() => {}), grace]).finally(() => {
    try {
      instance.dispose?.();
    } catch {
      // the device is gone: nothing to release cleanly
    }
  });
}

/**
 * Adds to a reloaded instance the adapters of the engine still in service (the lost one), read at
 * load time so that adapters added or removed while the model recovers count too.
 */
function carryAdapters(from: Engine, to: ChatInstance): void {
  const held = from.runner.adapters;
  const names = held?.names() ?? [];
  if (names.length === 0) return;
  const registry = to.engine.runner.adapters;
  if (!registry)
    throw new Error(`the reloaded model serves no LoRA adapters, but it served ${names.join(', ')} before the loss`);
  for (const name of names) if (!registry.has(name)) registry.add(held!.get(name)!);
}

export function superviseChatModel(
  model: ChatModel,
  source: ChatRecoverySource,
  onLost: (model: ChatModel) => void,
  policy: RecoveryPolicy = {},
  log: (line: string) => void = (line) => console.error(line),
): RecoverySupervisor<ChatInstance> {
  const supervisor = new RecoverySupervisor<ChatInstance>(
    { engine: model.engine, lost: source.lost, ...(source.dispose ? { dispose: source.dispose } : {}) },
    {
      load: async () => {
        const instance = await source.reload();
        try {
          carryAdapters(model.engine, instance);
        } catch (e) {
          retire(instance);
          throw e;
        }
        return instance;
      },
      install: (instance) => model.replaceEngine(instance.engine),
      lostOf: (instance) => instance.lost,
      onLost: () => onLost(model),
      dispose: retire,
      onChange: (s) => log(describeChange(model.name, s)),
    },
    policy,
  );
  model.recovery = supervisor;
  return supervisor;
}
