export {
  startIssuer,
  AUDIENCE,
  RESOURCE,
  API_SCOPE,
  CONSOLE_CLIENT,
  CLI_CLIENT,
  CLI_REDIRECT_URI,
} from './issuer';
export type { IssuerOptions, RunningIssuer } from './issuer';
export { DEMO_ACCOUNTS, MIN_PASSWORD_LENGTH, type Role } from './accounts';
export { passwordLogin, registerAccount, discover, LoginRefusedError, type TokenSet } from './client';
