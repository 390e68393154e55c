// A prescriber's year (issue 13): finding a checkbook by reference, number or serial;
// the checkbooks to call before they expire; a mistyped e-mail corrected and the
// checkbook sent again; a failed mail shown in French; print runs printed again; an
// expired stock checkbook refused at hand-out. Every page at 360 px and 1280 px.
//
// Run: cargo build && cd e2e && node --test prescriber.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, loginUi, see } from './harness.mjs';
import { journey, screenshots, noErrors, saveDownload, pdfText, territory } from './journey.mjs';

const server = new Server('prescriber');
let browser;
const { state, step, pageFor, report, timings } = journey(server);

describe('prescriber pages (headless Chromium)', { concurrency: 1 }, () => {
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

  step('set-up through the API: checkbooks, one ending soon, a print run', async () => {
    const t = await territory(server, { checkbooks: 10 });
    state.t = t;
    const api = await server.as(t.users.prescriberAgent);
    state.api = api;
    state.mistyped = await api.post('/checkbooks', { program_id: t.program.id, beneficiary: { reference: 'DOSSIER-0101', email: 'jean.dupont@gmial.con' } });
    state.noEmail = await api.post('/checkbooks', { program_id: t.program.id, beneficiary: { reference: 'DOSSIER-0102', postcode: '39100' } });
    state.run = await api.post('/print-runs', { program_id: t.program.id, checkbooks: 2 });
    // Set-up outside the journey: the checkbook without e-mail ends in 12 days.
    server.sql(`UPDATE checkbooks SET valid_until = current_date + 12 WHERE id = '${state.noEmail.id}'`);
    server.sql(`UPDATE tickets SET valid_until = current_date + 12 WHERE checkbook_id = '${state.noEmail.id}'`);
  });

  step('the prescriber sees whom to call and finds a checkbook by a ticket’s serial', async () => {
    const page = await pageFor('prescriber', browser);
    await page.goto('/prescripteur');
    await loginUi(page, state.t.users.prescriberAgent);
    await page.waitForURL('**/prescripteur');
    const expiring = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Expirent bientôt' }) });
    await expiring.getByText('DOSSIER-0102').waitFor();
    await expiring.getByText('Aucun : à appeler').waitFor();
    assert.equal(await expiring.getByText('DOSSIER-0101').count(), 0, 'a checkbook valid a year is not listed');
    await screenshots(page, 'prescripteur-accueil-expirent');

    // A serial typed without dashes, in lower case, finds its checkbook only.
    const serial = state.mistyped.tickets[4].serial;
    await page.getByRole('searchbox', { name: /Rechercher/ }).fill(serial.replaceAll('-', '').toLowerCase());
    await page.getByRole('button', { name: 'Rechercher' }).click();
    await see(page, `Chéquiers trouvés pour « ${serial.replaceAll('-', '').toLowerCase()} »`);
    const mine = page.getByRole('table', { name: /Chéquiers trouvés/ });
    await mine.getByRole('link', { name: state.mistyped.number }).waitFor();
    assert.equal(await mine.getByRole('row').count(), 2, 'the header and one checkbook');
    await screenshots(page, 'prescripteur-recherche');

    await page.getByRole('searchbox', { name: /Rechercher/ }).fill('dossier-01');
    await page.getByRole('button', { name: 'Rechercher' }).click();
    await mine.getByRole('link', { name: state.noEmail.number }).waitFor();
    assert.equal(await mine.getByRole('row').count(), 3, 'both beneficiaries');
    await page.getByRole('searchbox', { name: /Rechercher/ }).fill('personne');
    await page.getByRole('button', { name: 'Rechercher' }).click();
    await see(page, 'Aucun chéquier ne correspond à « personne »');
    noErrors(page);
  });

  step('a mistyped e-mail is corrected and the checkbook sent again, deliberately', async () => {
    const page = state.pages.prescriber;
    await page.goto(`/prescripteur/chequiers/${state.mistyped.id}`);
    // Mailed at issuance (the worker writes an .eml file): "envoyé le …", no plain "Envoyer".
    await see(page, /Envoyé le .* à jean\.dupont@gmial\.con/);
    assert.equal(await page.getByRole('button', { name: 'Envoyer le chéquier' }).count(), 0);
    await page.getByText('Corriger le bénéficiaire').click();
    const correct = page.locator('details').filter({ hasText: 'Corriger le bénéficiaire' });
    await correct.getByLabel('E-mail du bénéficiaire').fill('pas-une-adresse');
    await correct.getByRole('button', { name: 'Enregistrer la correction' }).click();
    await see(page, /n.est pas une adresse e-mail valide/);
    await correct.getByLabel('E-mail du bénéficiaire').fill('jean.dupont@gmail.com');
    await correct.getByRole('button', { name: 'Enregistrer la correction' }).click();
    await see(page, 'Les prochains e-mails (rappel, renvoi) iront à jean.dupont@gmail.com');

    await page.getByText(/Déjà envoyé le .* renvoyer/).click();
    const again = page.locator('details').filter({ hasText: 'renvoyer ?' });
    assert.equal(await again.getByLabel('Adresse e-mail').inputValue(), 'jean.dupont@gmail.com');
    await again.getByRole('button', { name: 'Renvoyer le chéquier' }).click();
    await see(page, 'Le chéquier part par e-mail à jean.dupont@gmail.com');
    await see(page, /(En attente d’envoi|En cours d’envoi|Envoyé le .*) à jean\.dupont@gmail\.com/);
    await screenshots(page, 'prescripteur-chequier-courriel');
    const book = await state.api.get(`/checkbooks/${state.mistyped.id}`);
    assert.equal(book.beneficiary.email, 'jean.dupont@gmail.com');
    assert.equal(book.mail.recipient, 'jean.dupont@gmail.com');
    noErrors(page);
  });

  step('a failed mail is shown in French, with "Renvoyer" open', async () => {
    const page = state.pages.prescriber;
    const book = state.noEmail;
    await state.api.post(`/checkbooks/${book.id}/send`, { email: 'marie@e2e.example.org' });
    // Set-up outside the journey: the SMTP server refused the connection.
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline && server.sql(`SELECT status FROM outbox WHERE related_id = '${book.id}'`) !== 'sent') {
      await new Promise((r) => setTimeout(r, 200));
    }
    server.sql(`UPDATE outbox SET status = 'failed', sent_at = NULL, last_error = 'Connection error: Connection refused (os error 111)' WHERE related_id = '${book.id}'`);
    await page.goto(`/prescripteur/chequiers/${book.id}`);
    await see(page, 'Échec de l’envoi à marie@e2e.example.org');
    await see(page, 'Le serveur d’envoi des e-mails a refusé la connexion');
    assert.equal(await page.getByText('refused').count(), 0, 'no English');
    await page.getByRole('button', { name: 'Renvoyer le chéquier' }).waitFor();
    await screenshots(page, 'prescripteur-chequier-echec');
    noErrors(page);
  });

  step('print runs are listed and printed again with the same tickets', async () => {
    const page = state.pages.prescriber;
    await page.getByRole('link', { name: 'Émettre', exact: true }).click();
    await page.waitForURL('**/prescripteur/emettre');
    const runs = page.getByRole('table', { name: 'Mes tirages de chéquiers en stock' });
    const first = state.run.checkbooks[0].number;
    const last = state.run.checkbooks[1].number;
    await runs.getByText(`${first} à ${last}`).waitFor();
    await runs.getByText('2 en stock, 0 remis, 0 annulé(s)').waitFor();
    await screenshots(page, 'prescripteur-tirages');
    const pdf = await saveDownload(page, () => runs.getByRole('button', { name: /Réimprimer le tirage/ }).click(), 'tirage-reimprime.pdf');
    assert.equal(pdf.bytes.subarray(0, 5).toString(), '%PDF-');
    const text = pdfText(pdf.file);
    for (const { id } of state.run.checkbooks) {
      const book = await state.api.get(`/checkbooks/${id}`);
      assert.match(text, new RegExp(book.number));
      for (const ticket of book.tickets) assert.ok(text.includes(ticket.serial), `${ticket.serial} printed again`);
    }
    noErrors(page);
  });

  step('a stock checkbook whose validity ended is not handed out', async () => {
    const page = state.pages.prescriber;
    const stock = state.run.checkbooks[0];
    // Set-up outside the journey: its validity ended yesterday.
    server.sql(`UPDATE checkbooks SET valid_until = current_date - 1 WHERE id = '${stock.id}'`);
    await page.goto(`/prescripteur/chequiers/${stock.id}`);
    await see(page, 'Remettre ce chéquier à un bénéficiaire');
    await page.getByLabel('Référence du bénéficiaire').fill('DOSSIER-0103');
    await page.getByRole('button', { name: 'Remettre le chéquier' }).click();
    await see(page, 'il ne peut plus être remis');
    await screenshots(page, 'prescripteur-remise-expiree');
    assert.equal((await state.api.get(`/checkbooks/${stock.id}`)).status, 'stock');
    noErrors(page);
  });
});
