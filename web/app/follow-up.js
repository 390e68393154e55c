// The follow-up (issue 14 point 3): one short form — the person's autonomy before and
// after the training (1 to 4) and the themes covered — shown on the scan page after
// the last ticket of a checkbook, and from the site's history for any checkbook it
// redeemed. POST /checkbooks/{id}/evaluation records it; again, it corrects it.

import { h, clear, form, toast, day } from './dom.js';
import { get, post } from './api.js';
import { THEMES, AUTONOMY_LEVELS } from './terms.js';

function scale(name, legend, chosen) {
  return h('fieldset.scale', { id: `follow-up-${name}` },
    h('legend', legend),
    h('div.scale-choices', AUTONOMY_LEVELS.map(([level, text]) => h('label.scale-choice',
      h('input', { type: 'radio', name, value: String(level), checked: chosen === level || undefined }),
      h('span', h('strong', `${level}`), ' ', text)))),
    h('p.field-error', { id: `follow-up-${name}-err` }));
}

/** The form for `item` (a follow-up item: checkbook_id, checkbook_number, evaluation). */
export function followUpForm(item, { onSaved } = {}) {
  const previous = item.evaluation;
  const themes = h('fieldset.themes', { id: 'follow-up-themes' },
    h('legend', 'Thèmes abordés', h('span.optional', ' (facultatif)')),
    h('div.theme-choices', THEMES.map(([value, text]) => h('label.check-choice',
      h('input', { type: 'checkbox', name: 'themes', value, checked: previous?.themes?.includes(value) || undefined }),
      h('span', text)))));
  const f = form({
    class: 'follow-up-form',
    submit: previous ? 'Corriger le suivi' : 'Enregistrer le suivi',
    action: async (_values, el) => {
      const picked = (name) => Number(el.querySelector(`input[name="${name}"]:checked`)?.value || 0);
      const before = picked('before');
      const after = picked('after');
      for (const [name, value] of [['before', before], ['after', after]]) {
        if (!value) {
          const err = el.querySelector(`#follow-up-${name}-err`);
          if (err) err.textContent = 'Choisissez un niveau.';
          throw new Error('Choisissez un niveau avant et après la formation.');
        }
      }
      const chosen = [...el.querySelectorAll('input[name="themes"]:checked')].map((c) => c.value);
      const saved = await post(`/checkbooks/${item.checkbook_id}/evaluation`, { before, after, themes: chosen });
      toast(previous ? 'Suivi corrigé.' : 'Suivi enregistré. Merci !');
      onSaved?.(saved);
    },
  },
  scale('before', 'Avant la formation, la personne…', previous?.before),
  scale('after', 'Après la formation, la personne…', previous?.after),
  themes);
  return h('section.card.follow-up', { id: 'follow-up', 'aria-labelledby': 'follow-up-title' },
    h('h2', { id: 'follow-up-title' }, `Suivi du chéquier ${item.checkbook_number}`),
    h('p.hint', 'Aucune donnée personnelle : seulement le niveau d’autonomie et les thèmes, pour les statistiques du dispositif.'),
    f);
}

/**
 * After a scan on the scan page: when it used the checkbook's last ticket, offers the
 * follow-up form in `box` (emptied otherwise).
 */
export async function offerAfterScan(box, redemption) {
  clear(box);
  if (!redemption?.id) return;
  const page = await get(`/follow-ups?redemption_id=${encodeURIComponent(redemption.id)}`);
  const item = page.items[0];
  if (!item || item.tickets_left > 0 || item.evaluation) return;
  box.append(
    h('p.alert.info', { role: 'status' }, 'C’était le dernier chèque de ce chéquier : notez en deux clics ce que la personne a appris.'),
    followUpForm(item, { onSaved: () => { clear(box); box.append(h('p.alert.ok', { role: 'status' }, 'Suivi enregistré.')); } }),
  );
}

function levelText(level) {
  return AUTONOMY_LEVELS.find(([l]) => l === level)?.[1] || '—';
}

/** The history page's section: the checkbooks the site redeemed, each with its follow-up. */
export async function followUpSection() {
  const page = await get('/follow-ups?limit=50');
  const formBox = h('div', { id: 'follow-up-box' });
  const list = h('ul.follow-ups', { id: 'follow-up-list' });
  function draw(items) {
    clear(list);
    for (const item of items) {
      const e = item.evaluation;
      list.append(h('li.follow-up-item',
        h('div',
          h('strong.mono', item.checkbook_number),
          h('span.hint', ` — ${item.tickets_redeemed_here} chèque${item.tickets_redeemed_here > 1 ? 's' : ''} chez vous, dernier le ${day(item.last_redeemed_at)}`),
          h('p', e ? `Avant : ${levelText(e.before)} · Après : ${levelText(e.after)}` : 'Suivi pas encore noté')),
        h('button.secondary', {
          type: 'button',
          onclick: () => {
            clear(formBox);
            formBox.append(followUpForm(item, {
              onSaved: (saved) => {
                item.evaluation = { before: saved.before, after: saved.after, themes: saved.themes };
                clear(formBox);
                draw(items);
              },
            }));
            formBox.scrollIntoView({ block: 'nearest' });
          },
        }, e ? 'Corriger le suivi' : 'Noter le suivi')));
    }
  }
  draw(page.items);
  return h('section.card', { id: 'follow-ups' },
    h('h2', 'Suivi des personnes formées'),
    h('p.hint', 'Pour chaque chéquier encaissé chez vous : le niveau d’autonomie avant et après, et les thèmes abordés.'),
    page.items.length ? list : h('p', 'Aucun chéquier encaissé pour l’instant.'),
    formBox);
}
