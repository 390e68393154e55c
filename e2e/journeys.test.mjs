// The web app's journeys, end to end in headless Chromium against the real server and
// database: an operator sets up a program, a prescriber issues and prints a
// checkbook, a site scans a ticket with a (fake) camera and types another's serial, a
// second scan is refused, an offline scan syncs later, a scan is undone, a funder
// downloads a statement, an expired session goes back to login and then back to the
// page. Screenshots of the main pages at phone and desktop width go to
// docs/screenshots/.
//
// Run: scripts/test-web (or scripts/test, after cargo test).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Server, launchBrowser, newPage, loginUi, see, OPERATOR, PASSWORD, ARTIFACTS } from './harness.mjs';
import { journey, screenshots, noErrors, saveDownload, pdfText, lastMonth } from './journey.mjs';
import { decodePng, frameOf, writeY4m, rgbaOf } from './qrvideo.mjs';

const FUNDER_EMAIL = 'financeur@e2e.example.org';
const PRESCRIBER_EMAIL = 'prescriptrice@e2e.example.org';
const SITE_EMAIL = 'mediateur@e2e.example.org';
const COLLEAGUE_EMAIL = 'collegue.financeur@e2e.example.org';
const NAMES = {
  funder: 'Département du Jura (essai)',
  prescriber: 'CCAS de Dole (essai)',
  site: 'Médiathèque de Dole (essai)',
  program: 'Pass Numérique Jura 2026 (essai)',
};

const server = new Server();
let browser;
let cameraBrowser;
const { state, step, pageFor: pageIn, report, timings } = journey(server);

const pageFor = (label, b = browser) => pageIn(label, b);

describe('web app journeys (headless Chromium)', { concurrency: 1 }, () => {
  before(async () => {
    const started = Date.now();
    await server.start();
    browser = await launchBrowser();
    timings.push(['start server and browser', Date.now() - started]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await cameraBrowser?.close().catch(() => {});
    await server.stop();
    report();
  });

  step('the public directory and the login page work without an account', async () => {
    const page = await pageFor('public');
    await page.goto('/');
    await page.waitForURL('**/connexion');
    await see(page, 'Se connecter');
    await screenshots(page, 'connexion');
    await page.getByRole('link', { name: 'Trouver un lieu', exact: true }).click();
    await page.waitForURL('**/lieux');
    await page.getByLabel('Code postal').fill('12');
    await page.getByRole('button', { name: 'Chercher' }).click();
    await see(page, 'Aucun lieu labellisé');
    // With the keyboard only: the page's title has the focus, Tab goes to the fields,
    // Enter submits; a wrong login says so in plain French.
    await page.goto('/connexion');
    await page.waitForFunction(() => document.activeElement?.tagName === 'H1');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Se connecter');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.name), 'email');
    await page.keyboard.type(OPERATOR);
    await page.keyboard.press('Tab');
    await page.keyboard.type('not-the-password');
    await page.keyboard.press('Enter');
    await see(page, 'E-mail ou mot de passe incorrect.');
    noErrors(page);
  });

  step('operator sets up organisations, a label, a program, a payment and an allocation', async () => {
    const page = await pageFor('operator');
    await page.goto('/operateur');
    await page.waitForURL('**/connexion?retour=%2Foperateur');
    await loginUi(page, OPERATOR);
    await page.waitForURL('**/operateur');
    await see(page, 'Tableau de bord');

    const createOrg = async (kind, name, extra = {}) => {
      await page.getByRole('link', { name: 'Organisations', exact: true }).click();
      await page.waitForURL('**/operateur/organisations');
      await page.getByText('Créer une organisation').click();
      await page.getByLabel('Type', { exact: true }).selectOption(kind);
      await page.getByLabel('Nom', { exact: true }).fill(name);
      await page.getByLabel('E-mail de contact').fill(`contact.${kind}@e2e.example.org`);
      await page.getByLabel('Code postal').fill(extra.postcode || '39000');
      await page.getByLabel('Ville').fill(extra.city || 'Lons-le-Saunier');
      if (extra.address) await page.getByLabel('Adresse').fill(extra.address);
      if (extra.latitude) {
        await page.getByLabel('Latitude').fill(extra.latitude);
        await page.getByLabel('Longitude').fill(extra.longitude);
      }
      await page.getByRole('button', { name: 'Créer l’organisation' }).click();
      await page.getByRole('heading', { level: 1, name }).waitFor();
      return page.url().split('/').pop();
    };

    // A mistake first: the API's refusal is shown on the field, in French.
    await page.getByRole('link', { name: 'Organisations', exact: true }).click();
    await page.getByText('Créer une organisation').click();
    await page.getByLabel('Nom', { exact: true }).fill('Sans e-mail valable');
    await page.getByLabel('E-mail de contact').fill('pas-une-adresse');
    await page.getByLabel('Code postal').fill('39000');
    await page.getByLabel('Ville').fill('Lons');
    await page.getByRole('button', { name: 'Créer l’organisation' }).click();
    await page.locator('[aria-invalid="true"][name="email"]').waitFor();
    await page.locator('.form-error').waitFor();

    state.funderId = await createOrg('funder', NAMES.funder);
    state.prescriberId = await createOrg('prescriber', NAMES.prescriber, { postcode: '39100', city: 'Dole' });
    state.siteId = await createOrg('site', NAMES.site, { postcode: '39100', city: 'Dole', address: '2 rue Sombardier', latitude: '47.0925', longitude: '5.4902' });

    // The site's label, then its agent invited by e-mail.
    await see(page, 'Sans label');
    await page.getByRole('button', { name: 'Attribuer le label' }).click();
    await see(page, 'Label actif');
    await page.getByLabel('E-mail', { exact: true }).fill(SITE_EMAIL);
    await page.getByRole('button', { name: 'Envoyer l’invitation' }).click();
    await page.locator('#team-list li').filter({ hasText: SITE_EMAIL }).waitFor();
    await see(page, 'Invité');
    await screenshots(page, 'operateur-organisation');

    // The program, co-funded by one funder (100 %).
    await page.getByRole('link', { name: 'Dispositifs', exact: true }).click();
    await page.waitForURL('**/operateur/dispositifs');
    await page.getByText('Ouvrir un dispositif').click();
    await page.getByLabel('Nom du dispositif').fill(NAMES.program);
    await page.getByLabel('Budget (€)').fill('1 000');
    await page.getByLabel('Financeur 1').selectOption({ label: NAMES.funder });
    await page.getByLabel('Territoire').fill('39');
    await page.getByRole('button', { name: 'Ouvrir le dispositif' }).click();
    await page.getByRole('heading', { level: 1, name: NAMES.program }).waitFor();
    state.programId = page.url().split('/').pop();

    // Money received, then checkbooks allocated to the prescriber.
    await page.getByLabel('Montant reçu (€)').fill('1000');
    await page.getByLabel('Référence du virement').fill('VIR-JURA-0001');
    await page.getByRole('button', { name: 'Enregistrer le versement' }).click();
    await see(page, 'Versement enregistré');
    await page.getByLabel('Nombre de chéquiers').fill('5');
    await page.getByRole('button', { name: 'Allouer' }).click();
    await see(page, 'Dotation enregistrée');
    await page.getByRole('row').filter({ hasText: NAMES.prescriber }).waitFor();
    await see(page, /1\s000,00\s€/);

    const api = await server.as(OPERATOR);
    const program = await api.get(`/programs/${state.programId}`);
    assert.equal(program.funding.received, '1000.00');
    assert.equal(program.territory_postcodes.join(), '39');
    const list = await api.get('/programs');
    assert.equal(list.items[0].allocations[0].remaining_checkbooks, 5);
    await screenshots(page, 'operateur-dispositif');

    // Set-up outside the journey: the funder's and the prescriber's accounts.
    await api.post(`/organizations/${state.funderId}/users`, { email: FUNDER_EMAIL, password: PASSWORD, role: 'admin' });
    await api.post(`/organizations/${state.prescriberId}/users`, { email: PRESCRIBER_EMAIL, password: PASSWORD, role: 'agent' });
    state.operatorApi = api;
    noErrors(page);
  });

  step('prescriber issues a checkbook, opens its PDF, e-mails it, hands out a stock one and cancels it', async () => {
    const page = await pageFor('prescriber');
    await page.goto('/prescripteur');
    await loginUi(page, PRESCRIBER_EMAIL);
    await page.waitForURL('**/prescripteur');
    await see(page, 'chéquier(s) restant(s) sur 5 alloué(s)');
    await screenshots(page, 'prescripteur-accueil');

    await page.getByRole('link', { name: 'Émettre un chéquier' }).click();
    await page.waitForURL('**/prescripteur/emettre');
    await page.getByLabel('Référence du bénéficiaire').fill('DOSSIER-2026-0042');
    await page.getByLabel('Année de naissance').fill('1957');
    await page.getByLabel('Code postal').fill('39100');
    await page.getByLabel('Situation (facultatif)').selectOption('retired');
    await screenshots(page, 'prescripteur-emettre');
    await page.getByRole('button', { name: 'Émettre et remettre le chéquier' }).click();
    await page.waitForURL(/\/prescripteur\/chequiers\/[0-9a-f-]{36}$/);
    state.checkbookId = page.url().split('/').pop();
    await see(page, 'Remis au bénéficiaire');
    const number = (await page.getByRole('heading', { level: 1 }).textContent()).replace('Chéquier ', '').trim();

    const pdf = await saveDownload(page, () => page.getByRole('button', { name: 'Télécharger le PDF' }).click(), 'chequier.pdf');
    assert.equal(pdf.bytes.subarray(0, 5).toString(), '%PDF-');
    assert.equal(pdf.suggested, `chequier-${number}.pdf`);
    assert.match(pdfText(pdf.file), new RegExp(number));

    await page.getByLabel('Adresse e-mail').fill('beneficiaire@e2e.example.org');
    await page.getByRole('button', { name: 'Envoyer le chéquier' }).click();
    await see(page, 'Le chéquier part par e-mail à beneficiaire@e2e.example.org');
    await screenshots(page, 'prescripteur-chequier');

    // A stock checkbook printed in advance, handed out later, then declared lost.
    await page.getByRole('link', { name: 'Émettre', exact: true }).click();
    await page.getByText('Préparer des chéquiers en stock').click();
    const stockForm = page.locator('details').filter({ hasText: 'Préparer des chéquiers en stock' });
    await stockForm.getByLabel('Nombre de chéquiers').fill('1');
    const run = await saveDownload(page, () => stockForm.getByRole('button', { name: 'Préparer les chéquiers en stock' }).click(), 'stock.pdf');
    assert.equal(run.bytes.subarray(0, 5).toString(), '%PDF-');
    await page.waitForURL('**/prescripteur');
    await page.getByRole('row').filter({ hasText: 'En stock' }).getByRole('link').click();
    await see(page, 'Remettre ce chéquier à un bénéficiaire');
    state.stockId = page.url().split('/').pop();
    await page.getByLabel('Référence du bénéficiaire').fill('DOSSIER-2026-0043');
    await page.getByRole('button', { name: 'Remettre le chéquier' }).click();
    await see(page, 'Remis au bénéficiaire');
    await page.getByText('Chéquier perdu ou volé ?').click();
    await page.getByLabel('Motif').fill('perdu dans le bus');
    await page.getByRole('button', { name: 'Annuler ce chéquier' }).click();
    await page.getByText('Chéquier annulé', { exact: true }).first().waitFor();

    // Where to send the beneficiary.
    await page.getByRole('link', { name: 'Lieux proches' }).click();
    await page.getByLabel('Code postal').fill('39100');
    await page.getByRole('button', { name: 'Chercher' }).click();
    await see(page, NAMES.site);
    await screenshots(page, 'prescripteur-lieux');

    const api = await server.as(PRESCRIBER_EMAIL);
    state.book = await api.get(`/checkbooks/${state.checkbookId}`);
    state.stock = await api.get(`/checkbooks/${state.stockId}`);
    assert.equal(state.book.beneficiary.reference, 'DOSSIER-2026-0042');
    assert.equal(state.stock.status, 'cancelled');
    const qr = await api.get(`/tickets/${state.book.tickets[0].id}/qr.png`);
    // The fake camera: a video of the first ticket's QR code, checked with jsQR first.
    const frame = frameOf(decodePng(qr));
    const { default: jsQR } = await import('../web/app/vendor/jsqr.js');
    assert.equal(jsQR(rgbaOf(frame), frame.width, frame.height)?.data, state.book.tickets[0].code);
    state.video = path.join(ARTIFACTS, 'ticket-qr.y4m');
    writeY4m(state.video, frame);
    noErrors(page);
  });

  step('site agent accepts the invitation, scans with the camera, a second scan is refused, types a serial and undoes it', async () => {
    cameraBrowser = await launchBrowser({ video: state.video });
    const page = await pageFor('site', cameraBrowser);
    const link = await server.invitationLink(SITE_EMAIL);
    await page.goto(link.replace(/^https?:\/\/[^/]+/, ''));
    await page.getByLabel('Mot de passe', { exact: true }).fill('mon-nouveau-mot-de-passe');
    await page.getByLabel('Le même mot de passe, encore une fois').fill('mon-nouveau-mot-de-passe');
    await screenshots(page, 'invitation');
    await page.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
    await see(page, 'Votre mot de passe est enregistré');
    await page.getByRole('link', { name: 'Se connecter' }).last().click();
    await page.getByLabel('Mot de passe').fill('mon-nouveau-mot-de-passe');
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await page.waitForURL('**/site');
    await see(page, 'Aucun scan aujourd’hui');

    const [t0, t1, t2] = state.book.tickets;
    const result = page.locator('#scan-result');
    await page.getByRole('button', { name: 'Scanner avec la caméra' }).click();
    await result.and(page.locator('[data-outcome="redeemed"]')).waitFor({ timeout: 60000 });
    assert.match(await result.textContent(), /Chèque accepté : 10,00\s€/);
    assert.match(await result.textContent(), new RegExp(t0.serial));
    await screenshots(page, 'site-accepte');

    // The same ticket again (the camera still shows it): refused, with when.
    await page.getByRole('button', { name: 'Scanner le chèque suivant' }).click();
    await result.and(page.locator('[data-outcome="already_redeemed"]')).waitFor({ timeout: 60000 });
    assert.match(await result.textContent(), /déjà encaissé/i);
    assert.match(await result.textContent(), /par votre lieu le \d{2}\/\d{2}\/\d{4} à \d{2}:\d{2}/);
    await screenshots(page, 'site-refuse');
    await page.getByRole('button', { name: 'Fermer la caméra' }).click();

    // Typed by hand, then undone within the grace period.
    await page.getByLabel('Numéro du chèque').fill(t1.serial.toLowerCase());
    await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
    await result.and(page.locator('[data-outcome="redeemed"]')).waitFor();
    assert.match(await result.textContent(), new RegExp(t1.serial));
    await page.getByRole('button', { name: 'Annuler ce scan (erreur)' }).click();
    await result.and(page.locator('[data-outcome="reversed"]')).waitFor();
    const api = await server.as(SITE_EMAIL, 'mon-nouveau-mot-de-passe');
    assert.equal((await api.post('/tickets/verify', { serial: t1.serial })).status, 'issued');
    assert.equal((await api.post('/tickets/verify', { serial: t0.serial })).status, 'redeemed');

    // Refusals in plain words: a cancelled ticket, a mistyped serial.
    await page.getByLabel('Numéro du chèque').fill(state.stock.tickets[0].serial);
    await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
    await result.and(page.locator('[data-outcome="ticket_cancelled"]')).waitFor();
    assert.match(await result.textContent(), /chèque annulé/);
    const typo = `${t2.serial.slice(0, -1)}${t2.serial.endsWith('A') ? 'B' : 'A'}`;
    await page.getByLabel('Numéro du chèque').fill(typo);
    await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
    await result.and(page.locator('[data-outcome="invalid_code"]')).waitFor();
    assert.match(await result.textContent(), /ce n’est pas un chèque valide/);

    await page.getByRole('row').filter({ hasText: t0.serial }).waitFor();
    state.siteApi = api;
    noErrors(page);
  });

  step('an offline scan is queued on the device, said so, kept across a reload, and synced when the connection returns', async () => {
    const page = state.pages.site;
    const t2 = state.book.tickets[2];
    // The service worker keeps the app's files, so that the page opens again offline.
    await page.waitForFunction(() => navigator.serviceWorker?.controller);
    await page.context().setOffline(true);
    await see(page, 'Hors connexion.');
    await page.getByLabel('Numéro du chèque').fill(t2.serial);
    await page.getByLabel('Numéro du chèque').press('Enter');
    await page.locator('#scan-result[data-outcome="queued"]').waitFor();
    await see(page, 'Pas de connexion : scan gardé sur l’appareil');
    await see(page, '1 scan en attente d’envoi');
    const [queued] = await page.evaluate(() => Object.entries(localStorage)
      .filter(([k]) => k.startsWith('passnum.scans.'))
      .flatMap(([, v]) => JSON.parse(v)));
    assert.equal(queued.serial, t2.serial);
    assert.match(queued.idempotency_key, /^[0-9a-f-]{36}$/);
    await screenshots(page, 'site-hors-connexion');
    assert.equal((await state.siteApi.post('/tickets/verify', { serial: t2.serial })).status, 'issued');
    // A phone may reload the tab while offline: the page opens, the scan still waits.
    await page.reload();
    await see(page, '1 scan en attente d’envoi');
    await see(page, 'Hors connexion.');

    await page.waitForTimeout(1500);
    await page.context().setOffline(false);
    await page.locator('#scan-synced li.ok').filter({ hasText: t2.serial }).waitFor({ timeout: 60000 });
    await see(page, 'Scans envoyés au retour du réseau');
    await page.locator('#scan-queue').waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => Object.entries(localStorage).filter(([k]) => k.startsWith('passnum.scans.')).flatMap(([, v]) => JSON.parse(v)).length), 0);
    const today = await state.siteApi.get('/redemptions?limit=200');
    const synced = today.items.find((r) => r.ticket.serial === t2.serial && r.status === 'redeemed');
    assert.ok(synced, 'the server has the offline scan');
    assert.equal(new Date(synced.scanned_at).getTime(), new Date(queued.scanned_at).getTime(), 'scanned_at is the time on the device');
    assert.ok(new Date(synced.redeemed_at) > new Date(synced.scanned_at));
    noErrors(page);
  });

  step('a suspended label is refused at the scan, in plain words, until reinstated', async () => {
    const op = state.pages.operator;
    await op.goto(`/operateur/organisations/${state.siteId}`);
    await op.getByRole('button', { name: 'Suspendre le label' }).click();
    await see(op, 'Label suspendu');
    const page = state.pages.site;
    await page.getByLabel('Numéro du chèque').fill(state.book.tickets[3].serial);
    await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
    await page.locator('#scan-result[data-outcome="label_inactive"]').waitFor();
    await see(page, 'Refusé : label suspendu');
    await op.getByRole('button', { name: 'Rétablir le label' }).click();
    await see(op, 'Label actif');
    noErrors(op);
  });

  step('operator settles last month; the funder sees the funnel and downloads its statement (CSV, PDF)', async () => {
    // Set-up: the scans are moved to last month, a period that is over.
    const day = lastMonth();
    server.sql(`UPDATE redemptions SET redeemed_at = '${day} 12:00:00 Europe/Paris', scanned_at = '${day} 11:59:00 Europe/Paris' WHERE status = 'redeemed'`);
    const op = state.pages.operator;
    await op.getByRole('link', { name: 'Remboursements' }).click();
    await op.waitForURL('**/operateur/remboursements');
    await op.getByRole('button', { name: 'Rembourser la période' }).click();
    await see(op, 'relevé(s) établi(s)');
    await see(op, 'Relevé d’utilisation (financeur)');
    await screenshots(op, 'operateur-remboursements');
    await op.getByRole('button', { name: 'Rembourser la période' }).click();
    await op.locator('.form-error').filter({ hasText: /déjà/ }).waitFor();

    const page = await pageFor('funder');
    await page.goto('/financeur');
    await loginUi(page, FUNDER_EMAIL);
    await page.waitForURL('**/financeur');
    await see(page, 'Entonnoir d’usage');
    await see(page, 'Chéquiers entamés');
    await page.locator('svg.bar').first().waitFor();
    await screenshots(page, 'financeur-dispositifs');
    await page.getByRole('link', { name: NAMES.program }).first().click();
    await see(page, 'Par lieu : chèques utilisés');
    await see(page, 'Chèques utilisés par mois');
    await screenshots(page, 'financeur-dispositif');

    await page.getByRole('link', { name: 'Relevés' }).click();
    await page.waitForURL('**/financeur/releves');
    const row = page.getByRole('row').filter({ hasText: 'Relevé d’utilisation (financeur)' });
    await row.waitFor();
    await screenshots(page, 'financeur-releves');
    const number = (await row.locator('.mono').textContent()).trim();
    const csv = await saveDownload(page, () => row.getByRole('button', { name: /CSV/ }).click(), 'releve.csv');
    assert.equal(csv.suggested, `${number}.csv`);
    const text = csv.bytes.toString('utf8');
    assert.match(text.split('\n')[0], /;/);
    // A funder sees a ticket by its serial's last four characters (as printed, dash kept), never the whole serial.
    const rawSerial = state.book.tickets[0].serial.replace(/-/g, '');
    assert.ok(text.includes(`;…${rawSerial.slice(-4, -3)}-${rawSerial.slice(-3)};`), 'the CSV lists the scanned ticket by its hint');
    assert.ok(!text.includes(rawSerial), 'the CSV never carries a full serial');
    const pdf = await saveDownload(page, () => row.getByRole('button', { name: /PDF/ }).click(), 'releve.pdf');
    assert.equal(pdf.bytes.subarray(0, 5).toString(), '%PDF-');
    assert.match(pdfText(pdf.file), new RegExp(number));
    noErrors(page);
  });

  step('a refused token is renewed once, silently, even for several requests at once; a session the server ended goes to the login page, then back', async () => {
    // The operator's dashboard asks four things at once: all four get 401, one refresh
    // serves them all (a refresh token works once), and the page shows.
    const op = state.pages.operator;
    const refreshes = [];
    const count = (req) => { if (new URL(req.url()).pathname === '/api/v1/auth/refresh') refreshes.push(req.url()); };
    op.on('request', count);
    await op.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('passnum.session'));
      s.token = 'eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.refused';
      sessionStorage.setItem('passnum.session', JSON.stringify(s));
    });
    await op.getByRole('link', { name: 'Accueil', exact: true }).click();
    await see(op, 'Couverture des dispositifs');
    assert.equal(new URL(op.url()).pathname, '/operateur');
    assert.equal(refreshes.length, 1, 'one refresh for the four refused requests');
    op.off('request', count);
    // A tab opened from this one gets a copy of the session: it keeps the access token
    // but not the refresh token, which only the first tab presents (twice, the server
    // would end the session).
    const [copy] = await Promise.all([op.waitForEvent('popup'), op.evaluate(() => { window.open('/operateur/dispositifs'); })]);
    await see(copy, NAMES.program);
    assert.equal(await copy.evaluate(() => JSON.parse(sessionStorage.getItem('passnum.session')).refresh_token ?? null), null);
    assert.ok(await op.evaluate(() => JSON.parse(sessionStorage.getItem('passnum.session')).refresh_token));
    await copy.close();
    noErrors(op);

    // A token past its lifetime on the device: renewed before the request, no login.
    const page = state.pages.funder;
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('passnum.session'));
      s.expires_at = Date.now() - 1000;
      sessionStorage.setItem('passnum.session', JSON.stringify(s));
    });
    await page.reload();
    await page.getByRole('row').filter({ hasText: 'Relevé d’utilisation (financeur)' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/financeur/releves');

    // The session ended on the server (its refresh token used elsewhere, a logout on
    // another device…): the refresh answers 401, the page goes to login and comes back.
    const refreshToken = await page.evaluate(() => JSON.parse(sessionStorage.getItem('passnum.session')).refresh_token);
    const res = await fetch(`${server.url}/api/v1/auth/logout`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: refreshToken }) });
    assert.equal(res.status, 204);
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('passnum.session'));
      s.token = 'eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.expired';
      sessionStorage.setItem('passnum.session', JSON.stringify(s));
    });
    await page.getByRole('link', { name: 'Dispositifs', exact: true }).click();
    await page.waitForURL('**/connexion?retour=%2Ffinanceur&expiree=1');
    await see(page, 'Votre session a expiré');
    await loginUi(page, FUNDER_EMAIL);
    await page.waitForURL((url) => url.pathname === '/financeur');
    await see(page, 'Entonnoir d’usage');
    noErrors(page);
  });

  step('an admin invites a colleague, who logs in; deactivated, the colleague is turned away; the last admin cannot step down', async () => {
    const admin = state.pages.funder;
    await admin.getByRole('link', { name: 'Équipe', exact: true }).click();
    await admin.waitForURL('**/equipe');
    await admin.getByLabel('E-mail', { exact: true }).fill(COLLEAGUE_EMAIL);
    await admin.getByLabel('Rôle').selectOption('agent');
    await admin.getByRole('button', { name: 'Envoyer l’invitation' }).click();
    await see(admin, `Invitation envoyée à ${COLLEAGUE_EMAIL}`);
    const row = admin.locator('#team-list li').filter({ hasText: COLLEAGUE_EMAIL });
    await row.getByText('Invité').waitFor();
    await row.getByText('Dernière connexion : jamais').waitFor();

    // The colleague chooses a password from the mail and logs in.
    const colleague = await pageFor('colleague');
    const link = await server.invitationLink(COLLEAGUE_EMAIL);
    await colleague.goto(link.replace(/^https?:\/\/[^/]+/, ''));
    await colleague.getByLabel('Mot de passe', { exact: true }).fill('mot-de-passe-du-collegue');
    await colleague.getByLabel('Le même mot de passe, encore une fois').fill('mot-de-passe-du-collegue');
    await colleague.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
    await see(colleague, 'Votre mot de passe est enregistré');
    await colleague.getByRole('link', { name: 'Se connecter' }).last().click();
    await colleague.getByLabel('Mot de passe').fill('mot-de-passe-du-collegue');
    await colleague.getByRole('button', { name: 'Se connecter' }).click();
    await colleague.waitForURL('**/financeur');
    await see(colleague, 'Entonnoir d’usage');
    // An agent has no "Équipe" in the navigation.
    assert.equal(await colleague.getByRole('link', { name: 'Équipe', exact: true }).count(), 0);

    // Its last login shows on the team page, in Paris time; then it is deactivated.
    await admin.reload();
    await row.getByText('Actif').waitFor();
    await row.getByText(/\d{2}\/\d{2}\/\d{4} à \d{2}:\d{2}/).waitFor();
    await row.getByRole('button', { name: /^Désactiver/ }).click();
    await row.getByText('Désactivé').waitFor();
    await see(admin, 'ne peut plus se connecter');
    await screenshots(admin, 'equipe');

    // The colleague's open page is sent to login (its tokens answer 401 within 5 s),
    // and its password no longer opens a session.
    await colleague.waitForTimeout(5500);
    await colleague.getByRole('link', { name: 'Relevés', exact: true }).click();
    await colleague.waitForURL('**/connexion?retour=%2Ffinanceur%2Freleves&expiree=1');
    await loginUi(colleague, COLLEAGUE_EMAIL, 'mot-de-passe-du-collegue');
    await see(colleague, 'E-mail ou mot de passe incorrect.');

    // The only admin cannot step down: the API's last_admin, in plain French.
    const me = admin.locator('#team-list li').filter({ hasText: FUNDER_EMAIL });
    await me.getByRole('button', { name: /^Ne plus être administrateur/ }).click();
    await see(admin, 'l’organisation doit toujours garder un administrateur actif');

    // Reactivated, the colleague may log in again.
    await row.getByRole('button', { name: /^Réactiver/ }).click();
    await row.getByText('Actif').waitFor();
    await server.as(COLLEAGUE_EMAIL, 'mot-de-passe-du-collegue');
    noErrors(admin);
    noErrors(colleague);
  });

  step('a forgotten password: a link by e-mail, a new password, then the login page', async () => {
    const page = state.pages.colleague;
    await page.goto('/connexion');
    await page.getByRole('link', { name: 'Mot de passe oublié ?' }).click();
    await page.waitForURL('**/mot-de-passe-oublie');
    await page.getByLabel('Adresse e-mail').fill(COLLEAGUE_EMAIL);
    await page.getByRole('button', { name: 'Recevoir un lien par e-mail' }).click();
    await see(page, `Si l’adresse ${COLLEAGUE_EMAIL} correspond à un compte`);
    await screenshots(page, 'mot-de-passe-oublie');
    // An unknown address gets the same answer (the API never tells).
    const unknown = await fetch(`${server.url}/api/v1/auth/password-reset`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'personne@e2e.example.org' }) });
    assert.equal(unknown.status, 202);

    const link = await server.resetLink(COLLEAGUE_EMAIL);
    const local = link.replace(/^https?:\/\/[^/]+/, '');
    await page.goto(local);
    await page.getByLabel('Nouveau mot de passe').fill('un-tout-nouveau-mot-de-passe');
    await page.getByLabel('Le même mot de passe, encore une fois').fill('un-tout-nouveau-mot-de-passe');
    await screenshots(page, 'mot-de-passe');
    await page.getByLabel('Le même mot de passe, encore une fois').fill('pas-le-meme-mot-de-passe');
    await page.getByRole('button', { name: 'Enregistrer le nouveau mot de passe' }).click();
    await see(page, 'Les deux mots de passe ne sont pas identiques.');
    await page.getByLabel('Le même mot de passe, encore une fois').fill('un-tout-nouveau-mot-de-passe');
    await page.getByRole('button', { name: 'Enregistrer le nouveau mot de passe' }).click();
    await page.waitForURL('**/connexion?motdepasse=1');
    await see(page, 'Votre nouveau mot de passe est enregistré');
    await loginUi(page, COLLEAGUE_EMAIL, 'un-tout-nouveau-mot-de-passe');
    await page.waitForURL('**/financeur');

    // The link works once.
    const again = await pageFor('reset-again');
    await again.goto(local);
    await again.getByLabel('Nouveau mot de passe').fill('encore-un-autre-mot-de-passe');
    await again.getByLabel('Le même mot de passe, encore une fois').fill('encore-un-autre-mot-de-passe');
    await again.getByRole('button', { name: 'Enregistrer le nouveau mot de passe' }).click();
    await see(again, 'Ce lien n’est plus valable');
    await again.context().close();
    delete state.pages['reset-again'];
    noErrors(page);
  });

  step('a logged-in person changes the password; the wrong current one is said on its field', async () => {
    const page = state.pages.colleague;
    await page.getByRole('link', { name: 'Mot de passe', exact: true }).click();
    await page.waitForURL('**/changer-mot-de-passe');
    await page.getByLabel('Mot de passe actuel').fill('pas-le-bon-mot-de-passe');
    await page.getByLabel('Nouveau mot de passe').fill('mot-de-passe-change-en-ligne');
    await page.getByLabel('Le même mot de passe, encore une fois').fill('mot-de-passe-change-en-ligne');
    await page.getByRole('button', { name: 'Changer mon mot de passe' }).click();
    await page.locator('[aria-invalid="true"][name="current_password"]').waitFor();
    await see(page, 'Le mot de passe actuel n’est pas le bon.');
    assert.equal(new URL(page.url()).pathname, '/changer-mot-de-passe', 'a wrong password is not an expired session');
    await page.getByLabel('Mot de passe actuel').fill('un-tout-nouveau-mot-de-passe');
    await screenshots(page, 'changer-mot-de-passe');
    await page.getByRole('button', { name: 'Changer mon mot de passe' }).click();
    await see(page, 'Votre mot de passe est changé');
    await server.as(COLLEAGUE_EMAIL, 'mot-de-passe-change-en-ligne');
    // This session goes on; "Se déconnecter" ends it on the server too.
    await page.getByRole('link', { name: 'Relevés', exact: true }).click();
    await page.waitForURL('**/financeur/releves');
    const refreshToken = await page.evaluate(() => JSON.parse(sessionStorage.getItem('passnum.session')).refresh_token);
    await page.getByRole('button', { name: 'Se déconnecter' }).click();
    await page.waitForURL('**/connexion?deconnecte=1');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('passnum.session')), null);
    const res = await fetch(`${server.url}/api/v1/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: refreshToken }) });
    assert.equal(res.status, 401, 'the session ended on the server at logout');
    noErrors(page);
  });

  step('with a 5-second access token, a scan page left open keeps working, and an offline scan syncs after the token ran out', async () => {
    const url = await server.sibling({ PASSNUM_TOKEN_TTL_SECONDS: '5' }, 'server-short-tokens.log');
    const page = await newPage(browser, url);
    page.label = 'short-tokens';
    state.pages = { ...state.pages, 'short-tokens': page };
    const refreshes = [];
    page.on('request', (req) => { if (new URL(req.url()).pathname === '/api/v1/auth/refresh') refreshes.push(Date.now()); });
    await page.goto('/site');
    await loginUi(page, SITE_EMAIL, 'mon-nouveau-mot-de-passe');
    await page.waitForURL('**/site');
    await see(page, 'Scans du jour');
    const first = await page.evaluate(() => JSON.parse(sessionStorage.getItem('passnum.session')));
    assert.equal(first.lifetime, 5);
    // Left open three times longer than a token lives: refreshed before each end.
    await page.waitForTimeout(15000);
    assert.ok(refreshes.length >= 3, `refreshed ${refreshes.length} time(s) in 15 s`);
    const result = page.locator('#scan-result');
    const [, , , t3, t4] = state.book.tickets;
    await page.getByLabel('Numéro du chèque').fill(t3.serial);
    await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
    await result.and(page.locator('[data-outcome="redeemed"]')).waitFor();
    assert.equal(new URL(page.url()).pathname, '/site');

    // Offline for longer than a token lives: the scan waits on the device, then the
    // session is renewed and the queue sent when the network returns.
    await page.context().setOffline(true);
    await see(page, 'Hors connexion.');
    await page.getByLabel('Numéro du chèque').fill(t4.serial);
    await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
    await page.locator('#scan-result[data-outcome="queued"]').waitFor();
    await page.waitForTimeout(8000);
    assert.ok(await page.evaluate(() => JSON.parse(sessionStorage.getItem('passnum.session')).expires_at < Date.now()), 'the token ran out while offline');
    await page.context().setOffline(false);
    await page.locator('#scan-synced li.ok').filter({ hasText: t4.serial }).waitFor({ timeout: 60000 });
    assert.equal(new URL(page.url()).pathname, '/site');
    assert.equal((await state.siteApi.post('/tickets/verify', { serial: t4.serial })).status, 'redeemed');
    noErrors(page);
  });

  step('screenshots of the remaining main pages', async () => {
    const op = state.pages.operator;
    // Closing a program whose tickets can still be used is refused, and says until when.
    await op.goto(`/operateur/dispositifs/${state.programId}`);
    await op.getByText('Clore le dispositif', { exact: true }).first().click();
    await op.getByRole('button', { name: 'Clore le dispositif' }).click();
    await see(op, /restent utilisables jusqu’au \d{2}\/\d{2}\/\d{4}/);
    for (const [href, name, text] of [
      ['/operateur', 'operateur-accueil', 'Couverture des dispositifs'],
      ['/operateur/organisations', 'operateur-organisations', NAMES.site],
      ['/operateur/dispositifs', 'operateur-dispositifs', NAMES.program],
      ['/operateur/courriels?etat=all', 'operateur-courriels', 'Invitation'],
    ]) {
      await op.goto(href);
      await see(op, text);
      await screenshots(op, name);
    }
    const pub = state.pages.public;
    await pub.goto('/lieux');
    await pub.getByLabel('Code postal').fill('39');
    await pub.getByRole('button', { name: 'Chercher' }).click();
    await see(pub, NAMES.site);
    // Or around the device's position, nearest first, with the distance.
    await pub.context().grantPermissions(['geolocation']);
    await pub.context().setGeolocation({ latitude: 47.1, longitude: 5.5 });
    await pub.getByRole('button', { name: 'Autour de moi' }).click();
    await see(pub, 'Lieux labellisés à moins de 30 km');
    await pub.locator('.distance').filter({ hasText: /À \d+(,\d)? km/ }).waitFor();
    await screenshots(pub, 'lieux');
    const prescriber = state.pages.prescriber;
    await prescriber.goto('/prescripteur');
    await prescriber.getByRole('row').filter({ hasText: 'DOSSIER-2026-0042' }).waitFor();
    await screenshots(prescriber, 'prescripteur-accueil');
    const site = state.pages.site;
    await site.goto('/site');
    await see(site, 'Scans du jour');
    await screenshots(site, 'site-encaisser');
    for (const page of Object.values(state.pages)) noErrors(page);
  });
});
