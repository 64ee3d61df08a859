// LibTorch's profiler around seqsam calls: a Chrome trace (chrome://tracing, ui.perfetto.dev) of every op
// on the CPU and every kernel on the GPU, and the table of where the time went.
import { writeFile } from 'node:fs/promises';

import { SeqsamError, nativeSync } from './errors.js';
import { addon } from './native.js';

/** One event of a Chrome trace ("complete" events: start and duration in microseconds). */
export interface TraceEvent {
  /** The op's or kernel's name (`aten::addmm`, a CUDA kernel's name). */
  name: string;
  /** 'cpu_op' (an op on a CPU thread) or 'kernel' (GPU work). */
  cat: string;
  /** Start, in microseconds. */
  ts: number;
  /** Duration, in microseconds. */
  dur: number;
  /** Process id. */
  pid: number;
  /** Thread (or GPU stream) id. */
  tid: number;
}

/** A Chrome trace, as {@link stopProfile} returns it (loadable in chrome://tracing or ui.perfetto.dev). */
export interface Trace {
  /** Every recorded op and kernel. */
  traceEvents: TraceEvent[];
}

/** Time spent in one op or kernel name over a trace. */
export interface TraceRow {
  /** The op's or kernel's name. */
  name: string;
  /** 'cpu_op' or 'kernel'. */
  cat: string;
  /** How many times it ran. */
  calls: number;
  /** Microseconds inside the op, its children excluded (for kernels: their whole duration). */
  selfUs: number;
  /** Microseconds inside the op, children included. */
  totalUs: number;
}

/** One of seqsam's named ranges (`seqsam::rollout`, `seqsam::backward`, …) over a trace. */
export interface PhaseRow {
  /** The range's name. */
  name: string;
  /** How many times it ran. */
  calls: number;
  /** Microseconds inside it, all calls together. */
  totalUs: number;
  /** The ops recorded inside it (on its thread; a GPU step's backward runs on the device's own threads). */
  ops: number;
  /** When it first started, in the trace's microseconds. */
  firstUs: number;
}

// seqsam's own ranges: the phases of a step (rollout, loss, backward, clipping, AdamW, a graph replay, the
// image encoder), not ops.
const isPhase = (e: TraceEvent) => e.name.startsWith('seqsam::');

/**
 * Records every seqsam call (on whichever worker thread runs it) until `stopProfile`. With
 * `cuda: true` (default false), GPU kernels too. One session at a time.
 */
export function startProfile(options: { cuda?: boolean } = {}): void {
  nativeSync(() => addon().profileStart(Boolean(options.cuda)));
}

/** Ends the session; returns its trace, and writes it to `path` when given (`ERR_IO` when it cannot). */
export async function stopProfile(path?: string): Promise<Trace> {
  const text = nativeSync(() => addon().profileStop());
  if (path !== undefined) {
    try {
      await writeFile(path, text);
    } catch (error) {
      throw new SeqsamError('ERR_IO', `profile: cannot write the trace to '${path}': ${(error as Error).message}`);
    }
  }
  return JSON.parse(text) as Trace;
}

// The CPU events of each thread in start order, outer ones first where two start together (so an event's
// enclosing ones come before it).
function cpuEventsByThread(trace: Trace): TraceEvent[][] {
  const threads = new Map<string, TraceEvent[]>();
  for (const e of trace.traceEvents) {
    if (e.cat === 'kernel') continue;
    const key = `${e.pid}:${e.tid}`;
    if (!threads.has(key)) threads.set(key, []);
    threads.get(key)!.push(e);
  }
  const byThread = [...threads.values()];
  for (const events of byThread) events.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  return byThread;
}

/**
 * Time per op / kernel name, most first: GPU kernels by their time when the trace has any, else CPU ops
 * by self time (an op's time minus the ops it called, on the same thread). `top` rows at most (default 15).
 */
export function summarizeTrace(trace: Trace, top = 15): TraceRow[] {
  const rows = new Map<string, TraceRow>();
  const row = (e: TraceEvent) => {
    const key = `${e.cat}\u0000${e.name}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { name: e.name, cat: e.cat, calls: 0, selfUs: 0, totalUs: 0 }));
    return r;
  };
  for (const e of trace.traceEvents) {
    if (e.cat !== 'kernel') continue;
    const r = row(e);
    r.calls += 1;
    r.selfUs += e.dur;
    r.totalUs += e.dur;
  }
  for (const events of cpuEventsByThread(trace)) {
    // A stack of open ops gives each its children's time.
    const open: { event: TraceEvent; children: number }[] = [];
    const close = () => {
      const { event, children } = open.pop()!;
      if (!isPhase(event)) {
        const r = row(event);
        r.calls += 1;
        r.totalUs += event.dur;
        r.selfUs += Math.max(0, event.dur - children);
      }
      if (open.length) open[open.length - 1].children += event.dur;
    };
    for (const e of events) {
      while (open.length && open[open.length - 1].event.ts + open[open.length - 1].event.dur <= e.ts) close();
      open.push({ event: e, children: 0 });
    }
    while (open.length) close();
  }
  const all = [...rows.values()];
  const hasKernels = all.some((r) => r.cat === 'kernel');
  return all
    .filter((r) => !hasKernels || r.cat === 'kernel')
    .sort((a, b) => b.selfUs - a.selfUs)
    .slice(0, top);
}

/** seqsam's named ranges in a trace, in the order they first ran, with the ops each holds. */
export function summarizePhases(trace: Trace): PhaseRow[] {
  const phases = new Map<string, PhaseRow>();
  for (const events of cpuEventsByThread(trace)) {
    // The ranges open around each event: an op counts for every range it lies in.
    const open: { event: TraceEvent; row: PhaseRow | null }[] = [];
    for (const e of events) {
      while (open.length && open[open.length - 1].event.ts + open[open.length - 1].event.dur <= e.ts) open.pop();
      if (isPhase(e)) {
        let row = phases.get(e.name);
        if (!row) phases.set(e.name, (row = { name: e.name, calls: 0, totalUs: 0, ops: 0, firstUs: e.ts }));
        row.calls += 1;
        row.totalUs += e.dur;
        row.firstUs = Math.min(row.firstUs, e.ts);
        open.push({ event: e, row });
        continue;
      }
      for (const { row } of open) if (row) row.ops += 1;
      open.push({ event: e, row: null });
    }
  }
  return [...phases.values()].sort((a, b) => a.firstUs - b.firstUs);
}

/** {@link summarizeTrace}'s rows (`top` of them, default 15) as a plain-text table with each row's share of the listed kind's total. */
export function formatTraceSummary(trace: Trace, top = 15): string {
  const rows = summarizeTrace(trace, Number.POSITIVE_INFINITY);
  const total = rows.reduce((sum, r) => sum + r.selfUs, 0);
  const shown = rows.slice(0, top);
  const kind = shown[0]?.cat === 'kernel' ? 'GPU kernel' : 'CPU op (self time)';
  const width = Math.min(60, Math.max(10, ...shown.map((r) => r.name.length)));
  const lines = [`${kind.padEnd(width)}  calls    total ms   share`];
  for (const r of shown) {
    const name = r.name.length > width ? `${r.name.slice(0, width - 1)}…` : r.name;
    lines.push(`${name.padEnd(width)}  ${String(r.calls).padStart(5)}  ${(r.selfUs / 1000).toFixed(3).padStart(10)}  ${((100 * r.selfUs) / Math.max(total, 1e-9)).toFixed(1).padStart(5)}%`);
  }
  const phases = summarizePhases(trace);
  if (phases.length) {
    lines.push('', `${'seqsam phase'.padEnd(width)}  calls    total ms  ops inside`);
    for (const p of phases) lines.push(`${p.name.padEnd(width)}  ${String(p.calls).padStart(5)}  ${(p.totalUs / 1000).toFixed(3).padStart(10)}  ${String(p.ops).padStart(10)}`);
  }
  return lines.join('\n');
}
