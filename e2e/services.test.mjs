// What a ticket pays for: the site's admin publishes its services ("Ma fiche",
// a refusal on its field), the agent picks one in one tap on the scan page (and the
// page remembers it), scans a collective session, and the public directory shows
// the services and filters by theme.
//
// Run: cargo build && cd e2e && node --test services.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, loginUi, see } from './harness.mjs';
import { journey, screenshots, noErrors, territory } from './journey.mjs';

const server = new Server('services');
let browser;
const { state, step, pageFor, report, timings } = journey(server);

describe('services: the editor, the scan page’s picker, a collective session, the directory by theme (headless Chromium)', { concurrency: 1 }, () => {
  before(async () => {
    const started = Date.now();
    await server.start();
    browser = await launchBrowser();
    state.t = await territory(server);
    const prescriber = await server.as(state.t.users.prescriberAgent);
    state.books = [];
    for (const reference of ['SERV-0001', 'SERV-0002', 'SERV-0003']) {
      state.books.push(await prescriber.post('/checkbooks', { program_id: state.t.program.id, beneficiary: { reference } }));
    }
    timings.push(['start server, browser, territory, three checkbooks', Date.now() - started]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server.stop();
    report();
  });

  step('"Ma fiche": the admin publishes services; a wrong duration is refused on its field', async () => {
    const page = await pageFor('admin', browser);
    await page.goto(`${server.url}/connexion`);
    await loginUi(page, state.t.users.siteAdmin);
    await page.waitForURL('**/site');
    await page.getByRole('link', { name: 'Ma fiche', exact: true }).click();
    await page.waitForURL('**/site/fiche');
    await see(page, 'Aucun service publié');
    await page.getByRole('button', { name: 'Ajouter un service' }).click();
    await page.getByLabel('Intitulé').nth(0).fill('Prendre en main son smartphone');
    await page.getByLabel('Thème').nth(0).selectOption('smartphone');
    await page.getByLabel('Durée (minutes)').nth(0).fill('90');
    await page.getByRole('button', { name: 'Ajouter un service' }).click();
    await page.getByLabel('Intitulé').nth(1).fill('Atelier collectif : déjouer les arnaques');
    await page.getByLabel('Thème').nth(1).selectOption('securite');
    await page.getByLabel('Format').nth(1).selectOption('collective');
    await page.getByLabel('Durée (minutes)').nth(1).fill('700');
    await page.getByRole('button', { name: 'Enregistrer les services' }).click();
    await see(page, 'La durée d’un service va de 1 à 600 minutes');
    assert.equal(await page.getByLabel('Durée (minutes)').nth(1).getAttribute('aria-invalid'), 'true');
    await screenshots(page, 'site-services-refus');
    await page.getByLabel('Durée (minutes)').nth(1).fill('120');
    await page.getByRole('button', { name: 'Enregistrer les services' }).click();
    await see(page, 'Services enregistrés');
    await see(page, 'Prendre en main son smartphone — Utiliser son smartphone, individuel, 1 h 30');
    await see(page, 'Atelier collectif : déjouer les arnaques — Sécurité et arnaques en ligne, collectif, 2 h');
    await screenshots(page, 'site-services');
    noErrors(page);
  });

  step('the scan page: the agent picks the service in one tap, the scan carries it, the choice is remembered', async () => {
    const page = await pageFor('agent', browser);
    await page.goto(`${server.url}/connexion`);
    await loginUi(page, state.t.users.siteAgent);
    await page.waitForURL('**/site');
    await see(page, 'Pour quel service ?');
    const chip = page.getByRole('button', { name: /Prendre en main son smartphone/ });
    await chip.click();
    assert.equal(await chip.getAttribute('aria-pressed'), 'true');
    await see(page, 'Les chèques scannés seront comptés pour « Prendre en main son smartphone »');
    await page.getByLabel('Numéro du chèque').fill(state.books[0].tickets[0].serial);
    await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
    await see(page, 'Chèque accepté');
    const site = await server.as(state.t.users.siteAgent);
    const services = await site.get(`/sites/${state.t.site.id}/services`);
    const mine = await site.get('/redemptions');
    assert.equal(mine.items[0].service_id, services[0].id, 'the redemption names the service picked');
    await screenshots(page, 'site-scan-service');
    await page.reload();
    await see(page, 'Pour quel service ?');
    assert.equal(await page.getByRole('button', { name: /Prendre en main son smartphone/ }).getAttribute('aria-pressed'), 'true', 'remembered');
    noErrors(page);
  });

  step('a collective session: scan each participant, validate once, one answer per ticket', async () => {
    const page = state.pages.agent;
    await page.getByRole('button', { name: /Atelier collectif : déjouer les arnaques/ }).click();
    await page.getByRole('button', { name: 'Commencer une séance collective' }).click();
    for (const ticket of [state.books[1].tickets[0], state.books[2].tickets[0], state.books[0].tickets[0]]) {
      await page.getByLabel('Numéro du chèque').fill(ticket.serial);
      await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
    }
    await see(page, '3 chèque(s) scanné(s)');
    await screenshots(page, 'site-seance');
    await page.getByRole('button', { name: 'Valider la séance' }).click();
    await see(page, 'Séance validée : 2 chèque(s) accepté(s) sur 3');
    await see(page, 'Refusé : chèque déjà encaissé');
    const site = await server.as(state.t.users.siteAgent);
    const mine = await site.get('/redemptions');
    const sessions = new Set(mine.items.filter((r) => r.session_id).map((r) => r.session_id));
    assert.equal(sessions.size, 1);
    assert.equal(mine.items.filter((r) => r.session_id).length, 2);
    await screenshots(page, 'site-seance-validee');
    noErrors(page);
  });

  step('the directory shows the services and filters by theme', async () => {
    const page = await pageFor('public', browser);
    await page.goto(`${server.url}/lieux`);
    await page.getByLabel('Thème recherché').selectOption('securite');
    await page.getByLabel('Code postal').fill('39100');
    await page.getByRole('button', { name: 'Chercher' }).click();
    await see(page, 'Lieux labellisés au 39100');
    const cards = page.locator('li.site');
    await cards.first().waitFor();
    assert.equal(await cards.count(), 1);
    assert.match(await cards.first().innerText(), /Atelier collectif : déjouer les arnaques/);
    await screenshots(page, 'lieux-par-theme');
    await page.getByLabel('Thème recherché').selectOption('emploi');
    await page.getByRole('button', { name: 'Chercher' }).click();
    await see(page, 'Aucun lieu labellisé');
    noErrors(page);
  });
});
