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
 * Targets whose secret changed after this workflow run started. The password input was read at the
 * start, so it is probably stale (another rotation already replaced it), and logging in with it could
 * count toward the lockout.
 */
export function staleTargets(states: TargetState[], runStart: Date | undefined): TargetState[] {
  if (!runStart) return []
  return states.filter((st) => st.existing && st.existing.updatedAt.getTime() > runStart.getTime())
}

/**
 * Whether a person started the run and is watching it: only a workflow_dispatch (or a local run,
 * which has no event). A schedule, a repository_dispatch from elsewhere, a push or a workflow_run
 * may repeat with nobody looking, so those runs guard the lockout budget strictly.
 */
export function isAttended(eventName: string | undefined): boolean {
  return eventName === undefined || eventName === 'workflow_dispatch'
}

/**
 * What the lockout marker says. It is written before an unattended run logs in, and after any login
 * that was refused or may have been counted without an answer; it is removed once a login succeeds.
 * While it is newer than the password secret, another login with the same password would only spend
 * another of the 5 attempts: an unattended run stops; a run someone started tries once, without retrying.
 */
export type LockoutDecision = { kind: 'clear' } | { kind: 'stop' | 'try-once'; markedAt: Date }

export function lockoutDecision(states: TargetState[], eventName: string | undefined): LockoutDecision {
  const markedAt = states[0]?.markedAt
  if (!markedAt) return { kind: 'clear' }
  const lastUpdate = Math.max(...states.map((st) => st.existing?.updatedAt.getTime() ?? 0))
  if (lastUpdate > markedAt.getTime()) return { kind: 'clear' }
  return { kind: isAttended(eventName) ? 'try-once' : 'stop', markedAt }
}

/** Whether a session idle this long may have expired before the next request reaches ThingSpace. */
export function sessionMayHaveExpired(idleMs: number, idleLifetimeMs: number): boolean {
  const margin = Math.min(60_000, idleLifetimeMs / 4)
  return idleMs >= idleLifetimeMs - margin
}
