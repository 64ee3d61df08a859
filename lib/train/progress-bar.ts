// A one-line terminal progress bar for training (no dependency): redrawn in place with '\r', at most a
// few times a second, on a TTY stream (stderr by default) or wherever it is asked to draw.
import type { Writable } from 'node:stream';

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
  const throttle = options.throttleMs ?? 100;
  let last = 0;
  let shown = '';
  const clear = () => {
    if (tty && shown) stream.write(`\r${' '.repeat(Math.min(shown.length, (stream.columns ?? 120) - 1))}\r`);
  };
  return {
    update(event) {
      const now = Date.now();
      if (now - last < throttle && event.step < event.totalSteps) return;
      last = now;
      let line = renderProgress(event, options.width);
      if (tty && stream.columns) line = line.slice(0, stream.columns - 1);
      if (tty) {
        clear();
        stream.write(line);
        shown = line;
      } else {
        stream.write(`${line}\n`);
      }
    },
    log(message) {
      clear();
      stream.write(`${message}\n`);
      if (tty && shown) stream.write(shown);
    },
    stop() {
      if (tty && shown) stream.write('\n');
      shown = '';
    },
  };
}
