/**
 * Exhaustive GPU sweeps run only under `npm run test:gpu-heavy` (TESSERA_HEAVY=1): on lavapipe
 * they take minutes, so CI keeps a representative subset of every kernel family and the full
 * sweeps run on a real GPU for every kernel change. A heavy test is `it.skipIf(!HEAVY)` with
 * HEAVY_NOTE in its title, so a normal run lists it as skipped and says how to run it.
 */
export const HEAVY = process.env.TESSERA_HEAVY === '1';

export const HEAVY_NOTE = 'heavy sweep: npm run test:gpu-heavy';

/** A test title, marked as heavy. */
export function heavyTitle(title: string): string {
  return `${title} (${HEAVY_NOTE})`;
}
