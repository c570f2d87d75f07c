import { describe, expect, it } from 'vitest';
import { parseLongContextFlag } from '../../src/cli/long-context-flag.js';

describe('--long-context spec', () => {
  it('reads every setting, with the defaults for those left out', () => {
    expect(parseLongContextFlag('threshold=8192,K=10,L=150')).toEqual({
      threshold: 8192,
      K: 10,
      L: 150,
      minCollisions: 2,
      sinks: 4,
      window: 64,
      seed: 0,
    });
    expect(
      parseLongContextFlag(
        'threshold=100,K=8,L=40,T=3,sinks=16,window=128,dense=0:16,policy=quest:16:8,cpu-gib=0.5,seed=7',
      ),
    ).toEqual({
      threshold: 100,
      K: 8,
      L: 40,
      minCollisions: 3,
      sinks: 16,
      window: 128,
      denseLayers: [0, 16],
      policy: { kind: 'quest', pageSize: 16, pages: 8 },
      cpuBytes: 2 ** 29,
      seed: 7,
    });
    expect(parseLongContextFlag('threshold=1,K=0,L=2,policy=topk:64').policy).toEqual({ kind: 'topk', k: 64 });
  });

  it('names what is wrong', () => {
    expect(() => parseLongContextFlag('K=10,L=150')).toThrow(/threshold/);
    expect(() => parseLongContextFlag('threshold=1,K=10,L=150,window=0')).toThrow(/window/);
    expect(() => parseLongContextFlag('threshold=1,K=17,L=150')).toThrow(/K must be ≤ 16/);
    expect(() => parseLongContextFlag('threshold=1,K=10,L=150,policy=best')).toThrow(/policy/);
    expect(() => parseLongContextFlag('threshold=1,K=10,L=150,colour=red')).toThrow(/unknown setting 'colour'/);
  });
});
