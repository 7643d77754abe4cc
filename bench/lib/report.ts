import { round } from './measure.js';

/** One printed line: a figure of one system in one scenario. */
export interface Row {
  system: string;
  metric: string;
  value: number | string;
  unit: string;
}

export interface Ratio {
  name: string;
  /** null when a side was not measured in this run. */
  value: number | null;
  target: string;
  pass: boolean | null;
  note?: string;
}

export interface ScenarioResult {
  scenario: string;
  rows: Row[];
  ratios: Ratio[];
  /** Everything measured, unrounded, for the JSON file. */
  raw: unknown;
  note?: string;
}

export interface BenchOptions {
  quick: boolean;
  /** Load-generator processes per measurement. */
  gens: number;
  /** Unanswered sends the publisher keeps in flight at full speed. */
  window: number;
  /** Results of the scenarios already run, by name (latency reuses the fan-out peak). */
  done: Map<string, ScenarioResult>;
}

export interface Scenario {
  name: string;
  run(opts: BenchOptions): Promise<ScenarioResult>;
}

/** `num / den` against a target such as `>= 0.6` (none: reported only). */
export function ratio(name: string, num: number | undefined, den: number | undefined, op: '>=' | '<=', target?: number): Ratio {
  const valid = num !== undefined && den !== undefined && Number.isFinite(num) && Number.isFinite(den) && den !== 0;
  return threshold(name, valid ? num / den : undefined, op, target);
}

/** A single figure against a target such as `<= 4096` (none: reported only). */
export function threshold(name: string, value: number | undefined, op: '>=' | '<=', target?: number): Ratio {
  const wanted = target === undefined ? 'none' : `${op} ${target}`;
  if (value === undefined || !Number.isFinite(value)) return { name, value: null, target: wanted, pass: null, note: 'not measured in this run' };
  if (target === undefined) return { name, value: round(value, 3), target: wanted, pass: null, note: 'reported only' };
  return { name, value: round(value, 3), target: wanted, pass: op === '>=' ? value >= target : value <= target };
}

function table(headers: string[], lines: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [fmt(headers), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

function show(v: number | string): string {
  if (typeof v === 'string') return v;
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(round(v, 3));
}

export function renderFigures(results: ScenarioResult[]): string {
  const lines = results.flatMap((r) =>
    r.rows.length > 0 ? r.rows.map((row) => [r.scenario, row.system, row.metric, `${show(row.value)} ${row.unit}`.trim()]) : [[r.scenario, '-', 'note', r.note ?? '']],
  );
  return table(['scenario', 'system', 'metric', 'value'], lines);
}

export function renderRatios(ratios: Ratio[]): string {
  const lines = ratios.map((r) => [r.name, r.value === null ? 'n/a' : String(r.value), r.target, r.pass === null ? (r.note ?? '-') : r.pass ? 'ok' : 'MISSED']);
  return table(['ratio', 'value', 'target', 'result'], lines);
}
