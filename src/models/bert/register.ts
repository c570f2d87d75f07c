import { registerModelFamily } from '../registry.js';
import { bertFamily } from './bert-family.js';

/** Makes `openModel` accept BERT encoders (embedding models). */
export function registerBert(): void {
  registerModelFamily(bertFamily);
}
