// The operator's corrections (issue 13): rename a program, change its budget (refused
// below what is committed, the refusal shown on the field), change an allocation,
// allocate past what the budget pays for only once confirmed, extend the validity
// with a reason, correct an organisation's address, and read it all back in the
// "Historique" panels of the program and the organisation pages, at 360 px and 1280 px.
//
// Run: cargo build && cd e2e && node --test corrections.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, loginUi, see, OPERATOR } from './harness.mjs';
import { journey, screenshots, noErrors, territory } from './journey.mjs';

const server = new Server('corrections');
let browser;
let world;
const { state, step, pageFor, report, timings } = journey(server);

function inDays(n) {
  const d = new Date(Date.now() + n * 86400000);
  return d.toISOString().slice(0, 10);
}

describe('operator corrections and history (headless Chromium)', { concurrency: 1 }, () => {
  before(async () => {
    const started = Date.now();
    await server.start();
    browser = await launchBrowser();
    world = await territory(server, { budget: '1000.00', checkbooks: 5 });
    // A checkbook issued, so that the budget and the allocation have a floor.
    const presc = await server.as(world.users.prescriberAgent);
    await presc.post('/checkbooks', { program_id: world.program.id, beneficiary: { reference: 'CORR-1' } });
    timings.push(['start server, browser and territory', Date.now() - started]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server.stop();
    report();
  });

  step('the operator renames the program and is refused a budget below what is committed', async () => {
    const page = await pageFor('operator', browser);
    state.operator = page;
    await page.goto('/connexion');
    await loginUi(page, OPERATOR);
    await page.waitForURL('**/operateur');
    await page.goto(`/operateur/dispositifs/${world.program.id}`);
    await see(page, 'Corriger le dispositif');
    await page.getByLabel('Nom', { exact: true }).fill('Pass Numérique Jura 2027 (corrections)');
    await page.getByRole('button', { name: 'Enregistrer', exact: true }).click();
    await see(page, 'Dispositif modifié');
    await see(page, 'Nom : Pass Numérique Jura (corrections) → Pass Numérique Jura 2027 (corrections)');

    await page.getByLabel('Nouveau budget (€)').fill('500');
    await page.getByRole('button', { name: 'Modifier le budget' }).click();
    await see(page, 'ne peut pas descendre sous ce qui est déjà engagé');
    const fieldError = await page.locator('.field-error').filter({ hasText: 'engagé' }).count();
    assert.ok(fieldError >= 1, 'the refusal is shown on the budget field');
    await screenshots(page, 'operateur-dispositif-correction-refusee');

    await page.getByLabel('Nouveau budget (€)').fill('1500');
    await page.getByRole('button', { name: 'Modifier le budget' }).click();
    await see(page, /Budget : 1.000,00.€ → 1.500,00.€/);
    noErrors(page);
  });

  step('the operator changes an allocation and extends the validity with a reason', async () => {
    const page = state.operator;
    await page.getByLabel('Chéquiers alloués en tout').fill('0');
    await page.getByRole('button', { name: 'Changer la dotation' }).click();
    await see(page, 'sa dotation ne peut pas descendre en dessous');
    await page.getByLabel('Chéquiers alloués en tout').fill('8');
    await page.getByRole('button', { name: 'Changer la dotation' }).click();
    await see(page, ': 5 → 8 chéquier(s)');

    await page.getByLabel('Nouvelle fin de validité').fill(inDays(500));
    await page.getByLabel('Motif').fill('Ateliers reportés : médiathèque fermée pour travaux');
    await page.getByRole('button', { name: 'Prolonger', exact: true }).click();
    await see(page, 'Validité prolongée jusqu’au');
    await see(page, 'motif : Ateliers reportés');
    await see(page, /par operateur@e2e\.example\.org .*, le \d{1,2} [a-zéû.]+ \d{4} à \d{2}:\d{2}/);
    await screenshots(page, 'operateur-dispositif-historique');
    noErrors(page);
  });

  step('the operator is warned before allocating past the budget, then confirms', async () => {
    const page = state.operator;
    await page.goto(`/operateur/dispositifs/${world.program.id}`);
    // Budget 1 500 € = 15 checkbooks of 100 €; 8 allocated already.
    await see(page, /paie 15 chéquier\(s\) de 100,00.€ ; 8 déjà alloué\(s\)/);
    const allocate = page.locator('form').filter({ has: page.getByRole('button', { name: 'Allouer', exact: true }) });
    const confirm = allocate.getByLabel('Allouer quand même, au-delà de ce que le budget paie');
    assert.equal(await confirm.isVisible(), false, 'no confirmation before the refusal');
    await allocate.getByLabel('Nombre de chéquiers').fill('2000');
    await allocate.getByRole('button', { name: 'Allouer', exact: true }).click();
    await see(page, 'ne paie plus que 7 chéquier(s), toutes dotations comptées');
    await confirm.waitFor({ state: 'visible' });
    assert.equal(server.sql(`SELECT sum(checkbooks) FROM allocations WHERE program_id = '${world.program.id}'`), '8', 'nothing allocated by the refusal');
    await screenshots(page, 'operateur-dotation-hors-budget');
    await confirm.check();
    await allocate.getByRole('button', { name: 'Allouer', exact: true }).click();
    await see(page, 'Dotation enregistrée');
    assert.equal(server.sql(`SELECT sum(checkbooks) FROM allocations WHERE program_id = '${world.program.id}'`), '2008');
    noErrors(page);
  });

  step('the organisation page corrects an address and shows its history', async () => {
    const page = state.operator;
    await page.goto(`/operateur/organisations/${world.prescriber.id}`);
    await see(page, 'Historique');
    await see(page, ': 5 → 8 chéquier(s)');
    await page.getByText('Corriger les coordonnées').click();
    const contact = page.locator('details').filter({ hasText: 'Corriger les coordonnées' });
    await contact.getByLabel('Adresse').fill('12 rue des Arènes');
    await contact.getByRole('button', { name: 'Enregistrer les coordonnées' }).click();
    await see(page, 'Coordonnées corrigées : la modification est inscrite');
    await see(page, 'Coordonnées corrigées — Adresse : — → 12 rue des Arènes');
    await see(page, '12 rue des Arènes, 39100 Dole');
    await screenshots(page, 'operateur-organisation-historique');
    noErrors(page);
  });
});
