// The funder's week: its program's money explained in plain words, every breakdown of
// the statistics as a chart with its table and a CSV French Excel opens as it is, and
// its statement, which says the tickets used are covered (nothing to pay) and the fee
// is the only amount due.
//
// Run: cargo build && cd e2e && node --test funders.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Server, launchBrowser, loginUi, see } from './harness.mjs';
import { journey, screenshots, noErrors, saveDownload, pdfText, lastMonth, territory, OPERATOR } from './journey.mjs';

const server = new Server('funders');
let browser;
const { state, step, pageFor, report, timings } = journey(server);

/** The Excel form: BOM, `;`, CRLF only. Returns the lines without the BOM. */
function excelLines(bytes) {
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a UTF-8 byte-order mark first');
  const text = bytes.subarray(3).toString('utf8');
  assert.ok(text.endsWith('\r\n') && !text.replace(/\r\n/g, '').includes('\n'), 'CRLF line ends');
  return text.split('\r\n').filter(Boolean);
}

describe('the funder: money words, statistics with tables and CSV, statements (headless Chromium)', { concurrency: 1 }, () => {
  before(async () => {
    const started = Date.now();
    await server.start();
    browser = await launchBrowser();
    state.t = await territory(server);
    const prescriber = await server.as(state.t.users.prescriberAgent);
    const year = new Date().getFullYear();
    const book = await prescriber.post('/checkbooks', {
      program_id: state.t.program.id,
      beneficiary: { reference: 'FIN-0001', birth_year: year - 30, situation: 'job_seeker', postcode: '39100' },
    });
    const site = await server.as(state.t.users.siteAgent);
    for (const ticket of book.tickets.slice(0, 2)) {
      await site.post('/redemptions', { code: ticket.code }, { 'Idempotency-Key': crypto.randomUUID() });
    }
    // Scans of last month, settled: a statement for the funder.
    const day = lastMonth();
    server.sql(`UPDATE redemptions SET redeemed_at = '${day} 12:00:00 Europe/Paris', scanned_at = '${day} 11:59:00 Europe/Paris'`);
    const end = new Date(Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)), 0)).toISOString().slice(0, 10);
    await state.t.operator.post('/settlements', { period_start: `${day.slice(0, 7)}-01`, period_end: end });
    timings.push(['start server, browser, territory and a settled month', Date.now() - started]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server.stop();
    report();
  });

  step('the program page explains each money word and shows every breakdown as a chart, a table and a CSV for Excel', async () => {
    const page = await pageFor('funder', browser);
    await page.goto(`${server.url}/connexion`);
    await loginUi(page, state.t.users.funderAdmin);
    await page.waitForURL('**/financeur');
    await page.goto(`${server.url}/financeur/dispositifs/${state.t.program.id}`);
    await see(page, 'Argent du dispositif');
    for (const words of [
      'Reçu et pas encore engagé',
      'Ce qui peut encore être émis',
      'suffit à payer tous les chèques en circulation',
      'Détenu : l’argent reçu',
      'Chèques utilisés ÷ chèques remis',
    ]) {
      await see(page, words);
    }
    for (const heading of ['Entonnoir d’usage', 'Chèques utilisés par mois', 'Par prescripteur : chéquiers remis et entamés', 'Par lieu : chèques utilisés', 'Par âge des bénéficiaires', 'Par situation des bénéficiaires', 'Par département (code postal des bénéficiaires)']) {
      await page.getByRole('region', { name: `${heading} — le tableau` }).waitFor();
      assert.ok(await page.getByRole('button', { name: `Télécharger en CSV : ${heading}` }).isVisible(), `${heading}: its CSV`);
    }
    const age = page.getByRole('region', { name: 'Par âge des bénéficiaires — le tableau' });
    assert.match(await age.innerText(), /26 à 44 ans/);
    const csv = await saveDownload(page, () => page.getByRole('button', { name: 'Télécharger en CSV : Chèques utilisés par mois' }).click(), 'statistiques-mois.csv');
    assert.equal(csv.suggested, 'statistiques-month.csv');
    const lines = excelLines(csv.bytes);
    assert.equal(lines[0], 'mois;cheques_utilises;montant_utilise;cheques_rembourses;montant_rembourse');
    assert.match(lines[1], /^\d{4}-\d{2};2;20,00;2;20,00$/);
    await screenshots(page, 'financeur-statistiques');
    noErrors(page);
  });

  step('the funder’s statement says the tickets used are covered, nothing to pay; its CSV opens in Excel', async () => {
    const page = state.pages.funder;
    await page.getByRole('link', { name: 'Relevés' }).click();
    await page.waitForURL('**/financeur/releves');
    await see(page, 'il n’y a rien à payer pour eux');
    const row = page.getByRole('row').filter({ hasText: 'Relevé d’utilisation (financeur)' });
    await row.waitFor();
    const number = (await row.locator('.mono').textContent()).trim();
    const csv = await saveDownload(page, () => row.getByRole('button', { name: /CSV/ }).click(), 'releve-financeur.csv');
    const lines = excelLines(csv.bytes);
    assert.match(lines[1], /;…[0-9A-Z]-[0-9A-Z]{3};/, 'the end of the serial as printed');
    assert.match(lines[1], /T12:00:00\+0[12]:00;10,00;1,0000;10,00$/, 'Paris time with its offset, decimal commas');
    const pdf = await saveDownload(page, () => row.getByRole('button', { name: /PDF/ }).click(), 'releve-financeur.pdf');
    const text = pdfText(pdf.file).split(/\s+/).join(' ');
    assert.match(text, new RegExp(number));
    assert.ok(text.includes('Relevé d’utilisation'), text);
    assert.ok(text.includes('Rien à payer'), text);
    assert.ok(text.includes('couverts par vos versements'), text);
    assert.ok(!text.includes('Facture') && !text.includes('Total à payer'), text);
    await screenshots(page, 'financeur-releves-utilisation');
    noErrors(page);
  });

  step('the funder’s bill downloads as a Factur-X invoice: a PDF/A-3 with its factur-x.xml', async () => {
    const page = state.pages.funder;
    const row = page.getByRole('row').filter({ hasText: 'Relevé d’utilisation (financeur)' });
    const button = row.getByRole('button', { name: /Factur-X/ });
    await button.waitFor();
    await see(page, 'la facture électronique (EN 16931)');
    const pdf = await saveDownload(page, () => button.click(), 'facture-financeur.pdf');
    const raw = pdf.bytes.toString('latin1');
    assert.ok(raw.includes('factur-x.xml') && raw.includes('/AFRelationship /Data'), 'factur-x.xml attached as Data');
    assert.ok(raw.includes('<pdfaid:part>3</pdfaid:part>') || raw.includes('pdfaid:part="3"'), 'PDF/A-3');
    assert.ok(raw.includes('<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>'), 'Factur-X XMP');
    // Read back by the factur-x package (scripts/install-validators), not by our code.
    execFileSync('../scripts/install-validators', { stdio: 'inherit' });
    const found = JSON.parse(execFileSync('../target/validators/bin/python',
      ['../tests/api/facturx_check.py', pdf.file], { encoding: 'utf8' }));
    assert.equal(found.level, 'en16931');
    assert.equal(found.type_code, '380');
    assert.ok(pdfText(pdf.file).includes(found.number), 'the PDF prints the invoice number of its XML');
    await screenshots(page, 'financeur-releves-facturx');
    noErrors(page);
  });

  step('the operator downloads the year’s FEC from « Comptabilité »', async () => {
    const page = await pageFor('operator', browser);
    await page.goto(`${server.url}/connexion`);
    await loginUi(page, OPERATOR);
    await page.waitForURL('**/operateur');
    // The dashboard drawn in full first: a page still loading when one leaves it
    // would append its late parts under the next one (the router's known race).
    await see(page, 'Couverture des dispositifs');
    await page.waitForLoadState('networkidle');
    await page.getByRole('link', { name: 'Comptabilité' }).click();
    await page.waitForURL('**/operateur/comptabilite');
    await see(page, 'Fichier des écritures comptables (FEC)');
    const year = await page.locator('#fec-year').inputValue();
    const fec = await saveDownload(page, () => page.getByRole('button', { name: 'Télécharger le FEC' }).click(), 'fec.txt');
    assert.match(fec.suggested, new RegExp(`^[0-9]{9}FEC${year}1231\\.txt$`));
    const lines = fec.bytes.toString('utf8').split('\r\n').filter(Boolean);
    assert.equal(lines[0].split('\t').length, 18);
    assert.equal(lines[0].split('\t')[0], 'JournalCode');
    assert.ok(lines.length > 1, 'postings of the year');
    await see(page, `FEC ${year} téléchargé.`);
    // The balance names each account's place in the plan comptable général.
    await see(page, '512100 Banque – fonds des financeurs disponibles');
    assert.equal(await page.getByText('Tableau de bord').count(), 0, 'the dashboard is gone');
    await screenshots(page, 'operateur-comptabilite');
    noErrors(page);
  });
});
