import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mobileNetV2, tinyTestNet } from '../../src/mcu/models/zoo.js';
import { planTensorLevel } from '../../src/mcu/plan/tensor-level-planner.js';
import { planVmcu } from '../../src/mcu/plan/vmcu-planner.js';
import { elfSymbolSizes, toolAvailability } from '../../src/mcu/toolchain/c-toolchain.js';
import { expectCRunBitExact } from './c-expectations.js';
import { inputFor } from './helpers.js';

const tools = toolAvailability();
const hasArm = tools.armGcc && tools.qemu;
if (!hasArm) {
  console.warn(
    'skipping MCU QEMU tests: arm-none-eabi-gcc or qemu-system-arm missing (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)',
  );
}

describe.skipIf(!hasArm)('generated C on emulated Cortex-M (QEMU)', () => {
  it.each(['m4', 'm7'] as const)(
    'runs the vMCU plan bit-exact on %s with a static pool of the planned size',
    (target) => {
      const g = tinyTestNet();
      const plan = planVmcu(g);
      const dir = expectCRunBitExact(g, plan, inputFor(g), target);
      const sizes = elfSymbolSizes(join(dir, `model-${target}.elf`), ['tessera_pool', 'tessera_scratch']);
      expect(sizes.get('tessera_pool')).toBe(plan.poolBytes);
      expect(sizes.get('tessera_scratch')).toBe(plan.localBytes);
    },
  );

  it('runs the tensor-level plan bit-exact on m4', () => {
    const g = tinyTestNet();
    expectCRunBitExact(g, planTensorLevel(g), inputFor(g), 'm4');
  });

  it('runs the full MobileNetV2 w0.35 96×96 (1000 classes) under the vMCU plan on m7', () => {
    const g = mobileNetV2(0.35, 96);
    const plan = planVmcu(g);
    expect(plan.peakBytes).toBeLessThan(64 * 1024); // what the tables claim, executed
    expectCRunBitExact(g, plan, inputFor(g), 'm7');
  });
});
