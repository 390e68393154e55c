// "Équipe": an organisation's users — role, active or not, last login — and what its
// admin does with them: invite, deactivate and reactivate, change the role. The same
// list serves the operator on an organisation's page.

import { h, title, clear, field, form, dateTime, pill, toast, email } from '../dom.js';
import { all, post, patch, ApiError, SessionExpired } from '../api.js';

const ROLE = { admin: 'Administrateur', agent: 'Agent' };

/** The API's refusals about users, in plain French. */
const PLAIN = {
  last_admin: 'Impossible : l’organisation doit toujours garder un administrateur actif. Nommez d’abord un autre administrateur.',
  forbidden: 'Vous n’avez pas le droit de faire cela : seul un administrateur gère les administrateurs.',
  email_taken: 'Cette adresse e-mail a déjà un compte.',
  user_active: 'Cette personne a déjà choisi son mot de passe : elle peut se connecter.',
  not_found: 'Cette personne n’existe plus dans votre organisation. Rechargez la page.',
};

export function plainUserError(err) {
  if (err instanceof ApiError && PLAIN[err.code]) {
    return new ApiError(err.status, { ...err.problem, detail: PLAIN[err.code] });
  }
  return err;
}

function statePill(user) {
  if (user.active === false) return pill('Désactivé', 'bad');
  if (user.status === 'invited') return pill('Invité', 'warn');
  return pill('Actif', 'ok');
}

/**
 * The users of `orgId` with their actions, and the invitation form. `me` decides what
 * is offered: an agent (of the operator) never promotes nor invites an admin.
 */
export function teamSection(orgId, me) {
  const notice = h('div', { role: 'status', 'aria-live': 'polite' });
  const listBox = h('div', { id: 'team-list' });
  const isAdmin = me.role === 'admin';

  const run = async (button, fn) => {
    button.disabled = true;
    clear(notice);
    try {
      await fn();
    } catch (err) {
      if (err instanceof SessionExpired || err?.name === 'SessionExpired') return;
      notice.append(h('p.alert.bad', { role: 'alert' }, plainUserError(err).message));
      notice.scrollIntoView({ block: 'nearest' });
    } finally {
      button.disabled = false;
    }
  };

  const change = async (user, changes, message) => {
    await patch(`/organizations/${orgId}/users/${user.id}`, changes);
    toast(message);
    await draw();
    notice.append(h('p.alert.ok', message));
  };

  const actionsOf = (user) => {
    const button = (text, label, fn, cls = 'secondary') => h(`button.${cls}`, { type: 'button', 'aria-label': `${text} : ${user.email}`, onclick: (e) => run(e.currentTarget, fn) }, label || text);
    if (user.id === me.user_id) {
      // One's own account: never deactivated from here; an admin may step down when
      // another admin remains (else the API answers last_admin, said in plain French).
      return h('div.actions', h('span.hint', 'C’est vous.'), isAdmin && user.role === 'admin'
        ? button('Ne plus être administrateur', null, async () => {
          if (!window.confirm('Ne plus être administrateur ? Vous ne pourrez plus gérer l’équipe.')) return;
          await change(user, { role: 'agent' }, 'Vous êtes maintenant agent. Reconnectez-vous pour que ce changement s’applique partout.');
        })
        : null);
    }
    const buttons = [];
    if (user.status === 'invited' && user.active !== false && (isAdmin || user.role !== 'admin')) {
      buttons.push(button('Renvoyer l’invitation', null, async () => {
        await post(`/organizations/${orgId}/users/${user.id}/invitation`);
        toast(`Nouvelle invitation envoyée à ${user.email}.`);
        notice.append(h('p.alert.ok', `Nouvelle invitation envoyée à ${user.email}.`));
      }));
    }
    if (isAdmin && user.active !== false) {
      buttons.push(user.role === 'admin'
        ? button('Passer agent', null, () => change(user, { role: 'agent' }, `${user.email} est maintenant agent.`))
        : button('Nommer administrateur', null, () => change(user, { role: 'admin' }, `${user.email} est maintenant administrateur.`)));
    }
    if (isAdmin || user.role !== 'admin') {
      buttons.push(user.active === false
        ? button('Réactiver', null, () => change(user, { active: true }, `${user.email} peut de nouveau se connecter.`), 'primary')
        : button('Désactiver', null, async () => {
          if (!window.confirm(`Désactiver le compte de ${user.email} ? La personne ne pourra plus se connecter, et ses connexions en cours seront fermées.`)) return;
          await change(user, { active: false }, `${user.email} est désactivé : ce compte ne peut plus se connecter.`);
        }, 'danger'));
    }
    return buttons.length ? h('div.actions', buttons) : null;
  };

  async function draw() {
    const users = await all(`/organizations/${orgId}/users`);
    const sorted = users.slice().sort((a, b) => Number(b.active !== false) - Number(a.active !== false));
    clear(listBox).append(users.length
      ? h('ul.people', sorted.map((u) => h('li', { class: u.active === false ? 'inactive' : undefined, dataset: { email: u.email } },
        h('p.person', h('strong', email(u.email)), statePill(u)),
        h('p.meta',
          h('span', 'Rôle : ', h('strong', ROLE[u.role] || u.role)), h('br'),
          h('span', 'Dernière connexion : ', u.last_login_at ? dateTime(u.last_login_at) : (u.status === 'invited' ? 'jamais (mot de passe pas encore choisi)' : 'jamais'))),
        actionsOf(u))))
      : h('p.empty', 'Aucun utilisateur : invitez le premier.'));
  }

  const invite = form({
    label: 'Inviter une personne',
    submit: 'Envoyer l’invitation',
    action: async (v, f) => {
      let user;
      try {
        user = await post(`/organizations/${orgId}/users`, { email: v.email || '', role: isAdmin ? v.role : 'agent' });
      } catch (err) {
        throw plainUserError(err);
      }
      f.reset();
      clear(notice).append(h('p.alert.ok', `Invitation envoyée à ${user.email}.`));
      toast(`Invitation envoyée à ${user.email}.`);
      await draw();
    },
  },
  h('p.hint', 'La personne reçoit un lien par e-mail pour choisir son mot de passe. ',
    isAdmin ? 'Un agent fait le travail de tous les jours ; un administrateur gère aussi l’équipe.' : 'Seul un administrateur peut inviter un administrateur.'),
  h('div.row',
    field({ label: 'E-mail', name: 'email', type: 'email', required: true, autocomplete: 'off' }),
    field({ label: 'Rôle', name: 'role', options: isAdmin ? [['agent', 'Agent'], ['admin', 'Administrateur']] : [['agent', 'Agent']] })));

  return {
    element: h('div', notice, listBox, h('h3', 'Inviter une personne'), invite),
    draw,
  };
}

/** `/equipe`: the caller's own organisation. */
export async function teamPage(main, { me }) {
  main.append(title('Équipe'));
  if (me.role !== 'admin' && me.organization.kind !== 'operator') {
    main.append(h('p.alert.info', 'Cette page est réservée aux administrateurs de votre organisation. Demandez-leur d’inviter une personne ou de changer un accès.'));
    return;
  }
  const team = teamSection(me.organization.id, me);
  main.append(
    h('p', `Les personnes qui ont un compte pour ${me.organization.name}. Une personne qui quitte l’organisation doit être désactivée : elle ne peut plus se connecter.`),
    h('section.card', h('h2', 'Membres'), team.element),
  );
  await team.draw();
}
