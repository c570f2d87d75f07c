import { afterEach, describe, expect, it, vi } from 'vitest';
import { Command } from 'commander';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerMcuCommands } from '../../src/cli/mcu.js';
import { buildCommand, planCommand } from '../../src/mcu/report/cli-actions.js';
import { parseBytes } from '../../src/mcu/report/parse-bytes.js';
import { toolAvailability } from '../../src/mcu/toolchain/c-toolchain.js';

function program(): { cmd: Command; out: string[] } {
  const out: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((s: string) => {
    out.push(s);
  });
  const cmd = new Command()
    .exitOverride()
    .configureOutput({ writeErr: (s) => out.push(s), writeOut: (s) => out.push(s) });
  registerMcuCommands(cmd);
  return { cmd, out };
}

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

describe('tessera mcu CLI', () => {
  it('reads SRAM sizes the way users write them', () => {
    expect(parseBytes('131072')).toBe(131072);
    expect(parseBytes('128K')).toBe(131072);
    expect(parseBytes('320KB')).toBe(327680);
    expect(parseBytes('0.5M')).toBe(524288);
    expect(() => parseBytes('lots')).toThrow(/byte size/);
  });

  it('plan prints per-layer RAM of both planners and proves the plans safe', () => {
    const r = planCommand('tiny-test', { check: true });
    expect(r.ok).toBe(true);
    for (const layer of ['stem', 'b0', 'b1', 'b2', 'dw', 'pw', 'dw2', 'pool', 'fc'])
      expect(r.text).toMatch(new RegExp(`^\\| ${layer} \\|`, 'm'));
    expect(r.text).toMatch(/whole network: tensor-level \(TFLM-style\) [\d,]+ B arena; vMCU [\d,]+ B/);
    expect(r.text.match(/: safe —/g)).toHaveLength(2);
  });

  it('plan says by how many bytes each planner misses the budget', () => {
    const r = planCommand('tiny-test', { sram: '1K' });
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/tensor-level plan of 'tiny-test' needs [\d,]+ bytes .* over by [\d,]+ bytes/);
    expect(r.text).toMatch(/vmcu plan of 'tiny-test' needs [\d,]+ bytes .* over by [\d,]+ bytes/);
    expect(planCommand('tiny-test', { sram: '64K' }).text).toMatch(/vmcu: fits, [\d,]+ bytes to spare/);
  });

  it('is wired into commander: `mcu plan`, with a clear error for an unknown model', async () => {
    const { cmd, out } = program();
    await cmd.parseAsync(['mcu', 'plan', 'tiny-test'], { from: 'user' });
    expect(out.join('\n')).toMatch(/tiny-test: 9 layers/);
    const bad = program();
    await expect(bad.cmd.parseAsync(['mcu', 'plan', 'resnet9000'], { from: 'user' })).rejects.toThrow();
    expect(bad.out.join('\n')).toMatch(/unknown MCU model 'resnet9000'/);
  });

  it('build writes a C project, and with --run on the host it is bit-exact', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tessera-mcu-cli-')), 'proj');
    const run = toolAvailability().hostCc;
    const r = buildCommand('tiny-test', { target: 'host', out: dir, run });
    expect(r.ok).toBe(true);
    for (const f of ['tessera_mcu.c', 'model.c', 'main.c', 'startup.c', 'link.ld', 'Makefile'])
      expect(existsSync(join(dir, f))).toBe(true);
    if (run) expect(r.text).toMatch(/bit-exact with the TypeScript reference/);
    expect(() => buildCommand('tiny-test', { target: 'm3', out: dir })).toThrow(/--target must be m4, m7 or host/);
    expect(() => buildCommand('tiny-test', { target: 'm4', out: dir, sram: '1K' })).toThrow(/over by [\d,]+ bytes/);
  });
});
