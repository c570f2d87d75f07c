/**
 * The seed of every randomized test. It is fixed, so every run and every machine sees the same
 * inputs and a failure reproduces by running the test again; TESSERA_SEED replaces it, to explore
 * other inputs or to replay a run made with another seed. Suites print it with `seedNote`.
 */
export const DEFAULT_TEST_SEED = 20250917;

export function testSeed(): number {
  const fromEnv = process.env.TESSERA_SEED;
  if (fromEnv === undefined || fromEnv === '') return DEFAULT_TEST_SEED;
  const n = Number(fromEnv);
  if (!Number.isInteger(n)) throw new Error(`TESSERA_SEED must be an integer, got '${fromEnv}'`);
  return n >>> 0;
}

/** For a suite's title: the seed and how to run the suite with it again. */
export function seedNote(seed: number): string {
  return `seed ${seed}; replay with TESSERA_SEED=${seed}`;
}
