/** Messages between a page and its worker-hosted engine (browser-worker-host.ts, browser-client.ts). */

export type BackendPreference = 'webgpu' | 'cpu' | 'auto';

export interface LoadMessage {
  type: 'load';
  /** The model folder's URL (absolute: the worker resolves nothing against the page). */
  modelUrl: string;
  backend: BackendPreference;
  actDtype?: 'f16' | 'f32';
}

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

export type ToWorker = LoadMessage | ChatMessageToWorker | CancelMessage;

export interface ErrorFields {
  name: string;
  message: string;
  status?: number;
  type?: string;
  param?: string | null;
  code?: string | null;
}

export type FromWorker =
  | { type: 'progress'; loaded: number; total: number | null }
  | { type: 'notice'; message: string }
  | { type: 'ready'; backend: string; model: string }
  | { type: 'load-error'; error: ErrorFields }
  | { type: 'chunk'; id: number; chunk: unknown }
  | { type: 'response'; id: number; response: unknown }
  | { type: 'end'; id: number }
  | { type: 'error'; id: number; error: ErrorFields };
