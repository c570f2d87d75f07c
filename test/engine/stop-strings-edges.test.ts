/**
 * Stop-string edge cases the streaming tests do not reach: several stop strings matching in one
 * buffer (the earliest position wins, whatever the list order), and the matcher's state after a
 * stop or a flush. Expected outputs are worked out by hand from OpenAI's rule: the text before the
 * first occurrence of any stop string is emitted, nothing after it.
 */
import { describe, expect, it } from 'vitest';
import { StopStringMatcher } from '../../src/engine/stop-strings.js';

describe('stop strings: several stops in one buffer', () => {
  it('cuts at the earliest occurrence when the first-listed stop is found first', () => {
    expect(new StopStringMatcher(['ab', 'cd']).push('xabycd')).toEqual({ emit: 'x', stopped: true });
  });
  it('cuts at the earliest occurrence when a later-listed stop is found first', () => {
    expect(new StopStringMatcher(['cd', 'ab']).push('xabycd')).toEqual({ emit: 'x', stopped: true });
  });
  it('a stop at position 0 is not overridden by a later one', () => {
    expect(new StopStringMatcher(['ab', 'cd']).push('abcd')).toEqual({ emit: '', stopped: true });
    expect(new StopStringMatcher(['cd', 'ab']).push('abcd')).toEqual({ emit: '', stopped: true });
  });
});

describe('stop strings: state after a stop or a flush', () => {
  it('holds nothing back once a stop string matched', () => {
    const m = new StopStringMatcher(['END']);
    expect(m.push('helloEN')).toEqual({ emit: 'hello', stopped: false });
    expect(m.push('Dtail')).toEqual({ emit: '', stopped: true });
    expect(m.flush()).toBe('');
  });
  it('flush releases the held prefix once, then nothing', () => {
    const m = new StopStringMatcher(['END']);
    expect(m.push('abcE')).toEqual({ emit: 'abc', stopped: false });
    expect(m.flush()).toBe('E');
    expect(m.flush()).toBe('');
    expect(m.push('x')).toEqual({ emit: 'x', stopped: false });
  });
  it('without stop strings, every delta passes through unchanged', () => {
    const m = new StopStringMatcher([]);
    expect(m.push('E')).toEqual({ emit: 'E', stopped: false });
    expect(m.flush()).toBe('');
  });
  it('holds back the longest suffix that starts any stop string', () => {
    const m = new StopStringMatcher(['xyz', 'yzzz']);
    // 'yz', then 'yzz', are prefixes of 'yzzz' (not of 'xyz'); 'yzzq' is a prefix of neither
    expect(m.push('ayz')).toEqual({ emit: 'a', stopped: false });
    expect(m.push('z')).toEqual({ emit: '', stopped: false });
    expect(m.push('q')).toEqual({ emit: 'yzzq', stopped: false });
  });
});
