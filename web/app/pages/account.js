// One's own password: forgotten (a link by e-mail), chosen again from that link, or
// changed while logged in.

import { h, title, field, form, email as breakable } from '../dom.js';
import { post, ApiError } from '../api.js';

const MIN_LENGTH = 12;

/** The two typed passwords must match (checked here, before asking the server). */
function sameTwice(values, name = 'password') {
  if ((values[name] || '') !== (values.confirm || '')) {
    throw new ApiError(422, { code: 'validation_failed', field: 'confirm', detail: 'Les deux mots de passe ne sont pas identiques.' });
  }
}

function newPasswordFields(name, label) {
  return [
    field({ label, name, type: 'password', required: true, autocomplete: 'new-password', hint: `Au moins ${MIN_LENGTH} caractères. Une phrase de quelques mots est facile à retenir.` }),
    field({ label: 'Le même mot de passe, encore une fois', name: 'confirm', type: 'password', required: true, autocomplete: 'new-password' }),
  ];
}

/** `/mot-de-passe-oublie`: asks for a link by e-mail; says the same whatever the address. */
export function forgottenPage(main, { query }) {
  const done = h('div', { role: 'status' });
  const back = h('p', h('a', { href: '/connexion' }, 'Retour à la connexion'));
  const f = form({
    label: 'Mot de passe oublié',
    submit: 'Recevoir un lien par e-mail',
    action: async (values) => {
      const email = values.email || '';
      await post('/auth/password-reset', { email }, { auth: false });
      f.remove();
      back.remove();
      done.append(
        h('p.alert.ok', 'C’est envoyé. Si l’adresse ', breakable(email), ' correspond à un compte, un e-mail vient de partir avec un lien pour choisir un nouveau mot de passe.'),
        h('p', 'Le lien vaut une heure et ne sert qu’une fois. Pensez à regarder dans les courriers indésirables. Rien reçu ? Vérifiez l’adresse et recommencez, ou demandez à l’administrateur de votre organisation.'),
        h('p', h('a.button.secondary', { href: '/connexion' }, 'Retour à la connexion')),
      );
    },
  },
  h('p', 'Indiquez l’adresse e-mail de votre compte : vous recevrez un lien pour choisir un nouveau mot de passe.'),
  field({ label: 'Adresse e-mail', name: 'email', type: 'email', required: true, autocomplete: 'username', value: query.get('email') || '' }));
  main.append(title('Mot de passe oublié'), h('section.card.narrow', f, done), back);
}

/** The reset link's refusals (`POST /auth/password-reset/confirm`), in plain French. */
const LINK_PROBLEMS = {
  reset_invalid: 'Ce lien n’est pas valable : il a peut-être été coupé en deux dans l’e-mail. Ouvrez-le en entier, ou demandez un nouveau lien.',
  reset_used: 'Ce lien n’est plus valable : il a déjà servi, ou un lien plus récent a été demandé. Demandez un nouveau lien si besoin.',
  reset_expired: 'Ce lien n’est plus valable : il a plus d’une heure. Demandez un nouveau lien.',
};

/** `/mot-de-passe?token=…`: the link of the e-mail; a new password, then the login page. */
export function resetPage(main, { query, navigate }) {
  const token = query.get('token') || '';
  main.append(title('Choisir un nouveau mot de passe'));
  const again = h('a', { href: '/mot-de-passe-oublie' }, 'Demander un nouveau lien');
  if (!token) {
    main.append(h('p.alert.bad', { role: 'alert' }, 'Ce lien est incomplet. Ouvrez le lien reçu par e-mail en entier, ou demandez-en un nouveau.'), h('p', again));
    return;
  }
  const f = form({
    label: 'Nouveau mot de passe',
    submit: 'Enregistrer le nouveau mot de passe',
    action: async (values) => {
      sameTwice(values);
      try {
        await post('/auth/password-reset/confirm', { token, password: values.password || '' }, { auth: false });
      } catch (err) {
        // A password the server refuses (too short…) is shown on its field; anything
        // else about this request is the link: damaged, used or expired.
        const plain = LINK_PROBLEMS[err.code]
          || (err instanceof ApiError && err.status >= 400 && err.status < 500 && !err.problem?.field && !['too_many_attempts', 'validation_failed'].includes(err.code) ? LINK_PROBLEMS.reset_used : null);
        if (plain) throw new ApiError(err.status, { ...err.problem, detail: plain });
        throw err;
      }
      navigate('/connexion?motdepasse=1', { replace: true });
    },
  },
  h('p', 'Choisissez le nouveau mot de passe de votre compte. Vos autres connexions (sur un autre appareil par exemple) seront fermées.'),
  newPasswordFields('password', 'Nouveau mot de passe'));
  main.append(h('section.card.narrow', f), h('p', again));
}

/** `/changer-mot-de-passe`: for anyone logged in; the other sessions end. */
export function changePasswordPage(main) {
  const done = h('div', { role: 'status', tabindex: '-1' });
  const f = form({
    label: 'Changer mon mot de passe',
    submit: 'Changer mon mot de passe',
    action: async (values, el) => {
      done.replaceChildren();
      sameTwice(values, 'new_password');
      try {
        await post('/auth/password', { current_password: values.current_password || '', new_password: values.new_password || '' });
      } catch (err) {
        if (err instanceof ApiError && (['wrong_password', 'invalid_credentials'].includes(err.code) || err.problem?.field === 'current_password')) {
          throw new ApiError(err.status, { ...err.problem, field: 'current_password', detail: 'Le mot de passe actuel n’est pas le bon.' });
        }
        if (err instanceof ApiError && err.problem?.field === 'password') err.problem.field = 'new_password';
        throw err;
      }
      el.reset();
      done.append(h('p.alert.ok', 'Votre mot de passe est changé. Vos autres connexions (sur un autre appareil par exemple) sont fermées ; celle-ci continue.'));
      done.focus();
    },
  },
  field({ label: 'Mot de passe actuel', name: 'current_password', type: 'password', required: true, autocomplete: 'current-password' }),
  newPasswordFields('new_password', 'Nouveau mot de passe'));
  main.append(title('Changer mon mot de passe'), done, h('section.card.narrow', f));
}
