// The operator's corrections of a program (name, budget, allocations, validity), the
// publication of its open indicators, and the "Historique" panel of a program or an organisation: the audit
// trail in plain French.

import { h, clear, field, form, money, day, moneyInput, section, pill } from '../dom.js';
import { get, patch, post } from '../api.js';

const longDay = new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', day: 'numeric', month: 'short', year: 'numeric' });
const shortTime = new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' });

/** "3 déc. 2026 à 14:05" (Paris time). */
function when(at) {
  const d = new Date(at);
  return `${longDay.format(d)} à ${shortTime.format(d)}`;
}

const FIELD = {
  name: 'Nom',
  budget: 'Budget',
  public_indicators: 'Indicateurs publics',
  valid_until: 'Fin de validité',
  email: 'E-mail',
  address: 'Adresse',
  postcode: 'Code postal',
  city: 'Commune',
  phone: 'Téléphone',
  website: 'Site web',
  opening_hours: 'Horaires',
  accessibility: 'Accessibilité',
  iban: 'IBAN',
  role: 'Rôle',
  active: 'Accès',
  status: 'État',
  siret: 'SIRET',
  latitude: 'Latitude',
  longitude: 'Longitude',
};

const ROLE = { admin: 'administrateur', agent: 'agent' };

/** A user's change with its role in words. */
function roleWords(v) {
  return v && v.role ? { ...v, role: ROLE[v.role] || v.role } : v;
}

function value(key, v) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'boolean') return v ? 'oui' : 'non';
  if (key === 'budget' || key === 'amount' || key === 'total') return money(v);
  if (/^\d{4}-\d{2}-\d{2}$/.test(String(v))) return day(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The changed fields: "Budget : 1 000,00 € → 1 500,00 €". */
function changes(before, after) {
  const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(after || {})])];
  return keys.map((k) => `${FIELD[k] || k} : ${value(k, before?.[k])} → ${value(k, after?.[k])}`).join(' ; ');
}

/** What an entry says, in a sentence, without who and when. */
export function describe(e, names = {}) {
  const a = e.after || {};
  const b = e.before || {};
  switch (e.action) {
    case 'program.updated': return changes(b, a);
    case 'program.extended':
      return `Validité prolongée : ${day(b.valid_until)} → ${day(a.valid_until)} (${a.tickets} chèque(s), ${a.checkbooks} chéquier(s))`;
    case 'program.closed': return `Dispositif clos (${(a.credit_notes || []).length} avoir(s))`;
    case 'tickets.expired': return `${a.tickets} chèque(s) expiré(s) : ${money(a.value)} rendus au budget`;
    case 'allocation.added':
    case 'allocation.updated':
      return `Dotation de ${names[a.prescriber_id] || 'un prescripteur'} : ${b.checkbooks} → ${a.checkbooks} chéquier(s)`;
    case 'payment.recorded':
      return `Versement de ${names[a.funder_id] || 'un financeur'} : ${money(a.amount)} (réf. ${a.reference}, reçu le ${day(a.received_on)})`;
    case 'settlement.created':
      return `Règlement du ${day(a.period_start)} au ${day(a.period_end)} : ${(a.statements || []).length} relevé(s)`;
    case 'organization.updated': return `Coordonnées corrigées — ${changes(b, a)}`;
    case 'label.granted': return `Label attribué du ${day(a.valid_from)} au ${day(a.valid_until)}`;
    case 'label.renewed': return `Label renouvelé : du ${day(b.valid_from)} au ${day(b.valid_until)} → du ${day(a.valid_from)} au ${day(a.valid_until)}`;
    case 'label.suspended': return 'Label suspendu';
    case 'label.reinstated': return 'Label rétabli';
    case 'user.created': return `Utilisateur ajouté : ${a.email || ''} (${ROLE[a.role] || a.role})`;
    case 'user.updated': return `Utilisateur modifié — ${changes(roleWords(b), roleWords(a))}`;
    default: return `${e.action} — ${changes(b, a)}`;
  }
}

function who(e) {
  const actor = e.actor || {};
  if (actor.email) return `par ${actor.email}${actor.organization_name ? ` (${actor.organization_name})` : ''}`;
  return `par le service (${actor.label || 'automatique'})`;
}

/**
 * The "Historique" panel: the entries of `query` (e.g. `entity_id=…`), newest first,
 * 20 at a time with "Voir plus".
 */
export function historyPanel(query, names = {}) {
  const list = h('ol.history');
  const more = h('div.actions');
  const el = section('Historique', h('p.hint', 'Chaque modification, avec son auteur, sa date et les valeurs avant et après.'), list, more);
  const load = async (cursor) => {
    const page = await get(`/audit?${query}&limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (!cursor) clear(list);
    if (!page.items.length && !cursor) list.append(h('li.empty', 'Aucune modification enregistrée.'));
    for (const e of page.items) {
      list.append(h('li',
        h('p', describe(e, names)),
        h('p.hint', `${who(e)}, le ${when(e.at)}${e.reason ? ` — motif : ${e.reason}` : ''}`)));
    }
    clear(more);
    if (page.next_cursor) {
      more.append(h('button.secondary', { type: 'button', onclick: () => load(page.next_cursor) }, 'Voir plus'));
    }
  };
  return { element: el, draw: () => load(null) };
}

const cents = (amount) => Math.round(Number(amount) * 100);

/** What the budget pays for, in checkbooks, and what is allocated already, in a line. */
export function budgetHint(program) {
  const checkbook = cents(program.ticket_value) * program.tickets_per_checkbook;
  const paidFor = checkbook > 0 ? Math.floor(cents(program.budget) / checkbook) : 0;
  const allocated = (program.allocations || []).reduce((sum, a) => sum + Number(a.checkbooks), 0);
  return `Le budget (${money(program.budget)}) paie ${paidFor} chéquier(s) de ${money((checkbook / 100).toFixed(2))} ; ${allocated} déjà alloué(s), tous prescripteurs comptés.`;
}

/**
 * The confirmation of an allocation past what the budget pays for: a checkbox shown
 * once the server refused with `allocation_over_budget` (its detail says how many
 * checkbooks the budget still pays for). `send(values, request)` calls
 * `request(confirmed)` and reveals the checkbox on that refusal.
 */
export function overBudgetGuard() {
  const box = field({ label: 'Allouer quand même, au-delà de ce que le budget paie', name: 'confirm_over_budget', type: 'checkbox' });
  box.hidden = true;
  return {
    element: box,
    async send(values, request) {
      try {
        const answer = await request(!box.hidden && values.confirm_over_budget === true);
        box.hidden = true;
        box.querySelector('input').checked = false;
        return answer;
      } catch (err) {
        if (err?.code === 'allocation_over_budget') box.hidden = false;
        throw err;
      }
    },
  };
}

/** The forms that correct a program; `done(message)` redraws the page. */
export function correctionsSection(program, done) {
  const id = program.id;
  const end = program.valid_until;
  const allocations = program.allocations || [];
  const overBudget = overBudgetGuard();
  return section('Corriger le dispositif',
    h('p.hint', 'La valeur des chèques, les parts des financeurs et les taux ne changent pas ; chaque correction est inscrite dans l’historique.'),
    h('h3', 'Nom'),
    form({
      label: 'Nom du dispositif',
      submit: 'Enregistrer',
      action: async (v) => {
        await patch(`/programs/${id}`, { name: v.name || '' });
        await done('Dispositif modifié.');
      },
    },
    field({ label: 'Nom', name: 'name', required: true, value: program.name, maxlength: 200 })),
    h('h3', 'Budget'),
    form({
      label: 'Budget',
      submit: 'Modifier le budget',
      action: async (v) => {
        await patch(`/programs/${id}`, { budget: moneyInput(v.budget || '') });
        await done('Budget modifié : les engagements des financeurs suivent leur part.');
      },
    },
    field({
      label: 'Nouveau budget (€)', name: 'budget', required: true, inputmode: 'decimal', value: program.budget.replace('.', ','),
      hint: `Jamais en dessous de ce qui est engagé : chèques émis (${money(program.funding?.issued)}) et versements déjà reçus.`,
    })),
    allocations.length ? [h('h3', 'Changer une dotation'), form({
      label: 'Changer une dotation',
      submit: 'Changer la dotation',
      action: async (v) => {
        await overBudget.send(v, (confirm) => patch(`/programs/${id}/allocations/${v.prescriber_id}`, { checkbooks: Number(v.checkbooks), confirm_over_budget: confirm }));
        await done('Dotation modifiée.');
      },
    },
    h('p.hint', budgetHint(program)),
    h('div.row',
      field({ label: 'Prescripteur', name: 'prescriber_id', required: true, options: allocations.map((a) => [a.prescriber_id, a.prescriber_name]) }),
      field({ label: 'Chéquiers alloués en tout', name: 'checkbooks', required: true, type: 'number', min: 0, value: String(allocations[0].checkbooks), hint: 'Jamais moins que les chéquiers déjà émis.' })),
    overBudget.element)] : null,
    h('h3', 'Prolonger la validité'),
    form({
      label: 'Prolonger la validité',
      submit: 'Prolonger',
      action: async (v, f) => {
        const r = await post(`/programs/${id}/extend`, { valid_until: v.valid_until, reason: v.reason || '' });
        f.reset();
        await done(`Validité prolongée jusqu’au ${day(r.valid_until)} : ${r.tickets} chèque(s) de ${r.checkbooks} chéquier(s).`);
      },
    },
    h('p.hint', end ? `Fin de validité actuelle : ${day(end)}.` : 'Repousse la fin de validité des chèques encore en circulation (jamais plus tôt).'),
    h('div.row',
      field({ label: 'Nouvelle fin de validité', name: 'valid_until', type: 'date', required: true }),
      field({ label: 'Motif', name: 'reason', required: true, maxlength: 500 }))));
}

/**
 * Open data: whether the program's indicators are public, the button that publishes
 * or withdraws them (`PATCH /programs/{id}` `{public_indicators}`), and, when public,
 * where anyone reads them: the public page, the JSON and the CSV.
 */
export function openDataSection(program, done) {
  const id = program.id;
  const on = program.public_indicators;
  const origin = window.location.origin;
  const api = `${origin}/api/v1/public/programs/${id}/indicators`;
  const link = (href) => h('a', { href }, href);
  return section('Données ouvertes',
    h('p', on ? pill('Indicateurs publiés', 'ok') : pill('Indicateurs non publiés', 'info')),
    h('p.hint', 'Publiés, les indicateurs du dispositif se lisent sans compte : les chiffres que voient ses financeurs, sans aucune donnée personnelle ; les groupes de moins de 5 personnes ne sont pas chiffrés.'),
    on ? h('ul.open-data',
      h('li', 'Page publique : ', link(`${origin}/indicateurs/${id}`)),
      h('li', 'JSON : ', link(api)),
      h('li', 'CSV : ', link(`${api}?format=csv`))) : null,
    form({
      label: on ? 'Retirer la publication' : 'Publier les indicateurs',
      submit: on ? 'Retirer la publication' : 'Publier les indicateurs',
      action: async () => {
        await patch(`/programs/${id}`, { public_indicators: !on });
        await done(on ? 'Indicateurs retirés : ils ne sont plus publics.' : 'Indicateurs publiés : ils se lisent sans compte.');
      },
    }));
}
