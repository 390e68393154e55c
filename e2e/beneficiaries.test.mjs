// A beneficiary's publics and needs (issue 14, point 2): the prescriber ticks them
// when issuing and when handing out a stock checkbook, reads them on the checkbook,
// sees them ticked when correcting; and erases the record at the person's request
// (point 5), the tickets kept. Every page at 360 px and 1280 px.
//
// Run: cargo build && cd e2e && node --test beneficiaries.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, loginUi, see } from './harness.mjs';
import { journey, screenshots, noErrors, territory } from './journey.mjs';

const server = new Server('beneficiaries');
let browser;
const { state, step, pageFor, report, timings } = journey(server);

describe('beneficiaries: publics and needs (headless Chromium)', { concurrency: 1 }, () => {
  before(async () => {
    const started = Date.now();
    await server.start();
    browser = await launchBrowser();
    timings.push(['start server and browser', Date.now() - started]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server.stop();
    report();
  });

  step('set-up through the API: a funded program and a prescriber', async () => {
    state.t = await territory(server, { checkbooks: 5 });
    state.api = await server.as(state.t.users.prescriberAgent);
  });

  step('the prescriber ticks the person’s publics and needs when issuing', async () => {
    const page = await pageFor('prescriber', browser);
    await page.goto('/prescripteur/emettre');
    await loginUi(page, state.t.users.prescriberAgent);
    await page.waitForURL('**/prescripteur/emettre');
    await page.getByLabel('Référence du bénéficiaire').fill('DOSSIER-1401');
    await page.getByRole('checkbox', { name: 'Senior' }).check();
    await page.getByRole('checkbox', { name: 'Utiliser son smartphone' }).check();
    await page.getByRole('checkbox', { name: 'Démarches administratives en ligne' }).check();
    await see(page, 'Seule votre structure voit ces réponses pour cette personne.');
    await screenshots(page, 'prescripteur-emettre-publics-besoins');
    await page.getByRole('button', { name: 'Émettre et remettre le chéquier' }).click();
    await page.waitForURL('**/prescripteur/chequiers/*');
    const id = page.url().split('/').pop();
    const book = await state.api.get(`/checkbooks/${id}`);
    assert.deepEqual(book.beneficiary.publics, ['senior']);
    assert.deepEqual(book.beneficiary.needs, ['demarches_en_ligne', 'smartphone']);

    // Correcting shows them ticked; unticking one clears it.
    await page.getByText('Corriger le bénéficiaire').click();
    const correct = page.locator('details').filter({ hasText: 'Corriger le bénéficiaire' });
    assert.equal(await correct.getByRole('checkbox', { name: 'Senior' }).isChecked(), true);
    await correct.getByRole('checkbox', { name: 'Utiliser son smartphone' }).uncheck();
    await correct.getByRole('checkbox', { name: 'Sans diplôme' }).check();
    await screenshots(page, 'prescripteur-corriger-publics-besoins');
    await correct.getByRole('button', { name: 'Enregistrer la correction' }).click();
    await see(page, 'Bénéficiaire corrigé.');
    const after = await state.api.get(`/checkbooks/${id}`);
    assert.deepEqual(after.beneficiary.publics, ['senior', 'sans_diplome']);
    assert.deepEqual(after.beneficiary.needs, ['demarches_en_ligne']);
    noErrors(page);
  });

  step('a stock checkbook handed out records the publics and needs ticked', async () => {
    const run = await state.api.post('/print-runs', { program_id: state.t.program.id, checkbooks: 1 });
    const stock = run.checkbooks[0];
    const page = state.pages.prescriber;
    await page.goto(`/prescripteur/chequiers/${stock.id}`);
    await see(page, 'Remettre ce chéquier à un bénéficiaire');
    const hand = page.locator('section').filter({ hasText: 'Remettre ce chéquier à un bénéficiaire' });
    await hand.getByLabel('Référence du bénéficiaire').fill('DOSSIER-1402');
    await hand.getByRole('checkbox', { name: 'Jeune (moins de 26 ans)' }).check();
    await hand.getByRole('checkbox', { name: 'Chercher un emploi en ligne' }).check();
    await screenshots(page, 'prescripteur-remettre-publics-besoins');
    await hand.getByRole('button', { name: 'Remettre le chéquier' }).click();
    await see(page, 'Chéquier remis');
    // The summary says them, in words.
    const summary = page.locator('.summary');
    await summary.getByText('Jeune (moins de 26 ans)').waitFor();
    await summary.getByText('Chercher un emploi en ligne').waitFor();
    const book = await state.api.get(`/checkbooks/${stock.id}`);
    assert.equal(book.beneficiary.reference, 'DOSSIER-1402');
    assert.deepEqual(book.beneficiary.publics, ['jeunes']);
    assert.deepEqual(book.beneficiary.needs, ['emploi']);
    state.handed = book;
    noErrors(page);
  });

  step('at the person’s request the prescriber erases the record; the tickets stay usable', async () => {
    const page = state.pages.prescriber;
    await page.getByText('Effacer les données du bénéficiaire').click();
    const erase = page.locator('details').filter({ hasText: 'Effacer les données du bénéficiaire' });
    await erase.getByText('Ses chèques restent utilisables').waitFor();
    await screenshots(page, 'prescripteur-effacer-beneficiaire');
    await erase.getByRole('button', { name: 'Effacer ses données' }).click();
    await see(page, 'Données du bénéficiaire effacées.');
    await see(page, 'Données effacées le');
    assert.equal(await page.getByText('DOSSIER-1402').count(), 0);
    assert.equal(await page.getByText('Effacer les données du bénéficiaire').count(), 0);
    await screenshots(page, 'prescripteur-beneficiaire-efface');
    const book = await state.api.get(`/checkbooks/${state.handed.id}`);
    assert.equal(book.beneficiary.reference, null);
    assert.deepEqual(book.beneficiary.publics, []);
    assert.ok(book.beneficiary.erased_at);
    assert.equal(book.status, 'handed_out');
    assert.deepEqual(book.tickets.map((t) => t.status), state.handed.tickets.map((t) => t.status));
    noErrors(page);
  });
});
