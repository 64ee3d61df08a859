// Shared by the distributed tests: free ports on 127.0.0.1 and ranks spawned as child processes, each
// bounded by a timeout (a hang fails the test instead of stalling it).
import { spawn } from 'node:child_process';

export { freePort } from '../dist/lib/distributed/local-launch.js';

// Starts `script` once per rank with torchrun's environment; resolves to [{ rank, code, signal, stdout,
// stderr, ms }] once all exit. `kill(rank)` SIGKILLs one; ranks still running after timeoutMs are killed.
export function spawnRanks(script, args, { worldSize, port, env = {}, timeoutMs = 60000, onLine } = {}) {
  const children = [];
  const started = Date.now();
  const results = Array.from({ length: worldSize }, (_, rank) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [script, ...args], {
        env: { ...process.env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), ...env, ...(env[rank] ?? {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children[rank] = child;
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
        if (onLine) for (const line of String(d).split('\n').filter(Boolean)) onLine(rank, line);
      });
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ rank, code, signal, stdout, stderr, ms: Date.now() - started });
      });
    }),
  );
  return { done: Promise.all(results), kill: (rank) => children[rank]?.kill('SIGKILL'), children };
}
