/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument -- rendered manifests are untyped YAML */
// Identity in the chart: the same auth values (auth.mode, auth.oidc) become the services' OIDC_* configuration,
// Istio's RequestAuthentication and the policy that refuses the API without a token; the schema refuses bad values.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { objectsOf, render, renderRaw, type K8sObject } from './support';

type Any = any;

const configOf = (objects: K8sObject[], service: string): Record<string, string> =>
  ((objects as Any[]).find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${service}-config`)?.data ??
    {}) as Record<string, string>;

const IDP = {
  issuer: 'https://idp.example.org/realms/shop',
  jwksUri: 'https://idp.example.org/realms/shop/protocol/openid-connect/certs',
  audience: 'shop-api',
  customerClaim: 'preferred_username',
  rolesClaim: 'shop_roles',
  egress: [],
};

void describe('auth values', () => {
  void it('oidc: gateway, orders and payments verify tokens of the configured issuer; inventory holds no customer data', () => {
    const objects = render({ auth: { mode: 'oidc', oidc: IDP } });
    for (const svc of ['gateway', 'orders', 'payments']) {
      const c = configOf(objects, svc);
      assert.equal(c.AUTH_MODE, 'oidc', svc);
      assert.equal(c.OIDC_ISSUER, IDP.issuer, svc);
      assert.equal(c.OIDC_AUDIENCE, 'shop-api', svc);
      assert.equal(c.OIDC_JWKS_URI, IDP.jwksUri, svc);
      assert.equal(
        c.OIDC_CUSTOMER_CLAIM,
        'preferred_username',
        `${svc}: the claim that becomes the customer`,
      );
      assert.equal(c.OIDC_ROLES_CLAIM, 'shop_roles', svc);
    }
    const inventory = configOf(objects, 'inventory');
    assert.ok(Object.keys(inventory).length > 0, 'inventory has a ConfigMap');
    assert.equal(
      Object.keys(inventory).filter((k) => k.startsWith('OIDC_') || k === 'AUTH_MODE').length,
      0,
      'inventory reads stay public',
    );
  });

  void it('the default leaves OIDC_JWKS_URI out (the services and Istio read the issuer discovery)', () => {
    const objects = render({});
    const c = configOf(objects, 'gateway');
    assert.equal(c.AUTH_MODE, 'oidc');
    assert.equal(c.OIDC_JWKS_URI, undefined);
    assert.equal(c.OIDC_CUSTOMER_CLAIM, 'sub');
    assert.equal(c.OIDC_ROLES_CLAIM, 'roles');
    const [ra] = objectsOf<Any>(objects, 'RequestAuthentication');
    assert.equal(ra.spec.jwtRules[0].jwksUri, undefined);
  });

  void it('Istio: RequestAuthentication from the same values, and no API call without a verified token', () => {
    const objects = render({ auth: { mode: 'oidc', oidc: IDP } });
    const ras = objectsOf<Any>(objects, 'RequestAuthentication');
    assert.equal(ras.length, 1);
    assert.deepEqual(ras[0].spec, {
      selector: { matchLabels: { app: 'gateway' } },
      jwtRules: [
        { issuer: IDP.issuer, jwksUri: IDP.jwksUri, audiences: ['shop-api'], forwardOriginalToken: true },
      ],
    });
    const deny = objectsOf<Any>(objects, 'AuthorizationPolicy').filter((a) => a.spec.action === 'DENY');
    assert.equal(deny.length, 1);
    assert.deepEqual(deny[0].spec, {
      selector: { matchLabels: { app: 'gateway' } },
      action: 'DENY',
      rules: [
        {
          from: [{ source: { notRequestPrincipals: ['*'] } }],
          to: [{ operation: { paths: ['/v1/*'], notPaths: ['/v1/products', '/v1/products/*'] } }],
        },
      ],
    });
  });

  void it('open: AUTH_MODE=open, no issuer anywhere, no JWT policy', () => {
    const objects = render({ auth: { mode: 'open' } });
    for (const svc of ['gateway', 'orders', 'payments']) {
      const c = configOf(objects, svc);
      assert.equal(c.AUTH_MODE, 'open');
      assert.equal(c.OIDC_ISSUER, undefined);
    }
    assert.equal(objectsOf(objects, 'RequestAuthentication').length, 0);
    assert.equal(
      objectsOf<Any>(objects, 'AuthorizationPolicy').filter((a) => a.spec.action === 'DENY').length,
      0,
    );
    const pod = (objects as Any[]).find((o) => o.kind === 'Pod');
    const env = Object.fromEntries(pod.spec.containers[0].env.map((e: Any) => [e.name, e.value]));
    assert.equal(env.AUTH_MODE, 'open');
    assert.equal(env.ISSUER, undefined);
  });

  void it('mesh disabled: the services still verify tokens, no Istio object', () => {
    const objects = render({ mesh: { enabled: false }, auth: { mode: 'oidc', oidc: IDP } });
    assert.equal(configOf(objects, 'orders').OIDC_ISSUER, IDP.issuer);
    assert.equal(objectsOf(objects, 'RequestAuthentication').length, 0);
  });

  void it('helm test signs in with the Secret it is given, as the customer of the configured claim', () => {
    const objects = render({
      auth: { mode: 'oidc', oidc: IDP },
      helmTest: { auth: { existingSecret: 'shop-test-login' } },
    });
    const pod = (objects as Any[]).find((o) => o.kind === 'Pod');
    const env = pod.spec.containers[0].env as Any[];
    const byName = Object.fromEntries(env.map((e) => [e.name, e]));
    assert.equal(byName.AUTH_MODE.value, 'oidc');
    assert.equal(byName.ISSUER.value, IDP.issuer);
    assert.equal(byName.CUSTOMER_CLAIM.value, 'preferred_username');
    for (const [name, key] of [
      ['TOKEN', 'token'],
      ['USERNAME', 'username'],
      ['PASSWORD', 'password'],
    ])
      assert.deepEqual(byName[name as string].valueFrom.secretKeyRef, {
        name: 'shop-test-login',
        key,
        optional: true,
      });
    assert.match(pod.spec.containers[0].args[0], /authorization: `Bearer \$\{token\}`/);
  });

  void it('NetworkPolicies: the token verifiers reach the issuer on its port, nothing else gains egress', () => {
    const objects = render({
      auth: { mode: 'oidc', oidc: { ...IDP, issuer: 'http://issuer.idp.svc.cluster.local:8090' } },
    });
    const egressTo = (from: string) =>
      (objectsOf<Any>(objects, 'NetworkPolicy').find((n) => n.metadata.name === `allow-from-${from}`)?.spec
        .egress ?? []) as Any[];
    for (const from of ['gateway', 'orders', 'payments', 'helm-test'])
      assert.ok(
        egressTo(from).some((r) => r.to[0].ipBlock?.cidr === '0.0.0.0/0' && r.ports[0].port === 8090),
        `${from} may reach the issuer on 8090`,
      );
    assert.ok(
      !egressTo('inventory').some((r) => r.ports[0].port === 8090),
      'inventory does not talk to the issuer',
    );
  });

  const bad: { name: string; values: unknown; names: RegExp }[] = [
    { name: 'unknown mode', values: { auth: { mode: 'none' } }, names: /\/auth\/mode/ },
    {
      name: 'issuer not http(s)',
      values: { auth: { oidc: { issuer: 'ftp://idp.example.org' } } },
      names: /\/auth\/oidc\/issuer/,
    },
    {
      name: 'issuer with a query',
      values: { auth: { oidc: { issuer: 'https://idp.example.org/?x=1' } } },
      names: /\/auth\/oidc\/issuer/,
    },
    { name: 'empty audience', values: { auth: { oidc: { audience: '' } } }, names: /\/auth\/oidc\/audience/ },
    {
      name: 'empty customer claim',
      values: { auth: { oidc: { customerClaim: '' } } },
      names: /\/auth\/oidc\/customerClaim/,
    },
    {
      name: 'roles claim with a space',
      values: { auth: { oidc: { rolesClaim: 'my roles' } } },
      names: /\/auth\/oidc\/rolesClaim/,
    },
    {
      name: 'jwksUri not a URL',
      values: { auth: { oidc: { jwksUri: 'keys.json' } } },
      names: /\/auth\/oidc\/jwksUri/,
    },
    { name: 'unknown key', values: { auth: { oidc: { clientSecret: 'x' } } }, names: /clientSecret/ },
    {
      name: 'helm test secret not a name',
      values: { helmTest: { auth: { existingSecret: 'Not_A_Name' } } },
      names: /\/helmTest\/auth\/existingSecret/,
    },
  ];
  for (const c of bad)
    void it(`the schema refuses ${c.name}`, () => {
      const r = renderRaw(c.values);
      assert.notEqual(r.status, 0, `${c.name} was accepted`);
      assert.match(r.stderr, c.names);
    });
});
