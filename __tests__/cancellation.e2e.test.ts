/**
 * Issue 11: a cancelled run always reports. The runner cancels a step with SIGINT, then SIGTERM 7.5 s
 * later, then SIGKILL 2.5 s after that (a process can also get SIGTERM alone). Here the signals come
 * on real timers at the worst moments, with ThingSpace and GitHub slow (seconds per request from that
 * moment on), and the process must exit by itself before the kill, with its result output, job
 * summary and annotation written, and a result that is true for the phase it was in. The tests run
 * concurrently: they mostly wait.
 */
import { describe, expect, test } from '@jest/globals'
import type { ChildProcess } from 'node:child_process'
import type { ActionRun, Simulators } from '../simulators/harness.ts'
import {
  DEPENDABOT_ORG,
  CODESPACES_REPO,
  ENV,
  REPO,
  annotation,
  counts,
  openRecovery,
  recoveryKeypair,
  run,
  runnerCancel,
  stored,
  withSimulators
} from './support/scenario.ts'

/** The runner's 10 s from SIGINT to SIGKILL, and the run up to the signal, on a busy machine. */
const TIMEOUT_MS = 30_000

/** From now on every request to ThingSpace and GitHub takes this long. */
function slow(sims: Simulators, thingspaceMs: number, githubMs: number): void {
  sims.thingspace.latencyMs = thingspaceMs
  sims.github.latencyMs = githubMs
}

interface Cancelled {
  result: ActionRun
  /** When each signal was sent (epoch ms); absent if the process had exited before. */
  sent: Record<string, number>
  /** Milliseconds from the first signal to the exit. */
  exitAfterMs: number
}

/**
 * Runs the bundle and cancels it like the runner when `arm` says so: `arm` gets a function to call
 * at the chosen moment (from a fault's onHit), which makes the services slow and sends the first signal.
 */
async function cancelledRun(
  sims: Simulators,
  inputs: Record<string, string>,
  first: 'SIGINT' | 'SIGTERM',
  arm: (cancelNow: () => void) => void
): Promise<Cancelled> {
  let child: ChildProcess | undefined
  let sent: Record<string, number> = {}
  arm(() => (sent = runnerCancel(child!, first).sent))
  const result = await run(sims, { inputs, onSpawn: (c) => (child = c) })
  return { result, sent, exitAfterMs: result.spawnedAt + result.wallMs - sent[first] }
}

/** Exited on its own (no signal killed it) before the runner's SIGKILL, with everything written. */
function expectReported({ result, sent, exitAfterMs }: Cancelled, first: 'SIGINT' | 'SIGTERM', expected: string): void {
  expect({ signal: result.signal, killed: 'SIGKILL' in sent }).toEqual({ signal: null, killed: false })
  expect(exitAfterMs).toBeLessThan(first === 'SIGINT' ? 10_000 : 2_500)
  expect(result.stdout).toContain(`Received ${first}`)
  expect(result.outputs.result).toBe(expected)
  expect(result.summary).toContain(`<code>${expected}</code>`)
}

describe('a run cancelled with slow services exits by itself before the kill, with its outputs written', () => {
  test.concurrent(
    'SIGINT during the write proof: failed-unchanged, no reset',
    async () => {
      await withSimulators(undefined, async (sims) => {
        const cancelled = await cancelledRun(sims, { targets: 'repo\ndependabot:org:acme' }, 'SIGINT', (cancelNow) =>
          sims.github.inject({ call: 'put-secret', scope: REPO, attempts: [1], onHit: () => (slow(sims, 2500, 2500), cancelNow()) })
        )

        expectReported(cancelled, 'SIGINT', 'failed-unchanged')
        expect(cancelled.result.code).toBe(1)
        expect(annotation(cancelled.result)?.message).toBe(
          'The password was not changed: the runner cancelled the step (SIGINT) before the reset was sent, and no login was attempted (only the OAuth token was requested).'
        )
        // The proof comes before the login now: cancelled during it, no login is sent at all.
        expect(counts(sims)).toMatchObject({ reset: 0, login: 0 })
      })
    },
    TIMEOUT_MS
  )

  test.concurrent(
    'SIGTERM alone during the write proof: reports within its 2.5 s',
    async () => {
      await withSimulators(undefined, async (sims) => {
        const cancelled = await cancelledRun(sims, { targets: 'repo\nenv:production' }, 'SIGTERM', (cancelNow) =>
          sims.github.inject({ call: 'put-secret', scope: REPO, attempts: [1], onHit: () => (slow(sims, 3000, 3000), cancelNow()) })
        )

        expectReported(cancelled, 'SIGTERM', 'failed-unchanged')
        expect(annotation(cancelled.result)?.message).toBe(
          'The password was not changed: the runner cancelled the step (SIGTERM) before the reset was sent, and no login was attempted (only the OAuth token was requested).'
        )
        // The proof comes before the login now: cancelled during it, no login is sent at all.
        expect(counts(sims)).toMatchObject({ reset: 0, login: 0 })
      })
    },
    TIMEOUT_MS
  )

  test.concurrent(
    'SIGINT as the reset is in flight: the new password is still stored everywhere (rotated)',
    async () => {
      await withSimulators(undefined, async (sims) => {
        const cancelled = await cancelledRun(sims, { targets: 'repo\ncodespaces:repo' }, 'SIGINT', (cancelNow) =>
          sims.thingspace.inject({ call: 'reset', onHit: () => (slow(sims, 3000, 1500), cancelNow()) })
        )

        expectReported(cancelled, 'SIGINT', 'rotated')
        const live = sims.thingspace.password
        expect(sims.thingspace.issuedPasswords).toEqual([live])
        expect([stored(sims, REPO), stored(sims, CODESPACES_REPO)]).toEqual([live, live])
        expect(cancelled.result.outputs['targets-updated']).toBe('2')
        // No verify login once cancelled: only what was needed to keep the password.
        expect(annotation(cancelled.result, 'notice')?.message).toBe('The password was changed and the new one is stored in every target.')
        expect(counts(sims)).toMatchObject({ reset: 1, login: 1 })
      })
    },
    TIMEOUT_MS
  )

  test.concurrent(
    'SIGINT during the stores, one hanging past the kill: failed-changed, the escrow opens, the hung target named',
    async () => {
      await withSimulators(undefined, async (sims) => {
        const keys = recoveryKeypair()
        const inputs = { targets: 'repo\nenv:production\ndependabot:org:acme', 'recovery-public-key': keys.publicKey }
        // Writes are one at a time, in target order: the last target's store (its second write) never answers.
        const cancelled = await cancelledRun(sims, inputs, 'SIGINT', (cancelNow) =>
          sims.github.inject({
            call: 'put-secret',
            scope: DEPENDABOT_ORG,
            attempts: [2],
            delayMs: 60_000,
            onHit: () => (slow(sims, 2000, 2000), cancelNow())
          })
        )

        expectReported(cancelled, 'SIGINT', 'failed-changed')
        expect('SIGTERM' in cancelled.sent).toBe(true) // it held out through the SIGTERM, up to its deadline
        const { result } = cancelled
        const live = sims.thingspace.password
        expect(result.code).toBe(1)
        expect(result.outputs).toMatchObject({ rotated: 'false', 'targets-updated': '2' })
        expect([stored(sims, REPO), stored(sims, ENV)]).toEqual([live, live])
        expect(openRecovery(result.outputs['recovery-ciphertext'], keys.privateKey)).toBe(live)
        expect(annotation(result)?.message).toMatch(
          /^The password WAS changed: the old one no longer works\. The new password is confirmed stored only in repo:acme\/fleet, env:acme\/fleet\/production\. Unknown \(no answer came, or the step was cancelled before it did; the write may have landed: check the secret's updated time\): dependabot:org:acme\. It is in the recovery-ciphertext output/
        )
        expect(result.summary).toContain(
          '<td><code>dependabot:org:acme</code></td><td>no secret yet</td><td>unknown: the write had not finished when the runner cancelled the step</td>'
        )
        expect(result.summary).toContain(result.outputs['recovery-ciphertext'])
      })
    },
    TIMEOUT_MS
  )
})
