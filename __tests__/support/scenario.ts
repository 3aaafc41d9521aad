/**
 * Shared steps of the end-to-end tests: simulators up, the freshly built bundle run as the runner runs
 * it, every run passed through the leak scanner, and what the servers hold read back.
 */
import { expect } from '@jest/globals'
import { execFileSync, type ChildProcess } from 'node:child_process'
import {
  FIXTURE,
  NODE,
  recoveryTool,
  runAction,
  standardInputs,
  startSimulators,
  type ActionRun,
  type RunOptions,
  type Simulators
} from '../../simulators/harness.ts'
import type { LogEntry } from '../../simulators/server.ts'
import type { ThingSpaceOptions } from '../../simulators/thingspace.ts'
import { scanForLeaks, type KnownSecret } from './leak-scanner.ts'

export const SECRET = 'THINGSPACE_PASSWORD'
/** The lockout marker of earlier versions, honoured until superseded. */
export const LEGACY_MARKER = `${SECRET}_REJECTED`
export const REPO = `repo:${FIXTURE.repository}`
export const ENV = `env:${FIXTURE.repository}/${FIXTURE.environment}`
export const ORG = `org:${FIXTURE.org}`
export const DEPENDABOT_REPO = `dependabot:${REPO}`
export const DEPENDABOT_ORG = `dependabot:${ORG}`
export const CODESPACES_REPO = `codespaces:${REPO}`
export const CODESPACES_ORG = `codespaces:${ORG}`
export const DAY = 24 * 60 * 60 * 1000

let current: Simulators | undefined

/** Simulators for a test that runs alone in its file (stopped by `stopSimulators`). */
export async function simulators(options?: ThingSpaceOptions): Promise<Simulators> {
  current = await startSimulators(options)
  return current
}

export async function stopSimulators(): Promise<void> {
  await current?.stop()
  current = undefined
}

/** Simulators of its own for `fn` (for concurrent tests), stopped whatever happens. */
export async function withSimulators<T>(options: ThingSpaceOptions | undefined, fn: (sims: Simulators) => Promise<T>): Promise<T> {
  const sims = await startSimulators(options)
  try {
    return await fn(sims)
  } finally {
    await sims.stop()
  }
}

/**
 * The secrets a run handled: its secret inputs as given, the Basic credential built from them, and
 * every token and password the simulator issued (those from earlier runs need not be masked again).
 */
export function knownSecrets(
  sims: Simulators,
  inputs: Record<string, string>,
  issuedBefore = { tokens: 0, passwords: 0 },
  received = true
): KnownSecret[] {
  const ts = sims.thingspace
  const secrets: KnownSecret[] = []
  const input = (name: string, value: string | undefined): void => {
    if (value && value.trim()) secrets.push({ name: `${name} input`, value, input: true })
  }
  input('password', inputs.password)
  input('client-secret', inputs['client-secret'])
  input('github-token', inputs['github-token'])
  if (inputs['client-id'] && inputs['client-secret']?.trim()) {
    secrets.push({
      name: 'Basic credential',
      value: Buffer.from(`${inputs['client-id']}:${inputs['client-secret']}`).toString('base64'),
      input: true
    })
  }
  // A value whose answer was dropped never reached the action: it can only be checked for absence.
  const delivered = (value: string): boolean => !ts.neverDelivered.has(value)
  ts.issuedTokens.forEach((value, i) => secrets.push({ name: `token #${i + 1}`, value, mustMask: i >= issuedBefore.tokens && delivered(value) }))
  ts.allIssuedPasswords.forEach((value, i) =>
    secrets.push({
      name: `new password #${i + 1}`,
      value,
      maskBefore: /issued a new password/i,
      mustMask: received && i >= issuedBefore.passwords && delivered(value)
    })
  )
  return secrets
}

/**
 * Runs the bundle under test (the working tree's, built by the global setup into ACTION_BUNDLE_DIR)
 * as the runner does, and fails the test on any leak, whatever the scenario.
 */
export async function run(sims: Simulators, options: RunOptions & { alongside?: boolean } = {}): Promise<ActionRun> {
  const issuedBefore = { tokens: sims.thingspace.issuedTokens.length, passwords: sims.thingspace.issuedPasswords.length }
  const inputs = { ...standardInputs(sims), ...options.inputs }
  const result = await runAction(sims, options)
  // A reset whose answer was lost issued a password the action never saw; it can only be checked for absence.
  // So is everything issued while another run ran alongside: that run may have received it, not this one.
  const received = ['rotated', 'failed-changed'].includes(result.outputs.result)
  const known = knownSecrets(sims, inputs, issuedBefore, received).map((k) => (options.alongside && !k.input ? { ...k, mustMask: false } : k))
  const leaks = scanForLeaks(result, known)
  if (leaks.length > 0) throw new Error(`leak scanner:\n${leaks.join('\n')}\n--- stdout ---\n${result.stdout}`)
  return result
}

/** What a target's password secret decrypts to, if it holds one. */
export function stored(sims: Simulators, scope: string, name = SECRET): string | undefined {
  return sims.github.secret(scope, name)?.value
}

export function counts(sims: Simulators): { token: number; login: number; reset: number; logout: number; puts: number } {
  const ts = sims.thingspace
  return {
    token: ts.calls('token').length,
    login: ts.calls('login').length,
    reset: ts.calls('reset').length,
    logout: ts.calls('logout').length,
    puts: sims.github.calls('put-secret').length
  }
}

/** Every request both simulators received. */
export function requestCount(sims: Simulators): { thingspace: number; github: number } {
  return { thingspace: sims.thingspace.log.length, github: sims.github.log.length }
}

/** The annotation a run ended with: `::error` or `::notice`, its title and its message, unescaped. */
export function annotation(result: ActionRun, kind: 'error' | 'notice' | 'warning' = 'error'): { title: string; message: string } | undefined {
  const unescape = (s: string): string => s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%25/g, '%')
  for (const line of result.stdout.split('\n')) {
    const m = new RegExp(`^::${kind}(?: title=([^:]*))?::(.*)$`).exec(line)
    if (m) return { title: unescape(m[1] ?? ''), message: unescape(m[2]) }
  }
  return undefined
}

/** The message of the run's `::error` line ('' when there is none). */
export function errorMessage(result: ActionRun): string {
  return annotation(result, 'error')?.message ?? ''
}

/** The action's rotation-state secret: the write proof in every target, the lockout record in the first. */
export const STATE = `${SECRET}_ROTATION`
/** A reset whose answer was lost, recorded in the home target for the next run. */
export const RESET_UNKNOWN = `${SECRET}_RESET_UNKNOWN`

/** The simulator's log entries of one call on one secret name (in one scope). */
export function onSecret(sims: Simulators, call: string, name: string, scope?: string): LogEntry[] {
  return sims.github.calls(call, scope).filter((e) => e.path.endsWith(`/secrets/${name}`))
}

/**
 * The order of guarantees, read from the simulators' logs: if a reset was sent, it was sent once,
 * with a valid OAuth token, after a login succeeded and after every target had answered a 2xx to a
 * write of the rotation-state secret (the proof) sent before the first login; and the password
 * secret was written by nobody before the reset answered.
 */
export function expectProofBeforeReset(sims: Simulators, targets: string[]): void {
  const resets = sims.thingspace.calls('reset')
  expect(resets.length).toBeLessThanOrEqual(1)
  const logins = sims.thingspace.calls('login')
  const proofs = targets.map((target) => {
    const proof = onSecret(sims, 'put-secret', STATE, target).find((e) => typeof e.status === 'number' && e.status < 300)
    const loggedIn = logins.some((l) => l.status === 200 && resets.every((r) => l.end <= r.start))
    const proven = proof !== undefined && loggedIn && logins.every((l) => proof.end <= l.start) && resets.every((r) => proof.end <= r.start)
    return { target, proven: resets.length === 0 || proven }
  })
  expect(proofs).toEqual(targets.map((target) => ({ target, proven: true })))
  expect(resets.map((r) => r.bearerValid)).toEqual(resets.map(() => true))
  const early = targets
    .flatMap((target) => onSecret(sims, 'put-secret', SECRET, target))
    .filter((p) => resets.length === 0 || p.start < resets[0].end)
  expect(early).toEqual([])
}

/** A fresh recovery keypair from the recovery tool of the bundle under test. */
export function recoveryKeypair(): { publicKey: string; privateKey: string } {
  const out = execFileSync(NODE, [recoveryTool(), 'keygen'], { encoding: 'utf8' })
  return { publicKey: /recovery-public-key:\s+(\S+)/.exec(out)![1], privateKey: /RECOVERY_PRIVATE_KEY:\s+(\S+)/.exec(out)![1] }
}

/** Opens a recovery ciphertext with the bundled recovery tool, as the README tells a person to. */
export function openRecovery(ciphertext: string, privateKey: string): string {
  return execFileSync(NODE, [recoveryTool(), 'open', ciphertext], {
    encoding: 'utf8',
    env: { ...process.env, RECOVERY_PRIVATE_KEY: privateKey }
  }).replace(/\n$/, '')
}

/**
 * The runner's cancellation, on real timers: SIGINT (or `first`), then SIGTERM 7.5 s later, then
 * SIGKILL 2.5 s after that. Returns when each signal was sent (epoch ms; 0 if the process exited first).
 */
export function runnerCancel(child: ChildProcess, first: 'SIGINT' | 'SIGTERM' = 'SIGINT'): { sent: Record<string, number> } {
  const sent: Record<string, number> = {}
  const send = (signal: NodeJS.Signals): void => {
    if (child.exitCode !== null || child.signalCode !== null) return
    sent[signal] = performance.timeOrigin + performance.now()
    child.kill(signal)
  }
  send(first)
  const timers =
    first === 'SIGINT'
      ? [setTimeout(() => send('SIGTERM'), 7500), setTimeout(() => send('SIGKILL'), 10_000)]
      : [setTimeout(() => send('SIGKILL'), 2500)]
  child.once('exit', () => timers.forEach(clearTimeout))
  return { sent }
}
