/**
 * Runs that overlap (issue 16): two bundles at once against one pair of simulators, GitHub slower than
 * ThingSpace (300 ms against 100 ms a request, as it often is), the second started 0 to 300 ms after
 * the first: a dispatch during the schedule, a dry run beside a real run, and a ThingSpace that does
 * or does not check `oldPassword`. A concurrency group would keep such runs apart; these are the runs
 * it cannot (two repositories rotating one username, a workflow without the block, a dry-run workflow
 * with a group of its own). After both: every target holds the live password, or a result admits
 * doubt; and each run's result was true at the moment that run ended. The same with alternating
 * usernames, where "the live password" is the one of the username each target names.
 */
import { describe, expect, test } from '@jest/globals'
import { FIXTURE, type ActionRun, type Simulators } from '../simulators/harness.ts'
import { DAY, ENV, ORG, REPO, SECRET, STATE, onSecret, run, stored, withSimulators } from './support/scenario.ts'

/** A second repository that rotates the same username into its own secret and the shared organization secret. */
const OTHER = 'acme/gateway'
const OTHER_REPO = `repo:${OTHER}`
const OTHER_RUN = 5151
const TARGETS = [REPO, ENV, ORG]
const OTHER_TARGETS = [OTHER_REPO, ORG]
const DOUBT = ['failed-unknown', 'failed-changed']
/** Alternating usernames: the first is active, the second the standby that a rotation resets. */
const FIRST = 'm2m-api-user'
const SECOND = 'm2m-api-user-b'
const USERNAME = 'THINGSPACE_USERNAME'
type Mode = 'one username' | 'alternating'

interface Side {
  event: 'workflow_dispatch' | 'schedule'
  dryRun?: boolean
  /** Run from the second repository (its own run, its own first target). */
  elsewhere?: boolean
}

interface Ended {
  result: ActionRun
  token: string
  targets: string[]
  /** The moment this run's process ended: whether the password of the username it resets had changed, and whether each of its targets held a pair that logs in. */
  changed: boolean
  works: boolean[]
  /** Whether each of its targets named the username this run made active (always, with one username). */
  named: boolean[]
}

const PAIRS: { pair: string; sides: [Side, Side] }[] = [
  { pair: 'a dispatch during the schedule', sides: [{ event: 'schedule' }, { event: 'workflow_dispatch' }] },
  { pair: 'two scheduled runs', sides: [{ event: 'schedule' }, { event: 'schedule' }] },
  { pair: 'a dry run, then a real run', sides: [{ event: 'schedule', dryRun: true }, { event: 'workflow_dispatch' }] },
  { pair: 'a real run, then a dry run', sides: [{ event: 'workflow_dispatch' }, { event: 'schedule', dryRun: true }] },
  { pair: 'two repositories', sides: [{ event: 'schedule' }, { event: 'schedule', elsewhere: true }] }
]
/**
 * With `leftover`, the first target holds a rotation-state secret older than the password (an earlier
 * run's, out of force): then GitHub's "created" cannot tell a run that another one wrote the record
 * in between, and both may reach ThingSpace.
 */
const CASES = [
  ...PAIRS.flatMap((p) =>
    [0, 150, 300].flatMap((offsetMs) =>
      [true, false].flatMap((checksOldPassword) =>
        [false, true].map((leftover) => ({ ...p, offsetMs, checksOldPassword, leftover, mode: 'one username' as const }))
      )
    )
  ),
  ...PAIRS.flatMap((p) =>
    [0, 300].flatMap((offsetMs) =>
      [true, false].map((checksOldPassword) => ({ ...p, offsetMs, checksOldPassword, leftover: false, mode: 'alternating' as const }))
    )
  )
]

/** Whether a target's pair logs in: its password secret is the live password of the username it names (the first, with one username). */
function pairWorks(sims: Simulators, target: string): boolean {
  const username = stored(sims, target, USERNAME) ?? FIRST
  return stored(sims, target) === sims.thingspace.user(username).password
}

async function start(sims: Simulators, side: Side, index: number, mode: Mode, initial: Record<string, string>, delayMs: number): Promise<Ended> {
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
  const token = `ghp_OverlapToken${index}0123456789abcdefABCDEFab`
  sims.github.addToken(token)
  const alternating: Record<string, string> =
    mode === 'alternating' ? { 'standby-username': SECOND, 'standby-password': initial[SECOND], 'username-kind': 'secret' } : {}
  const result = await run(sims, {
    // Both jobs read the secrets before either rotated them.
    inputs: {
      targets: side.elsewhere ? 'repo\norg:acme' : 'repo\nenv:production\norg:acme',
      username: FIRST,
      password: initial[FIRST],
      'github-token': token,
      'dry-run': String(side.dryRun ?? false),
      ...alternating
    },
    env: { GITHUB_EVENT_NAME: side.event, ...(side.elsewhere ? { GITHUB_REPOSITORY: OTHER, GITHUB_RUN_ID: String(OTHER_RUN) } : {}) },
    alongside: true
  })
  // Taken in the same turn of the event loop as the exit: the other run's requests wait for the next.
  const targets = side.elsewhere ? OTHER_TARGETS : TARGETS
  const resets = mode === 'alternating' ? SECOND : FIRST
  return {
    result,
    token,
    targets,
    changed: sims.thingspace.user(resets).password !== initial[resets],
    works: targets.map((t) => pairWorks(sims, t)),
    named: targets.map((t) => mode === 'one username' || stored(sims, t, USERNAME) === SECOND)
  }
}

/** Whether what a run said was true when it ended. */
function truthAtEnd(sims: Simulators, ended: Ended): boolean {
  const outcome = ended.result.outputs.result
  const wrote = sims.github.log.some(
    (e) => e.call === 'put-secret' && e.auth === ended.token && /\/(THINGSPACE_PASSWORD|THINGSPACE_USERNAME)$/.test(e.path)
  )
  switch (outcome) {
    case 'rotated':
      return ended.changed && ended.works.every(Boolean) && ended.named.every(Boolean)
    case 'dry-run':
      return !wrote
    case 'failed-unchanged':
      // Nothing this run did changed the password, and the password is what it found.
      return !wrote && !ended.changed
    default:
      return DOUBT.includes(outcome)
  }
}

describe('two runs that overlap', () => {
  test.concurrent.each(CASES)(
    '$mode: $pair, the second $offsetMs ms later, ThingSpace checks oldPassword: $checksOldPassword, leftover record: $leftover',
    async ({ sides, offsetMs, checksOldPassword, leftover, mode }) => {
      await withSimulators({ checkOldPassword: checksOldPassword, users: { [SECOND]: 'Second-Passw0rd' } }, async (sims) => {
        sims.thingspace.latencyMs = 100
        sims.github.latencyMs = 300
        const initial = { [FIRST]: sims.thingspace.user(FIRST).password, [SECOND]: sims.thingspace.user(SECOND).password }
        const longAgo = new Date(Date.now() - 100 * DAY)
        sims.github.addRepo(OTHER)
        sims.github.addRun(OTHER_RUN, new Date(Date.now() - 60_000))
        sims.github.addJob(OTHER_RUN, 1, { runnerName: FIXTURE.runnerName, startedAt: new Date(Date.now() - 30_000) })
        const everyTarget = [...new Set(sides.flatMap((side) => (side.elsewhere ? OTHER_TARGETS : TARGETS)))]
        for (const t of everyTarget) {
          sims.github.seed(t, SECRET, initial[FIRST], longAgo, t === ORG ? { visibility: 'all' } : {})
          if (mode === 'alternating') sims.github.seed(t, USERNAME, FIRST, longAgo, t === ORG ? { visibility: 'all' } : {})
        }
        if (mode === 'alternating') {
          for (const home of [REPO, OTHER_REPO]) {
            sims.github.seed(home, `${SECRET}_STANDBY`, initial[SECOND], longAgo)
            sims.github.seed(home, `${USERNAME}_STANDBY`, SECOND, longAgo)
          }
        }
        if (leftover) sims.github.seed(REPO, STATE, 'an earlier run', new Date(longAgo.getTime() - DAY))

        const ended = await Promise.all([start(sims, sides[0], 0, mode, initial, 0), start(sims, sides[1], 1, mode, initial, offsetMs)])

        const results = ended.map((e) => e.result.outputs.result)
        const context = {
          results,
          messages: ended.map((e) => /::(?:error|notice)[^:]*::(.*)/.exec(e.result.stdout)?.[1]),
          atEnd: ended.map((e) => ({ changed: e.changed, works: e.works, named: e.named })),
          issued: sims.thingspace.allIssuedPasswords,
          final: everyTarget.map((t) => stored(sims, t))
        }
        // Nothing lost: every target holds the live password, or a result says what is not known.
        const everywhere = everyTarget.every((t) => pairWorks(sims, t))
        expect({ context, nothingLost: everywhere || results.some((r) => DOUBT.includes(r)) }).toEqual({ context, nothingLost: true })
        // Each run's result was true when that run ended.
        expect({ context, truths: ended.map((e) => truthAtEnd(sims, e)) }).toEqual({ context, truths: [true, true] })
        // The password secret holds nothing but passwords ThingSpace issued; visibility kept; the account never locked.
        const issued = new Set(sims.thingspace.allIssuedPasswords)
        expect(everyTarget.map((t) => stored(sims, t)).filter((v) => v !== initial[FIRST] && !issued.has(v!))).toEqual([])
        expect(sims.github.secret(ORG, SECRET)?.visibility).toBe('all')
        expect(sims.thingspace.users.map((u) => u.locked)).toEqual([false, false])
        // A dry run writes nothing a consumer reads.
        const dryRunWrites = ended
          .filter((_, i) => sides[i].dryRun)
          .flatMap((e) => [...onSecret(sims, 'put-secret', SECRET), ...onSecret(sims, 'put-secret', USERNAME)].filter((p) => p.auth === e.token))
        expect(dryRunWrites).toEqual([])
      })
    },
    30_000
  )
})
