/**
 * Faults that need a real process to show: the exit code and the `::error` line a refusal ends in,
 * the lockout record read back by the next (scheduled) run, the lockout budget over consecutive runs
 * nobody started by hand (each writes the rotation-state secret into every target before its login,
 * which in the first target records the login, and removes the record once it logs in; a token that
 * cannot write it means no login at all), a lost reset answer followed by a run that is not green, the escrow opened
 * with the bundled recovery tool, awkward new passwords masked on the real stdout, and ThingSpace's
 * gateway, OAuth and token-lifetime behaviour (issue 13) through the real HTTP stack. Every branch of
 * the flow is tested in process; each case here runs the bundle, and every run passes the leak scanner.
 */
import { describe, expect, test } from '@jest/globals'
import { FIXTURE, type ActionRun, type Simulators } from '../simulators/harness.ts'
import { gatewayFault, xmlGatewayFault } from '../simulators/thingspace.ts'
import {
  DAY,
  DEPENDABOT_ORG,
  DEPENDABOT_REPO,
  ENV,
  LEGACY_MARKER,
  REPO,
  RESET_UNKNOWN,
  SECRET,
  STATE,
  onSecret,
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
/** What a run says when the token cannot write the rotation-state secret it proves every target with, ahead of its login. */
const PROOF_REFUSED =
  `The password was not changed, and no login was attempted (only the OAuth token was requested): not every target accepted a write of ${STATE} ` +
  `(the proof that its secrets can be written), so nothing irreversible was tried.\n` +
  `Failed to write ${STATE} to ${REPO}: 403 Resource not accessible by personal access token (the github-token may not write these secrets; it needs the "Secrets" repository permission (write); classic: repo)\n` +
  `Failed to write ${STATE} to ${ENV}: 403 Resource not accessible by personal access token (the github-token may not write these secrets; it needs the "Environments" and "Secrets" repository permissions (write); classic: repo)`

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
      expect(refused.outputs).toEqual({ result: 'failed-unchanged', rotated: 'false', 'targets-updated': '0', 'active-username': 'm2m-api-user' })
      expect(annotation(refused)?.title).toBe(`${TITLE}: failed-unchanged`)
      expect(errorMessage(refused)).toMatch(
        /^The password was not changed by this run: ThingSpace refused the login for m2m-api-user \(ThingSpace login: answered 400, REQUEST_FAILED\.InvalidCredentials: .*\); it was not retried\. 5 consecutive failed logins lock the username/
      )
      expect(errorMessage(refused)).toContain(`recorded in ${STATE} of ${REPO}`)
      // The proof (the rotation-state secret, in both targets) went before the login; the first target's copy is the record.
      expect(counts(sims)).toEqual({ token: 1, login: 1, reset: 0, logout: 0, puts: 2 })
      expect(onSecret(sims, 'put-secret', STATE).every((e) => e.end <= sims.thingspace.calls('login')[0].start)).toBe(true)
      expect(sims.thingspace.consecutiveFailures).toBe(1)
      expect(stored(sims, REPO, STATE)).toMatch(/ run 4242: write proof; a login may count toward the lockout from \d{4}-/)
      expect(stored(sims, DEPENDABOT_REPO, STATE)).toBeUndefined() // only the first target's copy is a record: the others came off
      expect([stored(sims, REPO), stored(sims, DEPENDABOT_REPO)]).toEqual([undefined, undefined])

      // A scheduled run moments after the refusal cannot tell the record from a run at work, and says so.
      const rightAfter = await run(sims, { inputs, env: { GITHUB_EVENT_NAME: 'schedule' } })
      expect(rightAfter.outputs.result).toBe('failed-unknown')
      expect(errorMessage(rightAfter)).toMatch(
        /^This run did not change the password and sent no login: another run wrote THINGSPACE_PASSWORD_ROTATION to repo:acme\/fleet at .* may be at work right now/
      )

      // The next day's scheduled run reads it as what it is: a refusal, so no login.
      sims.github.age(DAY)
      const scheduled = await run(sims, { inputs, env: { GITHUB_EVENT_NAME: 'schedule' } })

      expect(scheduled.code).toBe(1)
      expect(scheduled.outputs.result).toBe('failed-unchanged')
      expect(errorMessage(scheduled)).toMatch(
        new RegExp(
          `^The password was not changed, and no login was attempted .*recorded in the ${STATE} secret of repo:acme/fleet.*runs nobody started by hand stop here`
        )
      )
      expect(counts(sims)).toEqual({ token: 3, login: 1, reset: 0, logout: 0, puts: 2 })
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
    sims.github.age(DAY) // runs a day apart: an earlier run's record is not one at work now
  }
  return { done, failures }
}

/** The writes and deletions of the rotation-state secret in the first target (the lockout record), in order. */
function recordCalls(sims: Simulators): { call: string; status: number | 'dropped' }[] {
  return sims.github.log
    .filter((e) => e.scope === REPO && e.path.endsWith(`/secrets/${STATE}`) && e.method !== 'GET')
    .map((e) => ({ call: e.call, status: e.status }))
}

describe('the stale-password guard compares with when this job read its secrets (issue 16)', () => {
  test.concurrent(
    'a job that waited in a concurrency group and read the fresh secret is not refused; one that read it before the store is',
    async () => {
      await withSimulators(undefined, async (sims) => {
        const first = await run(sims, { inputs: { targets: 'repo\nenv:production' } })
        expect(first.outputs.result).toBe('rotated')
        const storedAt = Date.parse(sims.github.secret(REPO, SECRET)!.updatedAt)

        // A run that started before that store, whose job waited and started after it, reading the new password.
        sims.github.addRun(5001, new Date(storedAt - 60_000))
        sims.github.addJob(5001, 1, { runnerName: 'GitHub Actions 9', startedAt: new Date(storedAt + 1000) })
        const queued = await run(sims, {
          inputs: { targets: 'repo\nenv:production' },
          env: { GITHUB_RUN_ID: '5001', RUNNER_NAME: 'GitHub Actions 9' }
        })
        expect(queued.outputs.result).toBe('rotated')

        // A job that started before the latest store read a password that store replaced: refused, without a login.
        const logins = sims.thingspace.calls('login').length
        sims.github.addRun(5002, new Date(storedAt - 60_000))
        sims.github.addJob(5002, 1, { runnerName: 'GitHub Actions 9', startedAt: new Date(storedAt - 30_000) })
        const stale = await run(sims, {
          inputs: { targets: 'repo\nenv:production', password: 'the-password-before-both' },
          env: { GITHUB_RUN_ID: '5002', RUNNER_NAME: 'GitHub Actions 9' }
        })
        expect(stale.outputs.result).toBe('failed-unknown')
        expect(errorMessage(stale)).toMatch(/had THINGSPACE_PASSWORD updated after this job started/)
        expect(sims.thingspace.calls('login')).toHaveLength(logins)
      })
    }
  )
})

describe('automation is not a person (issue 17)', () => {
  test.concurrent("a workflow_dispatch by a bot is unattended: after a refusal, the bot's next dispatch stops; a person's tries once", async () => {
    await withSimulators(undefined, async (sims) => {
      const inputs = { password: 'an-old-password' }
      const bot = { GITHUB_EVENT_NAME: 'workflow_dispatch', GITHUB_TRIGGERING_ACTOR: 'renovate[bot]' }

      const refused = await run(sims, { inputs, env: bot })
      expect(refused.outputs.result).toBe('failed-unchanged')
      sims.github.age(DAY)

      const again = await run(sims, { inputs, env: bot })
      expect(again.outputs.result).toBe('failed-unchanged')
      expect(errorMessage(again)).toMatch(/runs nobody started by hand stop here/)
      expect(sims.thingspace.calls('login')).toHaveLength(1)

      const person = await run(sims, { inputs, env: { GITHUB_EVENT_NAME: 'workflow_dispatch', GITHUB_TRIGGERING_ACTOR: 'octocat' } })
      expect(person.stdout).toMatch(
        /::warning[^:]*::A login with this password was refused, or may have been counted, .* trying once, without retrying/
      )
      expect(person.outputs.result).toBe('failed-unchanged')
      expect(sims.thingspace.calls('login')).toHaveLength(2)
      expect(sims.thingspace.consecutiveFailures).toBe(2)
    })
  })
})

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
      expect(recordCalls(sims)).toEqual([{ call: 'put-secret', status: 201 }])
      expect(stored(sims, REPO, STATE)).toBeDefined()
    })
  })

  test.concurrent('a read-only github-token, wrong password: 5 scheduled runs send no login at all, each says why', async () => {
    await withSimulators(undefined, async (sims) => {
      sims.github.addToken(FIXTURE.githubToken, { write: false })
      const inputs = { password: 'an-old-password', targets: 'repo\nenv:production' }

      const { done, failures } = await runs(sims, 5, inputs, 'schedule')

      expect(done.map((r) => [r.code, r.outputs.result])).toEqual(done.map(() => [1, 'failed-unchanged']))
      expect(done.map((r) => errorMessage(r))).toEqual(done.map(() => PROOF_REFUSED))
      // Each run asked for the OAuth token with the reads, tried the proof (which records its login ahead), and stopped there.
      expect(counts(sims)).toEqual({ token: 5, login: 0, reset: 0, logout: 0, puts: 10 })
      // A refused write stored nothing: nothing to remove either.
      expect(recordCalls(sims)).toEqual(done.map(() => ({ call: 'put-secret', status: 403 })))
      expect(failures).toEqual([0, 0, 0, 0, 0])
      expect(stored(sims, REPO, STATE)).toBeUndefined()
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
          `^The password was not changed by this run: ThingSpace refused the login for m2m-api-user \\(.*\\); it was not retried\\. .*Runs nobody started by hand will not log in again until ${SECRET} is updated \\(recorded in ${STATE} of ${REPO}\\)\\.`
        )
      )
      expect(
        done
          .slice(1)
          .map((r) => /^The password was not changed, and no login was attempted .*runs nobody started by hand stop here/.test(errorMessage(r)))
      ).toEqual([true, true, true, true])
      // One record write (the proof in the first target), before the login; the refusal left it in place.
      expect(counts(sims)).toEqual({ token: 5, login: 1, reset: 0, logout: 0, puts: 2 })
      expect(recordCalls(sims)).toEqual([{ call: 'put-secret', status: 201 }])
      expect(sims.github.calls('put-secret')[0].end).toBeLessThanOrEqual(sims.thingspace.calls('login')[0].start)
      expect(stored(sims, REPO, STATE)).toMatch(/: write proof; a login may count toward the lockout from \d{4}-/)
    })
  })

  test.concurrent('a scheduled rotation costs the requests of one started by hand: the proof is the record, removed after the stores', async () => {
    await withSimulators(undefined, async (sims) => {
      const inputs = { targets: 'repo\nenv:production' }
      const byHand = await run(sims, { inputs })
      expect(byHand.outputs.result).toBe('rotated')
      const before = { puts: counts(sims).puts, deletes: sims.github.calls('delete-secret').length, log: sims.github.log.length }
      // Each run removes the rotation state from both targets once its login succeeded.
      expect({ puts: before.puts, deletes: before.deletes }).toEqual({ puts: 4, deletes: 2 })
      // A later workflow run (the stale-password guard compares the secrets with the job's or the run's start).
      sims.github.age(60_000) // the first rotation a minute ago: a run started now read what it stored
      sims.github.addRun(FIXTURE.runId + 1, new Date())

      const scheduled = await run(sims, { inputs, env: { GITHUB_EVENT_NAME: 'schedule', GITHUB_RUN_ID: String(FIXTURE.runId + 1) } })

      expect(scheduled.outputs).toEqual({ result: 'rotated', rotated: 'true', 'targets-updated': '2', 'active-username': 'm2m-api-user' })
      expect([stored(sims, REPO), stored(sims, ENV)]).toEqual([sims.thingspace.password, sims.thingspace.password])
      expect({ puts: counts(sims).puts - before.puts, deletes: sims.github.calls('delete-secret').length - before.deletes }).toEqual({
        puts: 4,
        deletes: 2
      })
      expect(recordCalls(sims).slice(-2)).toEqual([
        { call: 'put-secret', status: 201 },
        { call: 'delete-secret', status: 204 }
      ])
      expect(sims.github.secret(REPO, STATE)).toBeUndefined()
      // In order: the record (with the proof), the login, the reset, the stores of the password secret, then the removal.
      const later = sims.github.log.slice(before.log)
      const [record, removal] = later.filter((e) => e.scope === REPO && e.path.endsWith(`/secrets/${STATE}`) && e.method !== 'GET')
      const login = sims.thingspace.calls('login')[2]
      const reset = sims.thingspace.calls('reset')[1]
      const stores = later.filter((e) => e.call === 'put-secret' && e.path.endsWith(`/secrets/${SECRET}`))
      expect(stores).toHaveLength(2)
      expect([record.end <= login.start, stores.every((w) => reset.end <= w.start && w.end <= removal.start)]).toEqual([true, true])
    })
  })

  // The second case is a dispatch with min-age-days 0 between the scheduled runs: the password secret is
  // younger than min-age-days, and only the record of the lost reset makes the next scheduled run due.
  // Was a BUG at 1784f78 (that run said not-due, green, while every target held a dead password).
  test.concurrent.each([
    { name: 'the secret older than min-age-days', storedDaysAgo: 100, firstEvent: 'schedule', firstMinAge: '80' },
    {
      name: 'the secret younger than min-age-days, the lost reset from a dispatch',
      storedDaysAgo: 10,
      firstEvent: 'workflow_dispatch',
      firstMinAge: '0'
    }
  ])(
    'a lost reset answer is never followed by a green run: the next scheduled run logs in once, is refused, and records it ($name)',
    async ({ storedDaysAgo, firstEvent, firstMinAge }) => {
      await withSimulators(undefined, async (sims) => {
        const initial = sims.thingspace.password
        const storedAt = new Date(Math.floor((Date.now() - storedDaysAgo * DAY) / 1000) * 1000)
        sims.github.seed(REPO, SECRET, initial, storedAt)
        sims.github.seed(ENV, SECRET, initial, storedAt)
        sims.thingspace.inject({ call: 'reset', attempts: [1], drop: 'after' })
        // Every run reads the secret's value, which still holds the password that the lost reset replaced.
        const inputs = { targets: 'repo\nenv:production', 'min-age-days': '80', password: initial }

        const lost = await run(sims, { inputs: { ...inputs, 'min-age-days': firstMinAge }, env: { GITHUB_EVENT_NAME: firstEvent } })
        expect(lost.outputs.result).toBe('failed-unknown')
        expect(errorMessage(lost)).toContain(`Recorded in ${RESET_UNKNOWN} of ${REPO}: the next run is due whatever min-age-days says`)
        expect(sims.thingspace.password).not.toBe(initial)
        // The password secret was not touched; the home target holds the record of the lost reset, and no record of a login.
        expect([REPO, ENV].map((scope) => sims.github.secret(scope, SECRET))).toEqual([
          expect.objectContaining({ value: initial, updatedAt: storedAt.toISOString().replace('.000Z', 'Z') }),
          expect.objectContaining({ value: initial })
        ])
        expect([sims.github.secret(REPO, STATE), sims.github.secret(ENV, RESET_UNKNOWN)]).toEqual([undefined, undefined])
        expect(sims.github.secret(REPO, RESET_UNKNOWN)).toBeDefined()

        sims.github.age(DAY)
        const next = await run(sims, { inputs, env: { GITHUB_EVENT_NAME: 'schedule' } })
        expect(next.code).toBe(1)
        expect(next.outputs.result).toBe('failed-unchanged')
        expect(next.stdout).toContain('Due: a reset whose answer was lost')
        expect(sims.thingspace.calls('login')).toHaveLength(2)
        expect(sims.thingspace.consecutiveFailures).toBe(1)
        expect(errorMessage(next)).toContain(`Most likely the reset whose answer was lost (recorded in ${RESET_UNKNOWN} at `)

        sims.github.age(DAY)
        const third = await run(sims, { inputs, env: { GITHUB_EVENT_NAME: 'schedule' } })
        expect(third.outputs.result).toBe('failed-unchanged')
        expect(errorMessage(third)).toMatch(/ThingSpace was not contacted: .*runs nobody started by hand stop here/)
        expect(sims.thingspace.consecutiveFailures).toBe(1)
      })
    }
  )

  test.concurrent(
    "an earlier version's _REJECTED marker still stops a scheduled run, and is removed once a run started by hand logs in",
    async () => {
      await withSimulators(undefined, async (sims) => {
        const initial = sims.thingspace.password
        const stored1 = new Date(Math.floor((Date.now() - 100 * 24 * 3600 * 1000) / 1000) * 1000)
        sims.github.seed(REPO, SECRET, initial, stored1)
        sims.github.seed(REPO, LEGACY_MARKER, 'a login may count', new Date(stored1.getTime() + 1000))

        const scheduled = await run(sims, { env: { GITHUB_EVENT_NAME: 'schedule' } })
        expect(scheduled.outputs.result).toBe('failed-unchanged')
        expect(errorMessage(scheduled)).toContain(`recorded in the ${LEGACY_MARKER} secret of ${REPO}`)
        expect(sims.thingspace.calls('login')).toHaveLength(0)

        const byHand = await run(sims, {})
        expect(byHand.outputs.result).toBe('rotated')
        expect(sims.github.secret(REPO, LEGACY_MARKER)).toBeUndefined()
        expect(sims.github.secret(REPO, STATE)).toBeUndefined()
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
      expect(result.outputs).toEqual({ result: 'failed-unknown', rotated: 'false', 'targets-updated': '0', 'active-username': 'm2m-api-user' })
      expect(sims.thingspace.password).not.toBe(initial) // the server did act: nobody can know the new one
      expect(counts(sims)).toMatchObject({ reset: 1, login: 1 })
      expect(sims.thingspace.consecutiveFailures).toBe(0)
      expect(stored(sims, REPO)).toBeUndefined() // never written: only a password this run received may be
      expect(annotation(result)?.title).toBe(`${TITLE}: failed-unknown`)
      expect(errorMessage(result)).toMatch(
        /^The reset request was sent, but its outcome cannot be known \(ThingSpace password reset: the connection failed .*\)\..*Recorded in THINGSPACE_PASSWORD_RESET_UNKNOWN of /
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
      expect(stored(sims, REPO, STATE)).toBeUndefined()
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
      // The proof went out before the login; the login never reached the user service, so its record came off again.
      expect(counts(sims)).toMatchObject({ login: 1, reset: 0, puts: 1 })
      expect(stored(sims, REPO, STATE)).toBeUndefined()
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
      expect(counts(sims)).toMatchObject({ login: 0, reset: 0, puts: 1 })
      expect(stored(sims, REPO, STATE)).toBeUndefined()
      expectUnchanged(sims, initial, [REPO])
    })
  })
})
