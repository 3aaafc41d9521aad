/**
 * The pre-flight decisions, each a pure function of the targets' state and the clock: due, stale,
 * whether a person started the run, lockout, and whether a session may have expired.
 */
import { describe, expect, test } from '@jest/globals'
import type { TargetState } from '../src/github-secrets.ts'
import { dueTargets, isAttended, lockoutDecision, sessionMayHaveExpired, staleTargets } from '../src/preflight.ts'
import { parseTargets } from '../src/targets.ts'
import { DAY, MINUTE, REPOSITORY, START } from './support/fakes.ts'

const [repo, env, org] = parseTargets(['repo', 'env:prod', 'org:acme'], REPOSITORY)

function state(target: typeof repo, updatedAt?: number, markedAt?: number): TargetState {
  return {
    target,
    publicKey: { keyId: 'k', key: 'pk' },
    existing: updatedAt === undefined ? undefined : { updatedAt: new Date(updatedAt) },
    markedAt: markedAt === undefined ? undefined : new Date(markedAt)
  }
}

describe('dueTargets', () => {
  test('min-age-days 0: every target is due, whatever its age', () => {
    const states = [state(repo, START - MINUTE), state(env, START)]
    expect(dueTargets(states, 0, START)).toEqual(states)
  })

  test('a target is due when it has no secret, or one at least min-age-days old', () => {
    const fresh = state(repo, START - 29 * DAY)
    const exactly = state(env, START - 30 * DAY)
    const missing = state(org)
    expect(dueTargets([fresh, exactly, missing], 30, START)).toEqual([exactly, missing])
  })

  test('no target is due when every secret is younger than min-age-days', () => {
    expect(dueTargets([state(repo, START - DAY), state(env, START - 29 * DAY - 1)], 30, START)).toEqual([])
  })
})

describe('staleTargets', () => {
  const runStart = new Date(START)

  test('targets updated after the run started are stale; at or before, or without a secret, are not', () => {
    const after = state(repo, START + 1)
    expect(staleTargets([after, state(env, START), state(org)], runStart)).toEqual([after])
  })

  test('without the run start nothing is stale', () => {
    expect(staleTargets([state(repo, START + DAY)], undefined)).toEqual([])
  })
})

// Every event GitHub can start a workflow with that a person does not start by hand (a sample of
// them), and the two a person does: workflow_dispatch, and a local run that has no event.
const UNATTENDED = [
  'schedule',
  'repository_dispatch',
  'push',
  'pull_request',
  'pull_request_target',
  'workflow_run',
  'workflow_call',
  'release',
  'dynamic',
  'merge_group',
  'check_suite',
  'issue_comment',
  ''
]

describe('isAttended', () => {
  test.each<[string | undefined, boolean]>([
    ['workflow_dispatch', true],
    [undefined, true],
    ...UNATTENDED.map((eventName): [string, boolean] => [eventName, false]),
    // Event names are exact: no case folding, no prefix match.
    ['Workflow_Dispatch', false],
    ['workflow_dispatch ', false],
    ['workflow', false]
  ])('%p: started by hand %p', (eventName, attended) => {
    expect(isAttended(eventName)).toBe(attended)
  })
})

describe('lockoutDecision', () => {
  const markedAt = START - DAY

  test('no marker: clear', () => {
    expect(lockoutDecision([state(repo, START - 2 * DAY)], 'schedule')).toEqual({ kind: 'clear' })
    expect(lockoutDecision([state(repo, START - 2 * DAY)], 'workflow_dispatch')).toEqual({ kind: 'clear' })
  })

  test.each(UNATTENDED)('a marker newer than every update stops a run started by %p', (eventName) => {
    expect(lockoutDecision([state(repo, START - 2 * DAY, markedAt), state(env)], eventName)).toEqual({ kind: 'stop', markedAt: new Date(markedAt) })
  })

  test.each(['workflow_dispatch', undefined])('a marker newer than every update lets a run started by %p try once', (eventName) => {
    expect(lockoutDecision([state(repo, START - 2 * DAY, markedAt)], eventName)).toEqual({ kind: 'try-once', markedAt: new Date(markedAt) })
  })

  test('a marker at the same instant as the last update still holds', () => {
    expect(lockoutDecision([state(repo, markedAt, markedAt)], 'schedule').kind).toBe('stop')
  })

  test('a marker older than an update of any target is cleared', () => {
    expect(lockoutDecision([state(repo, START - 2 * DAY, markedAt), state(env, markedAt + 1)], 'schedule')).toEqual({ kind: 'clear' })
  })

  test('only the first target carries the marker', () => {
    expect(lockoutDecision([state(repo, START - 2 * DAY), state(env, START - 2 * DAY, markedAt)], 'schedule')).toEqual({ kind: 'clear' })
  })

  test('no targets: clear', () => {
    expect(lockoutDecision([], 'schedule')).toEqual({ kind: 'clear' })
  })
})

describe('sessionMayHaveExpired', () => {
  test.each([
    [18 * MINUTE + 59_999, 20 * MINUTE, false],
    [19 * MINUTE, 20 * MINUTE, true],
    [25 * MINUTE, 20 * MINUTE, true],
    [0, 20 * MINUTE, false],
    // a short stated lifetime keeps a quarter of it as the margin
    [2 * MINUTE, 4 * MINUTE, false],
    [3 * MINUTE, 4 * MINUTE, true]
  ])('idle %i ms of a %i ms lifetime: %s', (idle, lifetime, expired) => {
    expect(sessionMayHaveExpired(idle, lifetime)).toBe(expired)
  })
})
