// The site's month: check a ticket without redeeming it, its scans month by month
// against the statement that paid them, its statements (CSV, PDF), its public entry
// and IBAN ("Ma fiche", the API's refusal on the field), the operator's bank batch
// (the SEPA file, the payout marked paid) and the site's « payé le … », and the
// public directory that pages with "Voir plus" and shows phone, hours and
// accessibility.
//
// Run: cargo build && cd e2e && node --test sites.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, loginUi, see, OPERATOR } from './harness.mjs';
import { journey, screenshots, noErrors, saveDownload, pdfText, lastMonth, territory } from './journey.mjs';

const server = new Server('sites');
let browser;
const { state, step, pageFor, report, timings } = journey(server);

describe('the site: verify, history, statements, its entry; the directory (headless Chromium)', { concurrency: 1 }, () => {
  before(async () => {
    const started = Date.now();
    await server.start();
    browser = await launchBrowser();
    state.t = await territory(server);
    const prescriber = await server.as(state.t.users.prescriberAgent);
    state.book = await prescriber.post('/checkbooks', { program_id: state.t.program.id, beneficiary: { reference: 'LIEU-0001' } });
    const site = await server.as(state.t.users.siteAgent);
    const scan = (ticket) => site.post('/redemptions', { code: ticket.code }, { 'Idempotency-Key': crypto.randomUUID() });
    for (const ticket of state.book.tickets.slice(0, 3)) await scan(ticket);
    // Last month's scans, settled by month; one more this month, not yet settled.
    // The account the payout goes to, recorded when the month is settled.
    await state.t.operator.patch(`/organizations/${state.t.site.id}`, { iban: 'FR76 3000 6000 0112 3456 7890 189', bic: 'AGRIFRPP' });
    const day = lastMonth();
    server.sql(`UPDATE redemptions SET redeemed_at = '${day} 12:00:00 Europe/Paris', scanned_at = '${day} 11:59:00 Europe/Paris'`);
    const end = new Date(Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)), 0)).toISOString().slice(0, 10);
    await state.t.operator.post('/settlements', { period_start: `${day.slice(0, 7)}-01`, period_end: end });
    await scan(state.book.tickets[3]);
    // Enough sites in Dole for the directory to page.
    const today = new Date().toISOString().slice(0, 10);
    for (let n = 1; n <= 22; n += 1) {
      const other = await state.t.operator.post('/organizations', {
        kind: 'site', name: `Lieu de médiation ${String(n).padStart(2, '0')}`, email: `lieu${n}@e2e.example.org`, postcode: '39100', city: 'Dole',
      });
      await state.t.operator.post(`/sites/${other.id}/label`, { valid_from: '2020-01-01', valid_until: `${Number(today.slice(0, 4)) + 1}-12-31` });
    }
    timings.push(['start server, browser, territory, a settled month and 22 more sites', Date.now() - started]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server.stop();
    report();
  });

  step('"Vérifier un chèque" from the scan page says whether a ticket would be accepted, and redeems nothing', async () => {
    const page = await pageFor('site', browser);
    await page.goto(`${server.url}/connexion`);
    await loginUi(page, state.t.users.siteAdmin);
    await page.waitForURL('**/site');
    await page.getByRole('link', { name: 'Vérifier un chèque sans l’encaisser' }).click();
    await page.waitForURL('**/site/verifier');
    const unused = state.book.tickets[5];
    await page.getByLabel('Numéro du chèque').fill(unused.serial);
    await page.getByRole('button', { name: 'Vérifier' }).click();
    await see(page, /Chèque valable : 10,00\s€/);
    await see(page, 'Rien n’a été encaissé');
    const site = await server.as(state.t.users.siteAgent);
    const verified = await site.post('/tickets/verify', { serial: unused.serial });
    assert.equal(verified.status, 'issued', 'still unused after the check');
    await page.getByLabel('Numéro du chèque').fill(state.book.tickets[0].serial);
    await page.getByRole('button', { name: 'Vérifier' }).click();
    await see(page, 'Serait refusé : chèque déjà encaissé');
    await screenshots(page, 'site-verifier');
    noErrors(page);
  });

  step('"Historique": this month’s scans to be paid, last month’s paid by its statement, to the cent', async () => {
    const page = state.pages.site;
    await page.getByRole('link', { name: 'Historique', exact: true }).click();
    await page.waitForURL('**/site/historique');
    await see(page, 'Mois par mois');
    assert.equal((await page.locator('#pending-total').innerText()).replace(/\s/g, ' ').trim(), '10,00 €');
    const settled = page.locator('tbody tr').filter({ has: page.locator('.pill.ok') });
    await settled.waitFor();
    const text = await settled.innerText();
    assert.match(text, /30,00\s€/, 'three tickets of last month, paid by the statement');
    state.historyRow = text;
    await screenshots(page, 'site-historique');
    noErrors(page);
  });

  step('"Relevés": the payout statement with its CSV and PDF, the same total as the history', async () => {
    const page = state.pages.site;
    await page.getByRole('link', { name: 'Relevés', exact: true }).click();
    await page.waitForURL('**/site/releves');
    const row = page.getByRole('row').filter({ hasText: /Relevé de paiement|paiement/i });
    await row.waitFor();
    const number = (await row.locator('.mono').textContent()).trim();
    assert.ok(state.historyRow.includes(number), `the history names statement ${number}`);
    const csv = await saveDownload(page, () => row.getByRole('button', { name: /CSV/ }).click(), 'releve-lieu.csv');
    assert.ok(csv.bytes.length > 0);
    const pdf = await saveDownload(page, () => row.getByRole('button', { name: /PDF/ }).click(), 'releve-lieu.pdf');
    assert.match(pdfText(pdf.file), new RegExp(number));
    await screenshots(page, 'site-releves');
    noErrors(page);
  });

  step('"Ma fiche": a wrong IBAN is refused on its field in French, then the entry is saved and shown', async () => {
    const page = state.pages.site;
    await page.getByRole('link', { name: 'Ma fiche', exact: true }).click();
    await page.waitForURL('**/site/fiche');
    await page.getByLabel('Téléphone').fill('03 84 75 12 34');
    await page.getByLabel('Site web').fill('mediatheque.dole.fr');
    await page.getByLabel('Horaires d’accueil').fill('Mardi 14 h – 18 h\nSamedi 9 h – 12 h');
    await page.getByLabel('Accessibilité').fill('Accès de plain-pied, boucle magnétique');
    await page.getByLabel('IBAN du lieu').fill('FR76 3000 6000 0112 3456 7890 188');
    await page.getByRole('button', { name: 'Enregistrer la fiche' }).click();
    await see(page, 'sa clé de contrôle ne correspond pas');
    assert.equal(await page.getByLabel('IBAN du lieu').getAttribute('aria-invalid'), 'true');
    await screenshots(page, 'site-fiche-refus');
    await page.getByLabel('IBAN du lieu').fill('FR76 3000 6000 0112 3456 7890 189');
    await page.getByLabel('BIC de la banque').fill('COBADEFF');
    await page.getByRole('button', { name: 'Enregistrer la fiche' }).click();
    await see(page, 'Ce BIC est celui d’une banque du pays « DE »');
    assert.equal(await page.getByLabel('BIC de la banque').getAttribute('aria-invalid'), 'true');
    await page.getByLabel('BIC de la banque').fill('agrifrpp');
    await page.getByRole('button', { name: 'Enregistrer la fiche' }).click();
    await see(page, 'Fiche enregistrée');
    await see(page, 'FR76 3000 6000 0112 3456 7890 189');
    await see(page, '03 84 75 12 34');
    await see(page, 'AGRIFRPP');
    await screenshots(page, 'site-fiche');
    // The payout statement names the account, masked.
    await page.getByRole('link', { name: 'Relevés', exact: true }).click();
    const row = page.getByRole('row').filter({ hasText: /paiement/i });
    await row.waitFor();
    const pdf = await saveDownload(page, () => row.getByRole('button', { name: /PDF/ }).click(), 'releve-lieu-iban.pdf');
    assert.match(pdfText(pdf.file), /Virement sur le compte FR76 …0189 \(BIC AGRIFRPP\)/);
    noErrors(page);
  });

  step('the operator downloads the bank batch’s SEPA file, sees the payout unpaid, marks it paid', async () => {
    const page = await pageFor('operator', browser);
    await page.goto(`${server.url}/connexion`);
    await loginUi(page, OPERATOR);
    await page.waitForURL('**/operateur');
    await see(page, /virement à confirmer/);
    await screenshots(page, 'operateur-virements-a-confirmer');
    await page.getByRole('link', { name: 'Voir les virements' }).click();
    await page.waitForURL('**/operateur/remboursements**');
    const section = page.locator('#virements');
    await section.getByText('Remboursement du').first().waitFor();
    const xml = await saveDownload(page, () => section.getByRole('button', { name: 'Télécharger le fichier de virements (SEPA)' }).first().click(), 'virements.xml');
    const text = xml.bytes.toString('utf8');
    assert.match(text, /pain\.001\.001\.03/);
    assert.match(text, /<IBAN>FR7630006000011234567890189<\/IBAN>/);
    assert.match(text, /IDENTIT|Hub numerique/);
    assert.match(await section.getByRole('row').filter({ hasText: 'Médiathèque de Dole' }).innerText(), /à confirmer/);
    const mark = section.locator('details.mark-paid', { hasText: 'Médiathèque de Dole' });
    await mark.getByText(/Marquer payé/).click();
    await mark.getByLabel('Référence de la banque').fill('VIR-E2E-0001');
    await screenshots(page, 'operateur-virements');
    await mark.getByRole('button', { name: 'Enregistrer le virement' }).click();
    await see(page, /payé le .*, référence VIR-E2E-0001/);
    await screenshots(page, 'operateur-virements-payes');
    noErrors(page);
  });

  step('the site reads « payé le …, référence … » on its history and its statements', async () => {
    const page = state.pages.site;
    await page.getByRole('link', { name: 'Historique', exact: true }).click();
    await page.waitForURL('**/site/historique');
    await see(page, /payé le .*, référence VIR-E2E-0001/);
    await screenshots(page, 'site-historique-paye');
    await page.getByRole('link', { name: 'Relevés', exact: true }).click();
    await page.waitForURL('**/site/releves');
    await see(page, /payé le .*, référence VIR-E2E-0001/);
    await screenshots(page, 'site-releves-paye');
    noErrors(page);
  });

  step('the directory pages with "Voir plus" and shows the entry: phone, hours, accessibility', async () => {
    const page = await pageFor('public', browser);
    await page.goto(`${server.url}/lieux`);
    await page.getByLabel('Code postal').fill('39100');
    await page.getByRole('button', { name: 'Chercher' }).click();
    await see(page, 'Lieux labellisés au 39100');
    const cards = page.locator('li.site');
    await cards.first().waitFor();
    assert.equal(await cards.count(), 20);
    await see(page, '20 lieux affichés');
    await page.getByRole('button', { name: 'Voir plus de lieux' }).click();
    await see(page, '23 lieux en tout');
    assert.equal(await cards.count(), 23);
    assert.equal(await page.getByRole('button', { name: 'Voir plus de lieux' }).isVisible(), false);
    const ours = cards.filter({ hasText: 'Médiathèque de Dole' });
    assert.match(await ours.innerText(), /03 84 75 12 34/);
    assert.match(await ours.innerText(), /Samedi 9 h – 12 h/);
    assert.match(await ours.innerText(), /boucle magnétique/);
    assert.ok(!(await page.content()).includes('0189'), 'never the IBAN');
    await ours.scrollIntoViewIfNeeded();
    await screenshots(page, 'lieux-annuaire');
    noErrors(page);
  });
});
