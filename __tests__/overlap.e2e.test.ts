/**
 * Runs that overlap (issue 16): two bundles at once against one pair of simulators, GitHub slower than
 * ThingSpace (300 ms against 100 ms a request, as it often is), the second started 0 to 300 ms after
 * the first: a dispatch during the schedule, a dry run beside a real run, and a ThingSpace that does
 * or does not check `oldPassword`. A concurrency group would keep such runs apart; these are the runs
 * it cannot (two repositories rotating one username, a workflow without the block, a dry-run workflow
 * with a group of its own). After both: every target holds the live password, or a result admits
 * doubt; and each run's result was true at the moment that run ended.
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
  /** What the servers held the moment this run's process ended. */
  live: string
  held: (string | undefined)[]
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
const CASES = PAIRS.flatMap((p) =>
  [0, 150, 300].flatMap((offsetMs) =>
    [true, false].flatMap((checksOldPassword) => [false, true].map((leftover) => ({ ...p, offsetMs, checksOldPassword, leftover })))
  )
)

async function start(sims: Simulators, side: Side, index: number, initial: string, delayMs: number): Promise<Ended> {
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
  const token = `ghp_OverlapToken${index}0123456789abcdefABCDEFab`
  sims.github.addToken(token)
  const result = await run(sims, {
    // Both jobs read the secret before either rotated it.
    inputs: {
      targets: side.elsewhere ? 'repo\norg:acme' : 'repo\nenv:production\norg:acme',
      password: initial,
      'github-token': token,
      'dry-run': String(side.dryRun ?? false)
    },
    env: { GITHUB_EVENT_NAME: side.event, ...(side.elsewhere ? { GITHUB_REPOSITORY: OTHER, GITHUB_RUN_ID: String(OTHER_RUN) } : {}) },
    alongside: true
  })
  // Taken in the same turn of the event loop as the exit: the other run's requests wait for the next.
  const targets = side.elsewhere ? OTHER_TARGETS : TARGETS
  return { result, token, targets, live: sims.thingspace.password, held: targets.map((t) => stored(sims, t)) }
}

/** Whether what a run said was true when it ended. */
function truthAtEnd(sims: Simulators, ended: Ended, initial: string): boolean {
  const outcome = ended.result.outputs.result
  const wrotePassword = onSecret(sims, 'put-secret', SECRET).some((e) => e.auth === ended.token)
  switch (outcome) {
    case 'rotated':
      return ended.live !== initial && ended.held.every((v) => v === ended.live)
    case 'dry-run':
      return !wrotePassword
    case 'failed-unchanged':
      // Nothing this run did changed the password, and the password is what it found.
      return !wrotePassword && ended.live === initial
    default:
      return DOUBT.includes(outcome)
  }
}

describe('two runs that overlap', () => {
  test.concurrent.each(CASES)(
    '$pair, the second $offsetMs ms later, ThingSpace checks oldPassword: $checksOldPassword, leftover record: $leftover',
    async ({ sides, offsetMs, checksOldPassword, leftover }) => {
      await withSimulators({ checkOldPassword: checksOldPassword }, async (sims) => {
        sims.thingspace.latencyMs = 100
        sims.github.latencyMs = 300
        const initial = sims.thingspace.password
        const longAgo = new Date(Date.now() - 100 * DAY)
        sims.github.addRepo(OTHER)
        sims.github.addRun(OTHER_RUN, new Date(Date.now() - 60_000))
        sims.github.addJob(OTHER_RUN, 1, { runnerName: FIXTURE.runnerName, startedAt: new Date(Date.now() - 30_000) })
        const everyTarget = [...new Set(sides.flatMap((side) => (side.elsewhere ? OTHER_TARGETS : TARGETS)))]
        for (const t of everyTarget) sims.github.seed(t, SECRET, initial, longAgo, t === ORG ? { visibility: 'all' } : {})
        if (leftover) sims.github.seed(REPO, STATE, 'an earlier run', new Date(longAgo.getTime() - DAY))

        const ended = await Promise.all([start(sims, sides[0], 0, initial, 0), start(sims, sides[1], 1, initial, offsetMs)])

        const results = ended.map((e) => e.result.outputs.result)
        const context = {
          results,
          messages: ended.map((e) => /::(?:error|notice)[^:]*::(.*)/.exec(e.result.stdout)?.[1]),
          atEnd: ended.map((e) => ({ live: e.live, held: e.held })),
          issued: sims.thingspace.issuedPasswords,
          final: everyTarget.map((t) => stored(sims, t))
        }
        // Nothing lost: every target holds the live password, or a result says what is not known.
        const everywhere = everyTarget.every((t) => stored(sims, t) === sims.thingspace.password)
        expect({ context, nothingLost: everywhere || results.some((r) => DOUBT.includes(r)) }).toEqual({ context, nothingLost: true })
        // Each run's result was true when that run ended.
        if (!ended.every((e) => truthAtEnd(sims, e, initial))) console.log(JSON.stringify(context, null, 1))
        expect({ context, truths: ended.map((e) => truthAtEnd(sims, e, initial)) }).toEqual({ context, truths: [true, true] })
        // The password secret holds nothing but passwords ThingSpace issued; visibility kept; the account never locked.
        const issued = new Set(sims.thingspace.issuedPasswords)
        expect(everyTarget.map((t) => stored(sims, t)).filter((v) => v !== initial && !issued.has(v!))).toEqual([])
        expect(sims.github.secret(ORG, SECRET)?.visibility).toBe('all')
        expect(sims.thingspace.locked).toBe(false)
        // A dry run writes nothing a consumer reads.
        ended.forEach((e, i) => {
          if (sides[i].dryRun) expect(onSecret(sims, 'put-secret', SECRET).filter((p) => p.auth === e.token)).toEqual([])
        })
      })
    },
    30_000
  )
})
