/**
 * The decisions taken before anything is sent to ThingSpace: pure functions of what the targets hold,
 * the run and the clock, so each rule can be read and tested on its own.
 */
import type { TargetState } from './github-secrets.ts'

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
 * it could count toward the lockout.
 */
export function staleTargets(states: TargetState[], secretsReadAt: Date | undefined): TargetState[] {
  if (!secretsReadAt) return []
  return states.filter((st) => st.existing && st.existing.updatedAt.getTime() > secretsReadAt.getTime())
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
