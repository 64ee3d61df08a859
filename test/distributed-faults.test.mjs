// Joining and losing ranks: every fault ends in ERR_DISTRIBUTED naming the rank at fault, within the
// timeout (a port in use, an unreachable master, mismatched world sizes, two processes claiming one rank,
// the store's host killed); the torchrun environment is read with coded errors.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

import { distributed } from '../dist/lib/index.js';
import { freePort, spawnRanks } from './distributed-helpers.mjs';

const self = fileURLToPath(import.meta.url);

// A rank that joins, optionally sleeps, runs all-reduces, and prints 'joined' / 'ERR_…: message'.
if (process.env.SEQSAM_DIST_FAULT_CHILD) {
  const started = Date.now();
  try {
    await distributed.init(distributed.fromEnv(process.env, { timeoutMs: Number(process.env.SEQSAM_DIST_FAULT_TIMEOUT ?? 5000) }));
    process.stdout.write('joined\n');
    for (let i = 0; i < 200; i++) {
      await distributed.allReduceSum(new Float64Array([i]));
      await new Promise((r) => setTimeout(r, 20));
    }
    await distributed.barrier();
    distributed.destroy();
  } catch (error) {
    process.stdout.write(`${error.code}: ${error.message} (after ${Date.now() - started} ms)\n`);
    process.exit(3);
  }
} else {
  const child = { SEQSAM_DIST_FAULT_CHILD: '1' };

  test('a world of one joins, reduces and leaves in process', async () => {
    const port = await freePort();
    const group = await distributed.init({ rank: 0, worldSize: 1, masterPort: port, timeoutMs: 5000 });
    assert.deepEqual({ rank: group.rank, worldSize: group.worldSize, backend: group.backend }, { rank: 0, worldSize: 1, backend: 'gloo' });
    assert.deepEqual(Array.from(await distributed.allReduceSum(new Float64Array([1.5, -2]))), [1.5, -2]);
    await distributed.barrier();
    await assert.rejects(distributed.init({ rank: 0, worldSize: 1, masterPort: port }), { code: 'ERR_DISTRIBUTED', message: /already joined/ });
    distributed.destroy();
    await assert.rejects(distributed.barrier(), { code: 'ERR_DISTRIBUTED', message: /has not joined/ });
  });

  test('a port in use is a coded error at once', async () => {
    const server = createServer();
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const port = server.address().port;
    const started = Date.now();
    await assert.rejects(distributed.init({ rank: 0, worldSize: 2, masterPort: port, timeoutMs: 3000 }), {
      code: 'ERR_DISTRIBUTED',
      message: new RegExp(`rank 0: cannot host the store at 127.0.0.1:${port} \\(is the port in use\\?\\)`),
    });
    assert.ok(Date.now() - started < 3000);
    server.close();
  });

  test('an unreachable master is a coded error within the timeout', async () => {
    const port = await freePort();
    const started = Date.now();
    await assert.rejects(distributed.init({ rank: 1, worldSize: 2, masterPort: port, timeoutMs: 2000 }), {
      code: 'ERR_DISTRIBUTED',
      message: new RegExp(`rank 1: cannot reach the master's store at 127.0.0.1:${port} within 2000 ms`),
    });
    const ms = Date.now() - started;
    assert.ok(ms < 8000, `took ${ms} ms`);
  });

  test('ranks started with different world sizes are refused, naming the rank', { timeout: 60000 }, async () => {
    const port = await freePort();
    // A timeout long enough for both to start on a loaded machine: the mismatch itself is seen at once.
    const ranks = await spawnRanks(self, [], { worldSize: 2, port, env: { ...child, SEQSAM_DIST_FAULT_TIMEOUT: '10000', 1: { WORLD_SIZE: '3' } }, timeoutMs: 40000 }).done;
    const said = ranks.map((r) => `rank ${r.rank}: ${r.stdout}${r.stderr}`).join('\n');
    assert.match(ranks[0].stdout, /ERR_DISTRIBUTED: rank 0: rank 1 was started with world size 3, this rank with 2/, said);
    // Rank 1 reads rank 0's world size, or sees rank 0 leave after refusing it, or waits for a rank 2.
    assert.match(ranks[1].stdout, /ERR_DISTRIBUTED: rank 1: (rank 0 was started with world size 2, this rank with 3|rank 0 stopped while this rank waited|rank 2 did not join within 10000 ms)/, said);
    for (const r of ranks) assert.ok(r.ms < 25000, `rank ${r.rank} took ${r.ms} ms`);
  });

  test('two processes claiming one rank are refused', { timeout: 60000 }, async () => {
    const port = await freePort();
    const ranks = await spawnRanks(self, [], { worldSize: 3, port, env: { ...child, SEQSAM_DIST_FAULT_TIMEOUT: '5000', WORLD_SIZE: '3', 2: { RANK: '1' } }, timeoutMs: 40000 }).done;
    const outputs = ranks.map((r) => r.stdout).join('\n');
    assert.match(outputs, /ERR_DISTRIBUTED: rank 1: another process already joined as rank 1/);
    for (const r of ranks) assert.equal(r.code, 3, r.stdout + r.stderr);
  });

  test('killing rank 0 (the store\'s host) stops the others, naming it', { timeout: 60000 }, async () => {
    const port = await freePort();
    let killed = 0;
    const run = spawnRanks(self, [], {
      worldSize: 3,
      port,
      env: { ...child, SEQSAM_DIST_FAULT_TIMEOUT: '10000' },
      timeoutMs: 40000,
      onLine: (rank, line) => {
        if (rank === 0 && line === 'joined' && !killed) setTimeout(() => ((killed = Date.now()), run.kill(0)), 300);
      },
    });
    const ranks = await run.done;
    assert.equal(ranks[0].signal, 'SIGKILL');
    for (const r of ranks.slice(1)) {
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`ERR_DISTRIBUTED: rank ${r.rank}: .*rank 0`));
    }
  });

  test('the torchrun environment is read with coded errors', () => {
    assert.deepEqual(distributed.fromEnv({ RANK: '1', WORLD_SIZE: '2', LOCAL_RANK: '1', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '1234' }), {
      rank: 1, worldSize: 2, localRank: 1, masterAddr: '10.0.0.1', masterPort: 1234, timeoutMs: 60000,
    });
    assert.throws(() => distributed.fromEnv({ RANK: '2', WORLD_SIZE: '2' }), { code: 'ERR_ARGUMENT', message: /RANK 2 is outside WORLD_SIZE 2/ });
    assert.throws(() => distributed.fromEnv({ WORLD_SIZE: '2' }), { code: 'ERR_ARGUMENT', message: /RANK is not set/ });
    assert.throws(() => distributed.fromEnv({ RANK: '0', WORLD_SIZE: 'two' }), { code: 'ERR_ARGUMENT', message: /WORLD_SIZE must be/ });
  });
}
