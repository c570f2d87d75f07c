#!/usr/bin/env node
/**
 * Seeded WGSL faults (npm run test:faults): for each fault of scripts/seeded-faults.patterns.mjs,
 * runs the test files meant to catch it with the fault injected into every compiled shader, and
 * requires at least one test to fail by assertion. A baseline run without any fault comes first,
 * so a failure can only be the fault's doing. Needs a WebGPU adapter (lavapipe is enough); with no
 * adapter the GPU tests skip and nothing can be caught, so the script refuses to run.
 *
 *   node scripts/seeded-faults.mjs                 all faults
 *   node scripts/seeded-faults.mjs gqa-head-mapping   one fault
 *   SEEDED_FAULTS_NO_BASELINE=1 ...                skip the baseline (only after it passed at this commit)
 *
 * Randomized tests run with one fixed TESSERA_SEED (printed), so the baseline and every fault see
 * the same cases. Prints a table fault → applied to how many shaders → caught by which test;
 * exits 1 when any fault is not applied or not caught.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededFaults } from './seeded-faults.patterns.mjs';

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !seededFaults.some((f) => f.name === w));
if (unknown.length) {
  console.error(`unknown fault(s): ${unknown.join(', ')}; known: ${seededFaults.map((f) => f.name).join(', ')}`);
  process.exit(2);
}
// randomized tests draw their cases from this seed: every run (baseline and each fault) sees the same cases
const seed = process.env.TESSERA_SEED ?? '20261206';
console.log(`seed ${seed} (set TESSERA_SEED to change it)`);
const faults = wanted.length ? seededFaults.filter((f) => wanted.includes(f.name)) : seededFaults;
const work = mkdtempSync(join(tmpdir(), 'seeded-faults-'));

/** Runs vitest on `files`; returns the JSON report's per-test results. */
function vitest(files, env, tag) {
  const out = join(work, `${tag}.json`);
  const args = [
    'vitest',
    'run',
    '-c',
    'scripts/seeded-faults.config.mjs',
    '--reporter=json',
    `--outputFile=${out}`,
    ...files,
  ];
  const started = Date.now();
  const r = spawnSync('npx', args, {
    env: { XDG_RUNTIME_DIR: '/tmp', ...process.env, TESSERA_SEED: seed, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  if (!existsSync(out)) {
    console.error(r.stdout, r.stderr);
    throw new Error(`${tag}: vitest wrote no report (exit ${r.status})`);
  }
  const report = JSON.parse(readFileSync(out, 'utf8'));
  const tests = report.testResults.flatMap((file) =>
    file.assertionResults.map((a) => ({
      file: file.name.replace(`${process.cwd()}/`, ''),
      name: a.fullName,
      status: a.status,
      message: (a.failureMessages ?? []).join('\n'),
    })),
  );
  // a file that fails to load has no assertion results but a message
  for (const file of report.testResults)
    if (file.status === 'failed' && file.assertionResults.length === 0)
      tests.push({ file: file.name, name: '(file failed to load)', status: 'failed', message: file.message ?? '' });
  return { tests, seconds };
}

const allFiles = [...new Set(faults.flatMap((f) => f.tests))];
if (!process.env.SEEDED_FAULTS_NO_BASELINE) {
  const base = vitest(allFiles, { TESSERA_FAULT: '' }, 'baseline');
  const failed = base.tests.filter((t) => t.status === 'failed');
  const ran = base.tests.filter((t) => t.status === 'passed').length;
  console.log(
    `baseline (no fault): ${ran} passed, ${failed.length} failed, ${base.tests.length - ran - failed.length} skipped in ${base.seconds} s over ${allFiles.join(' ')}`,
  );
  if (failed.length) {
    for (const t of failed) console.log(`  FAILED without any fault: ${t.file} > ${t.name}`);
    console.error('the baseline must pass before faults can be judged');
    process.exit(1);
  }
  if (ran === 0) {
    console.error(
      'no test ran in the baseline (no WebGPU adapter?): nothing can catch a shader fault; install lavapipe (mesa-vulkan-drivers)',
    );
    process.exit(1);
  }
}

const rows = [];
for (const fault of faults) {
  const log = join(work, `${fault.name}.shaders`);
  const r = vitest(fault.tests, { TESSERA_FAULT: fault.name, TESSERA_FAULT_LOG: log }, fault.name);
  const shaders = existsSync(log) ? new Set(readFileSync(log, 'utf8').trim().split('\n')) : new Set();
  const failed = r.tests.filter((t) => t.status === 'failed');
  // a shader that no longer compiles is a broken fault, not a caught one
  const byAssertion = failed.filter((t) => !/ShaderCompileError|error: |WGSL/.test(t.message));
  const caught = shaders.size > 0 && byAssertion.length > 0;
  rows.push({ fault, shaders, failed, byAssertion, caught, seconds: r.seconds });
  console.log(
    `${fault.name}: applied to ${shaders.size} shader(s) [${[...shaders].slice(0, 4).join(', ')}${shaders.size > 4 ? ', …' : ''}]; ${failed.length} test(s) failed (${byAssertion.length} by assertion) in ${r.seconds} s`,
  );
  for (const t of failed)
    console.log(
      `  ${byAssertion.includes(t) ? 'caught by' : 'compile error in'} ${t.file} > ${t.name}: ${t.message.split('\n')[0]?.slice(0, 160)}`,
    );
}

console.log('\n| fault | what | shaders changed | caught by | caught |');
console.log('|---|---|---|---|---|');
for (const r of rows) {
  const by =
    r.byAssertion
      .map((t) => `${t.file} > ${t.name}`)
      .slice(0, 3)
      .join('; ') + (r.byAssertion.length > 3 ? `; +${r.byAssertion.length - 3} more` : '');
  console.log(
    `| ${r.fault.name} | ${r.fault.what} | ${r.shaders.size} | ${by || '—'} | ${r.caught ? 'yes' : r.shaders.size === 0 ? 'NO (pattern matched no shader)' : 'NO'} |`,
  );
}
const missed = rows.filter((r) => !r.caught);
if (missed.length) {
  console.error(`\n${missed.length} seeded fault(s) not caught: ${missed.map((r) => r.fault.name).join(', ')}`);
  process.exit(1);
}
console.log(`\nall ${rows.length} seeded faults caught`);
