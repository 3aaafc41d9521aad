/**
 * The decisions taken before anything is sent to ThingSpace: pure functions of what the targets hold,
 * the run and the clock, so each rule can be read and tested on its own.
 */
import type { TargetState } from './github-secrets.ts'
import type { Repository, Target } from './targets.ts'

const DAY_MS = 24 * 60 * 60 * 1000

/** Targets that need a rotation: no secret yet, or one older than `minAgeDays`. Every target when 0. */
export function dueTargets(states: TargetState[], minAgeDays: number, now: number): TargetState[] {
  if (minAgeDays === 0) return states
  const cutoff = now - minAgeDays * DAY_MS
  return states.filter((st) => !st.existing || st.existing.updatedAt.getTime() <= cutoff)
}

/**
 * Targets whose password secret changed after this job read its secrets (when it started). The
 * password input is then probably stale (another rotation already replaced it), and logging in with
 * it could count toward the lockout. GitHub's times are to the second, so a store in the very second
 * the job started may have come after it: that counts as stale too (the strict side: a rerun costs
 * nothing, a login with a replaced password costs an attempt).
 */
export function staleTargets(states: TargetState[], secretsReadAt: Date | undefined): TargetState[] {
  if (!secretsReadAt) return []
  const second = Math.floor(secretsReadAt.getTime() / 1000)
  return states.filter((st) => st.existing && Math.floor(st.existing.updatedAt.getTime() / 1000) >= second)
}

/**
 * Whether a person started the run and is watching it: a workflow_dispatch that no bot or app
 * triggered (or a local run, which has no event). A schedule, a repository_dispatch from elsewhere, a
 * push, a workflow_run or a dispatch by automation may repeat with nobody looking, so those runs
 * guard the lockout budget strictly.
 */
export function isAttended(eventName: string | undefined, triggeringActor?: string): boolean {
  if (eventName === undefined) return true
  return eventName === 'workflow_dispatch' && !(triggeringActor ?? '').endsWith('[bot]')
}

/** Whether a session idle this long may have expired before the next request reaches ThingSpace. */
export function sessionMayHaveExpired(idleMs: number, idleLifetimeMs: number): boolean {
  const margin = Math.min(60_000, idleLifetimeMs / 4)
  return idleMs >= idleLifetimeMs - margin
}

/** The account or organization that owns a target's secret store. */
function ownerOf(t: Target): string {
  return (t.kind === 'org' ? t.org : t.owner).toLowerCase()
}

/**
 * A fine-grained token (`github_pat_`) or a GitHub App installation token (`ghs_`) belongs to one
 * resource owner; targets of several owners need a classic token or one token per owner (a matrix).
 * Said before any request, as a warning: the reads that follow name the target it cannot reach.
 */
export function tokenOwnerWarning(targets: Target[], githubToken: string): string | undefined {
  const owners = [...new Set(targets.map(ownerOf))]
  if (owners.length < 2 || !/^(github_pat_|ghs_)/.test(githubToken)) return undefined
  const kind = githubToken.startsWith('ghs_') ? 'A GitHub App installation token' : 'A fine-grained token'
  return `${kind} covers the repositories of one owner, and the targets span ${owners.join(', ')}: use one job per owner (a matrix), each with its own token`
}

/**
 * The target whose secret would shadow an organization target's in this repository's own workflows:
 * GitHub gives a repository secret precedence over an organization secret of the same name. Only asked
 * when an Actions organization target exists and this repository is not itself a target.
 */
export function shadowCandidate(targets: Target[], repository: Repository | undefined): Target | undefined {
  // Only this repository's own organization's secrets reach its workflows, so only they can be shadowed.
  const ownOrg = (t: Target): boolean => t.kind === 'org' && t.app === 'actions' && t.org.toLowerCase() === repository?.owner.toLowerCase()
  if (!repository || !targets.some(ownOrg)) return undefined
  const here = (t: Target): boolean =>
    t.kind === 'repo' &&
    t.app === 'actions' &&
    ownerOf(t) === repository.owner.toLowerCase() &&
    t.repo.toLowerCase() === repository.repo.toLowerCase()
  if (targets.some(here)) return undefined
  return { app: 'actions', kind: 'repo', owner: repository.owner, repo: repository.repo, label: `repo:${repository.owner}/${repository.repo}` }
}
