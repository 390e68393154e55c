// The app: a small router over the History API, the navigation by kind of
// organisation, and the session guard (no session → login, then back here).

import { h, clear, title } from './dom.js';
import { session, lastSession, logout, SessionExpired, ApiError } from './api.js';

const KIND_HOME = {
  operator: '/operateur',
  funder: '/financeur',
  prescriber: '/prescripteur',
  site: '/site',
};

const KIND_NAME = {
  operator: 'Opérateur',
  funder: 'Financeur',
  prescriber: 'Prescripteur',
  site: 'Lieu labellisé',
};

const ROLE_NAME = { admin: 'administrateur', agent: 'agent' };

const NAV = {
  public: [['/lieux', 'Trouver un lieu'], ['/indicateurs', 'Indicateurs'], ['/connexion', 'Se connecter']],
  site: [['/site', 'Encaisser'], ['/site/historique', 'Historique'], ['/site/releves', 'Relevés'], ['/site/fiche', 'Ma fiche'], ['/lieux', 'Lieux']],
  prescriber: [['/prescripteur', 'Chéquiers'], ['/prescripteur/emettre', 'Émettre'], ['/prescripteur/lieux', 'Lieux proches']],
  funder: [['/financeur', 'Dispositifs'], ['/financeur/releves', 'Relevés']],
  operator: [
    ['/operateur', 'Accueil'],
    ['/operateur/organisations', 'Organisations'],
    ['/operateur/dispositifs', 'Dispositifs'],
    ['/operateur/remboursements', 'Remboursements'],
    ['/operateur/courriels', 'Courriels'],
    ['/operateur/recherche', 'Rechercher'],
  ],
};

// [pattern, module, export, kind required (null: public, '*': any logged-in person)]
const ROUTES = [
  [/^\/connexion$/, './pages/login.js', 'loginPage', null],
  [/^\/invitation$/, './pages/login.js', 'invitationPage', null],
  [/^\/mot-de-passe-oublie$/, './pages/account.js', 'forgottenPage', null],
  [/^\/mot-de-passe$/, './pages/account.js', 'resetPage', null],
  [/^\/changer-mot-de-passe$/, './pages/account.js', 'changePasswordPage', '*'],
  [/^\/equipe$/, './pages/team.js', 'teamPage', '*'],
  [/^\/lieux$/, './pages/sites.js', 'publicSitesPage', null],
  [/^\/indicateurs$/, './pages/indicators.js', 'publishedProgramsPage', null],
  [/^\/indicateurs\/([0-9a-f-]{36})$/, './pages/indicators.js', 'publicIndicatorsPage', null],
  [/^\/site$/, './pages/site.js', 'scanPage', 'site'],
  [/^\/site\/verifier$/, './pages/site-verify.js', 'siteVerifyPage', 'site'],
  [/^\/site\/historique$/, './pages/site-history.js', 'siteHistoryPage', 'site'],
  [/^\/site\/releves$/, './pages/site-statements.js', 'siteStatementsPage', 'site'],
  [/^\/site\/fiche$/, './pages/site-entry.js', 'siteEntryPage', 'site'],
  [/^\/prescripteur$/, './pages/prescriber.js', 'homePage', 'prescriber'],
  [/^\/prescripteur\/emettre$/, './pages/prescriber.js', 'issuePage', 'prescriber'],
  [/^\/prescripteur\/chequiers\/([0-9a-f-]{36})$/, './pages/prescriber.js', 'checkbookPage', 'prescriber'],
  [/^\/prescripteur\/lieux$/, './pages/sites.js', 'prescriberSitesPage', 'prescriber'],
  [/^\/financeur$/, './pages/funder.js', 'programsPage', 'funder'],
  [/^\/financeur\/dispositifs\/([0-9a-f-]{36})$/, './pages/funder.js', 'programPage', 'funder'],
  [/^\/financeur\/releves$/, './pages/funder.js', 'statementsPage', 'funder'],
  [/^\/operateur$/, './pages/operator.js', 'dashboardPage', 'operator'],
  [/^\/operateur\/organisations$/, './pages/operator.js', 'organizationsPage', 'operator'],
  [/^\/operateur\/organisations\/([0-9a-f-]{36})$/, './pages/operator.js', 'organizationPage', 'operator'],
  [/^\/operateur\/dispositifs$/, './pages/operator.js', 'programsPage', 'operator'],
  [/^\/operateur\/dispositifs\/([0-9a-f-]{36})$/, './pages/operator.js', 'programPage', 'operator'],
  [/^\/operateur\/remboursements$/, './pages/operator.js', 'settlementsPage', 'operator'],
  [/^\/operateur\/courriels$/, './pages/operator-mail.js', 'outboxPage', 'operator'],
  [/^\/operateur\/recherche$/, './pages/operator-lookup.js', 'lookupPage', 'operator'],
];

let cleanup = null;
let renderCount = 0;

// Node.append() writes null and undefined as the words "null" and "undefined": the
// login page once showed "nullnull" under its title, from two absent notices. The
// pages' container drops them instead, whatever a page appends.
{
  const main = document.getElementById('main');
  const append = Element.prototype.append;
  main.append = (...nodes) => append.apply(main, nodes.filter((n) => n !== null && n !== undefined && n !== false));
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

export function homeOf(me) {
  return (me && KIND_HOME[me.organization.kind]) || '/lieux';
}

/** Who sees "Équipe": an organisation's admins; the operator's agents (non-admin users). */
export function managesTeam(me) {
  return Boolean(me) && (me.role === 'admin' || me.organization.kind === 'operator');
}

function drawChrome(me) {
  const nav = clear(document.getElementById('nav'));
  const items = me ? [...(NAV[me.organization.kind] || []), ...(managesTeam(me) ? [['/equipe', 'Équipe']] : [])] : NAV.public;
  const here = location.pathname;
  const list = h('ul', items.map(([href, text]) => {
    const current = here === href || (href !== '/operateur' && href !== '/prescripteur' && href !== '/financeur' && href !== '/site' && here.startsWith(`${href}/`)) || (href === '/site' && here === '/site/verifier');
    return h('li', h('a', { href, 'aria-current': current ? 'page' : undefined }, text));
  }));
  nav.append(list);
  const account = clear(document.getElementById('account'));
  if (me) {
    account.append(
      // Who is logged in, at every width: the organisation, its kind and one's role.
      h('p.who', { id: 'who' },
        h('span.visually-hidden', 'Connecté pour '),
        h('strong', me.organization.name),
        h('span.kind', ` · ${[KIND_NAME[me.organization.kind], ROLE_NAME[me.role]].filter(Boolean).join(', ')}`)),
      h('a.account-link', { href: '/changer-mot-de-passe', 'aria-current': here === '/changer-mot-de-passe' ? 'page' : undefined }, 'Mot de passe'),
      h('button.link', {
        type: 'button',
        onclick: async (event) => {
          event.currentTarget.disabled = true;
          await logout();
          navigate('/connexion?deconnecte=1');
        },
      }, 'Se déconnecter'),
    );
  }
}

async function render() {
  const token = ++renderCount;
  if (cleanup) {
    try {
      cleanup();
    } catch {
      /* a page that fails to clean up must not block the next */
    }
    cleanup = null;
  }
  const main = document.getElementById('main');
  const path = location.pathname.replace(/\/+$/, '') || '/';
  // Offline, a site agent whose token ran out keeps scanning into the device's queue;
  // the login comes back with the network, before the queue is sent.
  const me = session()?.me || (!navigator.onLine && path === '/site' ? lastSession()?.me : null) || null;
  if (path === '/') {
    navigate(me ? homeOf(me) : '/connexion', { replace: true });
    return;
  }
  const route = ROUTES.find(([re]) => re.test(path));
  drawChrome(me);
  clear(main);
  if (!route) {
    main.append(title('Page introuvable'), h('p', 'Cette page n’existe pas. ', h('a', { href: '/' }, 'Revenir à l’accueil')));
    return;
  }
  const [re, module, name, kind] = route;
  if (kind && !me) {
    const params = new URLSearchParams({ retour: location.pathname + location.search });
    navigate(`/connexion?${params}`, { replace: true });
    return;
  }
  if (kind && kind !== '*' && me.organization.kind !== kind) {
    main.append(title('Accès réservé'), h('p', 'Cette page est réservée à un autre type de compte. ', h('a', { href: homeOf(me) }, 'Aller à votre accueil')));
    return;
  }
  main.append(h('p.loading', 'Chargement…'));
  try {
    const mod = await import(module);
    if (token !== renderCount) return;
    clear(main);
    const args = path.match(re).slice(1);
    const result = await mod[name](main, { me, args, query: new URLSearchParams(location.search), navigate });
    if (token !== renderCount) {
      if (typeof result === 'function') result();
      return;
    }
    if (typeof result === 'function') cleanup = result;
  } catch (err) {
    if (err instanceof SessionExpired || err?.name === 'SessionExpired') return;
    if (token !== renderCount) return;
    clear(main);
    main.append(title('Un problème est survenu'),
      h('p.alert.bad', { role: 'alert' }, err instanceof ApiError ? err.message : 'La page n’a pas pu s’afficher. Rechargez-la.'));
    console.error(err);
  }
  // Focus goes to the page for keyboard and screen-reader users, not the top bar.
  if (document.activeElement === document.body || !main.contains(document.activeElement)) {
    const heading = main.querySelector('h1');
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }
}

document.addEventListener('click', (event) => {
  const a = event.target.closest('a[href]');
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || a.target || a.hasAttribute('download')) return;
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/docs') || url.pathname.startsWith('/app/')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', render);

// Keeps the app's files on the device: a scan page reloaded offline still opens.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/app/sw.js', { scope: '/' }).catch(() => {});
}
window.addEventListener('passnum:navigate', (event) => navigate(event.detail));

render();
