// The issuer's own pages: plain HTML forms that work without JavaScript, every field labelled, errors named next to
// the field they concern and announced (role="alert").

const escape = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; color: #1a1a1a; }
  h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { display: block; width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; border: 1px solid #555; border-radius: 4px; }
  input[aria-invalid="true"] { border: 2px solid #b00020; }
  button { margin-top: 1.25rem; padding: .5rem 1.25rem; font: inherit; border: 0; border-radius: 4px; background: #0b57d0; color: #fff; cursor: pointer; }
  button:focus-visible, input:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
  .error { color: #b00020; margin: .25rem 0 0; }
  .alert { border: 2px solid #b00020; padding: .5rem 1rem; border-radius: 4px; }
  .hint { color: #444; font-size: .9rem; margin: .25rem 0 0; }`;

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} – Shop</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

export interface FieldErrors {
  username?: string;
  password?: string;
  /** Not about one field (wrong name or password). */
  form?: string;
}

function field(
  form: string,
  name: 'username' | 'password',
  label: string,
  opts: { value?: string; error?: string; hint?: string; autocomplete: string; autofocus?: boolean },
): string {
  const id = `${form}-${name}`;
  const describedBy = [opts.hint ? `${id}-hint` : '', opts.error ? `${id}-error` : '']
    .filter(Boolean)
    .join(' ');
  return `<label for="${id}">${escape(label)}</label>
<input id="${id}" name="${name}" type="${name === 'password' ? 'password' : 'text'}" required
  autocomplete="${opts.autocomplete}"${name === 'username' ? ' autocapitalize="none" spellcheck="false"' : ''}${
    opts.value !== undefined ? ` value="${escape(opts.value)}"` : ''
  }${opts.error ? ' aria-invalid="true"' : ''}${describedBy ? ` aria-describedby="${describedBy}"` : ''}${
    opts.autofocus ? ' autofocus' : ''
  }>
${opts.hint ? `<p class="hint" id="${id}-hint">${escape(opts.hint)}</p>` : ''}${
    opts.error ? `<p class="error" id="${id}-error">${escape(opts.error)}</p>` : ''
  }`;
}

/** The sign-in page of one interaction, with the sign-up form below it. */
export function loginPage(opts: {
  uid: string;
  clientName: string;
  login?: { username?: string; errors?: FieldErrors };
  signup?: { username?: string; errors?: FieldErrors };
}): string {
  const uid = encodeURIComponent(opts.uid);
  const le = opts.login?.errors ?? {};
  const se = opts.signup?.errors ?? {};
  const alert = (errors: FieldErrors, id: string) => {
    const list = [
      errors.form,
      errors.username && `Username: ${errors.username}`,
      errors.password && `Password: ${errors.password}`,
    ]
      .filter(Boolean)
      .map((m) => `<li>${escape(m as string)}</li>`)
      .join('');
    return list ? `<div class="alert" role="alert" id="${id}"><ul>${list}</ul></div>` : '';
  };
  const signupFocus = Boolean(se.username || se.password || se.form);
  return layout(
    'Sign in',
    `<h1>Sign in to the shop</h1>
<p>${escape(opts.clientName)} asks you to sign in.</p>
${alert(le, 'login-errors')}
<form id="login" method="post" action="/interaction/${uid}/login" novalidate>
${field('login', 'username', 'Username', { value: opts.login?.username, error: le.username, autocomplete: 'username', autofocus: !signupFocus })}
${field('login', 'password', 'Password', { error: le.password, autocomplete: 'current-password' })}
<button type="submit">Sign in</button>
</form>
<h2>New customer?</h2>
${alert(se, 'signup-errors')}
<form id="signup" method="post" action="/interaction/${uid}/signup" novalidate>
${field('signup', 'username', 'Choose a username', {
  value: opts.signup?.username,
  error: se.username,
  hint: '1 to 64 characters: letters, digits, dot, underscore, hyphen. It becomes your customer id.',
  autocomplete: 'username',
  autofocus: signupFocus,
})}
${field('signup', 'password', 'Choose a password', {
  error: se.password,
  hint: 'At least 8 characters.',
  autocomplete: 'new-password',
})}
<button type="submit">Create account and sign in</button>
</form>`,
  );
}

/** An error page (an unknown or expired interaction, an OAuth error the provider renders). */
export function errorPage(title: string, message: string): string {
  return layout(title, `<h1>${escape(title)}</h1>\n<p role="alert">${escape(message)}</p>`);
}
