// The operator's week (issue 13, point 7): the dashboard says what waits (a finished
// month not settled, a program whose margin is low), the mails page explains a failure
// in French and sends it again (and says, in French, why a mail cannot be), and
// « Rechercher » finds a checkbook by the end of a ticket's number with its history.
//
// Run: cargo build && cd e2e && node --test operator.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, loginUi, see } from './harness.mjs';
import { journey, screenshots, noErrors, territory, lastMonth, OPERATOR } from './journey.mjs';

const server = new Server('operator');
let browser;
const { state, step, pageFor, report, timings } = journey(server);

describe('the operator: alerts, mails, lookup (headless Chromium)', { concurrency: 1 }, () => {
  before(async () => {
    const started = Date.now();
    await server.start();
    browser = await launchBrowser();
    const t = await territory(server);
    state.t = t;
    const prescriber = await server.as(t.users.prescriberAgent);
    // A checkbook mailed to its beneficiary, two of its tickets used last month.
    state.book = await prescriber.post('/checkbooks', { program_id: t.program.id, beneficiary: { reference: 'OP-0001', email: 'beneficiaire.op@e2e.example.org' } });
    const site = await server.as(t.users.siteAgent);
    for (const ticket of state.book.tickets.slice(0, 2)) {
      await site.post('/redemptions', { code: ticket.code }, { 'idempotency-key': crypto.randomUUID() });
    }
    const day = lastMonth();
    server.sql(`UPDATE redemptions SET redeemed_at = '${day} 12:00:00 Europe/Paris', scanned_at = '${day} 12:00:00 Europe/Paris'`);
    // A second program with 210 € paid and 200 € of checkbooks issued: 5 % of margin left.
    const small = await t.operator.post('/programs', {
      name: 'Petit dispositif (operator)', ticket_value: '10.00', tickets_per_checkbook: 10, validity_days: 365,
      budget: '210.00', funders: [{ organization_id: t.funder.id, share: '1.00' }],
    });
    await t.operator.post(`/programs/${small.id}/payments`, { funder_id: t.funder.id, amount: '210.00', reference: 'VIR-PETIT', received_on: new Date().toISOString().slice(0, 10) });
    await t.operator.post(`/programs/${small.id}/allocations`, { prescriber_id: t.prescriber.id, checkbooks: 2 });
    for (let i = 0; i < 2; i += 1) await prescriber.post('/checkbooks', { program_id: small.id, beneficiary: { reference: `OP-P${i}` } });
    // An invitation the mail server refused (set-up by SQL: the files transport never fails).
    await t.operator.post(`/organizations/${t.site.id}/users`, { email: 'refuse.op@e2e.example.org', role: 'agent' });
    for (let i = 0; i < 100 && server.sql("SELECT count(*) FROM outbox WHERE status IN ('waiting', 'sending')") !== '0'; i += 1) {
      await new Promise((r) => setTimeout(r, 200));
    }
    server.sql("UPDATE outbox SET status = 'failed', sent_at = NULL, attempts = 5, last_error = 'Connection refused (os error 111)' WHERE recipient = 'refuse.op@e2e.example.org'");
    state.cofunder = await t.operator.post('/organizations', { kind: 'funder', name: 'État (operator)', email: 'etat.op@e2e.example.org', postcode: '39000', city: 'Lons-le-Saunier' });
    // A program waiting for the État's payment: nothing can be issued yet.
    state.waiting = await t.operator.post('/programs', {
      name: 'Dispositif en attente (operator)', ticket_value: '10.00', tickets_per_checkbook: 10, validity_days: 365, budget: '1000.00',
      funders: [{ organization_id: t.funder.id, share: '0.50' }, { organization_id: state.cofunder.id, share: '0.50' }],
    });
    await t.operator.post(`/programs/${state.waiting.id}/payments`, { funder_id: t.funder.id, amount: '500.00', reference: 'VIR-ATTENTE', received_on: new Date().toISOString().slice(0, 10) });
    await t.operator.post(`/programs/${state.waiting.id}/allocations`, { prescriber_id: t.prescriber.id, checkbooks: 3 });
    timings.push(['start server, browser and territory', Date.now() - started]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server.stop();
    report();
  });

  step('the dashboard names the unsettled month and the program short of margin', async () => {
    const page = await pageFor('operator', browser);
    await page.goto('/connexion');
    await loginUi(page, OPERATOR);
    await page.waitForURL('**/operateur');
    const box = page.locator('section', { has: page.getByRole('heading', { name: 'À surveiller' }) });
    await box.waitFor();
    const text = await box.innerText();
    assert.match(text, /n’est pas remboursé/);
    assert.match(text, /2 chèques encaissés par 1 lieu : 20,00\s€ à lui payer/);
    assert.match(text, /Marge faible sur Petit dispositif \(operator\)/);
    assert.match(text, /que de 5 %/);
    await screenshots(page, 'operateur-alertes');
    // « Rembourser ce mois » opens the settlement form on that month.
    await box.getByRole('link', { name: 'Rembourser ce mois' }).click();
    await see(page, 'Rembourser une période');
    const [y, m] = lastMonth().split('-');
    assert.equal(await page.getByLabel('Du', { exact: true }).inputValue(), `${y}-${m}-01`);
    noErrors(page);
  });

  step('a failed mail says why in French, and « Renvoyer » sends it again', async () => {
    const page = state.pages.operator;
    await page.goto('/operateur/courriels');
    await see(page, 'Courriels abandonnés');
    const row = page.locator('tr', { hasText: 'refuse.op@' });
    await row.waitFor();
    assert.match(await row.innerText(), /refusé la connexion/);
    // The technical words are there, folded.
    assert.equal(await row.getByText('Connection refused').isVisible(), false);
    await row.getByText('Détail technique').click();
    assert.ok(await row.getByText('Connection refused (os error 111)').isVisible());
    await screenshots(page, 'operateur-courriels-echec');
    await row.getByRole('button', { name: /Renvoyer/ }).click();
    await see(page, 'repart');
    await see(page, 'Aucun courriel en échec.');
    // The worker sends it (files transport): it is now among the sent ones.
    for (let i = 0; i < 100 && server.sql("SELECT status FROM outbox WHERE recipient = 'refuse.op@e2e.example.org'") !== 'sent'; i += 1) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(server.sql("SELECT status FROM outbox WHERE recipient = 'refuse.op@e2e.example.org'"), 'sent');
    noErrors(page);
  });

  step('a sent checkbook cannot be sent again from here: the page says why, in French', async () => {
    const page = state.pages.operator;
    await page.goto('/operateur/courriels?etat=sent');
    const row = page.locator('tr', { hasText: 'beneficiaire.op@' });
    await row.waitFor();
    assert.match(await row.innerText(), /Envoyé le \d\d\/\d\d\/\d{4}/);
    await row.getByRole('button', { name: /Renvoyer/ }).click();
    await row.getByText('La pièce jointe d’un message envoyé n’est pas gardée').waitFor();
    await screenshots(page, 'operateur-courriels-refus');
    noErrors(page);
  });

  step('« Rechercher » finds a checkbook by the end of a ticket’s number, with its history', async () => {
    const page = state.pages.operator;
    await page.locator('#nav').getByRole('link', { name: 'Rechercher' }).click();
    await see(page, 'Numéro de chéquier ou de chèque');
    // Junk is refused on the field, in French.
    await page.getByLabel('Numéro de chéquier ou de chèque').fill('??');
    await page.getByRole('button', { name: 'Rechercher' }).click();
    await see(page, 'Tapez un numéro de chéquier');
    const hint = state.book.tickets[0].serial_hint;
    await page.getByLabel('Numéro de chéquier ou de chèque').fill(hint.toLowerCase());
    await page.getByRole('button', { name: 'Rechercher' }).click();
    const card = page.locator('section.lookup-book', { hasText: state.book.number });
    await card.waitFor();
    const text = await card.innerText();
    assert.match(text, /Remis au bénéficiaire/);
    assert.match(text, new RegExp(`…${hint}\\s*recherché`));
    assert.match(text, /Encaissé\s+Médiathèque de Dole/);
    assert.match(text, /beneficiaire\.op@/);
    assert.doesNotMatch(text, /OP-0001/, 'no beneficiary data');
    assert.match(page.url(), new RegExp(`recherche\\?q=${hint.toLowerCase()}`));
    await screenshots(page, 'operateur-recherche');
    // By the checkbook's number, typed loosely.
    await page.getByLabel('Numéro de chéquier ou de chèque').fill(state.book.number.toLowerCase().replaceAll('-', ' '));
    await page.getByRole('button', { name: 'Rechercher' }).click();
    await see(page, '1 chéquier trouvé par numéro de chéquier');
    noErrors(page);
  });

  step('shares that do not make 100 % are refused on the share field, in percent', async () => {
    const page = state.pages.operator;
    await page.goto('/operateur/dispositifs');
    await page.getByText('Ouvrir un dispositif').click();
    const form = page.locator('form').filter({ hasText: 'Nom du dispositif' });
    await form.getByLabel('Nom du dispositif').fill('Dispositif mal partagé');
    await form.getByLabel('Budget (€)').fill('1000');
    await form.getByLabel('Financeur 1').selectOption(state.t.funder.id);
    await form.getByLabel('Part (%)').first().fill('60');
    await form.getByRole('button', { name: 'Ajouter un cofinanceur' }).click();
    await form.getByLabel('Financeur 2').selectOption(state.cofunder.id);
    await form.getByLabel('Part (%)').nth(1).fill('30');
    await form.getByRole('button', { name: 'Ouvrir le dispositif' }).click();
    const share = form.getByLabel('Part (%)').nth(1);
    await page.waitForFunction(() => document.querySelector('[aria-invalid="true"]'));
    assert.equal(await share.getAttribute('aria-invalid'), 'true', 'the error is on the second share');
    const said = await page.locator(`#${await share.getAttribute('id')}-err`).innerText();
    assert.match(said, /elles font 90,00 %/);
    assert.doesNotMatch(said, /0\.9/);
    await screenshots(page, 'operateur-dispositif-parts');
    noErrors(page);
  });

  step('a program waiting for a co-funder says so before the form, to the operator, the funder and the prescriber', async () => {
    const page = state.pages.operator;
    await page.goto(`/operateur/dispositifs/${state.waiting.id}`);
    await see(page, 'Émission bloquée : en attente du versement de État (operator)');
    // Its share (50 %) of one checkbook of 100 €.
    await see(page, /Bloqué : en attente du versement de État \(operator\) : il manque 50,00.€ pour émettre un chéquier de plus\./);
    await screenshots(page, 'operateur-dispositif-bloque');
    noErrors(page);

    // The funder who paid sees whose payment is awaited, and how much is missing.
    const funder = await pageFor('funder', browser);
    await funder.goto('/connexion');
    await loginUi(funder, state.t.users.funderAdmin);
    await funder.waitForURL('**/financeur');
    await funder.goto(`/financeur/dispositifs/${state.waiting.id}`);
    await see(funder, /Émission bloquée : en attente du versement de État \(operator\) : il manque 50,00.€ pour émettre un chéquier de plus\./);
    await see(funder, /Il reste 500,00.€ à verser sur son engagement de 500,00.€/);
    await screenshots(funder, 'financeur-dispositif-bloque');
    noErrors(funder);

    const prescriber = await pageFor('prescriber', browser);
    await prescriber.goto('/connexion');
    await loginUi(prescriber, state.t.users.prescriberAgent);
    await prescriber.waitForURL('**/prescripteur');
    const card = prescriber.locator('li', { hasText: 'Dispositif en attente (operator)' });
    await card.getByText('Émission suspendue : un financeur n’a pas encore versé sa part.').waitFor();
    await screenshots(prescriber, 'prescripteur-dispositif-bloque');
    noErrors(prescriber);
  });
});
