// `npm run token -- <username> [--password P] [--issuer URL]`: one access token on stdout, for scripts
// (curl -H "Authorization: Bearer $(npm run -s token -- alice)" ...). A real sign-in through the issuer's login form
// (authorization code + PKCE, client shop-cli), nothing minted here.
import { DEMO_ACCOUNTS, LoginRefusedError, passwordLogin } from '@shop/issuer/client';
import { issuerUrlAt } from './ports';

const HELP = `npm run -s token -- <username> [--password P] [--issuer URL]

Signs <username> in at the local issuer and prints its access token (a JWT, valid 15 min) on stdout.
The seeded accounts need no --password: alice (alice-demo), bob (bob-demo), ops (ops-demo, the operator).
  --password P   the password of any other account (one signed up on the login page or with POST /accounts)
  --issuer URL   the issuer (default: OIDC_ISSUER, else the one of \`npm start\`, http://127.0.0.1:8090)
Example: curl -H "Authorization: Bearer $(npm run -s token -- alice)" http://127.0.0.1:8080/v1/orders`;

export async function printToken(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const positional: string[] = [];
  const opts: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--password' || a === '--issuer') {
      const v = args[++i];
      if (v === undefined) return usage(`${a} needs a value`);
      opts[a.slice(2)] = v;
    } else if (a.startsWith('--')) return usage(`unknown option ${a}`);
    else positional.push(a);
  }
  const [username, ...rest] = positional;
  if (!username || rest.length) return usage('give exactly one username');
  const password = opts.password ?? DEMO_ACCOUNTS.find((a) => a.username === username)?.password;
  if (!password) return usage(`${username} is not a seeded account: give its --password`);
  const issuer = (opts.issuer ?? process.env.OIDC_ISSUER ?? issuerUrlAt(0)).replace(/\/+$/, '');
  try {
    const set = await passwordLogin({ issuer, username, password });
    process.stdout.write(`${set.accessToken}\n`);
    return 0;
  } catch (err) {
    if (err instanceof LoginRefusedError) process.stderr.write(`${err.message}\n`);
    else
      process.stderr.write(
        `could not get a token from ${issuer}: ${(err as Error).message}\n(is the platform running? \`npm start\`)\n`,
      );
    return 1;
  }
}

function usage(problem: string): number {
  process.stderr.write(`${problem}\n\n${HELP}\n`);
  return 2;
}
