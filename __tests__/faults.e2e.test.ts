/**
 * Issue 3: under every injected fault the live password is unchanged, held by every target, or
 * recoverable from recovery-ciphertext (or the run says it cannot know); a rejected login is sent
 * once; the reset at most once; and `result` tells the truth. Each case runs the bundle.
 */
import { afterEach, describe, expect, test } from '@jest/globals'
import { execFileSync, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { FIXTURE, NODE, ROOT, type ActionRun, type Simulators } from '../simulators/harness.ts'
import { DAY, ENV, ORG, REPO, SECRET, counts, run, simulators, stopSimulators, stored } from './support/scenario.ts'

afterEach(stopSimulators)

const SECONDARY_LIMIT = { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' }
const RECOVERY_TOOL = path.join(ROOT, 'dist/recovery/index.js')

function recoveryKeypair(): { publicKey: string; privateKey: string } {
  const out = execFileSync(NODE, [RECOVERY_TOOL, 'keygen'], { encoding: 'utf8' })
  return { publicKey: /recovery-public-key:\s+(\S+)/.exec(out)![1], privateKey: /RECOVERY_PRIVATE_KEY:\s+(\S+)/.exec(out)![1] }
}

function openRecovery(ciphertext: string, privateKey: string): string {
  return execFileSync(NODE, [RECOVERY_TOOL, 'open', ciphertext], {
    encoding: 'utf8',
    env: { ...process.env, RECOVERY_PRIVATE_KEY: privateKey }
  }).trimEnd()
}

function error(result: ActionRun): string {
  return result.stdout.split('\n').find((line) => line.startsWith('::error::')) ?? ''
}

/** The invariant every case ends in: unchanged, or held everywhere. */
function expectUnchanged(sims: Simulators, initial: string, result: ActionRun): void {
  expect(result.code).toBe(1)
  expect(result.outputs).toMatchObject({ result: 'failed-unchanged', rotated: 'false', 'targets-updated': '0' })
  expect(sims.thingspace.password).toBe(initial)
  expect(sims.thingspace.calls('reset').filter((e) => e.status === 200)).toHaveLength(0)
  expect(error(result)).toContain('The password was not changed')
}

describe('ThingSpace OAuth token', () => {
  test('503s and dropped connections are retried with backoff', async () => {
    const sims = await simulators()
    sims.thingspace.inject({ call: 'token', attempts: [1], status: 503, body: { message: 'busy' } }, { call: 'token', attempts: [2], drop: 'before' })
    const result = await run(sims)
    expect(result.outputs.result).toBe('rotated')
    expect(counts(sims).token).toBe(3)
    expect(stored(sims, REPO)).toBe(sims.thingspace.password)
  })

  test('invalid app credentials (gateway 900901) are not retried; nothing changes', async () => {
    const sims = await simulators()
    const initial = sims.thingspace.password
    const result = await run(sims, { inputs: { 'client-secret': 'wrong-app-secret' } })
    expectUnchanged(sims, initial, result)
    expect(counts(sims)).toMatchObject({ token: 1, login: 0 })
    expect(error(result)).toContain('gateway 900901')
  })
})

describe('login', () => {
  test('a rejected password is sent exactly once, and the password secret is not written', async () => {
    const sims = await simulators()
    const initial = sims.thingspace.password
    const result = await run(sims, { inputs: { password: 'an-old-password', targets: 'repo\norg:acme' } })
    expectUnchanged(sims, initial, result)
    expect(counts(sims)).toMatchObject({ login: 1, reset: 0 })
    expect(stored(sims, REPO)).toBeUndefined()
    expect(stored(sims, ORG)).toBeUndefined()
    expect(sims.thingspace.consecutiveFailures).toBe(1)
    expect(error(result)).toMatch(/refused the login .* not retried, because 5 consecutive failed logins lock the username/)
  })

  test('a schedule never tries a refused password again until the secret is updated', async () => {
    const sims = await simulators()
    const inputs = { password: 'an-old-password', targets: 'repo\nenv:production', 'min-age-days': '90' }
    const env = { GITHUB_EVENT_NAME: 'schedule' }
    sims.github.seed(REPO, SECRET, 'an-old-password', new Date(Date.now() - 100 * DAY))

    const first = await run(sims, { inputs, env })
    expect(first.outputs.result).toBe('failed-unchanged')
    expect(sims.github.secret(REPO, `${SECRET}_REJECTED`)?.value).toMatch(/^login refused at /)
    expect(sims.github.secret(ENV, `${SECRET}_REJECTED`)).toBeDefined()

    for (let day = 0; day < 6; day++) {
      const again = await run(sims, { inputs, env })
      expect(again.outputs.result).toBe('failed-unchanged')
      expect(error(again)).toMatch(/refused this password at .*has not been updated in any target since/)
    }
    expect(counts(sims).login).toBe(1)
    expect(sims.thingspace.locked).toBe(false)

    // Someone stores the current password; the next workflow run rotates.
    sims.github.seed(REPO, SECRET, sims.thingspace.password, new Date())
    sims.github.addRun(FIXTURE.runId, new Date(Date.now() + 1000))
    const fixed = await run(sims, { inputs: { ...inputs, password: sims.thingspace.password, 'min-age-days': '0' }, env })
    expect(fixed.outputs.result).toBe('rotated')
    expect(stored(sims, ENV)).toBe(sims.thingspace.password)
  })

  test('a run started by hand after a refusal tries once, with a warning', async () => {
    const sims = await simulators()
    const wrong = await run(sims, { inputs: { password: 'an-old-password' }, env: { GITHUB_EVENT_NAME: 'schedule' } })
    expect(wrong.outputs.result).toBe('failed-unchanged')
    sims.github.addRun(FIXTURE.runId, new Date(Date.now() + 1000)) // a new workflow run

    const manual = await run(sims, { env: { GITHUB_EVENT_NAME: 'workflow_dispatch' } })

    expect(manual.outputs.result).toBe('rotated')
    expect(manual.stdout).toMatch(
      /::warning::ThingSpace refused a login with this password at .*trying once because this run was started by workflow_dispatch/
    )
    expect(counts(sims).login).toBe(3) // the refused one, this run's login, its verify login
  })

  test('a locked account gets one attempt', async () => {
    const sims = await simulators()
    sims.thingspace.locked = true
    const result = await run(sims)
    expectUnchanged(sims, sims.thingspace.password, result)
    expect(counts(sims).login).toBe(1)
    expect(error(result)).toContain('UserLocked')
  })

  test('a 4xx of any kind is not retried either (429 aside)', async () => {
    const sims = await simulators()
    sims.thingspace.inject({ call: 'login', status: 401, body: { errorCode: 'UnifiedWebService.REQUEST_FAILED.Unauthorized', errorMessage: 'no' } })
    const result = await run(sims)
    expectUnchanged(sims, sims.thingspace.password, result)
    expect(counts(sims).login).toBe(1)
  })

  test('5xx, 429 with retry-after and dropped connections are retried', async () => {
    const sims = await simulators()
    sims.thingspace.inject(
      { call: 'login', attempts: [1], status: 502 },
      { call: 'login', attempts: [2], status: 429, headers: { 'retry-after': '1' } },
      { call: 'login', attempts: [3], drop: 'before' }
    )
    const result = await run(sims, { inputs: { verify: 'false' } })
    expect(result.outputs.result).toBe('rotated')
    expect(counts(sims)).toMatchObject({ login: 4, reset: 1 })
    expect(stored(sims, REPO)).toBe(sims.thingspace.password)
  })
})

describe('reset', () => {
  test('a 4xx means unchanged; the targets keep the current password', async () => {
    const sims = await simulators()
    const initial = sims.thingspace.password
    sims.thingspace.inject({ call: 'reset', status: 400, body: { errorCode: 'UnifiedWebService.REQUEST_FAILED.PasswordPolicy', errorMessage: 'x' } })
    const result = await run(sims, { inputs: { targets: 'repo\nenv:production' } })
    expectUnchanged(sims, initial, result)
    expect(counts(sims)).toMatchObject({ reset: 1, login: 1, logout: 1 })
    expect(stored(sims, REPO)).toBe(initial)
    expect(stored(sims, ENV)).toBe(initial)
    expect(sims.thingspace.openSessions).toBe(0)
  })

  test('a 5xx is never retried and reported as unknown, with no probing logins', async () => {
    const sims = await simulators()
    sims.thingspace.inject({ call: 'reset', status: 500, body: { errorCode: 'UnifiedWebService.REQUEST_FAILED.UnexpectedError', errorMessage: 'x' } })
    const result = await run(sims)
    expect(result.code).toBe(1)
    expect(result.outputs).toMatchObject({ result: 'failed-unknown', rotated: 'false', 'targets-updated': '0' })
    expect(counts(sims)).toMatchObject({ reset: 1, login: 1 })
    expect(error(result)).toMatch(/outcome cannot be known.*old password may no longer work.*Do not re-run/)
  })

  test('a response lost after the server changed the password: unknown, reset sent once, no login with either password', async () => {
    const sims = await simulators()
    const initial = sims.thingspace.password
    sims.thingspace.inject({ call: 'reset', drop: 'after' })
    const result = await run(sims, { inputs: { targets: 'repo\nenv:production' } })
    expect(result.outputs).toMatchObject({ result: 'failed-unknown', rotated: 'false', 'targets-updated': '0' })
    expect(sims.thingspace.password).not.toBe(initial) // the server did act: nobody can know the new one
    expect(counts(sims)).toMatchObject({ reset: 1, login: 1 })
    expect(sims.thingspace.consecutiveFailures).toBe(0)
    expect(stored(sims, REPO)).toBe(initial)
  })

  test('a redirect on the reset is not followed: the PUT is sent once', async () => {
    const sims = await simulators()
    sims.thingspace.inject({ call: 'reset', status: 307, headers: { location: '/api/m2m/v1/session/password/actions/reset' } })
    const result = await run(sims)
    expect(result.outputs.result).toBe('failed-unknown')
    expect(counts(sims).reset).toBe(1)
  })

  test('an idle session is refreshed by one login with the current password before the reset', async () => {
    const sims = await simulators({ sessionIdleMs: 1000, expiresInSeconds: 1 })
    sims.github.inject({ call: 'put-secret', attempts: [1], delayMs: 1500 }) // the write proof takes longer than the session lives
    const result = await run(sims, { inputs: { verify: 'false' } })
    expect(result.outputs.result).toBe('rotated')
    expect(counts(sims)).toMatchObject({ login: 2, reset: 1 })
    expect(sims.thingspace.calls('login').every((e) => e.status === 200)).toBe(true)
    expect(stored(sims, REPO)).toBe(sims.thingspace.password)
  })
})

describe('GitHub before the reset', () => {
  test.each([
    ['a missing repository', { targets: 'repo:acme/nothing-here' }, /repo:acme\/nothing-here: 404 .*does not exist/],
    ['a missing environment', { targets: 'repo\nenv:staging' }, /env:acme\/fleet\/staging: 404/],
    ['a missing organization', { targets: 'org:nobody' }, /org:nobody: 404/],
    ['a bad token', { 'github-token': 'ghp_not-a-real-token-000000000' }, /401 Bad credentials .*invalid or expired/]
  ])('%s: failed-unchanged without a login', async (_name, inputs, message) => {
    const sims = await simulators()
    const initial = sims.thingspace.password
    const result = await run(sims, { inputs })
    expectUnchanged(sims, initial, result)
    expect(counts(sims)).toMatchObject({ login: 0, reset: 0, puts: 0 })
    expect(error(result)).toMatch(message)
  })

  test('a read-only token fails the write proof: no reset, the session is closed', async () => {
    const sims = await simulators()
    sims.github.addToken('ghp_readonly_0000000000000000', { write: false })
    const initial = sims.thingspace.password
    const result = await run(sims, { inputs: { 'github-token': 'ghp_readonly_0000000000000000', targets: 'repo\norg:acme' } })
    expectUnchanged(sims, initial, result)
    expect(counts(sims)).toMatchObject({ login: 1, reset: 0, logout: 1 })
    expect(sims.thingspace.openSessions).toBe(0)
    expect(error(result)).toMatch(/403 Resource not accessible .*needs/)
  })

  test('a token that cannot see one target stops everything before login', async () => {
    const sims = await simulators()
    sims.github.addToken('ghp_scoped_00000000000000000000', { write: true, scopes: [REPO] })
    const result = await run(sims, { inputs: { 'github-token': 'ghp_scoped_00000000000000000000', targets: 'repo\norg:acme' } })
    expectUnchanged(sims, sims.thingspace.password, result)
    expect(counts(sims)).toMatchObject({ login: 0, puts: 0 })
  })

  test('5xx, secondary rate limits and 429 on reads and writes are retried, honouring retry-after', async () => {
    const sims = await simulators()
    sims.github.inject(
      { call: 'public-key', scope: REPO, attempts: [1], status: 502, body: { message: 'Server Error' } },
      { call: 'get-secret', scope: ORG, attempts: [1], status: 403, body: SECONDARY_LIMIT, headers: { 'retry-after': '1' } },
      { call: 'put-secret', scope: REPO, attempts: [1], status: 429, body: SECONDARY_LIMIT, headers: { 'retry-after': '1' } },
      { call: 'put-secret', scope: ORG, attempts: [2], status: 500, body: { message: 'Server Error' } }
    )
    const result = await run(sims, { inputs: { targets: 'repo\norg:acme' } })
    expect(result.outputs.result).toBe('rotated')
    expect(stored(sims, REPO)).toBe(sims.thingspace.password)
    expect(stored(sims, ORG)).toBe(sims.thingspace.password)
    expect(counts(sims).reset).toBe(1)
    const retried = sims.github.calls('put-secret', REPO)
    expect(retried[1].start - retried[0].end).toBeGreaterThanOrEqual(900) // waited for retry-after: 1
  })

  test('a primary rate limit waits until x-ratelimit-reset', async () => {
    const sims = await simulators()
    const reset = () => String(Math.ceil(Date.now() / 1000) + 1)
    sims.github.inject({
      call: 'public-key',
      attempts: [1],
      status: 403,
      body: { message: 'API rate limit exceeded for user.' },
      get headers() {
        return { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset() }
      }
    })
    const result = await run(sims)
    expect(result.outputs.result).toBe('rotated')
    const [limited, retried] = sims.github.calls('public-key')
    expect(retried.start - limited.end).toBeGreaterThanOrEqual(900) // waited for the reset second, not a fixed backoff
    expect(result.stdout).toMatch(/::warning::GitHub primary rate limit on GET .*retrying in \d+ s/)
  })

  test('a public key rotated between read and write: read again, sealed again, written once more', async () => {
    const sims = await simulators()
    sims.github.inject({ call: 'put-secret', scope: ENV, attempts: [2], rotateKey: true }) // the store after the reset
    const result = await run(sims, { inputs: { targets: 'repo\nenv:production' } })
    expect(result.outputs.result).toBe('rotated')
    expect(stored(sims, ENV)).toBe(sims.thingspace.password)
    expect(sims.github.calls('public-key', ENV)).toHaveLength(2)
    expect(sims.github.calls('put-secret', ENV).map((e) => e.status)).toEqual([201, 422, 204])
  })
})

describe('the stale-password guard', () => {
  test('a secret updated after the run started stops the run before any login', async () => {
    const sims = await simulators()
    sims.github.seed(REPO, SECRET, 'rotated-by-someone-else', new Date(Date.now() - 1000))
    const result = await run(sims)
    expectUnchanged(sims, sims.thingspace.password, result)
    expect(counts(sims)).toMatchObject({ login: 0, puts: 0 })
    expect(error(result)).toMatch(/updated after this workflow run started .* probably stale/)
  })

  test('a run that cannot be read is a warning, not a failure', async () => {
    const sims = await simulators()
    sims.github.inject({ call: 'get-run', status: 403, body: { message: 'Resource not accessible by integration' } })
    const result = await run(sims)
    expect(result.outputs.result).toBe('rotated')
    expect(result.stdout).toMatch(/::warning::Skipping the stale-password check: Could not read workflow run 4242: 403/)
  })
})

describe('after the reset', () => {
  test('a target that will not take the new password: failed-changed, the rest stored, the password escrowed', async () => {
    const sims = await simulators()
    const keys = recoveryKeypair()
    sims.github.inject({ call: 'put-secret', scope: ENV, attempts: [2, 3, 4, 5], status: 502, body: { message: 'Bad gateway' } })

    const result = await run(sims, { inputs: { targets: 'repo\nenv:production', 'recovery-public-key': keys.publicKey } })

    const live = sims.thingspace.password
    expect(result.code).toBe(1)
    expect(result.outputs).toMatchObject({ result: 'failed-changed', rotated: 'false', 'targets-updated': '1' })
    expect(stored(sims, REPO)).toBe(live)
    expect(stored(sims, ENV)).not.toBe(live)
    expect(sims.github.calls('put-secret', ENV)).toHaveLength(5) // the proof, then the first try and 3 retries
    expect(openRecovery(result.outputs['recovery-ciphertext'], keys.privateKey)).toBe(live)
    expect(result.summary).toContain(result.outputs['recovery-ciphertext'])
    expect(error(result)).toMatch(/WAS changed.*stored only in repo:acme\/fleet.*Not stored in: env:acme\/fleet\/production/)
    expect(counts(sims).reset).toBe(1)
  })

  test('stored nowhere and no recovery key: the run says the password is lost and what to do', async () => {
    const sims = await simulators()
    sims.github.inject({ call: 'put-secret', attempts: [2], status: 403, body: { message: 'Resource not accessible by personal access token' } })
    const result = await run(sims)
    expect(result.outputs).toMatchObject({ result: 'failed-changed', 'targets-updated': '0' })
    expect(result.outputs['recovery-ciphertext']).toBeUndefined()
    expect(error(result)).toMatch(/stored in no target.*lost: reset the password in the ThingSpace portal/)
  })

  test('a failed logout is a warning only', async () => {
    const sims = await simulators()
    sims.thingspace.inject({ call: 'logout', status: 500 })
    const result = await run(sims)
    expect(result.code).toBe(0)
    expect(result.outputs.result).toBe('rotated')
    expect(result.stdout).toMatch(/::warning::ThingSpace logout failed/)
  })

  test('a refused verify login is reported (and not retried), though the password is stored', async () => {
    const sims = await simulators()
    sims.thingspace.inject({
      call: 'login',
      attempts: [2],
      status: 400,
      body: { errorCode: 'UnifiedWebService.REQUEST_FAILED.InvalidCredentials', errorMessage: 'x' }
    })
    const result = await run(sims)
    expect(result.code).toBe(1)
    expect(result.outputs).toMatchObject({ result: 'rotated', rotated: 'true', 'targets-updated': '1' })
    expect(counts(sims).login).toBe(2)
    expect(error(result)).toMatch(/verify login with the new password failed/)
  })
})

describe('cancellation (SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after)', () => {
  function runnerCancel(child: ChildProcess): () => void {
    return () => {
      child.kill('SIGINT')
      const term = setTimeout(() => child.kill('SIGTERM'), 7500)
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000)
      child.on('exit', () => (clearTimeout(term), clearTimeout(kill)))
    }
  }

  test('before the reset: stops promptly, unchanged', async () => {
    const sims = await simulators()
    let child: ChildProcess | undefined
    let signalledAt = 0
    sims.thingspace.inject({ call: 'login', delayMs: 5000, onHit: () => ((signalledAt = Date.now()), runnerCancel(child!)()) })
    const result = await run(sims, { onSpawn: (c) => (child = c) })
    expect(Date.now() - signalledAt).toBeLessThan(3000)
    expect(result.signal).toBeNull()
    expect(result.outputs.result).toBe('failed-unchanged')
    expect(counts(sims).reset).toBe(0)
    expect(error(result)).toMatch(/cancelled \(SIGINT\) before the reset/)
  })

  test('while the reset is in flight: the run carries on and stores the new password', async () => {
    const sims = await simulators()
    let child: ChildProcess | undefined
    sims.thingspace.inject({ call: 'reset', delayMs: 300, onHit: () => runnerCancel(child!)() })
    const result = await run(sims, { onSpawn: (c) => (child = c), inputs: { targets: 'repo\nenv:production' } })
    expect(result.signal).toBeNull()
    expect(result.outputs.result).toBe('rotated')
    expect(stored(sims, REPO)).toBe(sims.thingspace.password)
    expect(stored(sims, ENV)).toBe(sims.thingspace.password)
  })

  test('when storing hangs past the grace period: escrowed before SIGKILL', async () => {
    const sims = await simulators()
    const keys = recoveryKeypair()
    let child: ChildProcess | undefined
    sims.thingspace.inject({ call: 'reset', onHit: () => runnerCancel(child!)() })
    sims.github.inject({ call: 'put-secret', scope: ENV, attempts: [2], delayMs: 30_000 })
    const result = await run(sims, {
      onSpawn: (c) => (child = c),
      inputs: { targets: 'repo\nenv:production', 'recovery-public-key': keys.publicKey }
    })
    expect(result.signal).toBeNull() // finished before SIGKILL
    expect(result.outputs).toMatchObject({ result: 'failed-changed', 'targets-updated': '1' })
    expect(stored(sims, REPO)).toBe(sims.thingspace.password)
    expect(openRecovery(result.outputs['recovery-ciphertext'], keys.privateKey)).toBe(sims.thingspace.password)
    expect(result.summary).toMatch(/env:acme\/fleet\/production` \| no secret yet \| unknown: the write was still in flight/)
    expect(error(result)).toMatch(
      /stored only in repo:acme\/fleet\. Unknown \(the write was in flight when the step was cancelled\): env:acme\/fleet\/production\./
    )
  }, 20_000)
})
