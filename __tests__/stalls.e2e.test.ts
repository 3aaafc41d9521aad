/**
 * Issue 17: every network read is bounded and settles. An answer whose headers arrive and whose body
 * never finishes (the simulators' `stall: 'body'`, the connection held open) on each ThingSpace call
 * and on a GitHub write after the reset: the bundle, run as the runner runs it and sent no signal,
 * ends by itself with a truthful `result`, its job summary and its annotation, and the exit code the
 * result calls for. The stalled connection is the client's to close. The production timeouts apply
 * (token and login 30 s, reset 60 s, logout 5 s, GitHub 10 s per attempt), so the cases run
 * concurrently and the file takes about as long as its longest case.
 */
import { describe, expect, test } from '@jest/globals'
import type { ActionRun, Simulators } from '../simulators/harness.ts'
import type { LogEntry } from '../simulators/server.ts'
import { annotation, counts, ENV, openRecovery, recoveryKeypair, REPO, run, stored, withSimulators } from './support/scenario.ts'

const TITLE = 'ThingSpace password rotation'
/** The longest case: a stalled GitHub store on every attempt (4 x 10 s + 14 s of backoff) after a full rotation, on a busy machine. */
const TIMEOUT_MS = 150_000
const TARGETS = { targets: 'repo\nenv:production' }

/** Ended by itself (no signal), with its result in the outputs, the summary and an annotation, and the exit code the result calls for. */
function expectReported(result: ActionRun, expected: string): void {
  const ok = expected === 'rotated'
  expect({ signal: result.signal, code: result.code, result: result.outputs.result }).toEqual({ signal: null, code: ok ? 0 : 1, result: expected })
  expect(result.summary).toContain(`<code>${expected}</code>`)
  expect(annotation(result, ok ? 'notice' : 'error')?.title).toBe(`${TITLE}: ${expected}`)
}

/** The stalled requests, and whether the client closed each one's connection (the simulators were still running). */
function stalls(entries: LogEntry[]): { stalled: string | undefined; closedByClient: boolean }[] {
  return entries.filter((e) => e.stalled).map((e) => ({ stalled: e.stalled, closedByClient: e.stallClosedAt !== undefined }))
}

/** Stalls the first write to `scope` that arrives after the reset (the new password's store), from the reset's arrival on. */
function stallStoreAfterReset(
  sims: Simulators,
  scope: string,
  stall: { afterActing?: boolean; status?: number; stall: 'headers' | 'body' },
  attempts?: number[]
): void {
  sims.thingspace.inject({ call: 'reset', onHit: () => sims.github.inject({ call: 'put-secret', scope, attempts, ...stall }) })
}

// One describe block: jest starts a block's concurrent tests together, so the file takes about its longest case.
describe('a stalled answer: the run ends by itself and reports the truth', () => {
  test.concurrent(
    "the token's body, on the first attempt: retried, and the rotation goes on (rotated)",
    async () => {
      await withSimulators(undefined, async (sims) => {
        sims.thingspace.inject({ call: 'token', attempts: [1], stall: 'body' })

        const result = await run(sims, { inputs: TARGETS })

        expectReported(result, 'rotated')
        expect(result.stdout).toContain(
          'ThingSpace OAuth token request: answered 200, but the body did not finish within 30 s; attempt 1 of 4, trying again in'
        )
        expect(stalls(sims.thingspace.calls('token'))).toEqual([{ stalled: 'body', closedByClient: true }])
        expect([stored(sims, REPO), stored(sims, ENV)]).toEqual([sims.thingspace.password, sims.thingspace.password])
      })
    },
    TIMEOUT_MS
  )

  test.concurrent(
    "the login's body, on every attempt: an attempt that may have counted, retried once, then failed-unchanged",
    async () => {
      await withSimulators(undefined, async (sims) => {
        sims.thingspace.inject({ call: 'login', stall: 'body' })

        const result = await run(sims, { inputs: TARGETS })

        expectReported(result, 'failed-unchanged')
        expect(annotation(result)?.message).toContain('ThingSpace login: answered 200, but the body did not finish within 30 s')
        expect(stalls(sims.thingspace.calls('login'))).toEqual([
          { stalled: 'body', closedByClient: true },
          { stalled: 'body', closedByClient: true }
        ])
        expect(counts(sims).reset).toBe(0)
        expect(sims.thingspace.password).toBe(sims.thingspace.initialPassword)
      })
    },
    TIMEOUT_MS
  )

  test.concurrent(
    "the reset's body, after the password changed: failed-unknown",
    async () => {
      await withSimulators(undefined, async (sims) => {
        sims.thingspace.inject({ call: 'reset', stall: 'body', stallAfterBytes: 5 })

        const result = await run(sims, { inputs: TARGETS })

        expectReported(result, 'failed-unknown')
        expect(annotation(result)?.message).toContain('ThingSpace password reset: answered 200, but the body did not finish within 60 s')
        expect(stalls(sims.thingspace.calls('reset'))).toEqual([{ stalled: 'body', closedByClient: true }])
        // The password did change, and the action never saw the new one.
        expect(sims.thingspace.issuedPasswords).toHaveLength(1)
        expect(sims.thingspace.neverDelivered.has(sims.thingspace.password)).toBe(true)
        // Nothing but a password the run received is ever written to the password secret: nothing was.
        expect([stored(sims, REPO), stored(sims, ENV)]).toEqual([undefined, undefined])
      })
    },
    TIMEOUT_MS
  )

  test.concurrent(
    "the logout's body, on every logout after a rotation: rotated, with a warning",
    async () => {
      await withSimulators(undefined, async (sims) => {
        sims.thingspace.inject({ call: 'logout', stall: 'body' })

        const result = await run(sims, { inputs: TARGETS })

        expectReported(result, 'rotated')
        expect(result.stdout).toMatch(
          /::warning title=ThingSpace password rotation::ThingSpace logout failed \(the session will expire on its own\): ThingSpace logout: answered 200, but the body did not finish within 5 s/
        )
        expect(stalls(sims.thingspace.calls('logout')).length).toBeGreaterThan(0)
        expect(stalls(sims.thingspace.calls('logout')).every((s) => s.closedByClient)).toBe(true)
        expect([stored(sims, REPO), stored(sims, ENV)]).toEqual([sims.thingspace.password, sims.thingspace.password])
      })
    },
    TIMEOUT_MS
  )

  test.concurrent(
    'GitHub: the body of a store GitHub answered 201: the write landed, the attempt is cut at 10 s (rotated)',
    async () => {
      await withSimulators(undefined, async (sims) => {
        stallStoreAfterReset(sims, REPO, { afterActing: true, status: 201, stall: 'body' }, [1])

        const result = await run(sims, { inputs: TARGETS })

        expectReported(result, 'rotated')
        expect(stalls(sims.github.calls('put-secret', REPO))).toEqual([{ stalled: 'body', closedByClient: true }])
        expect([stored(sims, REPO), stored(sims, ENV)]).toEqual([sims.thingspace.password, sims.thingspace.password])
      })
    },
    TIMEOUT_MS
  )

  test.concurrent(
    'GitHub: a store never answered on any attempt: 4 attempts of 10 s, then failed-changed with the escrow, which opens to the live password',
    async () => {
      await withSimulators(undefined, async (sims) => {
        const { publicKey, privateKey } = recoveryKeypair()
        stallStoreAfterReset(sims, ENV, { stall: 'headers' })

        const result = await run(sims, { inputs: { ...TARGETS, 'recovery-public-key': publicKey } })

        expectReported(result, 'failed-changed')
        expect(stalls(sims.github.calls('put-secret', ENV))).toEqual(Array.from({ length: 4 }, () => ({ stalled: 'headers', closedByClient: true })))
        expect(stored(sims, REPO)).toBe(sims.thingspace.password)
        expect(openRecovery(result.outputs['recovery-ciphertext'], privateKey)).toBe(sims.thingspace.password)
      })
    },
    TIMEOUT_MS
  )
})
