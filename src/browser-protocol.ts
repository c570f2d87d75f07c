/** Messages between a page and its worker-hosted engine (browser-worker-host.ts, browser-client.ts). */

export type BackendPreference = 'webgpu' | 'cpu' | 'auto';

export interface LoadMessage {
  type: 'load';
  /** The model folder's URL (absolute: the worker resolves nothing against the page). */
  modelUrl: string;
  backend: BackendPreference;
  actDtype?: 'f16' | 'f32';
  /** Keep the model's files in the Origin Private File System (default true where there is one). */
  cache?: boolean;
  /**
   * Bytes the WebGPU backend may allocate (default: the device's). Over it, loading retries with a
   * smaller engine (a 'smaller-batch' notice), and fails with OutOfMemoryError when even the smallest is over.
   */
  memoryBudget?: number;
}

/**
 * Forces a loss of the worker's GPU device (`device.destroy()`), as a driver reset or a GPU process
 * crash would: tests, and pages checking their recovery path, use it.
 */
export interface LoseDeviceMessage {
  type: 'lose-device';
}

/** Why a notice was sent: what the worker fell back from (WebGPU, f16, the default engine size). */
export type NoticeCode = 'no-webgpu' | 'no-f16' | 'smaller-batch';

export interface ChatMessageToWorker {
  type: 'chat';
  id: number;
  /** An OpenAI chat completion request body, validated in the worker as the server validates it. */
  body: unknown;
}

export interface CancelMessage {
  type: 'cancel';
  id: number;
}

export type ToWorker = LoadMessage | ChatMessageToWorker | CancelMessage | LoseDeviceMessage;

export interface ErrorFields {
  name: string;
  message: string;
  status?: number;
  type?: string;
  param?: string | null;
  code?: string | null;
  /** A GpuError's advice. */
  hint?: string;
}

export type FromWorker =
  | { type: 'progress'; loaded: number; total: number | null }
  | { type: 'notice'; code: NoticeCode; message: string }
  | { type: 'cache'; file: string; hit: boolean; reason?: string }
  | { type: 'device-lost'; error: ErrorFields }
  | { type: 'ready'; backend: string; model: string }
  | { type: 'load-error'; error: ErrorFields }
  | { type: 'chunk'; id: number; chunk: unknown }
  | { type: 'response'; id: number; response: unknown }
  | { type: 'end'; id: number }
  | { type: 'error'; id: number; error: ErrorFields };
