// The operator: organisations, users (invite), site labels, programs (shares, rates,
// payments, allocations, close), settlements and statements; the dashboard and what
// it warns about. Mails: operator-mail.js; support's lookup: operator-lookup.js.

import { h, title, clear, field, form, money, day, dateTime, percent, percentToRate, moneyInput, table, section, pill, toast, parisToday } from '../dom.js';
import { get, post, patch, all, ApiError, SessionExpired } from '../api.js';
import { statsView, moneyView } from '../stats.js';
import { statementsTable, KIND as STATEMENT_KIND } from './funder.js';
import { teamSection } from './team.js';
import { term, legend } from '../terms.js';
import { correctionsSection, historyPanel, overBudgetGuard, budgetHint, openDataSection } from './operator-program.js';
import { payoutsSection, unpaidAlerts } from './operator-payouts.js';

const ORG_KIND = { operator: 'Opérateur', funder: 'Financeur', prescriber: 'Prescripteur', site: 'Lieu labellisé' };
const LABEL_STATUS = {
  active: ['Label actif', 'ok'],
  suspended: ['Label suspendu', 'bad'],
  not_yet_valid: ['Label pas encore valable', 'warn'],
  expired: ['Label échu', 'bad'],
};

function labelPill(label) {
  if (!label) return pill('Sans label', 'warn');
  const [text, tone] = LABEL_STATUS[label.status] || [label.status, 'info'];
  return pill(text, tone);
}

function addYears(date, years) {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCFullYear(d.getUTCFullYear() + years);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
}

/** A button that runs `fn`, shows its error in `notice`. */
function action(text, fn, notice, cls = 'secondary') {
  return h(`button.${cls}`, {
    type: 'button',
    onclick: async (e) => {
      const b = e.currentTarget;
      b.disabled = true;
      if (notice) clear(notice);
      try {
        await fn();
      } catch (err) {
        if (!(err instanceof SessionExpired)) {
          if (notice) notice.append(h('p.alert.bad', { role: 'alert' }, err.message));
          else toast(err.message);
        }
      } finally {
        b.disabled = false;
      }
    },
  }, text);
}

const longMonth = new Intl.DateTimeFormat('fr-FR', { timeZone: 'UTC', month: 'long', year: 'numeric' });

/** « À surveiller »: finished months not yet settled, programs whose cover is low or broken. */
function alertsSection(alerts) {
  const margin = percent(alerts.low_cover_margin);
  const items = [
    ...alerts.unsettled_months.map((m) => h('li.alert.warn',
      h('strong', `${longMonth.format(new Date(`${m.month}-01T00:00:00Z`))} n’est pas remboursé. `),
      `${m.redemptions} chèque${m.redemptions > 1 ? 's' : ''} encaissé${m.redemptions > 1 ? 's' : ''} par ${m.sites} lieu${m.sites > 1 ? 'x' : ''} : ${money(m.amount_payable)} à ${m.sites > 1 ? 'leur' : 'lui'} payer. `,
      h('a', { href: `/operateur/remboursements?du=${m.period_start}&au=${m.period_end}` }, 'Rembourser ce mois'))),
    ...alerts.cover.map((c) => (c.level === 'broken'
      ? h('li.alert.bad',
        h('strong', `${c.name} n’est pas couvert. `),
        `L’argent détenu (${money(c.held)}) est inférieur à ce qui est dû (${money(c.owed)} : chèques en circulation et sommes dues aux lieux). `,
        h('a', { href: `/operateur/dispositifs/${c.program_id}` }, 'Voir le dispositif'))
      : h('li.alert.warn',
        h('strong', `Marge faible sur ${c.name}. `),
        `L’argent détenu (${money(c.held)}) ne dépasse ce qui est dû (${money(c.owed)}) que de ${percent(c.margin)}, moins de ${margin} : les prescripteurs seront bientôt bloqués. Demandez le prochain versement aux financeurs ou relevez le budget. `,
        h('a', { href: `/operateur/dispositifs/${c.program_id}` }, 'Voir le dispositif')))),
    ...unpaidAlerts(alerts),
  ];
  return section('À surveiller',
    items.length
      ? h('ul.alerts', items)
      : h('p', pill(`Rien à signaler : chaque mois terminé est remboursé, et chaque dispositif garde plus de ${margin} de marge au-delà de ce qu’il doit.`, 'ok')));
}

export async function dashboardPage(main) {
  const [orgs, programs, cover, failed, alerts] = await Promise.all([
    all('/organizations'),
    all('/programs'),
    get('/ledger/cover'),
    get('/outbox?status=failed&limit=200'),
    get('/dashboard/alerts'),
  ]);
  const count = (kind) => orgs.filter((o) => o.kind === kind).length;
  const sites = orgs.filter((o) => o.kind === 'site');
  const activeSites = sites.filter((o) => o.label?.active).length;
  main.append(
    title('Tableau de bord'),
    h('div.kpis',
      h('a.kpi', { href: '/operateur/organisations' }, h('span.kpi-label', 'Financeurs'), h('strong.kpi-value', String(count('funder')))),
      h('a.kpi', { href: '/operateur/organisations' }, h('span.kpi-label', 'Prescripteurs'), h('strong.kpi-value', String(count('prescriber')))),
      h('a.kpi', { href: '/operateur/organisations' }, h('span.kpi-label', 'Lieux labellisés actifs'), h('strong.kpi-value', `${activeSites} / ${sites.length}`)),
      h('a.kpi', { href: '/operateur/dispositifs' }, h('span.kpi-label', 'Dispositifs ouverts'), h('strong.kpi-value', String(programs.filter((p) => p.status === 'open').length))),
      h('a.kpi', { href: '/operateur/courriels' }, h('span.kpi-label', 'Courriels en échec'), h('strong.kpi-value', String(failed.items.length)))),
    alertsSection(alerts),
    section('Couverture des dispositifs',
      h('p', cover.covered
        ? pill('Tout est couvert : l’argent reçu couvre les chèques en circulation et les sommes dues aux lieux.', 'ok')
        : pill('Attention : un dispositif n’est pas couvert.', 'bad')),
      table([
        { label: 'Dispositif', cell: (c) => h('a', { href: `/operateur/dispositifs/${c.program_id}` }, c.name) },
        { label: term('received'), cell: (c) => money(c.received), class: 'num' },
        { label: term('held'), cell: (c) => money(c.held), class: 'num' },
        { label: term('outstanding'), cell: (c) => money(c.outstanding), class: 'num' },
        { label: term('owed_to_sites'), cell: (c) => money(c.owed_to_sites), class: 'num' },
        { label: 'Couvert', cell: (c) => (c.covered ? pill('Oui', 'ok') : pill('Non', 'bad')) },
      ], cover.programs, { caption: 'Couverture', empty: 'Aucun dispositif.' }),
      cover.programs.length ? legend(['received', 'held', 'outstanding', 'owed_to_sites', 'covered']) : null),
  );
}

function orgForm(navigate) {
  return form({
    label: 'Nouvelle organisation',
    submit: 'Créer l’organisation',
    action: async (v) => {
      const body = { kind: v.kind, name: v.name || '', email: v.email || '', postcode: v.postcode || '', city: v.city || '' };
      if (v.address) body.address = v.address;
      if (v.siret) body.siret = v.siret;
      for (const k of ['latitude', 'longitude']) {
        if (v[k]) body[k] = Number(String(v[k]).replace(',', '.'));
      }
      const org = await post('/organizations', body);
      toast(`${org.name} créée.`);
      navigate(`/operateur/organisations/${org.id}`);
    },
  },
  field({ label: 'Type', name: 'kind', required: true, options: [['site', 'Lieu labellisé (structure de médiation)'], ['prescriber', 'Prescripteur'], ['funder', 'Financeur']] }),
  field({ label: 'Nom', name: 'name', required: true, maxlength: 200 }),
  field({ label: 'E-mail de contact', name: 'email', type: 'email', required: true }),
  field({ label: 'Adresse', name: 'address', maxlength: 300 }),
  h('div.row',
    field({ label: 'Code postal', name: 'postcode', required: true, inputmode: 'numeric', maxlength: 5 }),
    field({ label: 'Ville', name: 'city', required: true })),
  field({ label: 'SIRET', name: 'siret', inputmode: 'numeric', hint: '14 chiffres.' }),
  h('div.row',
    field({ label: 'Latitude', name: 'latitude', inputmode: 'decimal', hint: 'Pour l’annuaire des lieux, ex. 47.62' }),
    field({ label: 'Longitude', name: 'longitude', inputmode: 'decimal', hint: 'ex. 6.15' })));
}

export async function organizationsPage(main, { navigate, query }) {
  const kind = query.get('type') || '';
  const orgs = await all(`/organizations${kind ? `?kind=${kind}` : ''}`);
  const filter = h('nav.filters', { 'aria-label': 'Filtrer par type' },
    [['', 'Toutes'], ['funder', 'Financeurs'], ['prescriber', 'Prescripteurs'], ['site', 'Lieux']].map(([k, text]) =>
      h('a', { href: `/operateur/organisations${k ? `?type=${k}` : ''}`, 'aria-current': k === kind ? 'page' : undefined }, text)));
  main.append(
    title('Organisations'),
    h('details.card', h('summary', 'Créer une organisation'), orgForm(navigate)),
    section('Liste', filter, table([
      { label: 'Nom', cell: (o) => h('a', { href: `/operateur/organisations/${o.id}` }, o.name) },
      { label: 'Type', cell: (o) => ORG_KIND[o.kind] },
      { label: 'Ville', cell: (o) => `${o.postcode} ${o.city}` },
      { label: 'Label', cell: (o) => (o.kind === 'site' ? labelPill(o.label) : '') },
    ], orgs.filter((o) => o.kind !== 'operator'), { caption: 'Organisations', empty: 'Aucune organisation : créez la première.' })),
  );
}

export async function organizationPage(main, { args, me }) {
  const [id] = args;
  let org = await get(`/organizations/${id}`);
  const notice = h('div', { role: 'status', 'aria-live': 'polite' });
  const labelBox = h('div');

  const drawLabel = () => {
    clear(labelBox);
    if (org.kind !== 'site') return;
    const l = org.label;
    const today = parisToday();
    labelBox.append(section('Label APTIC',
      h('p', labelPill(l), l ? ` du ${day(l.valid_from)} au ${day(l.valid_until)}${l.suspended_at ? ` — suspendu le ${dateTime(l.suspended_at)}` : ''}` : ''),
      h('div.actions',
        l && !l.suspended_at ? action('Suspendre le label', async () => {
          if (!window.confirm(`Suspendre le label de ${org.name} ? Le lieu ne pourra plus encaisser de chèque.`)) return;
          await post(`/sites/${id}/label/suspend`);
          org = await get(`/organizations/${id}`);
          toast('Label suspendu.');
          drawLabel();
        }, notice, 'danger') : null,
        l && l.suspended_at ? action('Rétablir le label', async () => {
          await post(`/sites/${id}/label/reinstate`);
          org = await get(`/organizations/${id}`);
          toast('Label rétabli.');
          drawLabel();
        }, notice, 'primary') : null),
      form({
        label: 'Attribuer le label',
        submit: l ? 'Renouveler le label' : 'Attribuer le label',
        action: async (v) => {
          await post(`/sites/${id}/label`, { valid_from: v.valid_from, valid_until: v.valid_until });
          org = await get(`/organizations/${id}`);
          toast('Label enregistré.');
          drawLabel();
        },
      },
      h('div.row',
        field({ label: 'Valable du', name: 'valid_from', type: 'date', required: true, value: l?.valid_from || today }),
        field({ label: 'au', name: 'valid_until', type: 'date', required: true, value: l?.valid_until || addYears(today, 3) })))));
  };

  const team = teamSection(id, me);
  const history = historyPanel(`organization_id=${id}`, { [id]: org.name });
  const summaryOf = (o) => `${ORG_KIND[o.kind]} — ${[o.address, `${o.postcode} ${o.city}`].filter(Boolean).join(', ')} — ${o.email}${o.siret ? ` — SIRET ${o.siret}` : ''}`;
  const summary = h('p', summaryOf(org));
  const heading = title(org.name);

  main.append(
    h('p.back', h('a', { href: '/operateur/organisations' }, '← Organisations')),
    heading,
    summary,
    notice,
    labelBox,
    contactSection(org, async (updated) => {
      org = updated;
      heading.textContent = org.name;
      summary.textContent = summaryOf(org);
      await history.draw();
    }),
    section('Utilisateurs', team.element),
    history.element,
  );
  drawLabel();
  await Promise.all([team.draw(), history.draw()]);
}

/** The fields of an organisation the operator corrects (PATCH /organizations/{id}). */
const CONTACT_FIELDS = ['name', 'email', 'address', 'postcode', 'city', 'siret'];

/**
 * "Corriger les coordonnées": name, e-mail, address, postcode, town and SIRET, sent
 * only when changed (an emptied optional field is cleared); `saved(org)` redraws.
 */
function contactSection(org, saved) {
  return h('details.card',
    h('summary', 'Corriger les coordonnées'),
    form({
      label: 'Coordonnées',
      submit: 'Enregistrer les coordonnées',
      action: async (v) => {
        const body = {};
        for (const key of CONTACT_FIELDS) {
          const now = v[key] ?? '';
          if (now !== (org[key] ?? '')) body[key] = now === '' ? null : now;
        }
        if (!Object.keys(body).length) {
          toast('Rien à changer : les coordonnées sont déjà celles-ci.');
          return;
        }
        org = await patch(`/organizations/${org.id}`, body);
        await saved(org);
        toast('Coordonnées corrigées : la modification est inscrite dans l’historique.');
      },
    },
    h('div.row',
      field({ label: 'Nom', name: 'name', required: true, value: org.name, maxlength: 200 }),
      field({ label: 'E-mail de contact', name: 'email', required: true, type: 'email', value: org.email })),
    field({ label: 'Adresse', name: 'address', value: org.address || '', maxlength: 300 }),
    h('div.row',
      field({ label: 'Code postal', name: 'postcode', required: true, value: org.postcode, inputmode: 'numeric', maxlength: 5 }),
      field({ label: 'Commune', name: 'city', required: true, value: org.city, maxlength: 100 })),
    field({ label: 'SIRET', name: 'siret', value: org.siret || '', inputmode: 'numeric', maxlength: 17 })));
}

function funderRow(funders, index) {
  return h('div.row.funder-row',
    field({ label: `Financeur ${index + 1}`, name: `funder_${index}`, required: index === 0, options: [['', '— choisir —'], ...funders.map((f) => [f.id, f.name])] }),
    field({ label: 'Part (%)', name: `share_${index}`, required: index === 0, inputmode: 'decimal', value: index === 0 ? '100' : '' }));
}

function programForm(funders, navigate) {
  const rows = h('div.funders', funderRow(funders, 0));
  let n = 1;
  const add = h('button.secondary', {
    type: 'button',
    onclick: () => {
      if (n >= 6) return;
      rows.append(funderRow(funders, n));
      n += 1;
    },
  }, 'Ajouter un cofinanceur');
  return form({
    label: 'Nouveau dispositif',
    submit: 'Ouvrir le dispositif',
    action: async (v) => {
      const list = [];
      for (let i = 0; i < n; i += 1) {
        if (!v[`funder_${i}`]) continue;
        list.push({ organization_id: v[`funder_${i}`], share: percentToRate(v[`share_${i}`]) ?? String(v[`share_${i}`] || '') });
      }
      const body = {
        name: v.name || '',
        ticket_value: moneyInput(v.ticket_value || ''),
        tickets_per_checkbook: Number(v.tickets_per_checkbook),
        validity_days: Number(v.validity_days),
        tolerance_days: v.tolerance_days ? Number(v.tolerance_days) : 0,
        commission_rate: percentToRate(v.commission_rate) ?? '0',
        funder_fee_rate: percentToRate(v.funder_fee_rate) ?? '0',
        budget: moneyInput(v.budget || ''),
        funders: list,
      };
      if (v.territory) body.territory_postcodes = v.territory.split(/[\s,;]+/).filter(Boolean);
      let program;
      try {
        program = await post('/programs', body);
      } catch (err) {
        if (err instanceof ApiError && err.problem?.field?.startsWith('funders')) {
          const m = /funders\[(\d+)\]\.(\w+)/.exec(err.problem.field);
          if (m) err.problem.field = m[2] === 'share' ? `share_${m[1]}` : `funder_${m[1]}`;
          else err.problem.field = 'funder_0';
        }
        if (err instanceof ApiError && err.problem?.field === 'territory_postcodes') err.problem.field = 'territory';
        throw err;
      }
      toast(`Dispositif ${program.name} ouvert.`);
      navigate(`/operateur/dispositifs/${program.id}`);
    },
  },
  field({ label: 'Nom du dispositif', name: 'name', required: true, maxlength: 200 }),
  h('div.row',
    field({ label: 'Valeur d’un chèque (€)', name: 'ticket_value', required: true, value: '10,00', inputmode: 'decimal' }),
    field({ label: 'Chèques par chéquier', name: 'tickets_per_checkbook', required: true, type: 'number', min: 1, max: 20, value: '10' })),
  h('div.row',
    field({ label: 'Validité (jours)', name: 'validity_days', required: true, type: 'number', min: 1, value: '365' }),
    field({ label: 'Tolérance après validité (jours)', name: 'tolerance_days', type: 'number', min: 0, value: '0' })),
  field({ label: 'Budget (€)', name: 'budget', required: true, inputmode: 'decimal', hint: 'Le total que les financeurs s’engagent à verser.' }),
  h('div.row',
    field({ label: 'Commission de l’opérateur (%)', name: 'commission_rate', inputmode: 'decimal', value: '0', hint: 'Retenue sur les remboursements aux lieux.' }),
    field({ label: 'Frais facturés aux financeurs (%)', name: 'funder_fee_rate', inputmode: 'decimal', value: '0' })),
  h('fieldset', h('legend', 'Financeurs et leurs parts (le total fait 100 %)'), rows, add),
  field({ label: 'Territoire : codes postaux ou départements', name: 'territory', hint: 'Par exemple « 70, 25 ». Vide : partout.' }));
}

export async function programsPage(main, { navigate }) {
  const [programs, funders] = await Promise.all([all('/programs'), all('/organizations?kind=funder')]);
  main.append(
    title('Dispositifs'),
    h('details.card', h('summary', 'Ouvrir un dispositif'),
      funders.length ? programForm(funders, navigate) : h('p.alert.info', 'Créez d’abord un financeur dans Organisations.')),
    section('Liste', table([
      { label: 'Dispositif', cell: (p) => h('a', { href: `/operateur/dispositifs/${p.id}` }, p.name) },
      { label: 'État', cell: (p) => (p.status === 'open' ? pill('Ouvert', 'ok') : pill('Clos', 'warn')) },
      { label: 'Budget', cell: (p) => money(p.budget), class: 'num' },
      { label: term('received'), cell: (p) => money(p.funding?.received), class: 'num' },
      { label: term('outstanding'), cell: (p) => money(p.funding?.outstanding), class: 'num' },
      { label: 'Chéquiers alloués', cell: (p) => String(p.allocations.reduce((s, a) => s + a.checkbooks, 0)), class: 'num' },
    ], programs, { caption: 'Dispositifs', empty: 'Aucun dispositif.' }),
    programs.length ? legend(['received', 'outstanding']) : null),
  );
}

/** Why the program issues nothing now, said before anything else (open programs). */
function issuanceAlert(program, names) {
  const i = program.issuance;
  // '' rather than null: the page's body is filled by append(), which would print "null".
  if (!i || i.open || i.reason === 'program_closed') return '';
  return h('p.alert.warn', { role: 'status' }, i.reason === 'funds_not_received'
    ? `Émission bloquée : en attente du versement de ${i.funder_name || names[i.funder_id] || 'un financeur'}. Ce qu’il a versé ne couvre pas sa part d’un chéquier de plus${i.missing_amount ? ` (il manque ${money(i.missing_amount)})` : ''} ; les prescripteurs ne peuvent rien émettre d’ici là.`
    : 'Émission bloquée : le budget est entièrement émis. Relevez le budget pour émettre de nouveaux chéquiers.');
}

export async function programPage(main, { args }) {
  const [id] = args;
  const [orgs, cover] = await Promise.all([all('/organizations'), get('/ledger/cover')]);
  const names = Object.fromEntries(orgs.map((o) => [o.id, o.name]));
  const prescribers = orgs.filter((o) => o.kind === 'prescriber');
  const notice = h('div', { role: 'status', 'aria-live': 'polite' });
  const body = h('div');

  const draw = async () => {
    const [list, stats] = await Promise.all([all('/programs'), get(`/programs/${id}/stats`)]);
    const program = list.find((p) => p.id === id) || { ...(await get(`/programs/${id}`)), allocations: [] };
    const open = program.status === 'open';
    const allocationGuard = overBudgetGuard();
    heading.textContent = program.name;
    document.title = `${program.name} — Pass Numérique`;
    clear(body).append(
      h('p', open ? pill('Ouvert', 'ok') : pill('Clos', 'warn'),
        ` ${program.tickets_per_checkbook} chèques de ${money(program.ticket_value)} par chéquier, valables ${program.validity_days ? `${program.validity_days} jours` : `jusqu’au ${day(program.valid_until)}`}` +
        `${program.tolerance_days ? ` (+${program.tolerance_days} j de tolérance)` : ''} — commission ${percent(program.commission_rate)}, frais financeurs ${percent(program.funder_fee_rate)}` +
        ` — territoire : ${program.territory_postcodes.length ? program.territory_postcodes.join(', ') : 'partout'}.`),
      issuanceAlert(program, names),
      section('Argent', moneyView(program, cover.programs.find((c) => c.program_id === id)),
        legend(['received', 'available', 'outstanding', 'issuable', 'covered']),
        table([
          { label: 'Financeur', cell: (f) => names[f.organization_id] || f.organization_id },
          { label: 'Part', cell: (f) => percent(f.share), class: 'num' },
          { label: 'Engagé', cell: (f) => money(f.committed), class: 'num' },
          { label: 'Versé', cell: (f) => money(f.paid), class: 'num' },
        ], program.funders, { caption: 'Financeurs' }),
        open ? [h('h3', 'Enregistrer un versement reçu'), form({
          label: 'Versement reçu',
          submit: 'Enregistrer le versement',
          action: async (v, f) => {
            await post(`/programs/${id}/payments`, { funder_id: v.funder_id, amount: moneyInput(v.amount || ''), reference: v.reference || '', received_on: v.received_on });
            f.reset();
            await draw();
            toast('Versement enregistré : l’argent est disponible pour émettre des chéquiers.');
          },
        },
        field({ label: 'Financeur', name: 'funder_id', required: true, options: program.funders.map((f) => [f.organization_id, names[f.organization_id] || f.organization_id]) }),
        h('div.row',
          field({ label: 'Montant reçu (€)', name: 'amount', required: true, inputmode: 'decimal' }),
          field({ label: 'Reçu le', name: 'received_on', type: 'date', required: true, value: parisToday() })),
        field({ label: 'Référence du virement', name: 'reference', required: true, maxlength: 100 }))] : null),
      section('Dotations des prescripteurs',
        table([
          { label: 'Prescripteur', cell: (a) => a.prescriber_name },
          { label: 'Chéquiers alloués', cell: (a) => String(a.checkbooks), class: 'num' },
          { label: 'Restant à émettre', cell: (a) => String(a.remaining_checkbooks), class: 'num' },
        ], program.allocations, { caption: 'Dotations', empty: 'Aucune dotation : aucun prescripteur ne peut encore émettre.' }),
        open && prescribers.length ? [h('h3', 'Allouer des chéquiers'), form({
          label: 'Dotation',
          submit: 'Allouer',
          action: async (v) => {
            await allocationGuard.send(v, (confirm) => post(`/programs/${id}/allocations`, { prescriber_id: v.prescriber_id, checkbooks: Number(v.checkbooks), confirm_over_budget: confirm }));
            await draw();
            toast('Dotation enregistrée.');
          },
        },
        h('p.hint', budgetHint(program)),
        h('div.row',
          field({ label: 'Prescripteur', name: 'prescriber_id', required: true, options: prescribers.map((p) => [p.id, p.name]) }),
          field({ label: 'Nombre de chéquiers', name: 'checkbooks', required: true, type: 'number', min: 1, value: '10' })),
        allocationGuard.element)] : null),
      open ? correctionsSection(program, async (message) => {
        await draw();
        toast(message);
      }) : null,
      section('Usage', statsView(stats)),
      openDataSection(program, async (message) => {
        await draw();
        toast(message);
      }),
      history.element,
      open ? h('details.card.danger', h('summary', 'Clore le dispositif'),
        h('p', 'Possible quand plus aucun chèque ne peut être utilisé. Ce qui reste revient à chaque financeur, selon sa part, sous forme d’avoir.'),
        action('Clore le dispositif', async () => {
          if (!window.confirm(`Clore le dispositif ${program.name} ? C’est définitif.`)) return;
          const closed = await post(`/programs/${id}/close`);
          toast(`Dispositif clos : ${closed.credit_notes.length} avoir(s) établi(s).`);
          await draw();
        }, notice, 'danger')) : '',
    );
    await history.draw();
  };
  const history = historyPanel(`entity_id=${id}`, names);
  const heading = title('Dispositif');
  main.append(h('p.back', h('a', { href: '/operateur/dispositifs' }, '← Dispositifs')), heading, notice, body);
  await draw();
}

function previousMonth() {
  const today = parisToday();
  const [y, m] = today.split('-').map(Number);
  const start = new Date(Date.UTC(m === 1 ? y - 1 : y, m === 1 ? 11 : m - 2, 1));
  const end = new Date(Date.UTC(y, m - 1, 0));
  return [start.toISOString().slice(0, 10), end.toISOString().slice(0, 10)];
}

export async function settlementsPage(main, { query } = {}) {
  const [orgs] = await Promise.all([all('/organizations')]);
  const names = Object.fromEntries(orgs.map((o) => [o.id, o.name]));
  const listBox = h('div');
  const payouts = payoutsSection(names);
  const resultBox = h('div', { role: 'status', 'aria-live': 'polite' });
  const drawList = async () => {
    const statements = await all('/statements');
    clear(listBox).append(statementsTable(statements.slice().reverse(), names));
  };
  const [lastStart, lastEnd] = previousMonth();
  // The dashboard's « Rembourser ce mois » names an older month.
  const start = query?.get('du') || lastStart;
  const end = query?.get('au') || lastEnd;
  main.append(
    title('Remboursements'),
    section('Rembourser une période',
      h('p', 'Chaque lieu est payé de ses chèques encaissés dans la période, chaque financeur est facturé de sa part ; un relevé numéroté est établi pour chacun. Une période ne peut être remboursée qu’une fois, et une fois terminée.'),
      form({
        label: 'Période à rembourser',
        submit: 'Rembourser la période',
        action: async (v) => {
          const s = await post('/settlements', { period_start: v.period_start, period_end: v.period_end });
          clear(resultBox).append(h('p.alert.ok', `Remboursement du ${day(s.period_start)} au ${day(s.period_end)} : ${s.statements.length} relevé(s) établi(s).`),
            h('ul', s.statements.map((st) => h('li', `${st.number} — ${STATEMENT_KIND[st.kind] || st.kind} — ${names[st.organization_id] || ''} — ${money(st.total)}`))));
          await drawList();
          await payouts.draw();
        },
      }, h('div.row',
        field({ label: 'Du', name: 'period_start', type: 'date', required: true, value: start }),
        field({ label: 'Au', name: 'period_end', type: 'date', required: true, value: end }))),
      resultBox),
    payouts.element,
    section('Relevés', listBox),
  );
  await Promise.all([drawList(), payouts.draw()]);
}
