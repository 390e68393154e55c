// Login (with the way back to the page the person was on) and the invitation page.

import { h, title, field, form } from '../dom.js';
import { login, post, session, plainMessage, ApiError } from '../api.js';
import { homeOf } from '../main.js';

/** Only a path of this app: never another site (open redirect). */
function safeReturn(value) {
  return value && value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/connexion') ? value : null;
}

export function loginPage(main, { query, navigate }) {
  const back = safeReturn(query.get('retour'));
  const already = session();
  // (DOM append() would write a null as the text "null".)
  main.append(...[
    title('Se connecter'),
    query.get('expiree') ? h('p.alert.warn', { role: 'status' }, 'Votre session a expiré. Reconnectez-vous : vous reviendrez sur la page où vous étiez.') : null,
    query.get('motdepasse') ? h('p.alert.ok', { role: 'status' }, 'Votre nouveau mot de passe est enregistré. Connectez-vous avec lui.') : null,
    query.get('deconnecte') ? h('p.alert.info', { role: 'status' }, 'Vous êtes déconnecté.') : null,
    already ? h('p.alert.info', 'Vous êtes déjà connecté. ', h('a', { href: homeOf(already.me) }, 'Aller à votre accueil')) : null,
    h('section.card.narrow',
      form({
        label: 'Connexion',
        submit: 'Se connecter',
        action: async (values) => {
          try {
            const me = await login(values.email || '', values.password || '');
            navigate(back || homeOf(me), { replace: true });
          } catch (err) {
            if (err instanceof ApiError) throw new ApiError(err.status, { ...err.problem, detail: plainMessage(err) });
            throw err;
          }
        },
      },
      field({ label: 'Adresse e-mail', name: 'email', type: 'email', required: true, autocomplete: 'username', value: query.get('email') || '' }),
      field({ label: 'Mot de passe', name: 'password', type: 'password', required: true, autocomplete: 'current-password' })),
      h('p.forgotten', h('a', { href: '/mot-de-passe-oublie' }, 'Mot de passe oublié ?')),
      h('p.hint', 'Pas encore de compte ? Votre organisation ou l’opérateur du dispositif vous envoie une invitation par e-mail.')),
    h('p', h('a', { href: '/lieux' }, 'Trouver un lieu où utiliser ses chèques Pass Numérique')),
  ].filter(Boolean));
}

export function invitationPage(main, { query, navigate }) {
  const token = query.get('token') || '';
  main.append(title('Choisir votre mot de passe'));
  if (!token) {
    main.append(h('p.alert.bad', { role: 'alert' }, 'Ce lien d’invitation est incomplet. Ouvrez le lien reçu par e-mail, ou demandez une nouvelle invitation.'));
    return;
  }
  const done = h('div', { role: 'status' });
  const f = form({
    label: 'Mot de passe',
    submit: 'Enregistrer mon mot de passe',
    action: async (values) => {
      if ((values.password || '') !== (values.confirm || '')) {
        throw new ApiError(422, { code: 'validation_failed', field: 'confirm', detail: 'Les deux mots de passe ne sont pas identiques.' });
      }
      let user;
      try {
        user = await post('/auth/invitations/accept', { token, password: values.password || '' }, { auth: false });
      } catch (err) {
        const plain = {
          invitation_invalid: 'Ce lien d’invitation n’est pas valable. Demandez une nouvelle invitation.',
          invitation_used: 'Ce lien a déjà servi : votre mot de passe est choisi. Connectez-vous.',
          invitation_expired: 'Ce lien a expiré. Demandez une nouvelle invitation à votre organisation ou à l’opérateur.',
        }[err.code];
        if (plain) throw new ApiError(err.status, { ...err.problem, detail: plain, field: undefined });
        throw err;
      }
      f.remove();
      done.append(h('p.alert.ok', `Votre mot de passe est enregistré (${user.email}).`),
        h('p', h('a.button.primary', { href: `/connexion?email=${encodeURIComponent(user.email)}` }, 'Se connecter')));
      history.replaceState(null, '', '/invitation');
    },
  },
  h('p', 'Bienvenue sur Pass Numérique. Choisissez le mot de passe de votre compte.'),
  field({ label: 'Mot de passe', name: 'password', type: 'password', required: true, autocomplete: 'new-password', hint: 'Au moins 12 caractères.' }),
  field({ label: 'Le même mot de passe, encore une fois', name: 'confirm', type: 'password', required: true, autocomplete: 'new-password' }));
  main.append(h('section.card.narrow', f, done));
  void navigate;
}
