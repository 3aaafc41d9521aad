/**
 * Faults that need a real process to show: the exit code and the `::error` line a refusal ends in,
 * the lockout marker read back by the next (scheduled) run, the lockout budget over consecutive runs
 * nobody started by hand (each records its login in the marker before sending it and removes the
 * record once it logs in; a token that cannot write it means no login at all), the escrow opened
 * with the bundled recovery tool, awkward new passwords masked on the real stdout, and ThingSpace's
 * gateway, OAuth and token-lifetime behaviour (issue 13) through the real HTTP stack. Every branch of
 * the flow is tested in process; each case here runs the bundle, and every run passes the leak scanner.
 */
import { describe, expect, test } from '@jest/globals'
import { FIXTURE, type ActionRun, type Simulators } from '../simulators/harness.ts'
import { gatewayFault, xmlGatewayFault } from '../simulators/thingspace.ts'
import {
  DEPENDABOT_ORG,
  DEPENDABOT_REPO,
  ENV,
  MARKER,
  REPO,
  SECRET,
  annotation,
  counts,
  errorMessage,
  expectProofBeforeReset,
  openRecovery,
  recoveryKeypair,
  run,
  stored,
  withSimulators
} from './support/scenario.ts'

const TITLE = 'ThingSpace password rotation'
/** What an unattended run says when the token cannot write the marker it records ahead of its login. */
const MARKER_UNWRITABLE =
  `The password was not changed, and no login was attempted (only the OAuth token was requested): a run nobody started by hand records each login in ${MARKER} before sending it, ` +
  `so that a failure it cannot report still stops the next run, and writing ${MARKER} to ${REPO} failed (Failed to write ${MARKER} to ${REPO}: ` +
  `403 Resource not accessible by personal access token (the github-token may not write these secrets; it needs the "Secrets" repository permission (write); classic: repo)). ` +
  `Give the github-token write access to the targets' secrets (see the README's token table).`

/** The password is what it was, and no target holds anything else. */
function expectUnchanged(sims: Simulators, initial: string, scopes: string[]): void {
  expect(sims.thingspace.password).toBe(initial)
  expect(sims.thingspace.issuedPasswords).toEqual([])
  expect(scopes.map((scope) => stored(sims, scope) ?? initial)).toEqual(scopes.map(() => initial))
}

describe('a refused login', () => {
  test.concurrent('is sent once, fails the step with an error annotation, and stops the next scheduled run before any login', async () => {
    await withSimulators(undefined, async (sims) => {
      const initial = sims.thingspace.password
      const inputs = { password: 'an-old-password', targets: 'repo\ndependabot:repo' }

      const refused = await run(sims, { inputs, env: { GITHUB_EVENT_NAME: 'workflow_dispatch' } })

      expect(refused.code).toBe(1)
      expect(refused.outputs).toEqual({ result: 'failed-unchanged', rotated: 'false', 'targets-updated': '0' })
      expect(annotation(refused)?.title).toBe(`${TITLE}: failed-unchanged`)
      expect(errorMessage(refused)).toMatch(
        /^The password was not changed: ThingSpace refused the login for m2m-api-user \(ThingSpace login: answered 400, REQUEST_FAILED\.InvalidCredentials: .*\); it was not retried\. 5 consecutive failed logins lock the username/
      )
      expect(errorMessage(refused)).toContain(`recorded in ${MARKER}`)
      // Started by hand: no record ahead of the login, only the marker after the refusal.
      expect(counts(sims)).toEqual({ token: 1, login: 1, reset: 0, logout: 0, puts: 1 })
      expect(sims.thingspace.consecutiveFailures).toBe(1)
      // The marker is written to the first target only; the password secret is written nowhere.
      expect(stored(sims, REPO, MARKER)).toMatch(/^a login may count toward the lockout from \d{4}-/)
      expect(stored(sims, DEPENDABOT_REPO, MARKER)).toBeUndefined()
      expect([stored(sims, REPO), stored(sims, DEPENDABOT_REPO)]).toEqual([undefined, undefined])

      const scheduled = await run(sims, { inputs, env: { GITHUB_EVENT_NAME: 'schedule' } })

      expect(scheduled.code).toBe(1)
      expect(scheduled.outputs.result).toBe('failed-unchanged')
      expect(errorMessage(scheduled)).toMatch(
        new RegExp(
          `^The password was not changed, and no login was attempted .*recorded in the ${MARKER} secret of repo:acme/fleet.*runs nobody started by hand stop here`
        )
      )
      expect(counts(sims)).toEqual({ token: 2, login: 1, reset: 0, logout: 0, puts: 1 })
      expectUnchanged(sims, initial, [REPO, DEPENDABOT_REPO])
    })
  })
})

/**
 * Consecutive runs of the bundle against the same simulators, each started by `event` (GITHUB_EVENT_NAME),
 * with ThingSpace's count of consecutive failed logins after each.
 */
async function runs(sims: Simulators, n: number, inputs: Record<string, string>, event: string): Promise<{ done: ActionRun[]; failures: number[] }> {
  const done: ActionRun[] = []
  const failures: number[] = []
  for (let i = 0; i < n; i++) {
    done.push(await run(sims, { inputs, env: { GITHUB_EVENT_NAME: event } }))
    failures.push(sims.thingspace.consecutiveFailures)
  }
  return { done, failures }
}

/** The writes and deletions of the lockout marker, in order, as the GitHub simulator saw them. */
function markerCalls(sims: Simulators): { call: string; scope: string | undefined; status: number | 'dropped' }[] {
  return sims.github.log
    .filter((e) => e.path.endsWith(`/secrets/${MARKER}`) && e.method !== 'GET')
    .map((e) => ({ call: e.call, scope: e.scope, status: e.status }))
}

describe('the lockout budget across runs (issue 11)', () => {
  test.concurrent("wrong password, every login answer lost: 4 scheduled runs spend 2 attempts, the first run's", async () => {
    await withSimulators(undefined, async (sims) => {
      // The simulator counts the failed login, then drops the connection: the action never sees a refusal.
      sims.thingspace.inject({ call: 'login', drop: 'after' })
      const inputs = { password: 'an-old-password', targets: 'repo\nenv:production' }

      const { done, failures } = await runs(sims, 4, inputs, 'schedule')

      expect(done.map((r) => r.outputs.result)).toEqual(['failed-unchanged', 'failed-unchanged', 'failed-unchanged', 'failed-unchanged'])
      // The first run records its login ahead, loses the answer, retries once (already recorded); the others stop.
      expect(failures).toEqual([2, 2, 2, 2])
      expect(sims.thingspace.locked).toBe(false)
      expect(markerCalls(sims)).toEqual([{ call: 'put-secret', scope: REPO, status: 201 }])
      expect(stored(sims, REPO, MARKER)).toBeDefined()
    })
  })

  test.concurrent('a read-only github-token, wrong password: 5 scheduled runs send no login at all, each says why', async () => {
    await withSimulators(undefined, async (sims) => {
      sims.github.addToken(FIXTURE.githubToken, { write: false })
      const inputs = { password: 'an-old-password', targets: 'repo\nenv:production' }

      const { done, failures } = await runs(sims, 5, inputs, 'schedule')

      expect(done.map((r) => [r.code, r.outputs.result])).toEqual(done.map(() => [1, 'failed-unchanged']))
      expect(done.map((r) => errorMessage(r))).toEqual(done.map(() => MARKER_UNWRITABLE))
      // Each run asked for the OAuth token with the reads, tried to record its login ahead, and stopped there.
      expect(counts(sims)).toEqual({ token: 5, login: 0, reset: 0, logout: 0, puts: 5 })
      expect(markerCalls(sims)).toEqual(done.map(() => ({ call: 'put-secret', scope: REPO, status: 403 })))
      expect(failures).toEqual([0, 0, 0, 0, 0])
      expect(stored(sims, REPO, MARKER)).toBeUndefined()
    })
  })

  test.concurrent("repository_dispatch, wrong password: 5 runs spend 1 attempt, the first run's refusal, recorded before it was sent", async () => {
    await withSimulators(undefined, async (sims) => {
      const inputs = { password: 'an-old-password', targets: 'repo\nenv:production' }

      const { done, failures } = await runs(sims, 5, inputs, 'repository_dispatch')

      expect(done.map((r) => [r.code, r.outputs.result])).toEqual(done.map(() => [1, 'failed-unchanged']))
      expect(failures).toEqual([1, 1, 1, 1, 1])
      expect(sims.thingspace.locked).toBe(false)
      expect(errorMessage(done[0])).toMatch(
        new RegExp(
          `^The password was not changed: ThingSpace refused the login for m2m-api-user \\(.*\\); it was not retried\\. .*Runs nobody started by hand will not log in again until the password secret is updated \\(recorded in ${MARKER}\\)\\.`
        )
      )
      expect(
        done
          .slice(1)
          .map((r) => /^The password was not changed, and no login was attempted .*runs nobody started by hand stop here/.test(errorMessage(r)))
      ).toEqual([true, true, true, true])
      // One marker write, before the login; the refusal left it in place.
      expect(counts(sims)).toEqual({ token: 5, login: 1, reset: 0, logout: 0, puts: 1 })
      expect(markerCalls(sims)).toEqual([{ call: 'put-secret', scope: REPO, status: 201 }])
      expect(sims.github.calls('put-secret')[0].end).toBeLessThanOrEqual(sims.thingspace.calls('login')[0].start)
      expect(stored(sims, REPO, MARKER)).toMatch(/^a login may count toward the lockout from \d{4}-/)
    })
  })

  test.concurrent(
    'a scheduled rotation records its login ahead and removes the record once it logs in: 1 PUT and 1 DELETE more than by hand',
    async () => {
      await withSimulators(undefined, async (sims) => {
        const inputs = { targets: 'repo\nenv:production' }
        const byHand = await run(sims, { inputs })
        expect(byHand.outputs.result).toBe('rotated')
        const before = { puts: counts(sims).puts, deletes: sims.github.calls('delete-secret').length, log: sims.github.log.length }
        expect({ puts: before.puts, deletes: before.deletes }).toEqual({ puts: 4, deletes: 0 })
        // A later workflow run (the stale-password guard compares the secrets with the run's start).
        sims.github.addRun(FIXTURE.runId + 1, new Date())

        const scheduled = await run(sims, { inputs, env: { GITHUB_EVENT_NAME: 'schedule', GITHUB_RUN_ID: String(FIXTURE.runId + 1) } })

        expect(scheduled.outputs).toEqual({ result: 'rotated', rotated: 'true', 'targets-updated': '2' })
        expect([stored(sims, REPO), stored(sims, ENV)]).toEqual([sims.thingspace.password, sims.thingspace.password])
        expect({ puts: counts(sims).puts - before.puts, deletes: sims.github.calls('delete-secret').length - before.deletes }).toEqual({
          puts: 5,
          deletes: 1
        })
        expect(markerCalls(sims)).toEqual([
          { call: 'put-secret', scope: REPO, status: 201 },
          { call: 'delete-secret', scope: REPO, status: 204 }
        ])
        expect(sims.github.secret(REPO, MARKER)).toBeUndefined()
        // In order: the record, the login, the removal, then every write of the password secret.
        const [record, removal] = sims.github.log.slice(before.log).filter((e) => e.path.endsWith(`/secrets/${MARKER}`) && e.method !== 'GET')
        const login = sims.thingspace.calls('login')[2]
        const writes = sims.github.log.slice(before.log).filter((e) => e.call === 'put-secret' && e.path.endsWith(`/secrets/${SECRET}`))
        expect(writes).toHaveLength(4) // the proofs, then the stores
        expect([record.end <= login.start, login.end <= removal.start, writes.every((w) => removal.end <= w.start)]).toEqual([true, true, true])
      })
    }
  )
})

describe('after the reset', () => {
  test.concurrent('a target that refuses the new password: failed-changed, the others hold it, the escrow opens with the recovery tool', async () => {
    await withSimulators(undefined, async (sims) => {
      const keys = recoveryKeypair()
      // The second write of that scope is the store after the reset (the first was the proof).
      sims.github.inject({
        call: 'put-secret',
        scope: DEPENDABOT_ORG,
        attempts: [2],
        status: 403,
        body: { message: 'Resource not accessible by personal access token' }
      })

      const result = await run(sims, { inputs: { targets: 'repo\nenv:production\ndependabot:org:acme', 'recovery-public-key': keys.publicKey } })

      const live = sims.thingspace.password
      expect(result.code).toBe(1)
      expect(result.outputs).toMatchObject({ result: 'failed-changed', rotated: 'false', 'targets-updated': '2' })
      expect([stored(sims, REPO), stored(sims, ENV)]).toEqual([live, live])
      expect(stored(sims, DEPENDABOT_ORG)).not.toBe(live)
      expect(openRecovery(result.outputs['recovery-ciphertext'], keys.privateKey)).toBe(live)
      expect(result.summary).toContain(result.outputs['recovery-ciphertext'])
      expect(annotation(result)?.title).toBe(`${TITLE}: failed-changed`)
      expect(errorMessage(result)).toMatch(
        /^The password WAS changed: the old one no longer works\. The new password is stored only in repo:acme\/fleet, env:acme\/fleet\/production\. Not stored in: dependabot:org:acme\. It is in the recovery-ciphertext output/
      )
      expect(result.summary).toMatch(
        /<td><code>dependabot:org:acme<\/code><\/td><td>no secret yet<\/td><td>NOT stored, still holds the old password: Failed to write THINGSPACE_PASSWORD to dependabot:org:acme: 403 /
      )
      expect(counts(sims).reset).toBe(1)
      expectProofBeforeReset(sims, [REPO, ENV, DEPENDABOT_ORG])
    })
  })

  test.concurrent('a reset answer lost after the server changed the password: failed-unknown, sent once, no login with either password', async () => {
    await withSimulators(undefined, async (sims) => {
      const initial = sims.thingspace.password
      sims.thingspace.inject({ call: 'reset', drop: 'after' })

      const result = await run(sims, { inputs: { targets: 'repo\ncodespaces:repo' } })

      expect(result.code).toBe(1)
      expect(result.outputs).toEqual({ result: 'failed-unknown', rotated: 'false', 'targets-updated': '0' })
      expect(sims.thingspace.password).not.toBe(initial) // the server did act: nobody can know the new one
      expect(counts(sims)).toMatchObject({ reset: 1, login: 1 })
      expect(sims.thingspace.consecutiveFailures).toBe(0)
      expect(stored(sims, REPO)).toBe(initial)
      expect(annotation(result)?.title).toBe(`${TITLE}: failed-unknown`)
      expect(errorMessage(result)).toMatch(
        /^The reset request was sent, but its outcome cannot be known \(ThingSpace password reset: the connection failed .*\)\..*Do not re-run this workflow/
      )
    })
  })

  // ThingSpace generates the new password; these stand for what it could send, to check the masking on the real stdout.
  const awkward = ['100%::error::boom%0A', `line one\r\n"q'uo\\te" 🔑 日本語 `]
  test.concurrent.each(awkward)('an awkward new password %j is stored exactly and never printed', async (issued) => {
    await withSimulators(undefined, async (sims) => {
      sims.thingspace.inject({
        call: 'reset',
        status: 200,
        body: { newPassword: issued },
        onHit: () => {
          sims.thingspace.password = issued
          sims.thingspace.issuedPasswords.push(issued)
        }
      })

      const result = await run(sims, { inputs: { targets: 'repo\ndependabot:repo' }, env: { RUNNER_DEBUG: '1' } })

      expect(result.outputs.result).toBe('rotated')
      expect([stored(sims, REPO), stored(sims, DEPENDABOT_REPO)]).toEqual([issued, issued])
      expect(counts(sims).login).toBe(2) // the verify login with it worked
      expect(result.stdout).toContain(`::add-mask::${issued.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}`)
    })
  })
})

describe('ThingSpace as it really behaves (issue 13)', () => {
  test.concurrent('a rotation that starts with a shared OAuth token 58 minutes old rotates, and its reset carries a valid token', async () => {
    await withSimulators({ tokenAgeMs: 58 * 60_000 }, async (sims) => {
      const result = await run(sims)

      expect(result.outputs.result).toBe('rotated')
      expect(stored(sims, REPO)).toBe(sims.thingspace.password)
      const [reset] = sims.thingspace.calls('reset')
      expect(reset).toMatchObject({ status: 200, bearerValid: true })
      expect(sims.thingspace.log.map((e) => e.bearerValid)).not.toContain(false)
    })
  })

  test.concurrent('a gateway 401 (fault 900901) on the first login: a fresh token, one more login, a rotation, and no lockout marker', async () => {
    await withSimulators(undefined, async (sims) => {
      sims.thingspace.inject({ call: 'login', attempts: [1], ...gatewayFault('900901') })

      const result = await run(sims, { inputs: { targets: 'repo\nenv:production' } })

      expect(result.outputs.result).toBe('rotated')
      expect([stored(sims, REPO), stored(sims, ENV)]).toEqual([sims.thingspace.password, sims.thingspace.password])
      expect(counts(sims)).toMatchObject({ login: 3, reset: 1 }) // the faulted one, its repeat, the verify login
      expect(stored(sims, REPO, MARKER)).toBeUndefined()
      expect(sims.thingspace.consecutiveFailures).toBe(0)
    })
  })

  test.concurrent('a 403 XML gateway fault on the login: failed-unchanged, no marker, and the message quotes the fault', async () => {
    await withSimulators(undefined, async (sims) => {
      const initial = sims.thingspace.password
      sims.thingspace.inject({ call: 'login', ...xmlGatewayFault() })

      const result = await run(sims)

      expect(result.code).toBe(1)
      expect(result.outputs.result).toBe('failed-unchanged')
      expect(errorMessage(result)).toBe(
        'The password was not changed: ThingSpace login: answered 403, gateway fault 900908: Runtime Error - Resource forbidden. No failed login was counted, so a new run may try again.'
      )
      expect(counts(sims)).toMatchObject({ login: 1, reset: 0, puts: 0 })
      expect(stored(sims, REPO, MARKER)).toBeUndefined()
      expectUnchanged(sims, initial, [REPO])
    })
  })

  test.concurrent('a bad client secret is reported as the OAuth error invalid_client, before any login', async () => {
    await withSimulators(undefined, async (sims) => {
      const initial = sims.thingspace.password

      const result = await run(sims, { inputs: { 'client-secret': 'wrong-app-secret' } })

      expect(result.code).toBe(1)
      expect(result.outputs.result).toBe('failed-unchanged')
      expect(errorMessage(result)).toBe(
        'The password was not changed, and no login was attempted (only the OAuth token was requested): ThingSpace OAuth token request: answered 401, invalid_client: Client authentication failed.'
      )
      expect(counts(sims)).toMatchObject({ login: 0, reset: 0, puts: 0 })
      expectUnchanged(sims, initial, [REPO])
    })
  })
})
