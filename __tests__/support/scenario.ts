/** Shared steps of the end-to-end tests: simulators up, the bundle run, secrets known to the scanner. */
import { FIXTURE, runAction, standardInputs, startSimulators, type ActionRun, type RunOptions, type Simulators } from '../../simulators/harness.ts'
import type { ThingSpaceOptions } from '../../simulators/thingspace.ts'
import { scanForLeaks, type KnownSecret } from './leak-scanner.ts'

export const SECRET = 'THINGSPACE_PASSWORD'
export const REPO = `repo:${FIXTURE.repository}`
export const ENV = `env:${FIXTURE.repository}/${FIXTURE.environment}`
export const ORG = `org:${FIXTURE.org}`
export const DAY = 24 * 60 * 60 * 1000

let current: Simulators | undefined

export async function simulators(options?: ThingSpaceOptions): Promise<Simulators> {
  current = await startSimulators(options)
  return current
}

export async function stopSimulators(): Promise<void> {
  await current?.stop()
  current = undefined
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
  ts.issuedPasswords.forEach((value, i) =>
    secrets.push({
      name: `new password #${i + 1}`,
      value,
      maskBefore: /issued a new password/i,
      mustMask: received && i >= issuedBefore.passwords && delivered(value)
    })
  )
  return secrets
}

/** Runs the bundle and fails the test on any leak, whatever the scenario. */
export async function run(sims: Simulators, options: RunOptions = {}): Promise<ActionRun> {
  const issuedBefore = { tokens: sims.thingspace.issuedTokens.length, passwords: sims.thingspace.issuedPasswords.length }
  const inputs = { ...standardInputs(sims), ...options.inputs }
  const result = await runAction(sims, options)
  // A reset whose answer was lost issued a password the action never saw; it can only be checked for absence.
  const received = ['rotated', 'failed-changed'].includes(result.outputs.result)
  const leaks = scanForLeaks(result, knownSecrets(sims, inputs, issuedBefore, received))
  if (leaks.length > 0) throw new Error(`leak scanner:\n${leaks.join('\n')}\n--- stdout ---\n${result.stdout}`)
  return result
}

export function stored(sims: Simulators, scope: string): string | undefined {
  return sims.github.secret(scope, SECRET)?.value
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

/**
 * The order of guarantees, read from the simulators' clocks: if a reset was sent, every target had
 * answered its first write (the proof) with a 2xx before, and that write came after a login succeeded.
 */
export function expectProofBeforeReset(sims: Simulators, targets: string[]): void {
  const [reset] = sims.thingspace.calls('reset')
  if (!reset) return
  const login = sims.thingspace.calls('login').find((e) => e.status === 200)
  expect(login).toBeDefined()
  for (const target of targets) {
    const proof = sims.github.calls('put-secret', target).find((e) => typeof e.status === 'number' && e.status < 300)
    expect({ target, proven: proof !== undefined && proof.end <= reset.start && proof.start >= login!.end }).toEqual({ target, proven: true })
  }
}
