/**
 * Schedules: the small description from which a kernel's WGSL is generated. Threads of a row
 * split the feature dimension (each owns every `threadsPerRow`-th feature, or feature vec4), so a
 * row's column indices are read once per thread and the reads of X rows are coalesced across the
 * threads; `rowsPerWorkgroup` packs short rows into one workgroup.
 */
export interface SpmmSchedule {
  /** Threads sharing one row (a power of two). */
  readonly threadsPerRow: number;
  /** Rows one workgroup computes; workgroup size = threadsPerRow × rowsPerWorkgroup ≤ 256. */
  readonly rowsPerWorkgroup: number;
  /** Features as vec4<f32> (16-byte loads and stores); needs f divisible by 4. */
  readonly vec4: boolean;
}

/** SDDMM: `lanes` threads share one nonzero's dot product and reduce it in workgroup memory. */
export interface SddmmSchedule {
  readonly lanes: number;
  readonly nnzPerWorkgroup: number;
  readonly vec4: boolean;
}

const pow2 = (x: number) => Number.isInteger(x) && x >= 1 && (x & (x - 1)) === 0;

export const MAX_WORKGROUP = 256;

export function workgroupSize(s: SpmmSchedule): number {
  return s.threadsPerRow * s.rowsPerWorkgroup;
}

/** null when `s` can run SpMM with `f` features, otherwise why not. */
export function whySpmmScheduleInvalid(s: SpmmSchedule | undefined, f: number): string | null {
  if (!s || typeof s !== 'object') return 'attrs.schedule (threadsPerRow, rowsPerWorkgroup, vec4) is missing';
  if (!pow2(s.threadsPerRow)) return `threadsPerRow must be a power of two, got ${s.threadsPerRow}`;
  if (!pow2(s.rowsPerWorkgroup)) return `rowsPerWorkgroup must be a power of two, got ${s.rowsPerWorkgroup}`;
  if (workgroupSize(s) > MAX_WORKGROUP) return `workgroup of ${workgroupSize(s)} threads exceeds ${MAX_WORKGROUP}`;
  if (s.vec4 && f % 4 !== 0) return `vec4 needs the feature count divisible by 4, got ${f}`;
  return null;
}

export function whySddmmScheduleInvalid(s: SddmmSchedule | undefined, d: number): string | null {
  if (!s || typeof s !== 'object') return 'attrs.schedule (lanes, nnzPerWorkgroup, vec4) is missing';
  if (!pow2(s.lanes) || s.lanes > 64) return `lanes must be a power of two ≤ 64, got ${s.lanes}`;
  if (!pow2(s.nnzPerWorkgroup)) return `nnzPerWorkgroup must be a power of two, got ${s.nnzPerWorkgroup}`;
  if (s.lanes * s.nnzPerWorkgroup > MAX_WORKGROUP) return `workgroup exceeds ${MAX_WORKGROUP} threads`;
  if (s.vec4 && d % 4 !== 0) return `vec4 needs the row length divisible by 4, got ${d}`;
  return null;
}

export function scheduleName(s: SpmmSchedule): string {
  return `t${s.threadsPerRow}r${s.rowsPerWorkgroup}${s.vec4 ? 'v4' : ''}`;
}

/** Feature lanes per thread that cover `f` in one pass: the default threads per row. */
export function defaultSchedule(f: number): SpmmSchedule {
  const vec4 = f % 4 === 0;
  const lanes = vec4 ? f / 4 : f;
  let t = 1;
  while (t < lanes && t < 32) t *= 2;
  return { threadsPerRow: t, rowsPerWorkgroup: Math.max(1, 64 / t), vec4 };
}
