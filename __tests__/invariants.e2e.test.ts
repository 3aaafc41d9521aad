/**
 * A small seeded fault campaign through the real process: each case draws targets (every kind) and
 * one to three faults, runs the bundle, and checks every invariant at once against what the servers
 * hold, the outputs, the exit code and the raw log (the leak scanner runs inside `run`). The large
 * campaign (hundreds of cases) runs in process; these few show that the bundle, its HTTP stack and
 * its runner protocol keep the same promises. The seeds are fixed, so a failure names a case that
 * reproduces.
 */
import { expect, test } from '@jest/globals'
import type { Fault } from '../simulators/server.ts'
import { gatewayFault } from '../simulators/thingspace.ts'
import {
  CODESPACES_ORG,
  CODESPACES_REPO,
  DEPENDABOT_ORG,
  DEPENDABOT_REPO,
  ENV,
  ORG,
  REPO,
  RESET_UNKNOWN,
  STATE,
  counts,
  expectProofBeforeReset,
  openRecovery,
  recoveryKeypair,
  run,
  stored,
  withSimulators
} from './support/scenario.ts'

function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One keypair for every case, from the bundled recovery tool. */
const KEYS = recoveryKeypair()

type Pick = <T>(xs: T[]) => T
type Drawn = { service: 'thingspace' | 'github'; fault: Fault }
const SCOPES = [REPO, ENV, ORG, DEPENDABOT_REPO, DEPENDABOT_ORG, CODESPACES_REPO, CODESPACES_ORG]
const UWS = (code: string) => ({ errorCode: `UnifiedWebService.REQUEST_FAILED.${code}`, errorMessage: 'injected' })
const FORBIDDEN = { status: 403, body: { message: 'Resource not accessible by personal access token' } }

/** Faults that cost no real backoff (GitHub's 5xx and network errors wait seconds between retries: none here). */
const MENU: ((pick: Pick, targets: string[]) => Drawn)[] = [
  () => ({ service: 'thingspace', fault: { call: 'token', attempts: [1], status: 503 } }),
  () => ({ service: 'thingspace', fault: { call: 'login', attempts: [1], drop: 'after' } }),
  () => ({ service: 'thingspace', fault: { call: 'login', attempts: [1], status: 400, body: UWS('InvalidCredentials') } }),
  () => ({ service: 'thingspace', fault: { call: 'login', attempts: [1], ...gatewayFault('900901') } }),
  () => ({ service: 'thingspace', fault: { call: 'login', attempts: [2], status: 400, body: UWS('InvalidCredentials') } }),
  () => ({ service: 'thingspace', fault: { call: 'reset', status: 400, body: UWS('PasswordPolicy') } }),
  () => ({ service: 'thingspace', fault: { call: 'reset', status: 500, body: UWS('UnexpectedError') } }),
  () => ({ service: 'thingspace', fault: { call: 'reset', drop: 'after' } }),
  () => ({ service: 'thingspace', fault: { call: 'reset', ...gatewayFault('900901') } }),
  () => ({ service: 'thingspace', fault: { call: 'logout', status: 500 } }),
  (pick, targets) => ({ service: 'github', fault: { call: 'put-secret', scope: pick(targets), attempts: [pick([1, 2])], ...FORBIDDEN } }),
  (pick, targets) => ({ service: 'github', fault: { call: 'put-secret', scope: pick(targets), attempts: [pick([1, 2])], rotateKey: true } }),
  (pick, targets) => ({ service: 'github', fault: { call: 'public-key', scope: pick(targets), status: 404, body: { message: 'Not Found' } } }),
  // The store after the reset refused (a target's second write), drawn more often to reach failed-changed.
  (pick, targets) => ({ service: 'github', fault: { call: 'put-secret', scope: pick(targets), attempts: [2], ...FORBIDDEN } }),
  (pick, targets) => ({ service: 'github', fault: { call: 'put-secret', scope: pick(targets), attempts: [2], ...FORBIDDEN } })
]

/**
 * Chosen to end in every result: 29 rotated (every kind, a gateway 401 on the login), 6 failed-changed
 * with escrow, 1 failed-unknown, 9 failed-unchanged after a lost login (marker, one retry that logs in
 * and removes it) and a failed proof, 13 failed-unchanged by a gateway 401 on the reset, 34 a refusal
 * of the repeated login. Run more with SEEDS=1,2,3 in the environment.
 */
const SEEDS = process.env.SEEDS ? process.env.SEEDS.split(',').map(Number) : [29, 6, 1, 9, 13, 34]

test.concurrent.each(SEEDS)('fault campaign, seed %i', async (seed) => {
  const rand = random(seed)
  const pick: Pick = (xs) => xs[Math.floor(rand() * xs.length)]
  const targets = SCOPES.filter(() => rand() < 0.4)
  if (targets.length === 0) targets.push(REPO)
  const drawn = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(MENU)(pick, targets))
  const keys = rand() < 0.6 ? KEYS : undefined

  await withSimulators(undefined, async (sims) => {
    const initial = sims.thingspace.password
    for (const { service, fault } of drawn) sims[service].inject(fault)
    const inputs: Record<string, string> = { targets: targets.join('\n'), ...(keys ? { 'recovery-public-key': keys.publicKey } : {}) }

    const result = await run(sims, { inputs })

    const outcome = result.outputs.result
    const context = { seed, targets, faults: drawn, outcome }
    const live = sims.thingspace.password
    const holders = targets.filter((t) => stored(sims, t) === live)
    const c = counts(sims)
    const logins = sims.thingspace.calls('login')
    const firstRefusal = logins.findIndex((e) => e.status === 400)

    // The order of guarantees, and what may never be repeated: the reset, a refused login.
    expectProofBeforeReset(sims, targets)
    expect({ context, resets: c.reset <= 1 }).toEqual({ context, resets: true })
    expect({ context, loginsAfterARefusal: firstRefusal < 0 ? 0 : logins.length - firstRefusal - 1 }).toEqual({ context, loginsAfterARefusal: 0 })
    expect(sims.thingspace.locked).toBe(false)

    // The outputs tell the truth, and the exit code agrees.
    const expected = {
      rotated: String(outcome === 'rotated'),
      targetsUpdated: String(live === initial ? 0 : holders.length),
      failedStep: outcome !== 'rotated' || /verify login/.test(result.stdout)
    }
    expect({ context, rotated: result.outputs.rotated, targetsUpdated: result.outputs['targets-updated'], failedStep: result.code === 1 }).toEqual({
      context,
      ...expected
    })
    const reset = sims.thingspace.calls('reset')[0]
    const truth = {
      rotated: live !== initial && holders.length === targets.length,
      'failed-unchanged': live === initial && sims.thingspace.issuedPasswords.length === 0,
      'failed-changed': live !== initial && holders.length < targets.length,
      // Doubt is admitted only where there is some: the reset's answer was not a success, or the new password's login was refused.
      'failed-unknown': reset !== undefined && (reset.status !== 200 || logins.some((l) => l.start >= reset.end && l.status === 400))
    }
    expect({ context, true: truth[outcome as keyof typeof truth] }).toEqual({ context, true: true })
    // Never lost silently: a changed password not stored everywhere is escrowed when a key was given.
    const escrowed = result.outputs['recovery-ciphertext'] ? openRecovery(result.outputs['recovery-ciphertext'], keys!.privateKey) : undefined
    expect({ context, escrowed }).toEqual({ context, escrowed: outcome === 'failed-changed' && keys ? live : undefined })
    // A lockout record in the first target where a login may have counted and no login succeeded after it
    // (a success resets ThingSpace's count, and the run removes the record), or the run says it could not
    // record one; nowhere else.
    const lastCounted = logins.findLastIndex((e) => e.status === 400 || e.status === 'dropped')
    const mayHaveCounted = lastCounted > logins.findLastIndex((e) => e.status === 200)
    // A reset whose answer was lost is recorded for the next run; where that fails, the record of the login stays instead.
    const record = stored(sims, targets[0], STATE) !== undefined
    const unrecordedSaid = /Recording (that login|it) in THINGSPACE_PASSWORD_ROTATION failed/.test(result.stdout)
    const lostReset = /The reset request was sent, but its outcome cannot be known/.test(result.stdout)
    const lostResetUnrecorded = /Recording that in THINGSPACE_PASSWORD_RESET_UNKNOWN failed/.test(result.stdout)
    expect({ context, record, said: record || unrecordedSaid || lostResetUnrecorded }).toEqual({
      context,
      record: (mayHaveCounted && !unrecordedSaid) || lostResetUnrecorded,
      said: mayHaveCounted || lostResetUnrecorded
    })
    const lostResetRecorded = stored(sims, targets[0], RESET_UNKNOWN) !== undefined
    expect({ context, lostResetRecorded, elsewhere: targets.slice(1).filter((t) => stored(sims, t, RESET_UNKNOWN) !== undefined) }).toEqual({
      context,
      lostResetRecorded: lostReset && !lostResetUnrecorded,
      elsewhere: []
    })
    // The password secret holds nothing but what ThingSpace issued to this run: never written before the reset answered.
    const issued = new Set(sims.thingspace.issuedPasswords)
    expect({ context, foreign: targets.filter((t) => stored(sims, t) !== undefined && !issued.has(stored(sims, t)!)) }).toEqual({
      context,
      foreign: []
    })
  })
})
