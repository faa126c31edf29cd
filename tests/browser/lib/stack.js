// The local stack for the browser tests: target/debug/local-stack on free ports, until the tests end.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Resolves when `check()` returns a truthy value; rejects after `timeoutMs` naming `what`. */
export async function waitFor(check, { what, timeoutMs = 30_000, everyMs = 200 }) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) {
        return value;
      }
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Starts `local-stack --no-demo --any-ports --ready-file <tmp>` and waits for the file:
 * {api, app, emulator, issuer, ...}. `stop()` ends it (SIGTERM, then SIGKILL if it lingers).
 */
export async function startStack() {
  const bin = join(repoRoot, 'target', 'debug', 'local-stack');
  if (!existsSync(bin)) {
    throw new Error(`${bin} not found: cargo build --bin local-stack`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'weft-browser-'));
  const readyFile = join(dir, 'ready.json');
  const logDir = join(repoRoot, 'target', 'test-logs');
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, 'browser-local-stack.log');
  const log = openSync(logPath, 'w');
  const child = spawn(bin, ['--no-demo', '--any-ports', '--ready-file', readyFile], {
    cwd: repoRoot,
    stdio: ['ignore', log, log],
  });
  let exited = null;
  const done = new Promise((resolve) => child.on('exit', (code, signal) => {
    exited = { code, signal };
    resolve(exited);
  }));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => exited || child.kill('SIGKILL'), 20_000);
      await done;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ready = await waitFor(() => {
      if (exited) {
        throw new Error(`local-stack exited (${JSON.stringify(exited)}); see ${logPath}`);
      }
      return existsSync(readyFile) && JSON.parse(readFileSync(readyFile, 'utf8'));
    }, { what: `the local stack (log: ${logPath})`, timeoutMs: 300_000 });
    return { ...ready, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
