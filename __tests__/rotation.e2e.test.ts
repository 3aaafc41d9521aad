/**
 * A rotation end to end: the freshly built bundle, run as the runner runs it (INPUT_*, GITHUB_OUTPUT,
 * GITHUB_STEP_SUMMARY, the masking commands on the real stdout), against both simulators. Assertions
 * are on what the servers hold afterwards, and every run passes the leak scanner.
 */
import { describe, expect, test } from '@jest/globals'
import {
  CODESPACES_ORG,
  CODESPACES_REPO,
  DAY,
  DEPENDABOT_ORG,
  DEPENDABOT_REPO,
  ENV,
  ORG,
  REPO,
  SECRET,
  STATE,
  onSecret,
  annotation,
  counts,
  expectProofBeforeReset,
  requestCount,
  run,
  stored,
  withSimulators
} from './support/scenario.ts'

const EVERY_KIND = [REPO, ENV, ORG, DEPENDABOT_REPO, DEPENDABOT_ORG, CODESPACES_REPO, CODESPACES_ORG]
/** The same targets as the action's input would name them, in the short forms where there are some. */
const EVERY_KIND_INPUT = [
  'repo',
  'env:production',
  '# the org-wide copy',
  '',
  'org:acme',
  'dependabot:repo',
  'dependabot:org:acme',
  'codespaces:repo',
  'codespaces:org:acme:private'
].join('\n')

describe('a rotation', () => {
  test.concurrent('stores the new password in a target of every kind, keeping org visibility and selection', async () => {
    await withSimulators(undefined, async (sims) => {
      const initial = sims.thingspace.password
      const longAgo = new Date(Math.floor((Date.now() - 100 * DAY) / 1000) * 1000) // GitHub gives times to the second
      sims.github.seed(ORG, SECRET, initial, longAgo, { visibility: 'selected', selected: [1000, 2024, 77] })
      sims.github.seed(DEPENDABOT_ORG, SECRET, initial, longAgo, { visibility: 'all' })
      sims.github.seed(DEPENDABOT_REPO, SECRET, initial, longAgo)

      const result = await run(sims, { inputs: { targets: EVERY_KIND_INPUT } })

      expect(result.code).toBe(0)
      expect(result.signal).toBeNull()
      expect(result.outputs).toEqual({ result: 'rotated', rotated: 'true', 'targets-updated': '7' })
      const live = sims.thingspace.password
      expect(live).not.toBe(initial)
      expect(sims.thingspace.issuedPasswords).toEqual([live])
      expect(Object.fromEntries(EVERY_KIND.map((scope) => [scope, stored(sims, scope)]))).toEqual(
        Object.fromEntries(EVERY_KIND.map((scope) => [scope, live]))
      )
      expect(sims.github.secret(ORG, SECRET)).toMatchObject({ visibility: 'selected', selected: [1000, 2024, 77] })
      expect(sims.github.secret(DEPENDABOT_ORG, SECRET)).toMatchObject({ visibility: 'all' })
      expect(sims.github.secret(CODESPACES_ORG, SECRET)).toMatchObject({ visibility: 'private' })

      expect(counts(sims)).toMatchObject({ reset: 1, login: 2, logout: 2 })
      expect(sims.thingspace.openSessions).toBe(0)
      expect(sims.thingspace.consecutiveFailures).toBe(0)
      expectProofBeforeReset(sims, EVERY_KIND)
      expect(sims.github.log.map((e) => e.apiVersion)).toEqual(sims.github.log.map(() => '2022-11-28'))

      // The new password is masked before the line that says it arrived, so before anything could print it.
      const lines = result.stdout.split('\n')
      const masked = lines.indexOf(`::add-mask::${live}`)
      expect(masked).toBeGreaterThan(0)
      expect(masked).toBeLessThan(lines.findIndex((line) => /issued a new password/.test(line)))
      expect(annotation(result, 'notice')).toEqual({
        title: 'ThingSpace password rotation: rotated',
        message: 'The password was changed and the new one is stored in every target, and it logs in.'
      })

      // One summary row per target, with what it held before and what this run did.
      expect(result.summary).toContain('<code>rotated</code>')
      for (const scope of EVERY_KIND) {
        const label = scope === CODESPACES_ORG ? `${scope}:private` : scope
        const before = [ORG, DEPENDABOT_ORG, DEPENDABOT_REPO].includes(scope) ? `updated ${longAgo.toISOString()}` : 'no secret yet'
        expect(result.summary).toContain(`<tr><td><code>${label}</code></td><td>${before}</td><td>new password stored</td></tr>`)
      }
      // The action writes outputs and the summary only: no state, no environment for later steps.
      expect(result.files.state).toBe('')
      expect(result.files.env).toBe('')
    })
  })

  // @actions/core always prints debug lines; the runner shows them when RUNNER_DEBUG=1 (a re-run with debug logging).
  test.concurrent('a RUNNER_DEBUG=1 run logs every request by method, route template and status, and no value', async () => {
    await withSimulators(undefined, async (sims) => {
      const result = await run(sims, { inputs: { targets: 'repo\nenv:production\ndependabot:org:acme' }, env: { RUNNER_DEBUG: '1' } })

      expect(result.outputs.result).toBe('rotated')
      expect(stored(sims, DEPENDABOT_ORG)).toBe(sims.thingspace.password)
      const debug = result.stdout.split('\n').filter((line) => line.startsWith('::debug::'))
      expect(debug).toEqual(
        expect.arrayContaining([
          '::debug::GitHub GET /repos/{owner}/{repo}/actions/secrets/public-key -> 200',
          '::debug::GitHub GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name} -> 404 Not Found',
          '::debug::GitHub GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs -> 200',
          '::debug::GitHub PUT /repos/{owner}/{repo}/actions/secrets/{secret_name} -> 201',
          '::debug::GitHub PUT /orgs/{org}/dependabot/secrets/{secret_name} -> 201',
          '::debug::GitHub DELETE /repos/{owner}/{repo}/actions/secrets/{secret_name} -> 204'
        ])
      )
      for (const call of ['POST /api/ts/v1/oauth2/token', 'POST /api/m2m/v1/session/login', 'PUT /api/m2m/v1/session/password/actions/reset']) {
        expect(debug).toContainEqual(expect.stringMatching(new RegExp(`^::debug::ThingSpace ${call.replace(/\//g, '\\/')} -> 200 \\(\\d+ ms\\)$`)))
      }
      // One line per request each simulator answered, and none names a repository, a secret or a value.
      expect(debug.filter((line) => line.startsWith('::debug::GitHub '))).toHaveLength(sims.github.log.length)
      expect(debug.filter((line) => line.startsWith('::debug::ThingSpace '))).toHaveLength(sims.thingspace.log.length)
      expect(debug.filter((line) => /acme|fleet|production|THINGSPACE_PASSWORD/.test(line))).toEqual([])
    })
  })

  test.concurrent('min-age-days: not due when every target is younger, and ThingSpace gets no request at all', async () => {
    await withSimulators(undefined, async (sims) => {
      const initial = sims.thingspace.password
      sims.github.seed(REPO, SECRET, initial, new Date(Date.now() - 10 * DAY))
      sims.github.seed(CODESPACES_REPO, SECRET, initial, new Date(Date.now() - 89 * DAY))

      const result = await run(sims, { inputs: { targets: 'repo\ncodespaces:repo', 'min-age-days': '90' } })

      expect(result.code).toBe(0)
      expect(result.outputs).toEqual({ result: 'not-due', rotated: 'false', 'targets-updated': '0' })
      expect(annotation(result, 'notice')?.message).toBe(
        'Not due: every target holds THINGSPACE_PASSWORD, updated within the last 90 days. ThingSpace was not contacted.'
      )
      expect(requestCount(sims).thingspace).toBe(0)
      expect(counts(sims).puts).toBe(0)
      expect(sims.thingspace.password).toBe(initial)
      expect(result.summary).toContain('<td>unchanged (not due)</td>')
    })
  })

  test.concurrent('dry-run logs in and proves every target writable, then stops without a reset and without touching the password secret', async () => {
    await withSimulators({ password: 'pässwörd "q" \\ 100% +&/ 日本' }, async (sims) => {
      const initial = sims.thingspace.password
      const longAgo = new Date(Math.floor((Date.now() - 100 * DAY) / 1000) * 1000)
      sims.github.seed(REPO, SECRET, initial, longAgo)
      sims.github.seed(DEPENDABOT_ORG, SECRET, initial, longAgo, { visibility: 'all' })
      const before = [REPO, DEPENDABOT_ORG, CODESPACES_REPO].map((scope) => sims.github.secret(scope, SECRET))

      const result = await run(sims, {
        inputs: { targets: 'repo\ndependabot:org:acme:selected\ncodespaces:repo', 'dry-run': 'true', 'min-age-days': '90' },
        env: { GITHUB_EVENT_NAME: 'schedule' }
      })

      expect(result.code).toBe(0)
      expect(result.outputs).toEqual({ result: 'dry-run', rotated: 'false', 'targets-updated': '0' })
      expect(counts(sims)).toMatchObject({ reset: 0, login: 1, logout: 1 })
      expect(sims.thingspace.openSessions).toBe(0)
      expect(sims.thingspace.password).toBe(initial)
      // Nothing a consumer reads was written: value, date, visibility and selection as they were.
      expect([REPO, DEPENDABOT_ORG, CODESPACES_REPO].map((scope) => sims.github.secret(scope, SECRET))).toEqual(before)
      expect(onSecret(sims, 'put-secret', SECRET)).toEqual([])
      // The proof went to the action's own secret in every target; the record of the login came off the first once it succeeded.
      expect(onSecret(sims, 'put-secret', STATE).map((e) => [e.scope, e.status])).toEqual([
        [REPO, 201],
        [DEPENDABOT_ORG, 201],
        [CODESPACES_REPO, 201]
      ])
      // Once the login succeeded, the rotation state came off every target: nothing of the dry run is left.
      expect([REPO, DEPENDABOT_ORG, CODESPACES_REPO].map((scope) => sims.github.secret(scope, STATE))).toEqual([undefined, undefined, undefined])
      expect(sims.github.calls('delete-secret').map((e) => e.status)).toEqual([204, 204, 204])

      // The next scheduled run is exactly as due as it was: it rotates.
      sims.github.addJob(4242, 1, { name: 'rotate', runnerName: 'GitHub Actions 5', startedAt: new Date() })
      const next = await run(sims, {
        inputs: { targets: 'repo\ndependabot:org:acme\ncodespaces:repo', 'min-age-days': '90' },
        env: { GITHUB_EVENT_NAME: 'schedule', RUNNER_NAME: 'GitHub Actions 5' }
      })
      expect(next.outputs.result).toBe('rotated')
      expect(sims.github.secret(DEPENDABOT_ORG, SECRET)).toMatchObject({ value: sims.thingspace.password, visibility: 'all' })
    })
  })
})
