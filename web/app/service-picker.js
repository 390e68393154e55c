// The scan page's service picker: the site's services as chips, one tap to choose
// what the next tickets pay for. The last choice is remembered on the device
// (localStorage, per site); a site without services sees nothing and scans as before.

import { h, clear } from './dom.js';
import { get } from './api.js';
import { durationText } from './pages/site-services.js';

export function servicePicker(siteId) {
  const storageKey = `passnum.service.${siteId}`;
  const chips = h('div.chips', { role: 'group', 'aria-label': 'Service suivi par le bénéficiaire' });
  const note = h('p.hint');
  const box = h('section.card.service-picker', { id: 'service-picker', hidden: true },
    h('h2', 'Pour quel service ?'), chips, note);
  let services = [];
  let chosen = localStorage.getItem(storageKey) || '';
  const listeners = [];

  function choose(id) {
    chosen = id;
    if (id) localStorage.setItem(storageKey, id);
    else localStorage.removeItem(storageKey);
    draw();
    for (const listener of listeners) listener(current());
  }

  function current() {
    return services.find((s) => s.id === chosen) || null;
  }

  function chip(id, text, detail) {
    return h('button.chip', { type: 'button', 'aria-pressed': String(id === chosen), onclick: () => choose(id) },
      h('span.chip-title', text), detail ? h('span.chip-detail', detail) : null);
  }

  function draw() {
    clear(chips);
    chips.append(
      ...services.map((s) => chip(s.id, s.title, `${s.format === 'collective' ? 'En groupe' : 'Individuel'} · ${durationText(s.duration_minutes)}`)),
      chip('', 'Sans préciser'),
    );
    const s = current();
    note.textContent = s
      ? `Les chèques scannés seront comptés pour « ${s.title} » (${s.theme_label}).`
      : 'Choisissez le service suivi : il sera enregistré avec chaque chèque scanné.';
  }

  /** Loads the site's services; a remembered service no longer offered is forgotten. */
  async function load() {
    try {
      services = await get(`/sites/${siteId}/services`);
    } catch {
      services = [];
    }
    if (chosen && !services.some((s) => s.id === chosen)) choose('');
    box.hidden = services.length === 0;
    draw();
    return services;
  }

  return {
    element: box,
    load,
    /** The service chosen, or null. */
    current,
    /** Calls `listener(service|null)` after each choice. */
    onChange: (listener) => listeners.push(listener),
  };
}
