// Small helpers shared by the benchmark scripts: percentiles, tables, env knobs.
import { readFileSync } from 'node:fs';

/** Nearest-rank percentile of an ascending-sorted array; p in (0, 100]. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** The middle value (the mean of the two middle ones for an even count); not a nearest rank, which would pick the lower of them. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] as number;
  return values.length === 0 ? Number.NaN : sum / values.length;
}

/** Right-aligns every column but the first; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  const [header, ...body] = rows;
  if (header === undefined) return '';
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** Fixed decimals, with thousands separators for big numbers. */
export function fmt(value: number, decimals = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Rounds for the BENCH_JSON line so it stays short. */
export function round(value: number, decimals = 2): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** A positive number from the environment, else the default; rejects garbage loudly. */
export function envNumber(name: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= min || value > max) {
    throw new Error(`${name}=${JSON.stringify(raw)}: expected a number above ${min} and at most ${max}`);
  }
  return value;
}

/** Jiffies from the first line of /proc/stat (Linux); undefined elsewhere. */
export interface CpuSnapshot {
  busy: number;
  total: number;
  cpus: number;
}

export function machineCpu(): CpuSnapshot | undefined {
  try {
    const text = readFileSync('/proc/stat', 'utf8');
    const fields = (text.split('\n', 1)[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const cpus = (text.match(/^cpu\d+ /gm) ?? []).length;
    return { busy: total - idle, total, cpus };
  } catch {
    return undefined;
  }
}

/**
 * Busy CPU of the whole machine between two snapshots, in cores (1.0 = one core
 * fully busy). Includes steal time, so a starved VM shows up too.
 */
export function machineBusyCores(before: CpuSnapshot | undefined, after: CpuSnapshot | undefined): number {
  if (before === undefined || after === undefined || after.total === before.total) return Number.NaN;
  return ((after.busy - before.busy) / (after.total - before.total)) * after.cpus;
}
