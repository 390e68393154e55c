// The follow-up (issue 14 point 3): after the scan of a checkbook's last ticket, the
// scan page offers one short form (autonomy before and after, themes); the site's
// history lists the checkbooks it redeemed and lets it correct a follow-up.
//
// Run: cargo build && cd e2e && node --test follow-up.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, loginUi, see } from './harness.mjs';
import { journey, screenshots, noErrors, territory } from './journey.mjs';

const server = new Server('followup');
let browser;
const { state, step, pageFor, report, timings } = journey(server);

describe('the site’s follow-up of a checkbook (headless Chromium)', { concurrency: 1 }, () => {
  before(async () => {
    const started = Date.now();
    await server.start();
    browser = await launchBrowser();
    state.t = await territory(server);
    const prescriber = await server.as(state.t.users.prescriberAgent);
    state.book = await prescriber.post('/checkbooks', { program_id: state.t.program.id, beneficiary: { reference: 'SUIVI-0001' } });
    const site = await server.as(state.t.users.siteAgent);
    for (const ticket of state.book.tickets.slice(0, 9)) {
      await site.post('/redemptions', { code: ticket.code }, { 'Idempotency-Key': crypto.randomUUID() });
    }
    timings.push(['start server, browser, territory, nine tickets of ten used', Date.now() - started]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server.stop();
    report();
  });

  step('the scan of the last ticket offers the follow-up form, which records it', async () => {
    const page = await pageFor('site', browser);
    await page.goto(`${server.url}/connexion`);
    await loginUi(page, state.t.users.siteAgent);
    await page.waitForURL('**/site');
    await page.getByLabel('Numéro du chèque').fill(state.book.tickets[9].serial);
    await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
    await see(page, 'C’était le dernier chèque de ce chéquier');
    const box = page.locator('#scan-follow-up');
    await box.locator('#follow-up-before').getByRole('radio', { name: /Ne sait pas allumer/ }).check();
    await box.locator('#follow-up-after').getByRole('radio', { name: /Se débrouille/ }).check();
    await box.getByRole('checkbox', { name: 'Utiliser son smartphone' }).check();
    await screenshots(page, 'site-suivi-apres-scan');
    await box.getByRole('button', { name: 'Enregistrer le suivi' }).click();
    await see(page, 'Suivi enregistré');
    const site = await server.as(state.t.users.siteAgent);
    const list = await site.get(`/checkbooks/${state.book.id}/evaluations`);
    assert.deepEqual(list.items.map((e) => [e.before, e.after, e.themes]), [[1, 3, ['smartphone']]]);
    noErrors(page);
  });

  step('"Historique" lists the checkbook with its follow-up, and corrects it', async () => {
    const page = state.pages.site;
    await page.getByRole('link', { name: 'Historique', exact: true }).click();
    await page.waitForURL('**/site/historique');
    await see(page, 'Suivi des personnes formées');
    const item = page.locator('.follow-up-item').filter({ hasText: state.book.number });
    await item.getByText('Avant : Ne sait pas allumer l’appareil').waitFor();
    await item.getByRole('button', { name: 'Corriger le suivi' }).click();
    const form = page.locator('#follow-up-box');
    await form.locator('#follow-up-after').getByRole('radio', { name: /Autonome/ }).check();
    await form.getByRole('checkbox', { name: 'E-mails et messagerie' }).check();
    await screenshots(page, 'site-historique-suivi');
    await form.getByRole('button', { name: 'Corriger le suivi' }).click();
    await item.getByText('Après : Autonome').waitFor();
    const site = await server.as(state.t.users.siteAgent);
    const list = await site.get(`/checkbooks/${state.book.id}/evaluations`);
    assert.deepEqual(list.items.map((e) => [e.before, e.after, e.themes]), [[1, 4, ['smartphone', 'messagerie']]]);
    noErrors(page);
  });
});
