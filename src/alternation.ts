/**
 * Alternating usernames (issue 19): two ThingSpace usernames take turns. Each rotation logs in as the
 * standby username, resets its password, and makes that pair the active one in every target (the
 * username variable or secret, and the password secret, in one write wave), while the home target
 * keeps the previous active pair, unchanged and still valid, as the new standby. A consumer's copy of
 * the active pair therefore keeps working until the rotation after the one that replaced it.
 *
 * This module holds what only that mode needs: reading the username and standby stores, the checks
 * that a reset cannot break the consumers (the pure `pairProblems`), and the writes after the reset.
 */
import type { Alternation } from './inputs.ts'
import type { TargetState, WriteResult } from './github-secrets.ts'
import type { GitHubVariables } from './github-variables.ts'
import type { Target } from './targets.ts'

/** What a username store holds under a name: the value where it can be read (variables), and when it was written. */
export interface NamedValue {
  value?: string
  updatedAt: Date
}

/** Where the usernames live: Actions variables (readable), or secrets (only their dates can be read). */
export interface UsernamePort {
  read: (target: Target, name: string) => Promise<NamedValue | undefined>
  write: (state: TargetState, name: string, value: string, existed: boolean, signal?: AbortSignal) => Promise<WriteResult>
  remove: (state: TargetState, name: string) => Promise<void>
}

/** The pair as one target holds it: the active username there (the password secret is in TargetState). */
export interface PairState {
  username: NamedValue | undefined
}

/** The home target's standby pair. */
export interface StandbyState {
  passwordAt: Date | undefined
  username: NamedValue | undefined
}

/** A store of usernames built on the secrets client: values cannot be read back, dates can. */
export function usernamesAsSecrets(secrets: {
  updatedAt: (state: Pick<TargetState, 'target'>, name?: string) => Promise<Date | undefined>
  write: (state: TargetState, plaintext: string, name?: string, signal?: AbortSignal) => Promise<WriteResult>
  remove: (state: TargetState, name: string) => Promise<void>
}): UsernamePort {
  return {
    read: async (target, name) => {
      const updatedAt = await secrets.updatedAt({ target }, name)
      return updatedAt ? { updatedAt } : undefined
    },
    write: (state, name, value, _existed, signal) => secrets.write(state, value, name, signal),
    remove: (state, name) => secrets.remove(state, name)
  }
}

/**
 * A store of usernames built on the variables client. The active username is read by the same
 * consumers as the password secret, so an organization variable gets that secret's visibility and
 * selected repositories; the action's own variables (the proof, the standby) stay private.
 */
export function usernamesAsVariables(variables: GitHubVariables, usernameName: string): UsernamePort {
  return {
    read: (target, name) => variables.read(target, name),
    write: (state, name, value, existed, signal) =>
      variables.write(state.target, name, value, existed, signal, {
        visibility: name === usernameName ? (state.visibility ?? 'private') : 'private',
        selectedRepositoryIds: name === usernameName ? state.selectedRepositoryIds : undefined
      }),
    remove: (state, name) => variables.remove(state.target, name)
  }
}

/** How far apart one rotation's writes of the pair can land: longer than a run's stores can take. */
export const ONE_ROTATION_MS = 10 * 60 * 1000

/**
 * Why a reset of the standby username now could break a consumer, if it could: a target whose
 * consumers use the standby username (a variable that names it), or targets that do not hold the
 * pair of one and the same rotation (an earlier rotation stored it in some targets only, so those
 * still give their consumers the pair this run would reset). Targets that hold no pair yet are fine.
 */
export function pairProblems(states: TargetState[], pairs: PairState[], alt: Alternation, activeUsername: string): string[] {
  const problems: string[] = []
  states.forEach((st, i) => {
    const named = pairs[i].username?.value
    if (named === alt.standbyUsername) {
      problems.push(
        `${st.target.label}: ${alt.usernameName} names ${alt.standbyUsername}, the username this run would reset, so its consumers use it`
      )
    } else if (named !== undefined && named !== activeUsername) {
      problems.push(`${st.target.label}: ${alt.usernameName} names ${named}, neither ${activeUsername} (active) nor ${alt.standbyUsername} (standby)`)
    }
  })
  const written = states.flatMap((st, i) => {
    const at = st.existing?.updatedAt.getTime()
    const name = pairs[i].username?.updatedAt.getTime()
    return at === undefined ? [] : [{ label: st.target.label, at, apart: name !== undefined && Math.abs(name - at) > ONE_ROTATION_MS }]
  })
  for (const w of written.filter((x) => x.apart)) {
    problems.push(`${w.label}: ${alt.usernameName} and the password secret were not written by the same rotation`)
  }
  if (written.length > 1) {
    const newest = Math.max(...written.map((w) => w.at))
    const behind = written.filter((w) => newest - w.at > ONE_ROTATION_MS)
    if (behind.length > 0) {
      problems.push(
        `${behind.map((w) => w.label).join(', ')} did not get the pair the last rotation stored at ${new Date(newest).toISOString()} (their password secret is older)`
      )
    }
  }
  const withName = pairs.filter((p, i) => p.username && states[i].existing)
  if (withName.length > 0 && withName.length < written.length) {
    const missing = states.filter((st, i) => st.existing && !pairs[i].username).map((st) => st.target.label)
    problems.push(
      `${missing.join(', ')} ${missing.length === 1 ? 'holds' : 'hold'} the password secret but not ${alt.usernameName}, which other targets hold`
    )
  }
  return problems
}
