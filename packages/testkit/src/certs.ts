// A certificate authority made with the openssl CLI, for the gRPC mTLS tests and the cert-rotation lab. Two formats:
// `legacy`, what the shop's own CA issued before the mesh (RSA 2048, subject CN = service name, DNS SAN, a year), and
// `mesh`, what an Istio CA issues to workloads (ECDSA P-256, empty subject, only a critical spiffe:// URI SAN,
// 24 hours: istiod's default workload certificate TTL).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type CertFormat = 'legacy' | 'mesh';

export interface TestCa {
  dir: string;
  format: CertFormat;
  certFile: string;
  keyFile: string;
  pem: string;
}

export interface TestLeaf {
  certFile: string;
  keyFile: string;
  /** Hex, upper case, as node:crypto's X509Certificate.serialNumber prints it. */
  serial: string;
}

const openssl = (args: string[], cwd: string) =>
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

const keyArgs = (format: CertFormat) =>
  format === 'legacy' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

export const TRUST_DOMAIN = 'cluster.local';
export const spiffeId = (name: string, namespace = 'shop') =>
  `spiffe://${TRUST_DOMAIN}/ns/${namespace}/sa/${name}`;

/** A self-signed CA in `dir` (created); `name` ends up in its subject. */
export function createCa(dir: string, format: CertFormat, name: string): TestCa {
  mkdirSync(dir, { recursive: true });
  const subject = format === 'legacy' ? `/CN=${name}/O=shop` : `/O=${TRUST_DOMAIN}/CN=${name}`;
  openssl(
    [
      'req',
      '-x509',
      ...keyArgs(format),
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '3650',
      '-subj',
      subject,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const certFile = join(dir, 'ca.pem');
  return { dir, format, certFile, keyFile: join(dir, 'ca.key'), pem: readFileSync(certFile, 'utf8') };
}

/** A leaf for `name` signed by `ca`, in the CA's format, usable as server and as client certificate. */
export function issueLeaf(ca: TestCa, name: string, outDir: string): TestLeaf {
  mkdirSync(outDir, { recursive: true });
  const base = `${name}-${randomBytes(4).toString('hex')}`;
  const subject = ca.format === 'legacy' ? `/CN=${name}/O=shop` : '/';
  const san = ca.format === 'legacy' ? `DNS:${name}` : `critical,URI:${spiffeId(name)}`;
  const ext = join(outDir, `${base}.ext`);
  writeFileSync(
    ext,
    [
      `subjectAltName=${san}`,
      'basicConstraints=critical,CA:FALSE',
      `keyUsage=critical,digitalSignature${ca.format === 'legacy' ? ',keyEncipherment' : ''}`,
      'extendedKeyUsage=serverAuth,clientAuth',
      '',
    ].join('\n'),
  );
  const keyFile = join(outDir, `${base}.key`);
  const csr = join(outDir, `${base}.csr`);
  const certFile = join(outDir, `${base}.pem`);
  openssl(
    ['req', '-new', ...keyArgs(ca.format), '-nodes', '-keyout', keyFile, '-out', csr, '-subj', subject],
    outDir,
  );
  const serial = randomBytes(8).toString('hex').toUpperCase().replace(/^0+/, '1');
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-set_serial',
      `0x${serial}`,
      '-days',
      ca.format === 'legacy' ? '365' : '1',
      '-extfile',
      ext,
      '-out',
      certFile,
    ],
    outDir,
  );
  rmSync(csr, { force: true });
  rmSync(ext, { force: true });
  return { certFile, keyFile, serial };
}

/**
 * Installs a leaf and a CA bundle where a service reads them (cert.pem, key.pem, ca.pem in `dir`), each file replaced
 * by a rename so that a reader never sees half a file; the bundle first, so that a new chain is trusted before it is
 * presented.
 */
export function installCerts(
  dir: string,
  leaf: TestLeaf,
  caBundle: string,
): { certFile: string; keyFile: string; caFile: string } {
  mkdirSync(dir, { recursive: true });
  const files = {
    certFile: join(dir, 'cert.pem'),
    keyFile: join(dir, 'key.pem'),
    caFile: join(dir, 'ca.pem'),
  };
  const put = (path: string, content: string | Buffer) => {
    writeFileSync(`${path}.tmp`, content, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  };
  put(files.caFile, caBundle);
  put(files.keyFile, readFileSync(leaf.keyFile));
  put(files.certFile, readFileSync(leaf.certFile));
  return files;
}

/** Replaces only the CA bundle of a service (the first step of a rotation: trust the new CA before it is used). */
export function installCaBundle(dir: string, caBundle: string): void {
  const caFile = join(dir, 'ca.pem');
  writeFileSync(`${caFile}.tmp`, caBundle, { mode: 0o600 });
  renameSync(`${caFile}.tmp`, caFile);
}
