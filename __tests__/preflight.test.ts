/**
 * The pre-flight decisions, each a pure function of the targets' state and the clock: due, stale,
 * whether a person started the run, and whether a session may have expired (the lockout decision is
 * the rotation state's: rotation-state.test.ts).
 */
import { describe, expect, test } from '@jest/globals'
import type { TargetState } from '../src/github-secrets.ts'
import { dueTargets, isAttended, sessionMayHaveExpired, staleTargets } from '../src/preflight.ts'
import { parseTargets } from '../src/targets.ts'
import { DAY, MINUTE, REPOSITORY, START } from './support/fakes.ts'

const [repo, env, org] = parseTargets(['repo', 'env:prod', 'org:acme'], REPOSITORY)

function state(target: typeof repo, updatedAt?: number): TargetState {
  return { target, publicKey: { keyId: 'k', key: 'pk' }, existing: updatedAt === undefined ? undefined : { updatedAt: new Date(updatedAt) } }
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
  const readAt = new Date(START)

  // A store in the very instant the secrets were read is left to rotation.test.ts (a BUG test: to the second, it may be either).
  test('targets updated after this job read its secrets are stale; before, or without a secret, are not', () => {
    const after = state(repo, START + 1)
    expect(staleTargets([after, state(env, START - 1), state(org)], readAt)).toEqual([after])
  })

  test('without the time the secrets were read nothing is stale', () => {
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
  test.each([
    { name: 'workflow_dispatch by a person', eventName: 'workflow_dispatch', actor: 'octocat', attended: true },
    { name: 'workflow_dispatch without a triggering actor', eventName: 'workflow_dispatch', actor: undefined, attended: true },
    { name: 'a local run (no event)', eventName: undefined, actor: undefined, attended: true },
    // A dispatch by automation may repeat with nobody watching: a GitHub App or a bot account.
    { name: 'workflow_dispatch by github-actions[bot]', eventName: 'workflow_dispatch', actor: 'github-actions[bot]', attended: false },
    { name: 'workflow_dispatch by a GitHub App', eventName: 'workflow_dispatch', actor: 'fleet-scheduler[bot]', attended: false },
    { name: 'workflow_dispatch by dependabot[bot]', eventName: 'workflow_dispatch', actor: 'dependabot[bot]', attended: false },
    // Only the suffix marks a bot: a person whose login merely contains "bot" is a person.
    { name: 'workflow_dispatch by a person named robot', eventName: 'workflow_dispatch', actor: 'robot', attended: true },
    ...UNATTENDED.flatMap((eventName) => [
      { name: `${eventName || '(empty event)'} by a person`, eventName, actor: 'octocat', attended: false },
      { name: `${eventName || '(empty event)'} by a bot`, eventName, actor: 'github-actions[bot]', attended: false }
    ]),
    // Event names are exact: no case folding, no prefix match.
    { name: 'Workflow_Dispatch (case differs)', eventName: 'Workflow_Dispatch', actor: 'octocat', attended: false },
    { name: 'workflow_dispatch with a trailing space', eventName: 'workflow_dispatch ', actor: 'octocat', attended: false },
    { name: 'workflow (a prefix)', eventName: 'workflow', actor: 'octocat', attended: false }
  ])('$name: attended $attended', ({ eventName, actor, attended }) => {
    expect(isAttended(eventName, actor)).toBe(attended)
  })
})

describe('sessionMayHaveExpired', () => {
  test.each([
    { name: 'idle 1 ms short of 19 minutes of 20', idleMs: 19 * MINUTE - 1, lifetimeMs: 20 * MINUTE, expired: false },
    { name: 'idle 19 minutes of 20 (the 60 s margin)', idleMs: 19 * MINUTE, lifetimeMs: 20 * MINUTE, expired: true },
    { name: 'idle 25 minutes of 20', idleMs: 25 * MINUTE, lifetimeMs: 20 * MINUTE, expired: true },
    { name: 'not idle at all', idleMs: 0, lifetimeMs: 20 * MINUTE, expired: false },
    // A short stated lifetime keeps a quarter of it as the margin.
    { name: 'idle 2 minutes of 4', idleMs: 2 * MINUTE, lifetimeMs: 4 * MINUTE, expired: false },
    { name: 'idle 3 minutes of 4', idleMs: 3 * MINUTE, lifetimeMs: 4 * MINUTE, expired: true }
  ])('$name: may have expired $expired', ({ idleMs, lifetimeMs, expired }) => {
    expect(sessionMayHaveExpired(idleMs, lifetimeMs)).toBe(expired)
  })
})
