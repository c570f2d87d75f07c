/**
 * An embedding model that comes back after its GPU device is lost, the way a chat model does
 * (chat-recovery.ts): the supervisor (recovery-supervisor.ts) over the model's encoder. On a loss
 * its requests in flight end at once with a 503 `device_lost`, new ones get 503 `model_recovering`
 * with Retry-After, readiness says `recovering` with the reason; the reload opens a new device
 * and uploads the weights again through the loader that built the first encoder. An encoder holds
 * no state between requests, so the reloaded one gives the same vectors.
 */
import { type RecoveryPolicy, RecoverySupervisor } from './recovery-supervisor.js';
import { describeChange } from './recovery-messages.js';
import type { Embedder, EmbeddingModel } from './served-models.js';

/** An encoder in service, with what says its device is gone and what releases it. */
export interface EmbeddingInstance {
  embedder: Embedder;
  /** Resolves when the encoder's device is lost (its backend's `Backend.lost`). */
  lost?: Promise<Error>;
  /** Releases the encoder and its backend once it is out of service. */
  dispose?: () => void;
}

/** How to bring an embedding model back: where its first device's loss shows, and the loader that built it. */
export interface EmbeddingRecoverySource {
  lost: Promise<Error>;
  dispose?: () => void;
  /** Loads the encoder again on a new device. */
  reload: () => Promise<EmbeddingInstance>;
}

export function superviseEmbeddingModel(
  model: EmbeddingModel,
  source: EmbeddingRecoverySource,
  policy: RecoveryPolicy = {},
  log: (line: string) => void = (line) => console.error(line),
): RecoverySupervisor<EmbeddingInstance> {
  const supervisor = new RecoverySupervisor<EmbeddingInstance>(
    { embedder: model.embedder, lost: source.lost, ...(source.dispose ? { dispose: source.dispose } : {}) },
    {
      load: () => source.reload(),
      install: (instance) => model.replaceEmbedder(instance.embedder),
      lostOf: (instance) => instance.lost,
      onLost: () => model.interruptInFlight(),
      // nothing runs on an encoder between requests, and those in flight were ended at the loss
      dispose: (instance) => instance.dispose?.(),
      onChange: (s) => log(describeChange(model.name, s)),
    },
    policy,
  );
  model.recovery = supervisor;
  return supervisor;
}
