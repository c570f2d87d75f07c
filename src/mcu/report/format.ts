/** Markdown tables and bench JSON rows for planner comparisons. */
import type { LayerRow, PlannerComparison } from './planner-comparison.js';

export function bytesText(n: number): string {
  return n.toLocaleString('en-US');
}

export function percentText(reduction: number): string {
  if (Math.abs(reduction) < 0.0005) return '0.0%';
  return `${reduction >= 0 ? '−' : '+'}${Math.abs(reduction * 100).toFixed(1)}%`;
}

export function comparisonTable(rows: PlannerComparison[], firstHeader = 'case'): string {
  const head = `| ${firstHeader} | tensor-level (TFLM-style) B | vMCU B | change | largest tensor B |\n|---|---:|---:|---:|---:|\n`;
  return (
    head +
    rows
      .map(
        (r) =>
          `| ${r.name} | ${bytesText(r.tensorLevel)} | ${bytesText(r.vmcu)} | ${percentText(r.reduction)} | ${bytesText(r.lowerBound)} |`,
      )
      .join('\n') +
    '\n'
  );
}

export function layerTable(rows: LayerRow[]): string {
  const head = '| layer | shape | tensor-level B | vMCU B | change |\n|---|---|---:|---:|---:|\n';
  return (
    head +
    rows
      .map(
        (r) =>
          `| ${r.layer} | ${r.kind} | ${bytesText(r.tensorLevel)} | ${bytesText(r.vmcu)} | ${percentText(1 - r.vmcu / r.tensorLevel)} |`,
      )
      .join('\n') +
    '\n'
  );
}

/** A row in the shared bench JSON shape (DESIGN.md "Performance method"). */
export interface BenchRow {
  case: string;
  metric: 'bytes';
  higherIsBetter: false;
  ours: number;
  anchor: number;
  anchorName: string;
  ratio: number;
  limit: number;
  limitName: string;
}

export function benchRow(r: PlannerComparison, prefix: string): BenchRow {
  return {
    case: `${prefix}: ${r.name}`,
    metric: 'bytes',
    higherIsBetter: false,
    ours: r.vmcu,
    anchor: r.tensorLevel,
    anchorName: 'tensor-level planner (TFLM-style)',
    ratio: Number((r.tensorLevel / r.vmcu).toFixed(4)),
    limit: r.lowerBound,
    limitName: 'largest layer input/output tensor (no plan goes below)',
  };
}
