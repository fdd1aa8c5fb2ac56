// Optional mutual TLS for gRPC (docs/architecture.md, "gRPC mTLS"). Off unless GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE
// and GRPC_TLS_CA_FILE are all set. Servers require a client certificate signed by the CA; clients verify the
// server's chain against the CA, then its identity (a SAN naming the service), and present their own certificate.
// The files are read again every GRPC_TLS_RELOAD_MS and a changed, valid set is used for new handshakes without a
// restart: the local analogue of Istio's SDS pushing rotated workload certificates to Envoy.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import client from 'prom-client';
import type { FaultRegistry } from './faults';
import type { Logger } from './logger';
import type { Registry } from './metrics';

export const TLS_VARIABLES = ['GRPC_TLS_CERT_FILE', 'GRPC_TLS_KEY_FILE', 'GRPC_TLS_CA_FILE'] as const;
export type TlsVariable = (typeof TLS_VARIABLES)[number];

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** A TLS file that cannot be used; `variable` names the environment variable that points at it. */
export class TlsFileError extends Error {
  constructor(
    readonly variable: TlsVariable,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TlsFileError';
  }
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  leaf: X509Certificate;
  cas: X509Certificate[];
  /** Of the three files' bytes: a reload acts only when it changes. */
  digest: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function read(variable: TlsVariable, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsFileError(variable, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function certificates(variable: TlsVariable, path: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('utf8').match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new TlsFileError(variable, `${path}: no PEM CERTIFICATE block`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new TlsFileError(
        variable,
        `${path}: certificate ${i + 1} does not parse: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  });
}

/** Reads and checks a set: every certificate parses, the key parses and belongs to the first certificate. */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const cert = read('GRPC_TLS_CERT_FILE', files.certFile);
  const key = read('GRPC_TLS_KEY_FILE', files.keyFile);
  const ca = read('GRPC_TLS_CA_FILE', files.caFile);
  const [leaf] = certificates('GRPC_TLS_CERT_FILE', files.certFile, cert);
  const cas = certificates('GRPC_TLS_CA_FILE', files.caFile, ca);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsFileError(
      'GRPC_TLS_KEY_FILE',
      `${files.keyFile}: not a PEM private key: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!leaf?.checkPrivateKey(privateKey))
    throw new TlsFileError(
      'GRPC_TLS_KEY_FILE',
      `${files.keyFile}: the key does not belong to the certificate in ${files.certFile}`,
    );
  const digest = createHash('sha256').update(cert).update(key).update(ca).digest('hex');
  return { cert, key, ca, leaf, cas, digest };
}

/** The config violations of the TLS variables: all three or none, each file usable (loadConfig reports them). */
export function tlsViolations(source: Record<string, unknown>): string[] {
  const set = TLS_VARIABLES.filter((v) => typeof source[v] === 'string' && source[v] !== '');
  if (set.length === 0) return [];
  if (set.length < TLS_VARIABLES.length)
    return TLS_VARIABLES.filter((v) => !set.includes(v)).map(
      (v) =>
        `${v}=not set: required with ${set.join(' and ')} (gRPC TLS needs all three of ${TLS_VARIABLES.join(', ')}, or none)`,
    );
  const files = tlsFilesOf(source);
  if (!files) return [];
  try {
    readTlsMaterial(files);
    return [];
  } catch (err) {
    if (err instanceof TlsFileError)
      return [`${err.variable}=${JSON.stringify(source[err.variable])}: ${err.message}`];
    throw err;
  }
}

export const tlsFilesOf = (c: Partial<Record<TlsVariable, string | undefined>>): TlsFiles | undefined =>
  c.GRPC_TLS_CERT_FILE && c.GRPC_TLS_KEY_FILE && c.GRPC_TLS_CA_FILE
    ? { certFile: c.GRPC_TLS_CERT_FILE, keyFile: c.GRPC_TLS_KEY_FILE, caFile: c.GRPC_TLS_CA_FILE }
    : undefined;

const epochSeconds = (x: X509Certificate) => Math.floor(new Date(x.validTo).getTime() / 1000);

/** Why a peer certificate is refused (undefined: accepted); the `reason` label of the verification counter. */
export interface PeerVerdict {
  reason: string;
  message: string;
}

const sanEntries = (cert: PeerCertificate) =>
  (cert.subjectaltname ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/**
 * The product's identity check, after the chain was verified against the CA: a SAN names the service, either
 * `DNS:<name>` or a SPIFFE id whose last segment is the name (`URI:spiffe://<trust domain>/ns/<ns>/sa/<name>`, the
 * form of Istio workload certificates). Subject and key type do not matter.
 */
export function verifyPeerIdentity(name: string, cert: PeerCertificate): PeerVerdict | undefined {
  const sans = sanEntries(cert);
  const ok = sans.some(
    (s) =>
      s === `DNS:${name}` ||
      (s.startsWith('URI:spiffe://') && s.slice('URI:spiffe://'.length).split('/').pop() === name),
  );
  if (ok) return undefined;
  return {
    reason: 'san_mismatch',
    message: `no SAN names ${name} (DNS:${name} or a spiffe:// id ending in /${name}); the certificate has ${sans.join(', ') || 'no SAN'}`,
  };
}

/**
 * The legacy validator (fault `legacy-cert-validator`): the custom check some services carried before the mesh,
 * written for the certificates of the old CA. It wants the service name in the subject CN and an RSA key, so it refuses
 * a certificate of the new format (ECDSA P-256, empty subject, identity only in a spiffe:// URI SAN).
 */
export function legacyVerdict(
  name: string,
  cert: PeerCertificate,
  p: { requireCommonName: boolean; requireRsa: boolean },
): PeerVerdict | undefined {
  const cn = cert.subject?.CN;
  if (p.requireCommonName && cn !== name)
    return {
      reason: 'legacy_cn',
      message: `subject CN ${cn === undefined ? 'missing' : JSON.stringify(cn)}, expected ${JSON.stringify(name)}`,
    };
  // An RSA peer key comes with its modulus; an EC one with its curve.
  if (p.requireRsa && !cert.modulus)
    return {
      reason: 'legacy_key_type',
      message: `key is not RSA${cert.asn1Curve ? ` (EC ${cert.asn1Curve})` : ''}`,
    };
  return undefined;
}

interface TlsMetrics {
  handshakeFailures: client.Counter<'reason'>;
  expiry: client.Gauge<'role'>;
  reloads: client.Counter<'result'>;
  peerVerifications: client.Counter<'peer' | 'result' | 'reason'>;
  peerExpiry: client.Gauge<'peer'>;
}

function tlsMetrics(registry: Registry): TlsMetrics {
  const registers = [registry];
  return {
    handshakeFailures: new client.Counter({
      name: 'tls_handshake_failures_total',
      help: 'TLS handshakes this gRPC server refused or lost (reason: the OpenSSL error code, e.g. a client without a certificate or of another CA)',
      labelNames: ['reason'],
      registers,
    }),
    expiry: new client.Gauge({
      name: 'tls_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the gRPC TLS certificates in use: role identity (own certificate) or ca (the earliest in the CA bundle)',
      labelNames: ['role'],
      registers,
    }),
    reloads: new client.Counter({
      name: 'tls_certificate_reloads_total',
      help: 'Changed gRPC TLS files read again: success (in use for new handshakes) or failure (the previous set is kept)',
      labelNames: ['result'],
      registers,
    }),
    peerVerifications: new client.Counter({
      name: 'tls_peer_verifications_total',
      help: 'Server certificates this client checked after the chain: accepted, or rejected with the reason',
      labelNames: ['peer', 'result', 'reason'],
      registers,
    }),
    peerExpiry: new client.Gauge({
      name: 'tls_peer_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the last server certificate this client accepted from the peer',
      labelNames: ['peer'],
      registers,
    }),
  };
}

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/**
 * A certificate provider for grpc-js that polls the three files. A changed set that fails to parse (or a key that
 * does not match) is retried on the next poll before it counts as a failed reload: a rotation written file by file is
 * caught half-way now and then. Until a good set appears, the previous one stays in use.
 */
export class ReloadingCertificates implements grpc.experimental.CertificateProvider {
  private material: TlsMaterial;
  private readonly ca = new Set<CaListener>();
  private readonly identity = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | undefined;
  private failing: { digest: string; counted: boolean } | undefined;

  constructor(
    private readonly files: TlsFiles,
    private readonly reloadMs: number,
    private readonly logger: Logger,
    private readonly metrics: TlsMetrics,
  ) {
    this.material = readTlsMaterial(files);
    metrics.reloads.inc({ result: 'success' }, 0);
    metrics.reloads.inc({ result: 'failure' }, 0);
    this.publish();
  }

  get current(): TlsMaterial {
    return this.material;
  }

  private publish() {
    const m = this.material;
    this.metrics.expiry.set({ role: 'identity' }, epochSeconds(m.leaf));
    this.metrics.expiry.set({ role: 'ca' }, Math.min(...m.cas.map(epochSeconds)));
  }

  private rawDigest(): string | undefined {
    try {
      const h = createHash('sha256');
      for (const f of [this.files.certFile, this.files.keyFile, this.files.caFile]) h.update(readFileSync(f));
      return h.digest('hex');
    } catch {
      return undefined;
    }
  }

  /** One poll: read the files, and when they changed and are valid, hand them to every listener. */
  poll(): void {
    const digest = this.rawDigest();
    if (digest === this.material.digest) {
      this.failing = undefined;
      return;
    }
    let next: TlsMaterial;
    try {
      next = readTlsMaterial(this.files);
    } catch (err) {
      const key = digest ?? 'unreadable';
      if (this.failing?.digest !== key) {
        this.failing = { digest: key, counted: false };
        return;
      }
      if (!this.failing.counted) {
        this.failing.counted = true;
        this.metrics.reloads.inc({ result: 'failure' });
        this.logger.warn(
          {
            code: 'TLS_RELOAD_FAILED',
            variable: err instanceof TlsFileError ? err.variable : undefined,
            err: (err as Error).message,
          },
          'TLS certificate reload failed; the previous certificates stay in use',
        );
      }
      return;
    }
    this.failing = undefined;
    const before = this.material.leaf;
    this.material = next;
    this.publish();
    this.metrics.reloads.inc({ result: 'success' });
    this.logger.info(
      {
        code: 'TLS_RELOADED',
        serial: next.leaf.serialNumber,
        previousSerial: before.serialNumber,
        subject: next.leaf.subject || '(empty)',
        san: next.leaf.subjectAltName,
        validTo: next.leaf.validTo,
        caCertificates: next.cas.length,
      },
      'TLS certificates reloaded',
    );
    for (const l of this.ca) l({ caCertificate: next.ca });
    for (const l of this.identity) l({ certificate: next.cert, privateKey: next.key });
  }

  private watch() {
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(), this.reloadMs);
    this.timer.unref();
  }

  private unwatch() {
    if (this.ca.size + this.identity.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.ca.add(listener);
    this.watch();
    process.nextTick(() => listener({ caCertificate: this.material.ca }));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.ca.delete(listener);
    this.unwatch();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identity.add(listener);
    this.watch();
    process.nextTick(() => listener({ certificate: this.material.cert, privateKey: this.material.key }));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identity.delete(listener);
    this.unwatch();
  }

  close(): void {
    this.ca.clear();
    this.identity.clear();
    this.unwatch();
  }
}

export interface GrpcTlsOptions {
  files: TlsFiles;
  reloadMs: number;
  /** Servers close each connection after this long (GOAWAY, in-flight calls finish) so both ends handshake again. */
  maxConnectionAgeMs: number;
  logger: Logger;
  registry: Registry;
  faults?: FaultRegistry;
}

/** A service's gRPC TLS: one provider for its server and its clients, with the metrics and the validators. */
export class GrpcTls {
  readonly provider: ReloadingCertificates;
  private readonly metrics: TlsMetrics;
  private readonly log: Logger;

  constructor(private readonly opts: GrpcTlsOptions) {
    this.metrics = tlsMetrics(opts.registry);
    this.log = opts.logger.child({ component: 'tls' });
    this.provider = new ReloadingCertificates(opts.files, opts.reloadMs, this.log, this.metrics);
  }

  /** mTLS server credentials: a client certificate signed by the CA is required. */
  serverCredentials(): grpc.ServerCredentials {
    // One provider serves both roles, so grpc-js's argument order (ca, identity) cannot swap them.
    return grpc.experimental.createCertificateProviderServerCredentials(this.provider, this.provider, true);
  }

  serverOptions(): grpc.ServerOptions {
    return {
      'grpc.max_connection_age_ms': this.opts.maxConnectionAgeMs,
      'grpc.max_connection_age_grace_ms': Math.max(1000, this.opts.maxConnectionAgeMs),
    };
  }

  /**
   * Client credentials for the peer `name` (orders, inventory, payments): each new connection takes the certificates
   * in use at that moment, and the server's identity is checked by `name`, whatever address it was dialled at.
   */
  channel(name: string): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
    const credentials = grpc.experimental.createCertificateProviderChannelCredentials(
      this.provider,
      this.provider,
      { checkServerIdentity: (_host, cert) => this.check(name, cert) },
    );
    return { credentials, options: { 'grpc.ssl_target_name_override': name } };
  }

  /**
   * Counts the handshakes a server refuses (no client certificate, one of another CA), which the server never sees
   * as calls. grpc-js keeps its HTTP/2 servers to itself; they are reached through its internal map when it is there.
   */
  observeServer(server: grpc.Server): void {
    const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
    if (!(servers instanceof Map)) return;
    for (const s of servers.keys()) {
      if (!(s instanceof EventEmitter)) continue;
      s.on('tlsClientError', (err: NodeJS.ErrnoException) => {
        const reason = err.code ?? 'unknown';
        this.metrics.handshakeFailures.inc({ reason });
        this.log.debug({ code: 'TLS_HANDSHAKE_FAILED', reason, err: err.message }, 'TLS handshake refused');
      });
    }
  }

  private check(name: string, cert: PeerCertificate): Error | undefined {
    const legacy = this.opts.faults?.hit('legacy-cert-validator', { target: name });
    const verdict = legacy ? legacyVerdict(name, cert, legacy) : verifyPeerIdentity(name, cert);
    if (!verdict) {
      this.metrics.peerVerifications.inc({ peer: name, result: 'accepted', reason: 'ok' });
      const validTo = Date.parse(cert.valid_to);
      if (Number.isFinite(validTo)) this.metrics.peerExpiry.set({ peer: name }, Math.floor(validTo / 1000));
      return undefined;
    }
    this.metrics.peerVerifications.inc({ peer: name, result: 'rejected', reason: verdict.reason });
    this.log.warn(
      {
        code: 'TLS_PEER_REJECTED',
        peer: name,
        reason: verdict.reason,
        validator: legacy ? 'legacy' : 'standard',
        serial: cert.serialNumber,
        subject: cert.subject?.CN ?? '(empty)',
        san: cert.subjectaltname ?? '',
      },
      `server certificate of ${name} rejected: ${verdict.message}`,
    );
    return new Error(`server certificate of ${name} rejected (${verdict.reason}): ${verdict.message}`);
  }

  close(): void {
    this.provider.close();
  }
}
