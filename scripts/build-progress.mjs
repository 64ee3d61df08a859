// Runs a native build and shows where it is: what it compiles, one line per finished step
// ("[2/3] compiled unity group g1 (20 sources: …)"), a heartbeat while the long steps compile, and the total
// at the end. The compiler's full output goes to
// a log file, whose tail is printed when the build fails.
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';

const HEARTBEAT_MS = 15_000;

// Ninja's step line, as NINJA_STATUS below formats it, made readable: a unity group names its sources.
// With its output on a pipe, ninja prints a step when it finishes.
function describeStep(line, groups) {
  const step = /^\[(\d+)\/(\d+)\] (.*)$/.exec(line);
  if (!step) return null;
  const [, done, total, what] = step;
  if (done === '0') return null; // CMake's glob check before the build proper
  const unity = /Unity\/unity_(g\d+)_cxx\.cxx\.o/.exec(what);
  const object = /Building CXX object .*?\/([^/]+?)\.o$/.exec(what);
  let text = what;
  if (unity) {
    const sources = groups?.[unity[1]] ?? [];
    text = `compiled unity group ${unity[1]}${sources.length ? ` (${sources.length} sources: ${sources.slice(0, 3).map((s) => s.replace(/^native\//, '')).join(', ')}${sources.length > 3 ? ', …' : ''})` : ''}`;
  } else if (object) {
    text = `compiled ${object[1]}`;
  } else if (/Linking/.test(what)) {
    text = 'linked seqsam.node';
  }
  return `[${done}/${total}] ${text}`;
}

/**
 * Runs `command args`, printing progress through `say`; resolves with the seconds taken.
 * Rejects (after printing the log's tail) when the build fails.
 */
export function runBuild(command, args, { cwd, logFile, say, groups }) {
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  const log = createWriteStream(logFile);
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, NINJA_STATUS: '[%f/%t] ' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (groups) {
    const sizes = Object.values(groups).map((sources) => sources.length);
    say(`compiling ${sizes.length} unity groups in parallel (${sizes.join(' + ')} sources)`);
  }
  let lastLine = Date.now();
  let done = 'configuring, then compiling';
  const heartbeat = setInterval(() => {
    if (Date.now() - lastLine >= HEARTBEAT_MS) say(`  … ${elapsed()} (${done})`);
  }, HEARTBEAT_MS);
  let pending = '';
  const onData = (chunk) => {
    log.write(chunk);
    pending += chunk.toString();
    const lines = pending.split(/\r?\n/);
    pending = lines.pop();
    for (const line of lines) {
      const step = describeStep(line.trim(), groups);
      if (!step) continue;
      const [, finished, total] = /^\[(\d+)\/(\d+)\]/.exec(step);
      done = `${finished} of ${total} steps done`;
      lastLine = Date.now();
      say(`${step} (${elapsed()})`);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      clearInterval(heartbeat);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearInterval(heartbeat);
      log.end(() => {
        if (code === 0) return resolve((Date.now() - started) / 1000);
        const tail = readFileSync(logFile, 'utf8').split('\n').slice(-60).join('\n');
        process.stderr.write(`${tail}\n`);
        reject(new Error(`the native build failed (exit ${code ?? signal}); full log: ${logFile}`));
      });
    });
  });
}
