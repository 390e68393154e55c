// Site agents, phone first: scan (camera or typed serial), a big clear answer, undo
// during the grace period, today's scans, and the offline queue that syncs itself.

import { h, title, clear, field, form, money, time, parisToday, uuid, table, pill, toast } from '../dom.js';
import { get, post, api, ApiError, SessionExpired } from '../api.js';
import { ScanQueue, serialOfCode, ticketName } from '../queue.js';
import { startScanner, cameraError } from '../scanner.js';
import { describeRefusal } from '../refusals.js';
import { SCAN_STATUS } from '../terms.js';
import { servicePicker } from '../service-picker.js';
import { collectiveSession } from '../collective.js';
import { offerAfterScan } from '../follow-up.js';

const GRACE_MINUTES = 15;
const RETRY_MS = 15000;

/** The big answer for an outcome: {tone, headline, detail}. */
export function describe(outcome, problem, redemption) {
  const refusal = describeRefusal(outcome, problem);
  if (refusal) return refusal;
  switch (outcome) {
    case 'redeemed':
      return {
        tone: 'ok',
        headline: `Chèque accepté : ${money(redemption?.ticket?.value)}`,
        detail: `Chèque ${ticketName(redemption?.ticket)} encaissé à ${time(redemption?.redeemed_at)}. Le bénéficiaire peut suivre l’atelier.`,
      };
    case 'too_many_attempts':
      return { tone: 'warn', headline: 'Trop d’essais', detail: problem?.detail || 'Trop de codes invalides : patientez quelques minutes avant de réessayer.' };
    default:
      return { tone: 'bad', headline: 'Refusé', detail: problem?.detail || 'Le chèque n’a pas pu être encaissé.' };
  }
}

function statusText(status) {
  return SCAN_STATUS[status] || status;
}

function withinGrace(redeemedAt) {
  return Date.now() - new Date(redeemedAt).getTime() < GRACE_MINUTES * 60 * 1000;
}

export async function scanPage(main, { me }) {
  const queue = new ScanQueue(me.organization.id);
  const inflight = new Set();
  let syncing = false;
  let scanner = null;
  let disposed = false;

  const result = h('div.result', { id: 'scan-result', role: 'status', 'aria-live': 'assertive', 'aria-atomic': 'true', hidden: true });
  const queueBox = h('div.queue', { id: 'scan-queue', role: 'status', 'aria-live': 'polite' });
  const syncedBox = h('div', { id: 'scan-synced' });
  const followUpBox = h('div', { id: 'scan-follow-up' });
  const todayBox = h('div', { id: 'scan-today' });
  const labelBox = h('div');
  const video = h('video.camera', { playsinline: true, muted: true, 'aria-label': 'Image de la caméra', hidden: true });
  const cameraStatus = h('p.hint', { role: 'status' });
  const nextButton = h('button.primary.big', { type: 'button', hidden: true, onclick: () => resumeCamera() }, 'Scanner le chèque suivant');
  const stopButton = h('button.secondary', { type: 'button', hidden: true, onclick: () => stopCamera() }, 'Fermer la caméra');
  const startButton = h('button.primary.big', { type: 'button', onclick: () => openCamera() }, 'Scanner avec la caméra');
  const picker = servicePicker(me.organization.id);
  const collective = collectiveSession(me.organization.id, {
    picker,
    describe,
    onAnswered: () => loadToday().catch(() => {}),
  });

  function showResult(outcome, problem, redemption, extra) {
    const d = describe(outcome, problem, redemption);
    clear(result);
    result.className = `result ${d.tone}`;
    result.dataset.outcome = outcome;
    result.append(h('p.headline', d.headline), h('p', d.detail));
    if (extra) result.append(extra);
    if (outcome === 'redeemed' && redemption?.id && withinGrace(redemption.redeemed_at)) {
      result.append(h('button.secondary', { type: 'button', onclick: () => undo(redemption) }, 'Annuler ce scan (erreur)'));
    }
    reveal();
  }

  /** Shows the answer, in view even when the serial was typed lower on a phone. */
  function reveal() {
    result.hidden = false;
    result.scrollIntoView({ block: 'nearest' });
  }

  function showQueued(item) {
    clear(result);
    result.className = 'result warn';
    result.dataset.outcome = 'queued';
    result.append(
      h('p.headline', 'Pas de connexion : scan gardé sur l’appareil'),
      h('p', `${item.label} scanné à ${time(item.scanned_at)}. Il sera envoyé automatiquement au retour du réseau, et vous verrez alors s’il est accepté.`),
    );
    reveal();
  }

  function drawQueue() {
    clear(queueBox);
    const items = queue.items();
    const offline = !navigator.onLine;
    if (!items.length && !offline) {
      queueBox.hidden = true;
      return;
    }
    queueBox.hidden = false;
    queueBox.className = `queue ${offline ? 'offline' : ''}`;
    if (offline) queueBox.append(h('p', h('strong', 'Hors connexion.'), ' Continuez à scanner : les scans sont gardés sur cet appareil et seront envoyés au retour du réseau.'));
    if (items.length) {
      queueBox.append(
        h('p', h('strong', `${items.length} scan${items.length > 1 ? 's' : ''} en attente d’envoi`), navigator.onLine ? ' — envoi en cours…' : ''),
        h('ul', items.map((i) => h('li', `${i.label} — scanné à ${time(i.scanned_at)}`))),
      );
      if (navigator.onLine) queueBox.append(h('button.secondary', { type: 'button', onclick: () => sync() }, 'Envoyer maintenant'));
    }
  }

  function noteSynced(item, outcome, problem, redemption) {
    const d = describe(outcome, problem, redemption);
    let list = syncedBox.querySelector('ul');
    if (!list) {
      syncedBox.append(h('h2', 'Scans envoyés au retour du réseau'));
      list = h('ul.synced');
      syncedBox.append(list);
    }
    list.prepend(h(`li.${d.tone}`, h('strong', d.headline), ` — ${ticketName(redemption?.ticket) || item.label}, scanné à ${time(item.scanned_at)}`));
  }

  async function loadToday() {
    let page;
    try {
      page = await get(`/redemptions?from=${parisToday()}&limit=200`);
    } catch (err) {
      if (err instanceof SessionExpired) throw err;
      if (err.status === 0) return; // offline: keep what is shown
      clear(todayBox).append(h('h2', 'Scans du jour'), h('p.alert.bad', err.message));
      return;
    }
    const rows = page.items.slice().reverse();
    const total = rows.filter((r) => r.status !== 'reversed').reduce((sum, r) => sum + Number(r.ticket.value), 0);
    clear(todayBox).append(
      h('h2', 'Scans du jour'),
      h('p', `${rows.filter((r) => r.status !== 'reversed').length} chèque(s) encaissé(s) aujourd’hui, ${money(total.toFixed(2))}.`),
      table([
        { label: 'Heure', cell: (r) => time(r.redeemed_at) },
        { label: 'Chèque', cell: (r) => [h('span.mono', ticketName(r.ticket)), h('br'), money(r.ticket.value)] },
        {
          label: 'État',
          cell: (r) => [
            pill(statusText(r.status), r.status === 'reversed' ? 'warn' : 'ok'),
            r.status === 'redeemed' && withinGrace(r.redeemed_at)
              ? [h('br'), h('button.link', { type: 'button', onclick: () => undo(r), 'aria-label': `Annuler le scan du chèque ${ticketName(r.ticket)}` }, 'Annuler ce scan')]
              : null,
          ],
        },
      ], rows, { caption: 'Scans du jour', empty: 'Aucun scan aujourd’hui.' }),
    );
  }

  async function undo(redemption) {
    const serial = ticketName(redemption.ticket);
    if (!window.confirm(`Annuler le scan du chèque ${serial} ? Le chèque redeviendra utilisable.`)) return;
    try {
      await post(`/redemptions/${redemption.id}/reverse`);
      clear(result);
      result.className = 'result info';
      result.dataset.outcome = 'reversed';
      result.append(h('p.headline', 'Scan annulé'), h('p', `Le chèque ${serial} n’est plus encaissé : il reste utilisable.`));
      reveal();
      toast('Scan annulé.');
    } catch (err) {
      if (err instanceof SessionExpired) return;
      const message = err.code === 'reversal_window_closed'
        ? `Trop tard pour annuler : un scan s’annule dans les ${GRACE_MINUTES} minutes qui suivent.`
        : err.message;
      toast(message);
      clear(result);
      result.className = 'result bad';
      result.append(h('p.headline', 'Annulation impossible'), h('p', message));
      reveal();
    }
    await loadToday().catch(() => {});
  }

  /** A scan: queued first (with its key and time), then sent; kept when unsent. */
  async function scan(designation) {
    if (collective.active()) {
      collective.add(designation);
      return;
    }
    const item = {
      idempotency_key: uuid(),
      scanned_at: new Date().toISOString(),
      ...designation,
      label: designation.serial ? `Chèque ${designation.serial.toUpperCase()}` : `Chèque ${serialOfCode(designation.code) || '(QR)'}`,
    };
    const service = picker.current();
    if (service) item.service_id = service.id;
    queue.add(item);
    drawQueue();
    if (!navigator.onLine) {
      showQueued(item);
      return;
    }
    inflight.add(item.idempotency_key);
    try {
      const body = { scanned_at: item.scanned_at };
      if (item.code) body.code = item.code;
      else body.serial = item.serial;
      if (item.service_id) body.service_id = item.service_id;
      let outcome;
      let problem = null;
      let redemption = null;
      try {
        redemption = await api('POST', '/redemptions', { body, headers: { 'Idempotency-Key': item.idempotency_key }, timeout: 10000 });
        outcome = 'redeemed';
      } catch (err) {
        if (!(err instanceof ApiError) || err.status === 0 || err.status >= 500) throw err;
        outcome = err.code;
        problem = err.problem;
      }
      queue.remove(item.idempotency_key);
      showResult(outcome, problem, redemption);
      if (outcome === 'redeemed' && navigator.vibrate) navigator.vibrate(120);
      offerAfterScan(followUpBox, redemption).catch(() => {});
      loadToday().catch(() => {});
    } catch (err) {
      if (err instanceof SessionExpired) return;
      // No answer (network, server down): the scan stays queued and is sent later.
      showQueued(item);
      scheduleSync();
    } finally {
      inflight.delete(item.idempotency_key);
      drawQueue();
    }
  }

  let syncTimer = null;
  function scheduleSync() {
    clearTimeout(syncTimer);
    if (!disposed) syncTimer = setTimeout(() => sync(), RETRY_MS);
  }

  /** Sends the queued scans in one batch; each answered scan leaves the queue. */
  async function sync() {
    if (syncing || disposed) return;
    const items = queue.items().filter((i) => !inflight.has(i.idempotency_key)).slice(0, 200);
    if (!items.length) {
      drawQueue();
      return;
    }
    if (!navigator.onLine) {
      drawQueue();
      scheduleSync();
      return;
    }
    syncing = true;
    try {
      const payload = items.map((i) => {
        const one = { idempotency_key: i.idempotency_key, scanned_at: i.scanned_at };
        if (i.code) one.code = i.code;
        else one.serial = i.serial;
        if (i.service_id) one.service_id = i.service_id;
        return one;
      });
      const answer = await api('POST', '/redemptions/batch', { body: { items: payload }, timeout: 30000 });
      for (const r of answer.results) {
        const item = items.find((i) => i.idempotency_key === r.idempotency_key);
        queue.remove(r.idempotency_key);
        if (item) noteSynced(item, r.outcome, r.problem, r.redemption);
      }
      const accepted = answer.results.filter((r) => r.outcome === 'redeemed').length;
      toast(`${answer.results.length} scan(s) envoyé(s) : ${accepted} accepté(s), ${answer.results.length - accepted} refusé(s).`);
      loadToday().catch(() => {});
    } catch (err) {
      if (err instanceof SessionExpired) return;
      scheduleSync();
    } finally {
      syncing = false;
      drawQueue();
    }
    if (queue.items().some((i) => !inflight.has(i.idempotency_key))) scheduleSync();
  }

  async function openCamera() {
    cameraStatus.textContent = 'Ouverture de la caméra…';
    startButton.disabled = true;
    try {
      scanner = await startScanner(video, (code) => {
        scanner?.pause();
        nextButton.hidden = false;
        cameraStatus.textContent = 'Code lu.';
        scan({ code });
      });
      video.hidden = false;
      startButton.hidden = true;
      stopButton.hidden = false;
      cameraStatus.textContent = 'Placez le QR code du chèque dans le cadre.';
    } catch (err) {
      cameraStatus.textContent = cameraError(err);
      startButton.disabled = false;
    }
  }

  function resumeCamera() {
    nextButton.hidden = true;
    result.hidden = true;
    cameraStatus.textContent = 'Placez le QR code du chèque dans le cadre.';
    scanner?.resume();
  }

  function stopCamera() {
    scanner?.stop();
    scanner = null;
    video.hidden = true;
    nextButton.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
    startButton.disabled = false;
    cameraStatus.textContent = '';
  }

  const typed = form({
    label: 'Saisir le numéro du chèque',
    submit: 'Encaisser ce numéro',
    action: async (values, f) => {
      const serial = (values.serial || '').toUpperCase().replace(/\s+/g, '');
      await scan({ serial });
      f.reset();
    },
  }, field({
    label: 'Numéro du chèque',
    name: 'serial',
    required: true,
    hint: 'Les 11 caractères imprimés sous le QR code, par exemple 7K3M-9QX2-ZAT.',
    autocomplete: 'off',
    autocapitalize: 'characters',
    spellcheck: 'false',
    maxlength: 20,
  }));

  main.append(
    title('Encaisser un chèque'),
    labelBox,
    queueBox,
    picker.element,
    collective.element,
    result,
    followUpBox,
    h('section.card.scanner',
      h('h2', 'Scanner le QR code'),
      h('div.camera-frame', video),
      cameraStatus,
      h('div.actions', startButton, nextButton, stopButton)),
    h('section.card', h('h2', 'La caméra ne marche pas ?'), typed),
    h('p', h('a.button.secondary', { href: '/site/verifier' }, 'Vérifier un chèque sans l’encaisser')),
    syncedBox,
    h('section.card', todayBox),
  );

  const onOnline = () => {
    drawQueue();
    toast('Connexion rétablie : envoi des scans en attente.');
    sync();
  };
  const onOffline = () => drawQueue();
  window.addEventListener('online', onOnline);
  window.addEventListener('offline', onOffline);

  drawQueue();
  picker.load().then(() => collective.draw()).catch(() => {});
  get(`/organizations/${me.organization.id}`).then((org) => {
    if (org.label && !org.label.active) {
      labelBox.append(h('p.alert.bad', { role: 'alert' }, `Le label de votre lieu n’est pas actif (${org.label.status === 'suspended' ? 'suspendu' : 'hors de sa période de validité'}) : les chèques seront refusés.`));
    } else if (!org.label) {
      labelBox.append(h('p.alert.bad', { role: 'alert' }, 'Votre lieu n’a pas encore de label : les chèques seront refusés.'));
    }
  }).catch(() => {});
  await loadToday();
  sync();

  return () => {
    disposed = true;
    clearTimeout(syncTimer);
    window.removeEventListener('online', onOnline);
    window.removeEventListener('offline', onOffline);
    scanner?.stop();
  };
}
