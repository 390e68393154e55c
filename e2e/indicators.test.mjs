// The indicators (issue 14, point 4): every breakdown of people as a chart with its
// table and its CSV, small groups written "moins de 5" with why; the operator
// publishes the program's indicators from its page, which then gives their public
// addresses; anyone reads them on the public page, until they are withdrawn.
//
// Run: cargo build && cd e2e && node --test indicators.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, loginUi, see, OPERATOR } from './harness.mjs';
import { journey, screenshots, noErrors, saveDownload, territory } from './journey.mjs';

const server = new Server('indicators');
let browser;
const { state, step, pageFor, report, timings } = journey(server);

/** The Excel form's lines, without the BOM. */
function excelLines(bytes) {
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a UTF-8 byte-order mark first');
  return bytes.subarray(3).toString('utf8').split('\r\n').filter(Boolean);
}

/** The row of a table (a region named "<title> — le tableau") that holds `label`. */
function rowOf(page, title, label) {
  return page.getByRole('region', { name: `${title} — le tableau` }).getByRole('row').filter({ hasText: label });
}

describe('indicators: breakdowns with small cells hidden, open data published by the operator (headless Chromium)', { concurrency: 1 }, () => {
  before(async () => {
    const started = Date.now();
    await server.start();
    browser = await launchBrowser();
    state.t = await territory(server, { checkbooks: 10 });
    const prescriber = await server.as(state.t.users.prescriberAgent);
    const site = await server.as(state.t.users.siteAgent);
    const year = new Date().getFullYear();
    // Six people on RSA (five without a diploma), each used one ticket; one person
    // with a disability, who used none: a group of one, never shown.
    const people = [
      ...Array.from({ length: 5 }, () => ['rsa', 'sans_diplome']),
      ['rsa'],
      ['handicap'],
    ];
    for (const [i, publics] of people.entries()) {
      const book = await prescriber.post('/checkbooks', {
        program_id: state.t.program.id,
        beneficiary: { reference: `IND-${i}`, birth_year: year - 40, situation: 'job_seeker', postcode: '39100', publics },
      });
      if (!publics.includes('handicap')) {
        await site.post('/redemptions', { code: book.tickets[0].code }, { 'Idempotency-Key': crypto.randomUUID() });
      }
    }
    timings.push(['start server, browser, territory and seven beneficiaries', Date.now() - started]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server.stop();
    report();
  });

  step('the funder sees each breakdown of people as a chart, a table and a CSV; a group of one reads "moins de 5", with why', async () => {
    const page = await pageFor('funder', browser);
    await page.goto(`${server.url}/connexion`);
    await loginUi(page, state.t.users.funderAdmin);
    await page.waitForURL('**/financeur');
    await page.goto(`${server.url}/financeur/dispositifs/${state.t.program.id}`);
    for (const heading of ['Par âge des bénéficiaires', 'Par situation des bénéficiaires', 'Par public prioritaire', 'Par département (code postal des bénéficiaires)', 'Par commune (code postal des bénéficiaires)']) {
      await page.getByRole('region', { name: `${heading} — le tableau` }).waitFor();
      assert.ok(await page.getByRole('button', { name: `Télécharger en CSV : ${heading}` }).isVisible(), `${heading}: its CSV`);
    }
    assert.match(await rowOf(page, 'Par public prioritaire', 'Allocataire du RSA').innerText(), /6[\s\S]*6[\s\S]*60[\s\S]*60,00\s€[\s\S]*10\s?%/);
    assert.match(await rowOf(page, 'Par public prioritaire', 'Sans diplôme').innerText(), /\b5\b/);
    const rare = await rowOf(page, 'Par public prioritaire', 'En situation de handicap').innerText();
    assert.match(rare, /moins de 5/);
    assert.doesNotMatch(rare, /\b1\b/, 'the one person is never counted');
    assert.match(await rowOf(page, 'Par commune (code postal des bénéficiaires)', 'Code postal 39100').innerText(), /\b7\b/);
    await see(page, 'pour que personne ne puisse être reconnu');
    const csv = await saveDownload(page, () => page.getByRole('button', { name: 'Télécharger en CSV : Par public prioritaire' }).click(), 'statistiques-public.csv');
    assert.equal(csv.suggested, 'statistiques-public.csv');
    const lines = excelLines(csv.bytes);
    assert.equal(lines[0], 'public;libelle;chequiers_remis;chequiers_entames;cheques_remis;cheques_utilises;montant_utilise;taux_usage');
    assert.ok(lines.includes('rsa;Allocataire du RSA;6;6;60;6;60,00;0,1000'), lines.join('\n'));
    assert.ok(lines.includes('handicap;En situation de handicap;<5;<5;;;;'), lines.join('\n'));
    await page.getByRole('heading', { name: 'Par public prioritaire' }).scrollIntoViewIfNeeded();
    await screenshots(page, 'financeur-indicateurs');
    noErrors(page);
  });

  step('the operator publishes the indicators from the program page, which gives their public addresses', async () => {
    const page = await pageFor('operator', browser);
    await page.goto(`${server.url}/connexion`);
    await loginUi(page, OPERATOR);
    await page.waitForURL('**/operateur');
    await page.goto(`${server.url}/operateur/dispositifs/${state.t.program.id}`);
    await see(page, 'Indicateurs non publiés');
    await page.getByRole('button', { name: 'Publier les indicateurs' }).click();
    await see(page, 'Indicateurs publiés');
    const api = `${server.url}/api/v1/public/programs/${state.t.program.id}/indicators`;
    for (const href of [`${server.url}/indicateurs/${state.t.program.id}`, api, `${api}?format=csv`]) {
      assert.ok(await page.getByRole('link', { name: href, exact: true }).isVisible(), href);
    }
    await page.getByRole('heading', { name: 'Données ouvertes' }).scrollIntoViewIfNeeded();
    await screenshots(page, 'operateur-donnees-ouvertes');
    noErrors(page);
  });

  step('anyone finds them from the public pages and reads them without an account, with the same secrecy', async () => {
    const page = await pageFor('public', browser);
    await page.goto(`${server.url}/lieux`);
    await page.getByRole('link', { name: 'Indicateurs', exact: true }).click();
    await page.waitForURL('**/indicateurs');
    await see(page, 'Indicateurs du Pass Numérique');
    await screenshots(page, 'indicateurs-liste');
    await page.getByRole('link', { name: state.t.program.name }).click();
    await page.waitForURL(`**/indicateurs/${state.t.program.id}`);
    await see(page, `Indicateurs : ${state.t.program.name}`);
    await page.getByRole('region', { name: 'Par public prioritaire — le tableau' }).waitFor();
    assert.match(await rowOf(page, 'Par public prioritaire', 'En situation de handicap').innerText(), /moins de 5/);
    assert.equal(await page.getByRole('button', { name: /Télécharger en CSV/ }).count(), 0, 'no CSV button without an account');
    const csv = await page.request.get(`${server.url}/api/v1/public/programs/${state.t.program.id}/indicators?format=csv`);
    assert.equal(csv.status(), 200);
    assert.match(await csv.text(), /par_public,handicap,En situation de handicap,chequiers_remis,<5/);
    await screenshots(page, 'indicateurs-publics');
    noErrors(page);
  });

  step('withdrawn, they are gone from the public page', async () => {
    const operator = state.pages.operator;
    await operator.getByRole('button', { name: 'Retirer la publication' }).click();
    await see(operator, 'Indicateurs non publiés');
    const page = state.pages.public;
    await page.reload();
    await see(page, 'Indicateurs non publiés');
    await see(page, 'ne sont pas publics');
    await page.goto(`${server.url}/indicateurs`);
    await see(page, 'Aucun dispositif n’a encore publié ses indicateurs.');
    noErrors(operator);
  });
});
