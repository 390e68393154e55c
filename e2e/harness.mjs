// The harness of the browser journeys: a private database on the project's own
// PostgreSQL cluster (under .data/e2e, started by `passnum database-url`), the real
// server binary on a free port, Debian's Chromium driven by playwright-core, and
// helpers for the API, SQL, mails and screenshots.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = path.join(ROOT, 'e2e', 'artifacts');
export const SCREENSHOTS = path.join(ROOT, 'docs', 'screenshots');
const DATA_DIR = path.join(ROOT, '.data', 'e2e');
const BIN = process.env.PASSNUM_BIN || path.join(ROOT, 'target', 'debug', 'passnum');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const PASSWORD = 'mot-de-passe-des-essais';
export const OPERATOR = 'operateur@e2e.example.org';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--lang=fr-FR',
];

function run(args, env = {}) {
  return execFileSync(BIN, args, {
    cwd: ROOT,
    env: { ...process.env, PASSNUM_DATA_DIR: DATA_DIR, PASSNUM_LOG_LEVEL: 'warn', ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

function psqlBin() {
  for (const p of ['/usr/lib/postgresql/15/bin/psql', '/usr/bin/psql']) if (fs.existsSync(p)) return p;
  return 'psql';
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export class Server {
  /** `name` names the database (passnum_e2e_<name>) and the logs of one journey file. */
  constructor(name = 'journeys') {
    this.name = name;
  }

  async start() {
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run cargo build first`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    // A fresh database on the e2e cluster (started, or reused while it runs).
    const clusterUrl = run(['database-url']);
    const base = clusterUrl.slice(0, clusterUrl.lastIndexOf('/'));
    this.adminUrl = `${base}/postgres`;
    const db = `passnum_e2e_${this.name}`;
    this.databaseUrl = `${base}/${db}`;
    this.psql(this.adminUrl, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    this.psql(this.adminUrl, `CREATE DATABASE ${db}`);
    // A throw-away database: commits need not wait for the disk (a busy disk once
    // held them for minutes).
    this.psql(this.adminUrl, `ALTER DATABASE ${db} SET synchronous_commit = off`);
    this.mailDir = path.join(DATA_DIR, 'mail');
    fs.rmSync(this.mailDir, { recursive: true, force: true });
    const env = { DATABASE_URL: this.databaseUrl };
    run(['create-operator', '--email', OPERATOR, '--password', PASSWORD], env);
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = await this.serve(this.port, this.name === 'journeys' ? 'server.log' : `server-${this.name}.log`);
    return this;
  }

  /** `passnum serve` on `port` against this database, with `extra` environment. */
  async serve(port, logName, extra = {}) {
    const url = `http://127.0.0.1:${port}`;
    const log = fs.openSync(path.join(ARTIFACTS, logName), 'w');
    const proc = spawn(BIN, ['serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: this.databaseUrl,
        PASSNUM_DATA_DIR: DATA_DIR,
        PASSNUM_BIND: `127.0.0.1:${port}`,
        PASSNUM_PUBLIC_URL: url,
        PASSNUM_MAIL_POLL_INTERVAL_MS: '200',
        PASSNUM_LOG_LEVEL: 'info',
        ...extra,
      },
      stdio: ['ignore', log, log],
    });
    const deadline = Date.now() + 90000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`passnum serve exited (${proc.exitCode}): see e2e/artifacts/${logName}`);
      try {
        const res = await fetch(`${url}/readyz`);
        if (res.ok) return proc;
      } catch {
        /* not yet listening */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('passnum serve did not become ready in 90 s');
  }

  /**
   * A second server on the same database and data folder (the same keys), started with
   * `extra` environment (e.g. a very short access-token lifetime). Stopped with the first.
   */
  async sibling(extra, logName = 'server-sibling.log') {
    const port = await freePort();
    const proc = await this.serve(port, logName, extra);
    this.siblings = [...(this.siblings || []), proc];
    return `http://127.0.0.1:${port}`;
  }

  async stop() {
    for (const proc of [...(this.siblings || []), this.proc]) {
      if (!proc || proc.exitCode !== null) continue;
      proc.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          proc.kill('SIGKILL');
          r();
        }, 5000);
        proc.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  psql(url, sql) {
    return execFileSync(psqlBin(), [url, '-v', 'ON_ERROR_STOP=1', '-qtAc', sql], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  }

  /** SQL on the server's database (set-up steps only: backdating scans). */
  sql(sql) {
    return this.psql(this.databaseUrl, sql);
  }

  /** Logs in through the API: a client for set-up steps that are not the journey. */
  async as(email, password = PASSWORD) {
    const res = await fetch(`${this.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    if (!res.ok) throw new Error(`login ${email}: ${res.status} ${await res.text()}`);
    const { access_token: token } = await res.json();
    const call = async (method, p, body, headers = {}) => {
      const r = await fetch(`${this.url}/api/v1${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body ? JSON.stringify(body) : undefined,
      });
      const type = r.headers.get('content-type') || '';
      const data = type.includes('json') ? await r.json() : Buffer.from(await r.arrayBuffer());
      if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(data)}`);
      return data;
    };
    return {
      token,
      get: (p) => call('GET', p),
      post: (p, body, headers) => call('POST', p, body, headers),
      patch: (p, body, headers) => call('PATCH', p, body, headers),
      put: (p, body, headers) => call('PUT', p, body, headers),
    };
  }

  /** The invitation link of the last invitation mailed to `email` (an .eml file). */
  async invitationLink(email, timeoutMs = 60000) {
    return this.mailLink(email, 'invitation', { timeoutMs });
  }

  /** The password-reset link (`/mot-de-passe?token=…`) of the last reset mail to `email`. */
  async resetLink(email, opts) {
    return this.mailLink(email, 'mot-de-passe', opts);
  }

  /** The last `<public_url>/<page>?token=…` link mailed to `email`, waiting for one other than `not`. */
  async mailLink(email, page, { timeoutMs = 60000, not = null } = {}) {
    const pattern = new RegExp(`https?://[^\\s"<>]+/${page}\\?token=[A-Za-z0-9_-]+`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const files = fs.existsSync(this.mailDir) ? fs.readdirSync(this.mailDir).filter((f) => f.endsWith('.eml')).sort() : [];
      const found = files
        .map((f) => [f, fs.statSync(path.join(this.mailDir, f)).mtimeMs, fs.readFileSync(path.join(this.mailDir, f), 'utf8')])
        .sort((a, b) => a[1] - b[1])
        .map(([, , text]) => text.replace(/=\r?\n/g, '').replace(/=3D/gi, '='))
        .filter((text) => text.includes(email))
        .map((text) => pattern.exec(text)?.[0])
        .filter(Boolean);
      if (found.length && found[found.length - 1] !== not) return found[found.length - 1];
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`no ${page} link mailed to ${email} in ${this.mailDir}`);
  }
}

/** Headless Chromium (Debian's), optionally with a fake camera showing `video` (.y4m). */
export async function launchBrowser({ video } = {}) {
  const args = [...CHROMIUM_ARGS];
  if (video) {
    args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 60000 });
}

export const PHONE = { width: 360, height: 740 };
export const DESKTOP = { width: 1280, height: 800 };

/** A page whose console errors and uncaught exceptions are collected. */
export async function newPage(browser, baseURL, viewport = DESKTOP, options = {}) {
  const context = await browser.newContext({ baseURL, viewport, locale: 'fr-FR', timezoneId: 'Europe/Paris', acceptDownloads: true, ...options });
  // Generous: a healthy run answers in milliseconds, but this machine has been seen
  // to freeze for a minute or more (a new page once took 102 s to open).
  context.setDefaultTimeout(45000);
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // A refused request is logged by Chromium as a console error; the app shows the
    // problem itself. Only script errors count.
    if (msg.type() === 'error' && !/Failed to load resource|net::ERR_INTERNET_DISCONNECTED/.test(msg.text())) page.errors.push(`console: ${msg.text()}`);
  });
  page.on('dialog', (dialog) => dialog.accept());
  return page;
}

/** Saves the page at phone and desktop width: docs/screenshots/NAME-phone.png, -desktop.png. */
export async function screenshots(page, name) {
  const original = page.viewportSize();
  // A passing toast would hide part of the page.
  await page.evaluate(() => { const t = document.getElementById('toast'); if (t) { t.classList.remove('show'); t.textContent = ''; } });
  for (const [suffix, size] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await page.setViewportSize(size);
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${suffix}.png`), fullPage: true });
  }
  if (original) await page.setViewportSize(original);
}

/** Logs in through the login page. */
export async function loginUi(page, email, password = PASSWORD) {
  await page.getByLabel('Adresse e-mail').fill(email);
  await page.getByLabel('Mot de passe').fill(password);
  await page.getByRole('button', { name: 'Se connecter' }).click();
}

/** Waits until `text` is on the page (a string is matched case-insensitively). */
export async function see(page, text, timeout = 45000) {
  const pattern = typeof text === 'string' ? new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i') : text;
  await page.getByText(pattern).first().waitFor({ state: 'visible', timeout });
}
