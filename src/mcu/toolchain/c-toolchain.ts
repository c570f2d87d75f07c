/**
 * Building and running generated C projects: host gcc for fast checks, arm-none-eabi-gcc plus
 * qemu-system-arm for Cortex-M4/M7. Tools are looked up on PATH; callers decide what to do when
 * one is missing (tests skip with one line, the CLI says what to install).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  C_WARNINGS,
  CORTEX_M,
  CORTEX_M_LINK,
  CORTEX_M_SOURCES,
  HOST_SOURCES,
  type McuTarget,
} from '../codegen/c-project.js';

export interface ToolAvailability {
  hostCc: boolean;
  armGcc: boolean;
  qemu: boolean;
}

function runs(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

export function toolAvailability(): ToolAvailability {
  return { hostCc: runs('gcc'), armGcc: runs('arm-none-eabi-gcc'), qemu: runs('qemu-system-arm') };
}

export interface RunResult {
  stdout: string;
  exitCode: number;
  /** The built executable (host binary or ELF). */
  binary: string;
}

function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
): { stdout: string; stderr: string; status: number } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd} failed to run: ${r.error.message}`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

/** Compiles the project in `dir` for `target`; `defines` become -D flags (e.g. TQ_TRACE). */
export function buildCProject(dir: string, target: McuTarget, defines: string[] = []): string {
  const flags = [...C_WARNINGS, ...defines.map((d) => `-D${d}`)];
  const [cmd, args, out] =
    target === 'host'
      ? ['gcc', [...flags, ...HOST_SOURCES, '-o', 'model-host'], 'model-host']
      : [
          'arm-none-eabi-gcc',
          [
            `-mcpu=${CORTEX_M[target].cpu}`,
            ...flags,
            ...CORTEX_M_LINK,
            ...CORTEX_M_SOURCES,
            '-lc',
            '-lrdimon',
            '-o',
            `model-${target}.elf`,
          ],
          `model-${target}.elf`,
        ];
  const r = run(cmd, args as string[], dir, 120_000);
  if (r.status !== 0) throw new Error(`${cmd} could not build ${dir} for ${target}:\n${r.stderr.slice(0, 4000)}`);
  return join(dir, out as string);
}

/** Runs a built project: natively for host, under QEMU for Cortex-M. */
export function runCProject(dir: string, target: McuTarget, timeoutMs = 120_000): RunResult {
  if (target === 'host') {
    const binary = join(dir, 'model-host');
    const r = run(binary, [], dir, timeoutMs);
    return { stdout: r.stdout, exitCode: r.status, binary };
  }
  const binary = join(dir, `model-${target}.elf`);
  const r = run(
    'qemu-system-arm',
    [
      '-machine',
      CORTEX_M[target].machine,
      '-nographic',
      '-monitor',
      'none',
      '-semihosting-config',
      'enable=on,target=native',
      '-kernel',
      binary,
    ],
    dir,
    timeoutMs,
  );
  return { stdout: r.stdout, exitCode: r.status, binary };
}

export interface ParsedRun {
  steps: { index: number; name: string; hash: string }[];
  output: number[];
  done: boolean;
}

/** Reads the lines `main.c` prints (trace lines, if any, are skipped). */
export function parseRunOutput(stdout: string): ParsedRun {
  const steps: ParsedRun['steps'] = [];
  let output: number[] = [];
  let done = false;
  for (const line of stdout.split('\n')) {
    const step = /^step (\d+) (\S+) ([0-9a-f]{8})$/.exec(line.trim());
    if (step) steps.push({ index: Number(step[1]), name: step[2]!, hash: step[3]! });
    else if (line.startsWith('output')) output = line.slice(6).trim().split(/\s+/).filter(Boolean).map(Number);
    else if (line.trim() === 'done') done = true;
  }
  return { steps, output, done };
}

/** FNV-1a over int8 bytes, as `main.c` hashes each step's output. */
export function fnv1a(bytes: Int8Array): string {
  let h = 2166136261;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]! & 0xff;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** Sizes of named symbols in an ELF (to confirm the pool and scratch arrays are what was planned). */
export function elfSymbolSizes(elf: string, names: string[]): Map<string, number> {
  const r = run('arm-none-eabi-nm', ['-S', elf], '.', 30_000);
  const sizes = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    const m = /^[0-9a-f]+ ([0-9a-f]+) \w (\w+)$/.exec(line.trim());
    if (m && names.includes(m[2]!)) sizes.set(m[2]!, parseInt(m[1]!, 16));
  }
  return sizes;
}
