// The audit tab's pure helpers: what an action is called, a one-line summary of an
// entry's details, and the filters as the API's query parameters.

const LABELS = {
  'auth.sign_in': 'Signed in',
  'auth.sign_in_failed': 'Sign-in refused',
  'auth.sign_up': 'Signed up',
  'auth.sign_out': 'Signed out',
  'auth.password_changed': 'Changed their password',
  'user.approved': 'Approved a user',
  'user.role_changed': 'Changed a role',
  'user.deleted': 'Deleted a user',
  'model.settings_changed': 'Changed model settings',
  'model.pull_started': 'Pulled a model',
  'model.created': 'Created a model',
  'model.deleted': 'Deleted a model',
  'preset.created': 'Created a preset',
  'preset.updated': 'Changed a preset',
  'preset.deleted': 'Deleted a preset',
  'key.created': 'Created an API key',
  'key.revoked': 'Revoked an API key',
  'settings.changed': 'Changed settings',
  'audit.exported': 'Exported the audit log',
};

export function actionLabel(action) {
  return LABELS[action] || action;
}

function show(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** `{"role": {"from": "user", "to": "admin"}, "email": "x"}` → `role: user → admin · email: x`. */
export function detailsText(details) {
  return Object.entries(details || {})
    .map(([name, value]) => {
      const change = value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).join() === 'from,to';
      return `${name}: ${change ? `${show(value.from)} → ${show(value.to)}` : show(value)}`;
    })
    .join(' · ');
}

/** The filter form as query parameters: dates are whole local days, `to` included. */
export function filterParams({ actor, action, since, until }) {
  const day = (text, plus = 0) => {
    if (!text) return undefined;
    const d = new Date(`${text}T00:00:00`);
    d.setDate(d.getDate() + plus);
    return d.toISOString();
  };
  return { actor: actor?.trim() || undefined, action: action || undefined, since: day(since), until: day(until, 1) };
}
