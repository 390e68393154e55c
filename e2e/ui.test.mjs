// What a browser review of every role found, at 360 px and 1280 px, each with a step
// that would catch it again: tables read as cards on a phone (the site's scans of the
// day with their state and "Annuler ce scan", the operator's mails, the checkbook
// list), toasts that never lie over an action, a header that says who is logged in, no
// "null" on the login page, two words for two "annulé", and the money terms explained
// where they appear.
//
// Run: cargo build && cd e2e && node --test ui.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launchBrowser, loginUi, see, PHONE, DESKTOP } from './harness.mjs';
import { journey, screenshots, noErrors, territory, layoutProblems, OPERATOR } from './journey.mjs';

const server = new Server('ui');
let browser;
const { state, step, pageFor, report, timings } = journey(server);

/** The visible buttons, links and fields the toast lies over (none, when it shows). */
function underToast(page) {
  return page.evaluate(() => {
    const t = document.getElementById('toast');
    if (!t.classList.contains('show') || !t.textContent) return 'no toast';
    const r = t.getBoundingClientRect();
    return [...document.querySelectorAll('button, a[href], input:not([type="hidden"]), select, textarea, summary')]
      .filter((a) => !t.contains(a))
      .filter((a) => {
        const b = a.getBoundingClientRect();
        return b.width && b.height && b.left < r.right && b.right > r.left && b.top < r.bottom && b.bottom > r.top;
      })
      .map((a) => a.textContent.trim() || a.name || a.tagName);
  });
}

/**
 * The toast, shown with `text`, hides no action wherever the page is scrolled: where it
 * was, at the top, at the bottom, and with each of `actions` at the bottom edge of the
 * screen, then at its top edge (where a toast would lie over it).
 */
async function toastHidesNothing(page, text, actions = []) {
  const toast = page.locator('#toast');
  await toast.and(page.locator('.show')).waitFor();
  assert.equal(await toast.getAttribute('role'), 'status', 'the toast is read by screen readers');
  assert.match(await toast.textContent(), text);
  const positions = [['where it was', null], ['the top', () => window.scrollTo(0, 0)], ['the bottom', () => window.scrollTo(0, 1e6)]];
  for (const action of actions) {
    positions.push([`${action} at the bottom`, action, 'end'], [`${action} at the top`, action, 'start']);
  }
  for (const [where, move, block] of positions) {
    if (typeof move === 'function') await page.evaluate(move);
    else if (move) await page.getByRole('button', { name: move, exact: true }).evaluate((el, b) => el.scrollIntoView({ block: b }), block);
    await page.waitForTimeout(150);
    assert.deepEqual(await underToast(page), [], `the toast hides an action (${where})`);
  }
}

/** Each row of the table `caption` is a card at 360 px: every cell on screen, under its label. */
async function readableAsCards(page, caption, labels) {
  await page.setViewportSize(PHONE);
  const table = page.getByRole('region', { name: caption, exact: true });
  await table.waitFor();
  const head = await table.locator('thead').boundingBox();
  assert.ok(!head || head.height <= 1, `${caption}: no header row on a phone (only for screen readers)`);
  const first = table.locator('tbody tr').first();
  for (const label of labels) {
    const cellLabel = first.locator('.cell-label', { hasText: label }).first();
    assert.ok(await cellLabel.isVisible(), `${caption}: "${label}" labels its cell on a phone`);
    const box = await cellLabel.locator('xpath=..').boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, `${caption}: the "${label}" cell is on the screen`);
  }
  assert.deepEqual(await page.evaluate(layoutProblems), [], `${caption}: at 360 px`);
  await page.setViewportSize(DESKTOP);
  assert.ok(await table.locator('thead').isVisible(), `${caption}: a table with its header row on a computer`);
  assert.equal(await first.locator('.cell-label').first().isVisible(), false, `${caption}: no labels in the cells on a computer`);
}

/** The header names the organisation and the role, at both widths. */
async function headerSays(page, organisation, role) {
  for (const size of [PHONE, DESKTOP]) {
    await page.setViewportSize(size);
    const who = page.locator('#who');
    assert.ok(await who.isVisible(), `the header shows who is logged in at ${size.width} px`);
    const text = await who.innerText();
    assert.ok(text.includes(organisation), `the header names ${organisation} at ${size.width} px: ${text}`);
    assert.ok(text.includes(role), `the header says "${role}" at ${size.width} px: ${text}`);
  }
}

describe('what the browser review found (headless Chromium)', { concurrency: 1 }, () => {
  before(async () => {
    const started = Date.now();
    await server.start();
    browser = await launchBrowser();
    state.t = await territory(server);
    // One checkbook handed out, one cancelled (lost): tickets to scan and to refuse.
    const prescriber = await server.as(state.t.users.prescriberAgent);
    state.book = await prescriber.post('/checkbooks', { program_id: state.t.program.id, beneficiary: { reference: 'UI-0001', postcode: '39100', email: 'beneficiaire.ui@e2e.example.org' } });
    // An invitation too: mails for the operator's outbox.
    await state.t.operator.post(`/organizations/${state.t.site.id}/users`, { email: 'invitee.ui@e2e.example.org', role: 'agent' });
    state.lost = await prescriber.post('/checkbooks', { program_id: state.t.program.id, beneficiary: { reference: 'UI-0002' } });
    await prescriber.post(`/checkbooks/${state.lost.id}/cancel`, { reason: 'perdu' });
    timings.push(['start server, browser and territory', Date.now() - started]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server.stop();
    report();
  });

  step('the login page prints no "null", whatever notices it shows', async () => {
    const page = await pageFor('public', browser);
    for (const query of ['', '?expiree=1', '?deconnecte=1', '?motdepasse=1', '?retour=%2Fsite']) {
      await page.goto(`/connexion${query}`);
      await see(page, 'Mot de passe oublié ?');
      const text = await page.locator('main').innerText();
      assert.doesNotMatch(text, /null|undefined/, `/connexion${query}: ${text.slice(0, 200)}`);
      assert.deepEqual(await page.evaluate(layoutProblems), [], `/connexion${query}`);
    }
    // Under the title comes the form (or a notice), never a stray text node.
    const afterTitle = await page.evaluate(() => {
      const h1 = document.querySelector('main h1');
      let n = h1.nextSibling;
      while (n && n.nodeType === Node.TEXT_NODE && !n.textContent.trim()) n = n.nextSibling;
      return n?.nodeType === Node.ELEMENT_NODE ? n.tagName : `text: ${n?.textContent}`;
    });
    assert.equal(afterTitle, 'SECTION');
    noErrors(page);
  });

  step('site: the scans of the day keep their state and "Annuler ce scan" at 360 px; two words for two "annulé"; the toast hides nothing', async () => {
    const page = await pageFor('site', browser);
    await page.setViewportSize(PHONE);
    await page.goto('/connexion');
    await loginUi(page, state.t.users.siteAgent);
    await page.waitForURL('**/site');
    await headerSays(page, state.t.site.name, 'agent');
    await page.setViewportSize(PHONE);

    const result = page.locator('#scan-result');
    const [t0, t1] = state.book.tickets;
    for (const t of [t0, t1]) {
      await page.getByLabel('Numéro du chèque').fill(t.serial);
      await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
      await result.and(page.locator('[data-outcome="redeemed"]')).waitFor();
    }
    const row = (t) => page.getByRole('region', { name: 'Scans du jour', exact: true }).getByRole('row').filter({ hasText: t.serial });
    await row(t1).waitFor();
    await readableAsCards(page, 'Scans du jour', ['Heure', 'Chèque', 'État']);
    await page.setViewportSize(PHONE);
    // The state and the undo link, on screen, on a phone.
    const undo = row(t1).getByRole('button', { name: `Annuler le scan du chèque ${t1.serial}` });
    await row(t1).getByText('Encaissé').waitFor();
    assert.ok(await row(t1).getByText('Encaissé').isVisible());
    const box = await undo.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, 'the undo link is on the screen');
    assert.equal(await undo.innerText(), 'Annuler ce scan');

    // Undone: the scan says "Scan annulé", and the toast lies over no action.
    await undo.click();
    await result.and(page.locator('[data-outcome="reversed"]')).waitFor();
    await row(t1).getByText('Scan annulé', { exact: true }).waitFor();
    await toastHidesNothing(page, /Scan annulé/, ['Encaisser ce numéro', 'Scanner avec la caméra']);

    // A ticket its prescriber cancelled says so, in other words than an undone scan.
    await page.getByLabel('Numéro du chèque').fill(state.lost.tickets[0].serial);
    await page.getByRole('button', { name: 'Encaisser ce numéro' }).click();
    await result.and(page.locator('[data-outcome="ticket_cancelled"]')).waitFor();
    const refusal = await result.innerText();
    assert.match(refusal, /chèque annulé par le prescripteur/);
    assert.doesNotMatch(refusal, /scan annulé/i);
    await screenshots(page, 'site-scans-du-jour');
    noErrors(page);
  });

  step('prescriber: the checkbook list reads as cards at 360 px; a cancelled checkbook and its tickets say "Chéquier annulé", "Chèque annulé"', async () => {
    const page = await pageFor('prescriber', browser);
    await page.goto('/connexion');
    await loginUi(page, state.t.users.prescriberAgent);
    await page.waitForURL('**/prescripteur');
    await headerSays(page, state.t.prescriber.name, 'agent');
    const list = page.locator('.table-wrap').first();
    await list.waitFor();
    const caption = await list.getAttribute('aria-label');
    await readableAsCards(page, caption, ['Bénéficiaire', 'État']);
    await page.goto(`/prescripteur/chequiers/${state.lost.id}`);
    await see(page, 'Chéquier annulé');
    await see(page, 'Chèque annulé');
    // The tickets' table: its caption says their count, value and validity once.
    const tickets = page.locator('.table-wrap[aria-label*="chèques de"]').first();
    await tickets.waitFor();
    await readableAsCards(page, await tickets.getAttribute('aria-label'), ['Numéro', 'État']);
    await screenshots(page, 'ui-prescripteur-chequier-annule');
    noErrors(page);
  });

  step('operator: the cover and the mails read as cards at 360 px, money terms explained where they appear, the toast hides nothing', async () => {
    const page = await pageFor('operator', browser);
    await page.goto('/connexion');
    await loginUi(page, OPERATOR);
    await page.waitForURL('**/operateur');
    await see(page, 'Tableau de bord');
    await headerSays(page, 'Opérateur', 'admin');
    await readableAsCards(page, 'Couverture', ['Reçu', 'Détenu', 'En circulation', 'Dû aux lieux', 'Couvert']);
    const terms = page.locator('dl.terms');
    for (const t of ['Détenu', 'Couverture']) {
      assert.ok(await terms.locator('dt', { hasText: t }).first().isVisible(), `${t} is explained on the dashboard`);
    }
    await screenshots(page, 'ui-operateur-accueil');

    // Every mail sent so far (invitations of the territory's users…), as cards.
    await page.goto('/operateur/courriels?etat=all');
    await see(page, 'Courriels');
    await readableAsCards(page, 'Courriels', ['Créé le', 'Nature', 'Destinataire', 'Objet', 'État', 'Essais']);
    await screenshots(page, 'ui-operateur-courriels');

    // The program: Disponible, Encore émettable, Couverture, each with its line.
    await page.goto(`/operateur/dispositifs/${state.t.program.id}`);
    await see(page, 'Encore émettable');
    for (const t of ['Disponible', 'Encore émettable', 'Couverture']) {
      const dd = terms.locator('dt', { hasText: t }).first().locator('xpath=following-sibling::dd[1]');
      assert.ok((await dd.innerText()).length > 20, `${t} is explained on the program's page`);
    }
    await readableAsCards(page, 'Financeurs', ['Part', 'Engagé', 'Versé']);
    await screenshots(page, 'ui-operateur-dispositif');

    // One more checkbook allotted from a phone: its toast lies over none of the page's buttons.
    await page.setViewportSize(PHONE);
    const form = page.locator('form').filter({ hasText: 'Nombre de chéquiers' });
    await form.getByLabel('Nombre de chéquiers').fill('1');
    await form.getByRole('button', { name: 'Allouer' }).click();
    await toastHidesNothing(page, /Dotation enregistrée/, ['Allouer', 'Enregistrer le versement']);
    noErrors(page);
  });

  step('a page left before its data arrived draws nothing under the next one', async () => {
    const page = state.pages.operator;
    await page.setViewportSize(DESKTOP);
    // The dashboard's answers come late; the operator goes to the mails meanwhile.
    await page.route('**/api/**', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await route.continue().catch(() => {});
    });
    const asked = page.waitForRequest('**/api/v1/ledger/cover');
    await page.goto('/operateur');
    await asked;
    await page.unroute('**/api/**');
    await page.locator('#nav').getByRole('link', { name: 'Courriels', exact: true }).click();
    await see(page, 'Courriels');
    await page.waitForTimeout(2500);
    const main = page.locator('main');
    assert.equal(await main.locator('h1').count(), 1, await main.innerText());
    assert.doesNotMatch(await main.innerText(), /Tableau de bord|Couverture/);
    noErrors(page);
  });
});
