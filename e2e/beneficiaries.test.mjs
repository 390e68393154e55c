// A beneficiary's publics and needs (issue 14, point 2): the prescriber ticks them
// when issuing, sees them ticked when correcting. Every page at 360 px and 1280 px.
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
});
