/**
 * A throwaway certificate authority and one server certificate for the given DNS names, made with the
 * `openssl` command line tool (no npm package), for tests that need https under real host names: the
 * toolkit's HTTP clients send loopback hosts (localhost, 127.*) past any proxy, so a proxy test needs
 * other names. A child process trusts the CA with NODE_EXTRA_CA_CERTS=<caFile>. Keys are EC P-256 and
 * valid for one day; every file lives in one temporary directory that `remove()` deletes.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface TestCertificates {
  /** The CA certificate (PEM), and the file it is in, for NODE_EXTRA_CA_CERTS or `ca` options. */
  caPem: string
  caFile: string
  /** The server certificate (PEM, with the DNS names as subjectAltName) and its private key. */
  certPem: string
  keyPem: string
  dir: string
  remove: () => void
}

const OPENSSL = process.env.OPENSSL ?? 'openssl'

/** A CA and a server certificate for `names` (DNS names, at least one). */
export function makeCertificates(names: string[]): TestCertificates {
  if (names.length === 0 || names.some((name) => !/^[a-z0-9.-]+$/i.test(name))) throw new Error(`makeCertificates: bad DNS names ${names.join(', ')}`)
  const dir = mkdtempSync(path.join(tmpdir(), 'sim-tls-'))
  const file = (name: string): string => path.join(dir, name)
  // One config for both certificates, so nothing depends on the system's openssl.cnf.
  writeFileSync(
    file('openssl.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      'CN = Simulator test CA',
      '[ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      '[server]',
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid, issuer',
      `subjectAltName = ${names.map((name) => `DNS:${name}`).join(', ')}`,
      ''
    ].join('\n')
  )
  const openssl = (...args: string[]): void => void execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  try {
    openssl('req', '-config', 'openssl.cnf', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-extensions', 'ca')
    openssl('req', '-config', 'openssl.cnf', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${names[0]}`)
    openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      `0x${Date.now().toString(16)}`,
      '-days',
      '1',
      '-extfile',
      'openssl.cnf',
      '-extensions',
      'server',
      '-out',
      'server.pem'
    )
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    const stderr = (error as { stderr?: Buffer }).stderr?.toString('utf8') ?? ''
    throw new Error(`openssl failed (${OPENSSL}): ${stderr || String(error)}`, { cause: error })
  }
  return {
    caPem: readFileSync(file('ca.pem'), 'utf8'),
    caFile: file('ca.pem'),
    certPem: readFileSync(file('server.pem'), 'utf8'),
    keyPem: readFileSync(file('server.key'), 'utf8'),
    dir,
    remove: () => rmSync(dir, { recursive: true, force: true })
  }
}
