// The training progress bar: cli-progress does the terminal work (redraw in place, throttling, log lines
// above the bar, periodic lines when the stream is not a terminal); this file decides what the line says.
import type { Writable } from 'node:stream';

import cliProgress from 'cli-progress';

export interface ProgressBarEvent {
  epoch: number; // 0-based
  epochs?: number;
  step: number; // steps done
  totalSteps: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface ProgressBarOptions {
  // Where to draw (default process.stderr).
  stream?: Writable & { isTTY?: boolean; columns?: number };
  // Draw even when the stream is not a TTY (each update then ends its line).
  force?: boolean;
  // Minimum milliseconds between redraws (default 100; the last step always draws).
  throttleMs?: number;
  width?: number;
}

export interface ProgressBar {
  update(event: ProgressBarEvent): void;
  // A message above the bar (e.g. an evaluation result).
  log(line: string): void;
  stop(): void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

// The text of one bar line.
export function renderProgress(event: ProgressBarEvent, width = 24): string {
  const fraction = event.totalSteps > 0 ? Math.min(1, event.step / event.totalSteps) : 0;
  const filled = Math.round(fraction * width);
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
  const epoch = event.epochs ? `epoch ${event.epoch + 1}/${event.epochs}` : `epoch ${event.epoch + 1}`;
  const loss = Number.isFinite(event.loss) ? event.loss.toFixed(4) : String(event.loss);
  return (
    `${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${event.step}/${event.totalSteps} ${epoch} ` +
    `loss ${loss} lr ${event.lr.toExponential(2)} ${event.imagesPerSecond.toFixed(1)} img/s eta ${formatDuration(event.etaSeconds)}`
  );
}

// A bar on `stream`, or null when it is not a TTY and `force` is not set.
export function createProgressBar(options: ProgressBarOptions = {}): ProgressBar | null {
  const stream = options.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY);
  if (!tty && !options.force) return null;
  const throttle = Math.max(1, options.throttleMs ?? 100);
  const bars = new cliProgress.MultiBar({
    stream: stream as NodeJS.WriteStream,
    format: (_options, _params, payload: { event?: ProgressBarEvent }) => (payload.event ? renderProgress(payload.event, options.width) : ''),
    fps: 1000 / throttle,
    noTTYOutput: !tty,
    notTTYSchedule: throttle,
    hideCursor: false,
    linewrap: false,
  });
  const bar = bars.create(1, 0, {});
  return {
    update(event) {
      bar.setTotal(Math.max(1, event.totalSteps));
      bar.update(event.step, { event });
    },
    log(message) {
      bars.log(`${message}\n`);
    },
    stop() {
      bars.stop();
    },
  };
}
