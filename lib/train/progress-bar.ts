// The training progress bar: cli-progress does the terminal work (redraw in place, throttling, log lines
// above the bar, periodic lines when the stream is not a terminal); this file decides what the line says.
import cliProgress from 'cli-progress';

/** One position of the work shown by the bar. */
export interface ProgressBarEvent {
  /** 0-based epoch; omitted for work without epochs (embedding a dataset). */
  epoch?: number;
  /** Epochs in all, when known. */
  epochs?: number;
  /** Steps done. */
  step: number;
  /** Steps in all; the bar's fraction is step / totalSteps. */
  totalSteps: number;
  /** Training loss of the last step; omitted (or NaN) for work without one, and then not shown. */
  loss?: number;
  /** Learning rate of the last step; omitted (or NaN) when there is none, and then not shown. */
  lr?: number;
  /** Throughput shown as `img/s`. */
  imagesPerSecond: number;
  /** Seconds left, shown as mm:ss or h:mm:ss (`--:--` when unknown). */
  etaSeconds: number;
}

/**
 * Where the bar draws: a writable text stream. Structural, so that the declarations need no Node.js
 * types (process.stderr fits).
 */
export interface ProgressStream {
  /** Writes text to the stream. */
  write(text: string): boolean;
  /** Whether the stream is a terminal (the bar redraws in place only there). */
  isTTY?: boolean;
  /** The terminal's width in characters, when known. */
  columns?: number;
}

/** Options of createProgressBar. */
export interface ProgressBarOptions {
  /** Where to draw (default process.stderr). */
  stream?: ProgressStream;
  /** Draw even when the stream is not a TTY (each update then ends its line). */
  force?: boolean;
  /** Minimum milliseconds between redraws (default 100; the last step always draws). */
  throttleMs?: number;
  /** Width of the bar in characters (default 24). */
  width?: number;
}

/** A progress bar on a terminal. */
export interface ProgressBar {
  /** Moves the bar to a new position (redraws are throttled). */
  update(event: ProgressBarEvent): void;
  /** A message above the bar (e.g. an evaluation result), never glued onto it. */
  log(line: string): void;
  /** Stops the bar (call it once the work ends). */
  stop(): void;
}

/** Seconds as `mm:ss`, or `h:mm:ss` from an hour on; `--:--` for a negative or non-finite value. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

/** The text of one bar line for `event`, with a bar `width` characters wide (default 24). */
export function renderProgress(event: ProgressBarEvent, width = 24): string {
  const fraction = event.totalSteps > 0 ? Math.min(1, event.step / event.totalSteps) : 0;
  const filled = Math.round(fraction * width);
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
  const parts = [`${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${event.step}/${event.totalSteps}`];
  if (event.epoch !== undefined) parts.push(event.epochs ? `epoch ${event.epoch + 1}/${event.epochs}` : `epoch ${event.epoch + 1}`);
  // A diverged loss (±Infinity) is worth showing; a missing one (undefined, NaN) is not there to show.
  if (event.loss !== undefined && !Number.isNaN(event.loss)) parts.push(`loss ${Number.isFinite(event.loss) ? event.loss.toFixed(4) : String(event.loss)}`);
  if (event.lr !== undefined && Number.isFinite(event.lr)) parts.push(`lr ${event.lr.toExponential(2)}`);
  parts.push(`${event.imagesPerSecond.toFixed(1)} img/s eta ${formatDuration(event.etaSeconds)}`);
  return parts.join(' ');
}

/** A bar on `options.stream` (default process.stderr), or null when it is not a TTY and `force` is not set. */
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
