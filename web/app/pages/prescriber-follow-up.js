// The prescriber's view of a checkbook's follow-up (issue 14 point 3): what each
// training site recorded — the person's autonomy before and after on the four-level
// scale, in its French words, the themes covered, which site and when — read from
// GET /checkbooks/{id}/evaluations (the issuing prescriber reads every site's).

import { h, section, dateTime } from '../dom.js';
import { THEMES, AUTONOMY_LEVELS } from '../terms.js';

function level(value) {
  const text = AUTONOMY_LEVELS.find(([l]) => l === value)?.[1];
  return text ? `${value} sur 4 — ${text}` : '—';
}

function themes(list) {
  if (!list?.length) return 'Aucun thème noté';
  return list.map((value) => THEMES.find(([v]) => v === value)?.[1] || value).join(', ');
}

/** "+2 niveaux", "aucun changement", "−1 niveau": the gain in plain words. */
function gain(before, after) {
  const d = after - before;
  if (d === 0) return 'Même niveau qu’avant';
  const n = Math.abs(d);
  return `${d > 0 ? '+' : '−'}${n} niveau${n > 1 ? 'x' : ''}`;
}

function when(e) {
  const recorded = `Noté le ${dateTime(e.recorded_at)}`;
  return e.updated_at && e.updated_at !== e.recorded_at ? `${recorded}, corrigé le ${dateTime(e.updated_at)}` : recorded;
}

/** The card "Suivi de la formation" of a checkbook handed out: one entry per site that recorded a follow-up. */
export function followUpCard(evaluations) {
  const empty = 'Aucun suivi noté pour l’instant. Le lieu de formation le note après le dernier chèque du chéquier, ou plus tard depuis son historique.';
  return section('Suivi de la formation',
    h('p.hint', 'Ce que le lieu de formation a noté : le niveau d’autonomie de la personne avant et après, sur quatre niveaux, et les thèmes abordés.'),
    evaluations.length
      ? h('ul.follow-ups', { id: 'prescriber-follow-up' }, evaluations.map((e) => h('li.follow-up-seen',
        h('h3', e.site_name),
        h('dl.facts',
          h('dt', 'Avant'), h('dd', level(e.before)),
          h('dt', 'Après'), h('dd', level(e.after)),
          h('dt', 'Progrès'), h('dd', gain(e.before, e.after)),
          h('dt', 'Thèmes'), h('dd', themes(e.themes)),
          h('dt', 'Date'), h('dd', when(e))))))
      : h('p.empty', empty));
}
