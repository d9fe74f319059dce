/**
 * Headless Chromium for the interop specs: Debian's `/usr/bin/chromium`
 * (installed by `.ci/install-peers.sh`, never a downloaded browser), driven
 * over the DevTools protocol with `chrome-remote-interface`.
 *
 * The browser runs in its own process group with a fresh profile directory;
 * `close()` asks it to quit, then kills the group, then removes the profile,
 * each step bounded.
 */
import CDP from 'chrome-remote-interface';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withTimeout } from './support';

/** Where Debian puts the browser; `CHROMIUM` overrides it. */
export const CHROMIUM_PATH = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Whether the browser executable is there. */
export function chromiumAvailable(): boolean {
  try {
    fs.accessSync(CHROMIUM_PATH, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A running headless browser with a CDP session on its one page. */
export class Chromium {
  private constructor(
    readonly process: ChildProcess,
    readonly profile: string,
    readonly client: CDP.Client,
    private readonly exited: Promise<void>,
    private readonly stderr: () => string,
  ) {}

  /** Launches the browser and attaches to its page, within `ms`. */
  static async launch(ms = 20_000): Promise<Chromium> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-rx-chromium-'));
    const child = spawn(
      CHROMIUM_PATH,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
        // Loopback only: never route 127.0.0.1 through a proxy from the environment.
        '--no-proxy-server',
        `--user-data-dir=${profile}`,
        '--remote-debugging-port=0',
        'about:blank',
      ],
      // Own process group, so the renderer and helpers die with it (kill(-pid)).
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    let stderr = '';
    const exited = new Promise<void>((resolve) => {
      child.on('exit', () => resolve());
      child.on('error', (err) => {
        stderr += `spawn error: ${err.message}\n`;
        resolve();
      });
    });
    const port = withTimeout(
      new Promise<number>((resolve, reject) => {
        child.stderr!.setEncoding('utf8');
        child.stderr!.on('data', (text: string) => {
          if (stderr.length < 64 * 1024) stderr += text;
          const m = /DevTools listening on ws:\/\/[^:/]+:(\d+)\//.exec(stderr);
          if (m) resolve(Number(m[1]));
        });
        exited.then(() => reject(new Error(`chromium exited before DevTools listened:\n${stderr}`)));
      }),
      ms,
      'chromium to start DevTools',
    );
    try {
      const client = await withTimeout(
        CDP({
          host: '127.0.0.1',
          port: await port,
          local: true,
          target: (targets) => targets.findIndex((t) => t.type === 'page'),
        }),
        ms,
        'a CDP session with the page',
      );
      await withTimeout(Promise.all([client.Page.enable(), client.Runtime.enable()]), ms, 'CDP domains');
      return new Chromium(child, profile, client, exited, () => stderr);
    } catch (err) {
      await kill(child, exited);
      fs.rmSync(profile, { recursive: true, force: true });
      throw err;
    }
  }

  /** Navigates the page and waits for its load event. */
  async goto(url: string, ms = 10_000): Promise<void> {
    const loaded = this.client.Page.loadEventFired();
    await withTimeout(this.client.Page.navigate({ url }), ms, `navigation to ${url}`);
    await withTimeout(loaded, ms, `${url} to load`);
  }

  /**
   * Evaluates `expression` in the page, awaiting a promise result, and
   * returns its value (JSON). A page exception becomes a rejected promise.
   */
  async evaluate<T>(expression: string, ms = 15_000): Promise<T> {
    const r = await withTimeout(
      this.client.Runtime.evaluate({ expression, awaitPromise: true, returnByValue: true }),
      ms,
      `page evaluation of ${expression.slice(0, 60)}`,
    );
    if (r.exceptionDetails) {
      const d = r.exceptionDetails;
      throw new Error(`page threw: ${d.exception?.description ?? d.text}`);
    }
    return r.result.value as T;
  }

  /** Browser stderr so far (for failure messages). */
  get log(): string {
    return this.stderr();
  }

  /** Quits the browser (politely, then by SIGKILL to its group) and removes the profile. */
  async close(): Promise<void> {
    try {
      await withTimeout(this.client.Browser.close(), 3000, 'Browser.close');
    } catch {
      // Killed below.
    }
    try {
      await withTimeout(this.client.close(), 1000, 'CDP close');
    } catch {
      // The socket is gone with the browser.
    }
    await kill(this.process, this.exited);
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

/** Waits up to 3 s for the browser to exit, then kills its process group. */
async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  try {
    await withTimeout(exited, 3000, 'chromium to exit');
  } catch {
    // Still running.
  }
  if (child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is gone already.
    }
  }
  await withTimeout(exited, 3000, 'chromium to die').catch(() => undefined);
}
