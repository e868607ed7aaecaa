import { envNumber } from '../platform/config.ts';
// Settings of the user-facing auth flows. Each has an environment variable and a default; tests change them on
// `access.settings` directly. Durations are seconds and are measured on the injected clock.
export interface AuthFlowSettings {
  /** lifetime of a mailed password-setup link (new users) */
  passwordSetupTtlSeconds: number;
  /** lifetime of a mailed password-reset link */
  passwordResetTtlSeconds: number;
  /** lifetime of a mailed email-verification link */
  verifyEmailTtlSeconds: number;
  /** lifetime of an OAuth authorization code */
  authorizationCodeTtlSeconds: number;
  /** how long a login (session) may be kept alive by refresh tokens */
  sessionTtlSeconds: number;
  /** how long a rendered login form stays valid */
  loginFormTtlSeconds: number;
  /** failed logins per account within the window before 429 */
  loginMaxFailuresPerAccount: number;
  /** failed logins per client IP within the window before 429 */
  loginMaxFailuresPerIp: number;
  loginFailureWindowSeconds: number;
  passwordMinLength: number;
  /** SMTP URL for nodemailer (smtp://user:pass@host:587); unset: mail goes to the local outbox table */
  smtpUrl: string | undefined;
  mailFrom: string;
}


export function authFlowSettingsFromEnv(): AuthFlowSettings {
  return {
    passwordSetupTtlSeconds: envNumber('TESSERA_PASSWORD_SETUP_TTL_SECONDS', 7 * 24 * 3600),
    passwordResetTtlSeconds: envNumber('TESSERA_PASSWORD_RESET_TTL_SECONDS', 3600),
    verifyEmailTtlSeconds: envNumber('TESSERA_VERIFY_EMAIL_TTL_SECONDS', 7 * 24 * 3600),
    authorizationCodeTtlSeconds: envNumber('TESSERA_AUTHORIZATION_CODE_TTL_SECONDS', 60),
    sessionTtlSeconds: envNumber('TESSERA_SESSION_TTL_SECONDS', 30 * 24 * 3600),
    loginFormTtlSeconds: envNumber('TESSERA_LOGIN_FORM_TTL_SECONDS', 1800),
    loginMaxFailuresPerAccount: envNumber('TESSERA_LOGIN_MAX_FAILURES_PER_ACCOUNT', 10),
    loginMaxFailuresPerIp: envNumber('TESSERA_LOGIN_MAX_FAILURES_PER_IP', 100),
    loginFailureWindowSeconds: envNumber('TESSERA_LOGIN_FAILURE_WINDOW_SECONDS', 900),
    passwordMinLength: envNumber('TESSERA_PASSWORD_MIN_LENGTH', 12),
    smtpUrl: process.env.TESSERA_SMTP_URL || undefined,
    mailFrom: process.env.TESSERA_MAIL_FROM ?? 'Tessera <no-reply@tessera.local>',
  };
}
