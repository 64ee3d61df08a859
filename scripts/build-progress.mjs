// Runs a native build and shows where it is: one line per build step ("[2/4] unity group g1: 20 sources"),
// a heartbeat while a long step compiles, and the total at the end. The compiler's full output goes to
// a log file, whose tail is printed when the build fails.
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';

const HEARTBEAT_MS = 15_000;

// Ninja's step line, as NINJA_STATUS below formats it, made readable: a unity group names its sources.
function describeStep(line, groups) {
  const step = /^\[(\d+)\/(\d+)\] (.*)$/.exec(line);
  if (!step) return null;
  const [, done, total, what] = step;
  const unity = /Unity\/unity_(g\d+)_cxx\.cxx\.o/.exec(what);
  const object = /Building CXX object .*?\/([^/]+?)\.o$/.exec(what);
  let text = what;
  if (unity) {
    const sources = groups?.[unity[1]] ?? [];
    text = `compiling unity group ${unity[1]}${sources.length ? ` (${sources.length} sources: ${sources.slice(0, 3).map((s) => s.replace(/^native\//, '')).join(', ')}${sources.length > 3 ? ', …' : ''})` : ''}`;
  } else if (object) {
    text = `compiling ${object[1]}`;
  } else if (/Linking/.test(what)) {
    text = 'linking seqsam.node';
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
  let lastLine = Date.now();
  let current = 'configuring';
  const heartbeat = setInterval(() => {
    if (Date.now() - lastLine >= HEARTBEAT_MS) say(`  … ${elapsed()}: ${current}`);
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
      current = step.replace(/^\[\d+\/\d+\] /, '');
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
