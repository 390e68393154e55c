// The scan page's collective mode: for a collective service, the agent scans every
// participant's ticket, then validates the session in one request
// (POST /redemptions/sessions). The session (its id, its service, each scan with its
// own idempotency key) is kept on the device until the server has answered, so a
// lost connection or a reload loses nothing, and validating again changes nothing
// for the tickets already answered.

import { h, clear, uuid, toast } from './dom.js';
import { api, ApiError, SessionExpired } from './api.js';
import { serialOfCode } from './queue.js';

export function collectiveSession(siteId, { picker, onAnswered, describe }) {
  const storageKey = `passnum.session.${siteId}`;
  const read = () => {
    try {
      return JSON.parse(localStorage.getItem(storageKey) || 'null');
    } catch {
      return null;
    }
  };
  const save = (s) => (s ? localStorage.setItem(storageKey, JSON.stringify(s)) : localStorage.removeItem(storageKey));
  let session = read();

  const list = h('ol.session-scans');
  const status = h('p.hint', { role: 'status' });
  const results = h('div.session-results', { 'aria-live': 'polite' });
  const start = h('button.secondary', { type: 'button', onclick: () => open() }, 'Commencer une séance collective');
  const validate = h('button.primary.big', { type: 'button', onclick: () => send() }, 'Valider la séance');
  const cancel = h('button.link', { type: 'button', onclick: () => abandon() }, 'Abandonner la séance');
  const box = h('section.card.collective', { id: 'collective', hidden: true },
    h('h2', 'Séance collective'), status, start, list, h('div.actions', validate, cancel), results);

  function active() {
    return Boolean(session);
  }

  function draw() {
    const service = picker.current();
    box.hidden = !session && service?.format !== 'collective';
    clear(list);
    start.hidden = Boolean(session);
    validate.hidden = !session;
    cancel.hidden = !session;
    if (!session) {
      status.textContent = 'Un atelier en groupe ? Scannez les chèques de tous les participants, puis validez la séance en une fois.';
      return;
    }
    status.textContent = session.items.length
      ? `Séance « ${session.title} » : ${session.items.length} chèque(s) scanné(s). Validez quand tout le monde est passé.`
      : `Séance « ${session.title} » ouverte : scannez le chèque de chaque participant.`;
    validate.disabled = session.items.length === 0;
    list.append(...session.items.map((i) => h('li', i.label)));
  }

  function open() {
    const service = picker.current();
    if (!service || service.format !== 'collective') return;
    session = { session_id: uuid(), service_id: service.id, title: service.title, items: [] };
    save(session);
    clear(results);
    draw();
  }

  /** A scan during a session: kept with its own key, sent at validation. */
  function add(designation) {
    const label = designation.serial ? `Chèque ${designation.serial.toUpperCase()}` : `Chèque ${serialOfCode(designation.code) || '(QR)'}`;
    session.items.push({ idempotency_key: uuid(), scanned_at: new Date().toISOString(), ...designation, label });
    save(session);
    draw();
    toast(`${label} ajouté à la séance.`);
  }

  function abandon() {
    if (session.items.length && !window.confirm('Abandonner la séance ? Les chèques scannés ne seront pas encaissés.')) return;
    session = null;
    save(null);
    draw();
  }

  async function send() {
    validate.disabled = true;
    status.textContent = 'Envoi de la séance…';
    try {
      const items = session.items.map((i) => {
        const one = { idempotency_key: i.idempotency_key, scanned_at: i.scanned_at };
        if (i.code) one.code = i.code;
        else one.serial = i.serial;
        return one;
      });
      const answer = await api('POST', '/redemptions/sessions', {
        body: { session_id: session.session_id, service_id: session.service_id, items },
        timeout: 30000,
      });
      const accepted = answer.results.filter((r) => r.outcome === 'redeemed').length;
      clear(results).append(
        h('h3', `Séance validée : ${accepted} chèque(s) accepté(s) sur ${answer.results.length}`),
        h('ul.synced', answer.results.map((r, n) => {
          const d = describe(r.outcome, r.problem, r.redemption);
          return h(`li.${d.tone}`, h('strong', d.headline), ` — ${session.items[n]?.label || ''}`);
        })),
      );
      session = null;
      save(null);
      onAnswered();
    } catch (err) {
      if (err instanceof SessionExpired) return;
      const message = err instanceof ApiError && err.status > 0 && err.status < 500
        ? err.message
        : 'Pas de réponse du serveur : la séance est gardée sur l’appareil, validez-la de nouveau dans un instant.';
      status.textContent = message;
      validate.disabled = false;
      return;
    }
    draw();
  }

  picker.onChange(() => draw());
  return { element: box, active, add, draw };
}
