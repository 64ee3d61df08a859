// How a long command reports progress on stderr: a bar redrawn in place on a terminal, or, when stderr is
// a pipe or a log file (CI, `| tee`), a plain line every so many steps or seconds, so a log shows the run
// is alive. Messages (evaluation results) go above the bar, never glued onto it.
import { SeqsamError } from '../errors.js';
import { createProgressBar, renderProgress, type ProgressBar, type ProgressBarEvent, type ProgressStream } from '../train/progress-bar.js';

// auto: a bar on a terminal, lines elsewhere; bar / lines: that, whatever stderr is; off: messages only.
export const progressModes = ['auto', 'bar', 'lines', 'off'] as const;
export type ProgressMode = (typeof progressModes)[number];

export interface ProgressInterval {
  steps?: number;
  seconds?: number;
}

// The --progress flag: auto, bar, lines or off; `--no-progress` (false) is off.
export const progressOption = {
  type: 'string',
  default: 'auto',
  describe: 'auto: a bar on a terminal, a line per interval in a log; or force bar, lines or off (--no-progress)',
  coerce: (value: unknown): ProgressMode => {
    if (value === false || value === 'false') return 'off';
    if (value === true || value === 'true' || value === '') return 'auto';
    if ((progressModes as readonly unknown[]).includes(value)) return value as ProgressMode;
    throw new SeqsamError('ERR_ARGUMENT', `--progress ${String(value)}: expected ${progressModes.join(', ')}`);
  },
} as const;

// "30s" (seconds) or "50" (steps).
export function parseProgressEvery(text: string): ProgressInterval {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(s)?\s*$/.exec(String(text));
  const n = match ? Number(match[1]) : NaN;
  if (!match || !(n > 0) || (!match[2] && !Number.isInteger(n))) {
    throw new SeqsamError('ERR_ARGUMENT', `--progress-every ${String(text)}: give a number of steps (50) or of seconds (30s)`);
  }
  return match[2] ? { seconds: n } : { steps: n };
}

// Prints one line per interval (and the first and last step) instead of redrawing.
function lineReporter(stream: ProgressStream, every: ProgressInterval): ProgressBar {
  let lastStep = -Infinity;
  let lastTime = -Infinity;
  return {
    update(event: ProgressBarEvent) {
      const now = performance.now() / 1000;
      const due =
        lastStep === -Infinity ||
        event.step >= event.totalSteps ||
        (every.steps !== undefined && event.step - lastStep >= every.steps) ||
        (every.seconds !== undefined && now - lastTime >= every.seconds);
      if (!due) return;
      lastStep = event.step;
      lastTime = now;
      stream.write(`progress: ${renderProgress(event, 0).trim()}\n`);
    },
    log(line: string) {
      stream.write(`${line}\n`);
    },
    stop() {},
  };
}

function messagesOnly(stream: ProgressStream): ProgressBar {
  return { update() {}, log: (line) => void stream.write(`${line}\n`), stop() {} };
}

export function createProgressReport(options: { mode?: ProgressMode | boolean; every?: ProgressInterval; stream?: ProgressStream } = {}): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const mode = options.mode === false ? 'off' : options.mode === true || options.mode === undefined ? 'auto' : options.mode;
  if (mode === 'off') return messagesOnly(stream);
  const bar = mode === 'bar' || (mode === 'auto' && stream.isTTY) ? createProgressBar({ stream, force: true }) : null;
  return bar ?? lineReporter(stream, options.every ?? { seconds: 30 });
}
