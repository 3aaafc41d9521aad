/**
 * The GitHub Actions variables client: read, write and delete one variable of a repository, an
 * environment or an organization, through @octokit/rest's typed methods. With alternating usernames
 * the active username lives here (alternation.ts), where consumers read it as `vars.NAME`.
 *
 * Variables differ from secrets in three ways that shape this file: only Actions has them; their
 * values are plain text that can be read back (no key, no sealing); and GitHub creates one with a POST
 * (201; 409 when it exists) and updates one with a PATCH (204; 404 when it does not), where a secret
 * has one PUT for both. A write starts with the call the caller expects to succeed (it says whether
 * the variable existed when it was read) and falls back to the other once, for a variable created or
 * deleted meanwhile. Retries for 5xx, network failures and rate limits come from Octokit's plugins
 * (github-client.ts), whose write limiter all writes of one Octokit share; this client queues its own
 * writes as the secrets client does, so a write still queued when the run is cancelled is not sent.
 */
import Bottleneck from 'bottleneck/light.js'
import { WRITE_CONCURRENCY, answeredStatus, describeFailure, type GitHubOctokit } from './github-client.ts'
import { GitHubError, type WriteResult } from './github-secrets.ts'
import type { Target, Visibility } from './targets.ts'

/** A variable as GitHub gives it: the value, when it was last written (to the second), and who may read an organization's. */
export interface StoredVariable {
  value: string
  updatedAt: Date
  visibility?: Visibility
}

/**
 * Which repositories may read an organization variable. Without it, a write uses the visibility the
 * target asks for (`org:ORG:all`); a variable created without either is private.
 */
export interface VariableAccess {
  visibility: Visibility
  /** With `selected`: the repositories by id. Unknown (absent), an update leaves the visibility as it is. */
  selectedRepositoryIds?: number[]
}

/** The endpoints of one target's variables; only an organization's read `access`. */
interface VariableStore {
  get: (name: string) => Promise<{ data: { value?: unknown; updated_at?: unknown; visibility?: unknown } }>
  create: (name: string, value: string, access: VariableAccess | undefined) => Promise<unknown>
  update: (name: string, value: string, access: VariableAccess | undefined) => Promise<unknown>
  remove: (name: string) => Promise<unknown>
}

type OrgTarget = Extract<Target, { kind: 'org' }>

function storeFor(octokit: GitHubOctokit, t: Target): VariableStore {
  // Dependabot and Codespaces have secrets only; inputs.ts refuses usernames kept as variables there.
  if (t.app !== 'actions') throw new Error(`${t.label} has no variables: only GitHub Actions has them`)
  const api = octokit.rest.actions
  switch (t.kind) {
    case 'repo': {
      const p = { owner: t.owner, repo: t.repo }
      return {
        get: (name) => api.getRepoVariable({ ...p, name }),
        create: (name, value) => api.createRepoVariable({ ...p, name, value }),
        update: (name, value) => api.updateRepoVariable({ ...p, name, value }),
        remove: (name) => api.deleteRepoVariable({ ...p, name })
      }
    }
    case 'env': {
      const p = { owner: t.owner, repo: t.repo, environment_name: t.environment }
      return {
        get: (name) => api.getEnvironmentVariable({ ...p, name }),
        create: (name, value) => api.createEnvironmentVariable({ ...p, name, value }),
        update: (name, value) => api.updateEnvironmentVariable({ ...p, name, value }),
        remove: (name) => api.deleteEnvironmentVariable({ ...p, name })
      }
    }
    case 'org': {
      const p = { org: t.org }
      return {
        get: (name) => api.getOrgVariable({ ...p, name }),
        create: (name, value, access) => api.createOrgVariable({ ...p, name, value, ...creationAccess(t, access) }),
        update: (name, value, access) => api.updateOrgVariable({ ...p, name, value, ...updateAccess(t, access) }),
        remove: (name) => api.deleteOrgVariable({ ...p, name })
      }
    }
  }
}

/** Who may read an organization variable being created: as asked, else private; selected with no known ids selects none, as a new secret does. */
function creationAccess(t: OrgTarget, access: VariableAccess | undefined): { visibility: Visibility; selected_repository_ids?: number[] } {
  const { visibility, selectedRepositoryIds } = access ?? { visibility: t.visibility ?? 'private' }
  return visibility === 'selected' ? { visibility, selected_repository_ids: selectedRepositoryIds ?? [] } : { visibility }
}

/**
 * Who may read an organization variable being updated: sent only when known in full, so a variable
 * selected for repositories this run cannot name keeps them rather than losing them; else as it is.
 */
function updateAccess(t: OrgTarget, access: VariableAccess | undefined): { visibility?: Visibility; selected_repository_ids?: number[] } {
  const wanted = access ?? (t.visibility ? { visibility: t.visibility } : undefined)
  if (!wanted || (wanted.visibility === 'selected' && !wanted.selectedRepositoryIds)) return {}
  return creationAccess(t, wanted)
}

/** The answer to a write that means the other call is the right one: a variable deleted, or created, since it was read. */
const OTHER_CALL: Record<WriteResult, { when: number; then: WriteResult; because: string }> = {
  updated: { when: 404, then: 'created', because: 'gone when updated, so created' },
  created: { when: 409, then: 'updated', because: 'there when created, so updated' }
}

const WHERE: Record<Target['kind'], string> = { repo: 'the repository', env: 'the environment', org: 'the organization' }

/**
 * The permission a 403 most likely lacks, for a fine-grained token or GitHub App, and for a classic
 * token (GitHub's REST reference for the variables endpoints): environment variables come under
 * "Environments"; an organization's need admin:org, and repo too when the repositories are private.
 */
export function variablePermissionHint(t: Target, write: boolean): string {
  const access = write ? 'write' : 'read'
  if (t.kind === 'env') return `"Environments" repository permission (${access}); classic: repo`
  if (t.kind === 'org') return `"Variables" organization permission (${access}); classic: admin:org, and repo for private repositories`
  return `"Variables" repository permission (${access}); classic: repo`
}

function hint(status: number | undefined, t: Target, write: boolean): string {
  if (status === 401) return 'the github-token is invalid or expired'
  if (status === 404) return `${WHERE[t.kind]} does not exist, or the github-token cannot see it`
  if (status === 403) return `the github-token may not ${write ? 'write' : 'read'} these variables; it needs the ${variablePermissionHint(t, write)}`
  return ''
}

/** A failure with what failed and GitHub's own words; `status` is the status GitHub answered, if any (writeMayHaveLanded reads it). */
function wrap(error: unknown, action: string, t: Target, write: boolean): GitHubError {
  const status = answeredStatus(error)
  const answered = status !== undefined || (error instanceof Error && 'request' in error)
  const what = answered || !(error instanceof Error) ? describeFailure(error) : error.message
  const why = hint(status, t, write)
  return new GitHubError(`Failed to ${action} ${t.label}: ${what}${why ? ` (${why})` : ''}`, status)
}

export class GitHubVariables {
  private readonly octokit: GitHubOctokit
  private readonly writes = new Bottleneck({ maxConcurrent: WRITE_CONCURRENCY })

  constructor(octokit: GitHubOctokit) {
    this.octokit = octokit
  }

  /** A variable of a target, or undefined when the target does not hold it (GitHub answers 404). */
  async read(target: Target, name: string): Promise<StoredVariable | undefined> {
    const store = storeFor(this.octokit, target)
    try {
      const { data } = await store.get(name)
      const updatedAt = new Date(String(data?.updated_at))
      if (typeof data?.value !== 'string' || Number.isNaN(updatedAt.getTime())) {
        throw new Error(`the answer for ${name} has no value and valid updated_at`)
      }
      const variable: StoredVariable = { value: data.value, updatedAt }
      if (typeof data.visibility === 'string') variable.visibility = data.visibility as Visibility
      return variable
    } catch (error) {
      if (answeredStatus(error) === 404) return undefined
      throw wrap(error, `read the variable ${name} of`, target, false)
    }
  }

  /**
   * Writes a variable, at most WRITE_CONCURRENCY at a time: updated when `existed` (it was there when
   * read), else created; a 404 to the update or a 409 to the creation (deleted or created meanwhile,
   * or a retried creation that had landed) is followed by the other call, once. Resolves with which
   * call stored it. A write still queued when `signal` aborts is not sent.
   */
  async write(target: Target, name: string, value: string, existed: boolean, signal?: AbortSignal, access?: VariableAccess): Promise<WriteResult> {
    const store = storeFor(this.octokit, target)
    return this.writes.schedule(() => {
      signal?.throwIfAborted()
      return this.writeNow(store, target, name, value, existed, access)
    })
  }

  /** Deletes a variable; one already gone (404) counts as deleted. Queued with the writes. */
  async remove(target: Target, name: string): Promise<void> {
    const store = storeFor(this.octokit, target)
    return this.writes.schedule(async () => {
      try {
        await store.remove(name)
      } catch (error) {
        if (answeredStatus(error) !== 404) throw wrap(error, `delete the variable ${name} from`, target, true)
      }
    })
  }

  private async writeNow(
    store: VariableStore,
    target: Target,
    name: string,
    value: string,
    existed: boolean,
    access?: VariableAccess
  ): Promise<WriteResult> {
    const send = async (result: WriteResult): Promise<WriteResult> => {
      await (result === 'created' ? store.create : store.update)(name, value, access)
      return result
    }
    const first: WriteResult = existed ? 'updated' : 'created'
    try {
      return await send(first)
    } catch (error) {
      if (answeredStatus(error) !== OTHER_CALL[first].when) throw wrap(error, `write the variable ${name} to`, target, true)
    }
    const { then, because } = OTHER_CALL[first]
    try {
      return await send(then)
    } catch (error) {
      throw wrap(error, `write the variable ${name} (${because}) to`, target, true)
    }
  }
}
