/**
 * Storage of CPU tensors inside the kernels' shared WebAssembly memory: 64-byte aligned blocks,
 * reused by exact size (a model's steps allocate the same few shapes over and over), with the
 * memory grown when the top is reached. Typed-array views are made per use because growing a
 * memory replaces its buffer object.
 */
import { type DType, type HostArray, bytesPerElement } from '../../tensor/dtype.js';
import { HEAP_BASE, MAX_PAGES, WASM_PAGE } from './kernel-module.js';

const ALIGN = 64;

export interface Block {
  readonly offset: number;
  readonly bytes: number;
  freed: boolean;
}

export class Heap {
  private top = HEAP_BASE;
  private readonly free = new Map<number, number[]>();
  private buffer: SharedArrayBuffer;
  /** Bytes in live blocks (for reports). */
  live = 0;

  constructor(readonly memory: WebAssembly.Memory) {
    this.buffer = memory.buffer as unknown as SharedArrayBuffer;
  }

  alloc(bytes: number): Block {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const reuse = this.free.get(size)?.pop();
    let offset: number;
    if (reuse !== undefined) offset = reuse;
    else {
      offset = this.top;
      this.top += size;
      this.ensure(this.top);
    }
    this.live += size;
    return { offset, bytes: size, freed: false };
  }

  /** Bumped by `clear`: blocks taken before it are gone. */
  generation = 0;

  /**
   * Forgets every block at once (the memory keeps its size): for a memory whose owner knows all
   * its blocks are dead, so blocks of new sizes reuse the space freed ones of other sizes held.
   */
  clear(): void {
    this.top = HEAP_BASE;
    this.free.clear();
    this.live = 0;
    this.generation++;
  }

  release(b: Block): void {
    if (b.freed) return;
    b.freed = true;
    this.live -= b.bytes;
    let list = this.free.get(b.bytes);
    if (!list) this.free.set(b.bytes, (list = []));
    list.push(b.offset);
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / WASM_PAGE);
    if (have / WASM_PAGE + pages > MAX_PAGES)
      throw new RangeError(`CPU backend: ${end} bytes of tensors exceed WebAssembly's 4 GiB address space`);
    // grow by at least a quarter, so a model's upload does not grow page by page (but never past the
    // 4 GiB a wasm32 memory addresses, when what is needed still fits below it)
    this.memory.grow(Math.min(Math.max(pages, Math.ceil(have / WASM_PAGE / 4)), MAX_PAGES - have / WASM_PAGE));
  }

  /** The memory's current buffer (a new object after every growth). */
  bytes(): SharedArrayBuffer {
    if (this.buffer.byteLength !== this.memory.buffer.byteLength)
      this.buffer = this.memory.buffer as unknown as SharedArrayBuffer;
    return this.buffer;
  }

  f32(offset: number, n: number): Float32Array {
    return new Float32Array(this.bytes(), offset, n);
  }

  i32(offset: number, n: number): Int32Array {
    return new Int32Array(this.bytes(), offset, n);
  }

  /** A typed view of n elements of `dtype` at `offset` (f16/bf16 as their bits). */
  view(dtype: DType, offset: number, n: number): HostArray {
    const buf = this.bytes();
    switch (dtype) {
      case 'f32':
        return new Float32Array(buf, offset, n);
      case 'f16':
      case 'bf16':
        return new Uint16Array(buf, offset, n);
      case 'i32':
        return new Int32Array(buf, offset, n);
      case 'u32':
        return new Uint32Array(buf, offset, n);
      case 'i8':
        return new Int8Array(buf, offset, n);
      case 'u8':
        return new Uint8Array(buf, offset, n);
    }
  }
}

export { bytesPerElement };
