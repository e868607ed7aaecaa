// The few HTML pages a person sees: login (authorization endpoint), set/reset password, email verified.
// Plain server-rendered forms, no script; every value is escaped and a strict CSP is sent with them.
import { escapeHtml } from './users.ts';

export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Tessera</title>
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}.note{color:#555;font-size:.9rem}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>`;
}

export function loginPage(opts: { request: string; clientName: string; email?: string; error?: string }): string {
  return page('Sign in', `<p class="note">to continue to ${escapeHtml(opts.clientName)}</p>
${opts.error ? `<p class="error" role="alert">${escapeHtml(opts.error)}</p>` : ''}
<form method="post" action="/oauth/authorize">
<input type="hidden" name="request" value="${escapeHtml(opts.request)}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required value="${escapeHtml(opts.email ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`);
}

export function errorPage(title: string, message: string): string {
  return page(title, `<p class="error">${escapeHtml(message)}</p>`);
}

export function passwordResetPage(opts: { token: string; email: string; minLength: number; error?: string }): string {
  return page('Choose a password', `<p class="note">for ${escapeHtml(opts.email)} — at least ${opts.minLength} characters, not your email address.</p>
${opts.error ? `<p class="error" role="alert">${escapeHtml(opts.error)}</p>` : ''}
<form method="post" action="/auth/password-reset">
<input type="hidden" name="token" value="${escapeHtml(opts.token)}">
<label for="password">New password</label><input id="password" name="password" type="password" autocomplete="new-password" minlength="${opts.minLength}" required>
<button type="submit">Save password</button>
</form>`);
}

export function messagePage(title: string, message: string): string {
  return page(title, `<p>${escapeHtml(message)}</p>`);
}
