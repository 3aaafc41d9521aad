/**
 * The pre-flight decisions, each a pure function of the targets' state and the clock: due, stale (to
 * GitHub's second), whether a person started the run, whether a session may have expired, and the two
 * warnings said before they bite: a token of one owner for targets of several, and this repository's own
 * secret shadowing an organization target's (the lockout decision is the rotation state's:
 * rotation-state.test.ts).
 */
import { describe, expect, test } from '@jest/globals'
import type { TargetState } from '../src/github-secrets.ts'
import { dueTargets, isAttended, sessionMayHaveExpired, shadowCandidate, staleTargets, tokenOwnerWarning } from '../src/preflight.ts'
import { parseTargets, type Repository } from '../src/targets.ts'
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
  // GitHub gives a job's start and a secret's update to the second: the job read its secrets at .000 of this second.
  const readAt = new Date(START)
  test.each([
    { name: 'a store 1 ms before the second the secrets were read', at: START - 1, stale: false },
    { name: 'a store 1 s before', at: START - 1000, stale: false },
    // Either may have come first within the second: a store in it counts as after (the strict side).
    { name: 'a store in the very second the secrets were read', at: START, stale: true },
    { name: 'a store late in that second', at: START + 999, stale: true },
    { name: 'a store after', at: START + 1000, stale: true },
    { name: 'no secret', at: undefined, stale: false }
  ])('$name: stale $stale', ({ at, stale }) => {
    const st = state(repo, at)
    expect(staleTargets([st], readAt)).toEqual(stale ? [st] : [])
  })

  test('a read time within a second is taken to that second', () => {
    const st = state(repo, START + 10)
    expect(staleTargets([st], new Date(START + 990))).toEqual([st])
  })

  test('only the stale targets, in order', () => {
    const after = state(repo, START + 1)
    const later = state(org, START + DAY)
    expect(staleTargets([after, state(env, START - 1), later], readAt)).toEqual([after, later])
  })

  test('without the time the secrets were read nothing is stale', () => {
    expect(staleTargets([state(repo, START + DAY)], undefined)).toEqual([])
  })
})

describe('tokenOwnerWarning: a token of one owner for targets of several', () => {
  const SPAN = (kind: string, owners: string) =>
    `${kind} covers the repositories of one owner, and the targets span ${owners}: use one job per owner (a matrix), each with its own token`
  test.each([
    {
      name: 'a fine-grained token, two owners',
      lines: ['repo', 'repo:other/depot'],
      token: 'github_pat_11ABC',
      said: SPAN('A fine-grained token', 'acme, other')
    },
    {
      name: 'an App installation token, two owners',
      lines: ['repo', 'org:beta'],
      token: 'ghs_xyz',
      said: SPAN('A GitHub App installation token', 'acme, beta')
    },
    {
      name: 'an App token, three owners, each named once',
      lines: ['repo', 'env:other/depot/prod', 'org:other', 'dependabot:org:third'],
      token: 'ghs_xyz',
      said: SPAN('A GitHub App installation token', 'acme, other, third')
    },
    // GitHub's owner names are case-insensitive.
    { name: 'an App token, one owner spelled two ways', lines: ['repo', 'org:ACME'], token: 'ghs_xyz', said: undefined },
    { name: 'an App token, one owner', lines: ['repo', 'env:prod', 'org:acme'], token: 'ghs_xyz', said: undefined },
    { name: 'a classic token, two owners', lines: ['repo', 'repo:other/depot'], token: 'ghp_abc', said: undefined },
    { name: 'an OAuth token, two owners', lines: ['repo', 'repo:other/depot'], token: 'gho_abc', said: undefined }
  ])('$name', ({ lines, token, said }) => {
    expect(tokenOwnerWarning(parseTargets(lines, REPOSITORY), token)).toBe(said)
  })
})

describe('shadowCandidate: this repository\u2019s own secret would shadow an organization target\u2019s', () => {
  const HERE = { app: 'actions', kind: 'repo', owner: 'acme', repo: 'fleet', label: 'repo:acme/fleet' }
  test.each([
    { name: 'an Actions organization target, this repository not a target', lines: ['org:acme'], repository: REPOSITORY, candidate: HERE },
    { name: 'with other repositories among the targets', lines: ['org:acme:all', 'repo:acme/depot'], repository: REPOSITORY, candidate: HERE },
    { name: 'this repository is a target', lines: ['org:acme', 'repo'], repository: REPOSITORY, candidate: undefined },
    {
      name: 'this repository is a target, spelled in other case',
      lines: ['org:acme', 'repo:ACME/Fleet'],
      repository: REPOSITORY,
      candidate: undefined
    },
    // A Dependabot or Codespaces secret of the repository is not what its workflows read.
    { name: 'this repository\u2019s Dependabot store is a target', lines: ['org:acme', 'dependabot:repo'], repository: REPOSITORY, candidate: HERE },
    { name: 'only a Dependabot organization target', lines: ['dependabot:org:acme'], repository: REPOSITORY, candidate: undefined },
    { name: 'no organization target', lines: ['repo:acme/depot', 'env:prod'], repository: REPOSITORY, candidate: undefined },
    { name: 'a local run: no repository', lines: ['org:acme'], repository: undefined, candidate: undefined },
    // Only this repository's own organization's secrets reach its workflows. Was a BUG at fb638df (any
    // Actions organization target made this repository a candidate); fixed on core (997e1bd).
    { name: 'an organization target of another owner only', lines: ['org:other'], repository: REPOSITORY, candidate: undefined },
    { name: 'organization targets of another owner and of this one', lines: ['org:other', 'org:acme'], repository: REPOSITORY, candidate: HERE },
    // GitHub's owner names are not case-sensitive.
    { name: 'this repository’s organization, spelled in other case', lines: ['org:ACME'], repository: REPOSITORY, candidate: HERE },
    {
      name: 'a Dependabot target of this organization and an Actions one of another',
      lines: ['dependabot:org:acme', 'org:other'],
      repository: REPOSITORY,
      candidate: undefined
    }
  ] as { name: string; lines: string[]; repository: Repository | undefined; candidate: object | undefined }[])(
    '$name',
    ({ lines, repository, candidate }) => {
      expect(shadowCandidate(parseTargets(lines, REPOSITORY), repository)).toEqual(candidate)
    }
  )
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
