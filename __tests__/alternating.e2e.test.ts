/**
 * Alternating usernames end to end (issue 19): the bundle against a ThingSpace simulator that holds
 * two users. Each rotation resets the standby username and makes it the active pair in every target,
 * keeping the previous pair, unchanged, as the standby: a consumer's copy of the old pair still logs in.
 */
import { describe, expect, test } from '@jest/globals'
import type { Simulators } from '../simulators/harness.ts'
import { DAY, ENV, ORG, REPO, SECRET, run, stored, withSimulators } from './support/scenario.ts'

const FIRST = 'm2m-api-user'
const SECOND = 'm2m-api-user-b'
const USERNAME = 'THINGSPACE_USERNAME'

/** The inputs a workflow passes: the active pair and the standby pair, as the home target holds them. */
function pairs(sims: Simulators, active: string, standby: string, kind: 'variable' | 'secret'): Record<string, string> {
  return {
    targets: 'repo\nenv:production',
    username: active,
    password: sims.thingspace.user(active).password,
    'standby-username': standby,
    'standby-password': sims.thingspace.user(standby).password,
    'username-kind': kind
  }
}

/** Whether a login with this pair would succeed now. */
function logsIn(sims: Simulators, username: string, password: string): boolean {
  return sims.thingspace.user(username).password === password
}

describe('alternating usernames, with the usernames kept as secrets', () => {
  test.concurrent('two rotations: each resets the standby, swaps the pairs, and the pair a consumer held still logs in', async () => {
    await withSimulators({ users: { [SECOND]: 'Second-Passw0rd' } }, async (sims) => {
      const firstPassword = sims.thingspace.user(FIRST).password
      const longAgo = new Date(Date.now() - 100 * DAY)
      for (const t of [REPO, ENV]) sims.github.seed(t, SECRET, firstPassword, longAgo)
      sims.github.seed(REPO, `${SECRET}_STANDBY`, 'Second-Passw0rd', longAgo)
      sims.github.seed(REPO, `${USERNAME}_STANDBY`, SECOND, longAgo)
      const consumer = { username: FIRST, password: firstPassword }

      const first = await run(sims, { inputs: pairs(sims, FIRST, SECOND, 'secret'), env: { GITHUB_EVENT_NAME: 'schedule' } })

      expect(first.outputs).toMatchObject({ result: 'rotated', 'active-username': SECOND })
      const secondPassword = sims.thingspace.user(SECOND).password
      expect(secondPassword).not.toBe('Second-Passw0rd')
      // Only the standby was reset: the pair the consumer holds still works.
      expect(sims.thingspace.user(FIRST).password).toBe(firstPassword)
      expect(logsIn(sims, consumer.username, consumer.password)).toBe(true)
      expect(sims.thingspace.calls('login').map((e) => e.username)).toEqual([SECOND, SECOND])
      // Every target names the new pair; the home target keeps the old one as the standby.
      for (const t of [REPO, ENV]) expect([stored(sims, t), stored(sims, t, USERNAME)]).toEqual([secondPassword, SECOND])
      expect([stored(sims, REPO, `${SECRET}_STANDBY`), stored(sims, REPO, `${USERNAME}_STANDBY`)]).toEqual([firstPassword, FIRST])
      expect(first.summary).toContain(`<code>${SECOND}</code>`)
      expect(first.summary).not.toContain(secondPassword)

      // A quarter later the next rotation resets the other username, reading the pairs the home target holds.
      sims.github.age(90 * DAY)
      const second = await run(sims, { inputs: pairs(sims, SECOND, FIRST, 'secret'), env: { GITHUB_EVENT_NAME: 'schedule' } })

      expect(second.outputs).toMatchObject({ result: 'rotated', 'active-username': FIRST })
      expect(sims.thingspace.user(SECOND).password).toBe(secondPassword)
      expect(sims.thingspace.user(FIRST).password).not.toBe(firstPassword)
      // The consumer that picked up the pair one rotation ago still logs in.
      expect(logsIn(sims, SECOND, secondPassword)).toBe(true)
      for (const t of [REPO, ENV]) expect([stored(sims, t), stored(sims, t, USERNAME)]).toEqual([sims.thingspace.user(FIRST).password, FIRST])
      expect([stored(sims, REPO, `${SECRET}_STANDBY`), stored(sims, REPO, `${USERNAME}_STANDBY`)]).toEqual([secondPassword, SECOND])
      expect(sims.thingspace.user(FIRST).consecutiveFailures + sims.thingspace.user(SECOND).consecutiveFailures).toBe(0)
    })
  })

  test.concurrent('a dry run logs in as the standby and writes nothing a consumer reads', async () => {
    await withSimulators({ users: { [SECOND]: 'Second-Passw0rd' } }, async (sims) => {
      const firstPassword = sims.thingspace.user(FIRST).password
      const longAgo = new Date(Math.floor((Date.now() - 100 * DAY) / 1000) * 1000)
      for (const t of [REPO, ENV]) sims.github.seed(t, SECRET, firstPassword, longAgo)
      const before = [REPO, ENV].map((t) => [sims.github.secret(t, SECRET), sims.github.secret(t, USERNAME)])

      const dry = await run(sims, { inputs: { ...pairs(sims, FIRST, SECOND, 'secret'), 'dry-run': 'true' } })

      expect(dry.outputs).toMatchObject({ result: 'dry-run', 'active-username': FIRST })
      expect(sims.thingspace.calls('login').map((e) => e.username)).toEqual([SECOND])
      expect([REPO, ENV].map((t) => [sims.github.secret(t, SECRET), sims.github.secret(t, USERNAME)])).toEqual(before)
      expect(sims.thingspace.calls('reset')).toHaveLength(0)
    })
  })

  test.concurrent('switching: one username, then alternating, then back to one username, each step rotating', async () => {
    await withSimulators({ users: { [SECOND]: 'Second-Passw0rd' } }, async (sims) => {
      const single = (username: string): Record<string, string> => ({
        targets: 'repo\nenv:production',
        username,
        password: sims.thingspace.user(username).password
      })
      const one = await run(sims, { inputs: single(FIRST) })
      expect(one.outputs).toMatchObject({ result: 'rotated', 'active-username': FIRST })

      // The switch, as the docs say: the username where consumers read it, the standby pair in the first target.
      sims.github.age(90 * DAY)
      const long = new Date(Date.now() - 90 * DAY)
      for (const t of [REPO, ENV]) sims.github.seed(t, USERNAME, FIRST, new Date(sims.github.secret(t, SECRET)!.updatedAt))
      sims.github.seed(REPO, `${SECRET}_STANDBY`, 'Second-Passw0rd', long)
      sims.github.seed(REPO, `${USERNAME}_STANDBY`, SECOND, long)
      const consumer = { username: FIRST, password: sims.thingspace.user(FIRST).password }
      const alternating = await run(sims, { inputs: pairs(sims, FIRST, SECOND, 'secret') })
      expect(alternating.outputs).toMatchObject({ result: 'rotated', 'active-username': SECOND })
      expect(logsIn(sims, consumer.username, consumer.password)).toBe(true)
      for (const t of [REPO, ENV]) expect(stored(sims, t, USERNAME)).toBe(SECOND)

      // Back to one username: the active one, whose name the targets keep.
      sims.github.age(90 * DAY)
      const back = await run(sims, { inputs: single(SECOND) })
      expect(back.outputs).toMatchObject({ result: 'rotated', 'active-username': SECOND })
      for (const t of [REPO, ENV]) expect([stored(sims, t), stored(sims, t, USERNAME)]).toEqual([sims.thingspace.user(SECOND).password, SECOND])
      expect(sims.thingspace.user(FIRST).password).toBe(consumer.password)
    })
  })

  test.concurrent('a target the last rotation missed stops the next one before any login: its consumers would break', async () => {
    await withSimulators({ users: { [SECOND]: 'Second-Passw0rd' } }, async (sims) => {
      const firstPassword = sims.thingspace.user(FIRST).password
      const now = new Date()
      for (const t of [REPO, ENV]) {
        sims.github.seed(t, SECRET, firstPassword, now)
        sims.github.seed(t, USERNAME, FIRST, now)
      }
      sims.github.seed(REPO, `${SECRET}_STANDBY`, 'Second-Passw0rd', now)
      sims.github.seed(REPO, `${USERNAME}_STANDBY`, SECOND, now)
      // env:production still holds the pair of a rotation a quarter earlier.
      sims.github.seed(ENV, SECRET, 'an-older-password', new Date(now.getTime() - 90 * DAY))
      sims.github.seed(ENV, USERNAME, SECOND, new Date(now.getTime() - 90 * DAY))
      sims.github.age(DAY)

      const stopped = await run(sims, { inputs: pairs(sims, FIRST, SECOND, 'secret'), env: { GITHUB_EVENT_NAME: 'schedule' } })

      expect(stopped.outputs).toMatchObject({ result: 'failed-unchanged', 'active-username': FIRST })
      expect(stopped.stdout).toMatch(/resetting m2m-api-user-b now could break the consumers of some target/)
      expect(stopped.stdout).toContain(`${ENV} did not get the pair the last rotation stored`)
      expect(sims.thingspace.calls('login')).toHaveLength(0)
      expect(sims.thingspace.user(SECOND).password).toBe('Second-Passw0rd')
    })
  })
})

describe('alternating usernames, with the usernames kept as Actions variables', () => {
  test.concurrent(
    'a rotation into a repository, an environment and an organization: the pair swaps, the org variable is visible where the secret is',
    async () => {
      await withSimulators({ users: { [SECOND]: 'Second-Passw0rd' } }, async (sims) => {
        const firstPassword = sims.thingspace.user(FIRST).password
        const longAgo = new Date(Date.now() - 100 * DAY)
        // The first alternating rotation: no target names a username yet, so the run creates every variable.
        for (const t of [REPO, ENV]) sims.github.seed(t, SECRET, firstPassword, longAgo)
        sims.github.seed(ORG, SECRET, firstPassword, longAgo, { visibility: 'all' })
        sims.github.seed(REPO, `${SECRET}_STANDBY`, 'Second-Passw0rd', longAgo)
        sims.github.seedVariable(REPO, `${USERNAME}_STANDBY`, SECOND, longAgo)

        const result = await run(sims, {
          inputs: { ...pairs(sims, FIRST, SECOND, 'variable'), targets: 'repo\nenv:production\norg:acme' },
          env: { GITHUB_EVENT_NAME: 'schedule' }
        })

        expect(result.outputs).toMatchObject({ result: 'rotated', 'active-username': SECOND, 'targets-updated': '3' })
        const live = sims.thingspace.user(SECOND).password
        for (const t of [REPO, ENV, ORG]) expect([stored(sims, t), sims.github.variable(t, USERNAME)?.value]).toEqual([live, SECOND])
        // A new org variable is visible to the repositories that read the secret; the action's own are private.
        expect(sims.github.variable(ORG, USERNAME)).toMatchObject({ visibility: 'all' })
        expect([stored(sims, REPO, `${SECRET}_STANDBY`), sims.github.variable(REPO, `${USERNAME}_STANDBY`)?.value]).toEqual([firstPassword, FIRST])
        // The variables this run proved the stores with were removed.
        for (const t of [REPO, ENV, ORG]) expect(sims.github.variable(t, `${SECRET}_ROTATION`)).toBeUndefined()
        expect(sims.thingspace.user(FIRST).password).toBe(firstPassword)
      })
    }
  )

  test.concurrent('a target whose variable names the standby username stops the run before any login, naming it', async () => {
    await withSimulators({ users: { [SECOND]: 'Second-Passw0rd' } }, async (sims) => {
      const firstPassword = sims.thingspace.user(FIRST).password
      const longAgo = new Date(Date.now() - 100 * DAY)
      for (const t of [REPO, ENV]) sims.github.seed(t, SECRET, firstPassword, longAgo)
      sims.github.seedVariable(REPO, USERNAME, FIRST, longAgo)
      sims.github.seedVariable(ENV, USERNAME, SECOND, longAgo)

      const stopped = await run(sims, { inputs: pairs(sims, FIRST, SECOND, 'variable'), env: { GITHUB_EVENT_NAME: 'schedule' } })

      expect(stopped.outputs).toMatchObject({ result: 'failed-unchanged', 'active-username': FIRST })
      expect(stopped.stdout).toContain(`${ENV}: ${USERNAME} names ${SECOND}, the username this run would reset, so its consumers use it`)
      expect(sims.thingspace.calls('login')).toHaveLength(0)
    })
  })

  test.concurrent('a token without the Variables permission: the reads say which permission it lacks, nothing is written or sent', async () => {
    await withSimulators({ users: { [SECOND]: 'Second-Passw0rd' } }, async (sims) => {
      const limited = 'ghp_NoVariables0123456789abcdefABCDEFabcd'
      sims.github.addToken(limited, { write: true, denyVariables: ['repo:acme/fleet'] })
      const firstPassword = sims.thingspace.user(FIRST).password
      sims.github.seed(REPO, SECRET, firstPassword, new Date(Date.now() - 100 * DAY))

      const result = await run(sims, { inputs: { ...pairs(sims, FIRST, SECOND, 'variable'), targets: 'repo', 'github-token': limited } })

      expect(result.outputs.result).toBe('failed-unchanged')
      expect(result.stdout).toContain('not every target can be read, so none was written')
      expect(result.stdout).toMatch(/it needs the "Variables" repository permission \(read\)/)
      expect(sims.thingspace.calls('login')).toHaveLength(0)
      expect(sims.github.calls('put-secret')).toHaveLength(0)
      expect(stored(sims, REPO)).toBe(firstPassword)
    })
  })
})
