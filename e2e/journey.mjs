// What every journey file shares: steps that build on each other, pages per role,
// screenshots checked at phone width, downloads, and a territory made through the API
// for files that start past the operator's set-up.
//
// A journey file (e2e/<area>.test.mjs) makes its own server (`new Server('<area>')`,
// its own database) and its own steps; scripts/test-web runs the files one after the
// other.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { newPage, screenshots as shoot, ARTIFACTS, PHONE, PASSWORD, OPERATOR } from './harness.mjs';

/** Steps sharing `state`; once one fails, the later ones are skipped (they build on it). */
export function journey(server) {
  const state = { pages: {} };
  const timings = [];
  let failed = null;

  function step(name, fn) {
    it(name, async (t) => {
      if (failed) {
        t.skip(`an earlier step failed: ${failed}`);
        return;
      }
      const started = Date.now();
      try {
        await fn(t);
      } catch (err) {
        failed = name;
        for (const page of Object.values(state.pages)) {
          await page.screenshot({ path: path.join(ARTIFACTS, `failure-${server.name}-${page.label}.png`), fullPage: true }).catch(() => {});
        }
        throw err;
      } finally {
        timings.push([name, Date.now() - started]);
      }
    });
  }

  async function pageFor(label, browser) {
    const page = await newPage(browser, server.url);
    page.label = label;
    state.pages[label] = page;
    return page;
  }

  /** The time each step took, written to e2e/artifacts/timings-<name>.txt and printed. */
  function report() {
    const total = timings.reduce((s, [, ms]) => s + ms, 0);
    const lines = timings.map(([name, ms]) => `${(ms / 1000).toFixed(1).padStart(6)} s  ${name}`);
    const text = `${lines.join('\n')}\n${(total / 1000).toFixed(1).padStart(6)} s  in all\n`;
    fs.writeFileSync(path.join(ARTIFACTS, `timings-${server.name}.txt`), text);
    console.log(`\nBrowser journeys (${server.name}), time per step:\n${text}`);
  }

  return { state, step, pageFor, report, timings };
}

/**
 * Screenshots at both widths, after checking the page holds together: labelled fields,
 * named buttons, French, and no sideways scrolling at 360 px.
 */
export async function screenshots(page, name) {
  const problems = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type !== 'hidden' && !el.labels?.length && !el.getAttribute('aria-label')) out.push(`unlabelled ${el.tagName} ${el.name}`);
    }
    for (const el of document.querySelectorAll('button')) {
      if (!el.textContent.trim() && !el.getAttribute('aria-label')) out.push('button without a name');
    }
    if (document.documentElement.lang !== 'fr') out.push('lang is not fr');
    return out;
  });
  assert.deepEqual(problems, [], `${name}: accessibility basics`);
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(100);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `${name}: the page is ${overflow}px wider than a 360-px phone`);
  assert.deepEqual(await page.evaluate(layoutProblems), [], `${name}: at 360 px`);
  await shoot(page, name);
  assert.deepEqual(await page.evaluate(layoutProblems), [], `${name}: at ${page.viewportSize()?.width} px`);
}

/**
 * What a person would see wrong on the page (run in the page): a "null", "undefined"
 * or "NaN" written out; a table cell cut off or a table that needs sideways scrolling
 * (on a phone each row is a card, each cell under its column's label); a logged-in
 * header that does not say which organisation (and role) one is logged in as.
 */
export function layoutProblems() {
  const out = [];
  const text = document.body.innerText;
  const word = /\b(null|undefined|NaN)\b/.exec(text);
  if (word) out.push(`the page prints "${word[1]}": …${text.slice(Math.max(0, word.index - 40), word.index + 20)}…`);
  const width = document.documentElement.clientWidth;
  const phone = window.innerWidth < 700;
  for (const wrap of document.querySelectorAll('.table-wrap')) {
    if (!wrap.offsetParent) continue;
    if (wrap.scrollWidth > wrap.clientWidth + 1) out.push(`table "${wrap.getAttribute('aria-label')}" scrolls sideways`);
  }
  for (const cell of document.querySelectorAll('table tbody th, table tbody td')) {
    if (!cell.offsetParent) continue;
    const r = cell.getBoundingClientRect();
    if (r.right > width + 1 || r.left < -1) out.push(`a cell of "${cell.closest('.table-wrap')?.getAttribute('aria-label')}" is outside the screen`);
    const label = cell.querySelector(':scope > .cell-label');
    if (phone && label && !label.offsetParent) out.push(`a cell of "${cell.closest('.table-wrap')?.getAttribute('aria-label')}" shows no column label on a phone`);
  }
  const account = document.getElementById('account');
  if (account?.childElementCount) {
    const who = document.getElementById('who');
    const r = who?.getBoundingClientRect();
    if (!who || !r.width || !r.height || !who.innerText.trim()) out.push('the header does not say who is logged in');
  }
  return out;
}

export function noErrors(page) {
  assert.deepEqual(page.errors, [], `${page.label}: errors in the browser console`);
}

export async function saveDownload(page, click, name) {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  const file = path.join(ARTIFACTS, name);
  await download.saveAs(file);
  return { file, suggested: download.suggestedFilename(), bytes: fs.readFileSync(file) };
}

export function pdfText(file) {
  return execFileSync('pdftotext', [file, '-'], { encoding: 'utf8' });
}

/** The 15th of last month (a period that is over, to settle). */
export function lastMonth() {
  const now = new Date();
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  return `${start.toISOString().slice(0, 7)}-15`;
}

/**
 * A funded territory made through the API, as the operator would in the app: a funder,
 * a prescriber and a labelled site (in Dole, 39100) with an admin and an agent each
 * (password PASSWORD), a program paid in full and `checkbooks` allocated to the
 * prescriber. Returns the ids, the e-mails and the operator's API client.
 */
export async function territory(server, { prefix = server.name, budget = '1000.00', checkbooks = 5 } = {}) {
  const op = await server.as(OPERATOR);
  const org = (kind, name, extra = {}) =>
    op.post('/organizations', { kind, name, email: `contact.${kind}.${prefix}@e2e.example.org`, postcode: '39100', city: 'Dole', ...extra });
  const funder = await org('funder', `Département du Jura (${prefix})`);
  const prescriber = await org('prescriber', `CCAS de Dole (${prefix})`);
  const site = await org('site', `Médiathèque de Dole (${prefix})`, { address: '2 rue Sombardier', latitude: 47.0925, longitude: 5.4902 });
  const today = new Date().toISOString().slice(0, 10);
  const nextYear = `${Number(today.slice(0, 4)) + 1}${today.slice(4)}`;
  await op.post(`/sites/${site.id}/label`, { valid_from: '2020-01-01', valid_until: nextYear });
  const users = {};
  for (const [key, o] of [['funder', funder], ['prescriber', prescriber], ['site', site]]) {
    for (const role of ['admin', 'agent']) {
      const email = `${role}.${key}.${prefix}@e2e.example.org`;
      await op.post(`/organizations/${o.id}/users`, { email, password: PASSWORD, role });
      users[`${key}${role === 'admin' ? 'Admin' : 'Agent'}`] = email;
    }
  }
  const program = await op.post('/programs', {
    name: `Pass Numérique Jura (${prefix})`,
    ticket_value: '10.00',
    tickets_per_checkbook: 10,
    validity_days: 365,
    commission_rate: '0.00',
    budget,
    funders: [{ organization_id: funder.id, share: '1.00' }],
    territory_postcodes: ['39'],
  });
  await op.post(`/programs/${program.id}/payments`, { funder_id: funder.id, amount: budget, reference: `VIR-${prefix}`, received_on: today });
  await op.post(`/programs/${program.id}/allocations`, { prescriber_id: prescriber.id, checkbooks });
  return { operator: op, funder, prescriber, site, program, users };
}

export { PASSWORD, OPERATOR };
