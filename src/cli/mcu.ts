/**
 * `tessera mcu …`: the microcontroller target (vMCU). The main CLI calls registerMcuCommands.
 *
 *   tessera mcu plan mobilenetv2-96 --sram 128K --check
 *   tessera mcu build mobilenetv2-96 --target m7 --out ./mbv2-m7 --run
 */
import type { Command } from 'commander';
import { buildCommand, planCommand, type CommandResult } from '../mcu/report/cli-actions.js';
import { MODEL_NAMES } from '../mcu/models/zoo.js';

function finish(cmd: Command, run: () => CommandResult): void {
  let result: CommandResult;
  try {
    result = run();
  } catch (e) {
    cmd.error(`error: ${(e as Error).message}`);
    return;
  }
  console.log(result.text);
  if (!result.ok) process.exitCode = 1;
}

export function registerMcuCommands(program: Command): void {
  const mcu = program
    .command('mcu')
    .description('microcontroller target (vMCU): segment-pool memory plans and C for Cortex-M4/M7');
  const models = `one of ${MODEL_NAMES.join(', ')}, or mobilenetv2-w<width>-<resolution>`;

  mcu
    .command('plan')
    .description('per-layer peak SRAM of the tensor-level (TFLM-style) and vMCU planners')
    .argument('<model>', models)
    .option('--sram <bytes>', 'SRAM budget (e.g. 128K, 320KB, 524288); says by how many bytes each plan misses it')
    .option('--check', 'prove both plans safe with the shadow-memory checker')
    .action(function (this: Command, model: string, opts: { sram?: string; check?: boolean }) {
      finish(this, () => planCommand(model, opts));
    });

  mcu
    .command('build')
    .description('emit a C99 project (kernels, model, static pool, Makefile) for Cortex-M4/M7 under QEMU or the host')
    .argument('<model>', models)
    .option('--target <target>', 'm4 (QEMU mps2-an386), m7 (QEMU mps2-an500) or host', 'm4')
    .option('--planner <planner>', 'vmcu or tensor-level', 'vmcu')
    .option('--out <dir>', 'output folder (default ./mcu-<model>-<target>)')
    .option('--sram <bytes>', 'fail if the plan needs more SRAM than this')
    .option('--seed <n>', 'seed of the embedded random input', '5')
    .option(
      '--run',
      'build with the installed toolchain, run (QEMU for m4/m7) and compare with the TypeScript reference',
    )
    .action(function (this: Command, model: string, opts: Record<string, string | boolean | undefined>) {
      finish(this, () => buildCommand(model, opts));
    });
}
