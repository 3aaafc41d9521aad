/**
 * The GitHub secrets client: a target's public key and secret metadata, sealing, and the PUT, for
 * Actions (repository, environment, organization), Dependabot and Codespaces secrets, through
 * @octokit/rest's typed methods. Retries for 5xx and rate limits come from Octokit's plugins (see
 * github-client.ts); this layer adds the one retry they cannot know about (a key that rotated between
 * read and write) and makes writes one at a time, as GitHub asks of content-creating requests.
 */
import Bottleneck from 'bottleneck/light.js'
import { WRITE_CONCURRENCY, answeredStatus, describeFailure, type GitHubOctokit } from './github-client.ts'
import type { Repository, SecretApp, Target, Visibility } from './targets.ts'

export type SealFn = (plaintext: string, publicKeyBase64: string) => Promise<string>

export interface PublicKey {
  keyId: string
  key: string
}

export interface ExistingSecret {
  updatedAt: Date
  visibility?: Visibility
}

export interface TargetState {
  target: Target
  publicKey: PublicKey
  /** The password secret; undefined when the target does not hold it yet. */
  existing: ExistingSecret | undefined
  /** When the target's rotation-state secret was last written, if it exists (in the home target: the lockout record). */
  recordAt?: Date
  /** The home target only: when a `<secret>_REJECTED` marker of an earlier version was last written, if one is left. */
  legacyMarkedAt?: Date
  /** The home target only: when a run last recorded a reset whose answer was lost (`<secret>_RESET_UNKNOWN`), if one is left. */
  resetUnknownAt?: Date
  /** What an org secret is written with: the requested visibility, else the existing one, else private. */
  visibility?: Visibility
  selectedRepositoryIds?: number[]
  /** The same repositories by name, for the recovery commands a person runs (`gh secret set --repos`). */
  selectedRepositoryNames?: string[]
}

/** Whether a write created the secret (GitHub answered 201) or replaced one that existed (204). */
export type WriteResult = 'created' | 'updated'

/** Where a job's secrets were read from the clock's point of view: this job's start, or the run's when the job cannot be found. */
export interface ReadTime {
  at: Date
  of: 'job' | 'run'
}

/** Which job of a run is this one: the run attempt's jobs are searched for the one running on this runner. */
export interface JobRef {
  repository: Repository
  runId: number
  runAttempt: number | undefined
  runnerName: string | undefined
}

export { WRITE_CONCURRENCY }

/**
 * Whether a failed write may still have been stored: only a 4xx answer proves it was not; no answer
 * (a network error, a timeout, the deadline) or a 5xx leaves it open.
 */
export function writeMayHaveLanded(error: unknown): boolean {
  const status = (error as { status?: unknown } | undefined)?.status
  return typeof status !== 'number' || status >= 500
}

/** GitHub's own words for a failure it answered; for one that is not a request failure, the error's message. */
function failureText(error: unknown): string {
  return error instanceof Error && answeredStatus(error) === undefined && !('request' in error) ? error.message : describeFailure(error)
}

export class GitHubError extends Error {
  /** The status GitHub answered with; undefined when it did not answer. */
  readonly status: number | undefined
  constructor(message: string, status: number | undefined) {
    super(message)
    this.name = 'GitHubError'
    this.status = status
  }
}

interface PutBody {
  encrypted_value: string
  key_id: string
  visibility?: Visibility
  selected_repository_ids?: number[]
}

/** The endpoints of one target's secret store. */
interface SecretStore {
  publicKey: () => Promise<{ data: { key_id: string; key: string } }>
  get: (name: string) => Promise<{ data: { updated_at: string; visibility?: string } }>
  put: (name: string, body: PutBody) => Promise<{ status: number }>
  remove: (name: string) => Promise<unknown>
  /** Every repository selected for an org secret: every page GitHub links, checked against its total. */
  selected?: (name: string) => Promise<{ id: number; name: string }[]>
}

function apps(octokit: GitHubOctokit, app: SecretApp) {
  return { actions: octokit.rest.actions, dependabot: octokit.rest.dependabot, codespaces: octokit.rest.codespaces }[app]
}

function storeFor(octokit: GitHubOctokit, t: Target): SecretStore {
  switch (t.kind) {
    case 'repo': {
      const api = apps(octokit, t.app)
      const p = { owner: t.owner, repo: t.repo }
      return {
        publicKey: () => api.getRepoPublicKey(p),
        get: (name) => api.getRepoSecret({ ...p, secret_name: name }),
        put: (name, body) => api.createOrUpdateRepoSecret({ ...p, secret_name: name, ...body }),
        remove: (name) => api.deleteRepoSecret({ ...p, secret_name: name })
      }
    }
    case 'env': {
      const api = octokit.rest.actions
      const p = { owner: t.owner, repo: t.repo, environment_name: t.environment }
      return {
        publicKey: () => api.getEnvironmentPublicKey(p),
        get: (name) => api.getEnvironmentSecret({ ...p, secret_name: name }),
        put: (name, body) => api.createOrUpdateEnvironmentSecret({ ...p, secret_name: name, ...body }),
        remove: (name) => api.deleteEnvironmentSecret({ ...p, secret_name: name })
      }
    }
    case 'org': {
      const api = apps(octokit, t.app)
      const p = { org: t.org }
      return {
        publicKey: () => api.getOrgPublicKey(p),
        get: (name) => api.getOrgSecret({ ...p, secret_name: name }),
        put: (name, body) => api.createOrUpdateOrgSecret({ ...p, secret_name: name, ...body, visibility: body.visibility ?? 'private' }),
        remove: (name) => api.deleteOrgSecret({ ...p, secret_name: name }),
        selected: async (name) => {
          const pages = octokit.paginate.iterator(api.listSelectedReposForOrgSecret, { ...p, secret_name: name, per_page: 100 })
          const { items, total } = await allPages(pages, 'selected repositories')
          if (total !== undefined && items.length !== total) {
            throw new Error(`GitHub listed ${items.length} of the ${total} selected repositories; writing the secret now would drop the others`)
          }
          return items.map((r) => ({ id: r.id, name: r.name }))
        }
      }
    }
  }
}

/**
 * Every item of a paginated list, and the `total_count` its first page gives. Bounded whatever the
 * server sends: a `next` link back to a page already read, or more items than the count, fails the read
 * instead of following the pages for ever.
 */
export async function allPages<T>(pages: AsyncIterable<{ url: string; data: T[] }>, what: string): Promise<{ items: T[]; total?: number }> {
  const seen = new Set<string>()
  const items: T[] = []
  let total: number | undefined
  for await (const page of pages) {
    // @octokit/plugin-paginate-rest turns a page into its list only when it has a total_count, as GitHub's do.
    if (!Array.isArray(page.data)) throw new Error(`GitHub answered a page of ${what} that is not a list`)
    if (seen.has(page.url)) throw new Error(`GitHub's pages of ${what} lead back to a page already read`)
    seen.add(page.url)
    total ??= (page.data as { total_count?: number }).total_count
    items.push(...page.data)
    if (total !== undefined && items.length > total) throw new Error(`GitHub listed more ${what} than the ${total} it counts`)
  }
  return { items, total }
}

const WHERE: Record<Target['kind'], string> = { repo: 'the repository', env: 'the environment', org: 'the organization' }

/**
 * The permission a 403 most likely lacks, for a fine-grained token or GitHub App, and for a classic
 * token, per target kind (GitHub's REST reference for each endpoint; docs/permissions.md).
 */
export function permissionHint(t: Target, write: boolean): string {
  const access = write ? 'write' : 'read'
  if (t.kind === 'env') return `"Environments" and "Secrets" repository permissions (${access}); classic: repo`
  if (t.kind === 'org') {
    const name = { actions: 'Secrets', dependabot: 'Organization dependabot secrets', codespaces: 'Organization codespaces secrets' }[t.app]
    return `"${name}" organization permission (${access}); classic: admin:org`
  }
  if (t.app === 'codespaces') return '"Codespaces secrets" repository permission (write, even to read); classic: repo'
  return `"${t.app === 'actions' ? 'Secrets' : 'Dependabot secrets'}" repository permission (${access}); classic: repo`
}

function hint(status: number | undefined, t: Target, write: boolean): string {
  if (status === 401) return 'the github-token is invalid or expired'
  if (status === 404) return `${WHERE[t.kind]} does not exist, or the github-token cannot see it`
  if (status === 403) return `the github-token may not ${write ? 'write' : 'read'} these secrets; it needs the ${permissionHint(t, write)}`
  return ''
}

function wrap(error: unknown, action: string, t: Target, write: boolean): GitHubError {
  if (error instanceof GitHubError) return error
  const status = answeredStatus(error)
  const why = hint(status, t, write)
  const what = failureText(error)
  return new GitHubError(`Failed to ${action} ${t.label}: ${what}${why ? ` (${why})` : ''}`, status)
}

export class GitHubSecrets {
  private readonly octokit: GitHubOctokit
  private readonly secretName: string
  private readonly seal: SealFn
  private readonly writes = new Bottleneck({ maxConcurrent: WRITE_CONCURRENCY })

  constructor(octokit: GitHubOctokit, secretName: string, seal: SealFn) {
    this.octokit = octokit
    this.secretName = secretName
    this.seal = seal
  }

  /** The action's own rotation-state secret: the write proof in every target, the lockout record in the home target. */
  get stateName(): string {
    return `${this.secretName}_ROTATION`
  }

  /** The lockout marker of earlier versions, honoured until the rotation state supersedes it. */
  get legacyMarkerName(): string {
    return `${this.secretName}_REJECTED`
  }

  /** A reset whose answer was lost, recorded in the home target so that the next run is due and finds out whether it took effect. */
  get resetUnknownName(): string {
    return `${this.secretName}_RESET_UNKNOWN`
  }

  /** Reads what a rotation needs to know about a target before touching anything (the home target's rotation state too). */
  async inspect(target: Target, home = false): Promise<TargetState> {
    const store = storeFor(this.octokit, target)
    const [publicKey, existing, record, legacy, resetUnknown] = await Promise.all([
      this.publicKey(store, target),
      this.metadata(store, target, this.secretName),
      this.metadata(store, target, this.stateName),
      home ? this.metadata(store, target, this.legacyMarkerName) : undefined,
      home ? this.metadata(store, target, this.resetUnknownName) : undefined
    ])
    const state: TargetState = {
      target,
      publicKey,
      existing,
      recordAt: record?.updatedAt,
      legacyMarkedAt: legacy?.updatedAt,
      resetUnknownAt: resetUnknown?.updatedAt
    }
    if (target.kind === 'org') {
      state.visibility = target.visibility ?? existing?.visibility ?? 'private'
      if (state.visibility === 'selected') {
        const selected = existing?.visibility === 'selected' ? await this.selectedRepositories(store, target) : []
        state.selectedRepositoryIds = selected.map((r) => r.id)
        state.selectedRepositoryNames = selected.map((r) => r.name)
      }
    }
    return state
  }

  private async publicKey(store: SecretStore, target: Target): Promise<PublicKey> {
    try {
      const { data } = await store.publicKey()
      if (typeof data?.key_id !== 'string' || typeof data?.key !== 'string') throw new Error('the answer has no key_id and key')
      return { keyId: data.key_id, key: data.key }
    } catch (error) {
      throw wrap(error, 'read the public key of', target, false)
    }
  }

  private async metadata(store: SecretStore, target: Target, name: string): Promise<ExistingSecret | undefined> {
    try {
      const { data } = await store.get(name)
      const updatedAt = new Date(String(data?.updated_at))
      if (Number.isNaN(updatedAt.getTime())) throw new Error(`the answer for ${name} has no valid updated_at`)
      const visibility = typeof data.visibility === 'string' ? (data.visibility as Visibility) : undefined
      return { updatedAt, visibility }
    } catch (error) {
      if (answeredStatus(error) === 404) return undefined
      throw wrap(error, `read the secret ${name} of`, target, false)
    }
  }

  private async selectedRepositories(store: SecretStore, target: Target): Promise<{ id: number; name: string }[]> {
    try {
      return await store.selected!(this.secretName)
    } catch (error) {
      throw wrap(error, `list the repositories selected for ${this.secretName} in`, target, false)
    }
  }

  /** When a secret of a target was last written, read again now; undefined when it is gone. */
  async updatedAt(state: Pick<TargetState, 'target'>, name = this.secretName): Promise<Date | undefined> {
    return (await this.metadata(storeFor(this.octokit, state.target), state.target, name))?.updatedAt
  }

  /**
   * Seals and stores a value, at most WRITE_CONCURRENCY at a time. A 422 is what GitHub answers when
   * the key rotated after it was read: the key is read again, the value sealed again and the PUT sent
   * once more. A write still queued when `signal` aborts is not sent.
   */
  write(state: TargetState, plaintext: string, name = this.secretName, signal?: AbortSignal): Promise<WriteResult> {
    return this.writes.schedule(() => {
      signal?.throwIfAborted()
      return this.writeNow(state, plaintext, name)
    })
  }

  /** Deletes a secret (the lockout record, once it no longer applies); queued with the writes. */
  remove(state: TargetState, name: string): Promise<void> {
    return this.writes.schedule(async () => {
      try {
        await storeFor(this.octokit, state.target).remove(name)
      } catch (error) {
        if (answeredStatus(error) !== 404) throw wrap(error, `delete ${name} from`, state.target, true)
      }
    })
  }

  private async writeNow(state: TargetState, plaintext: string, name: string): Promise<WriteResult> {
    const { target } = state
    const store = storeFor(this.octokit, target)
    try {
      return await this.put(store, state, plaintext, name)
    } catch (error) {
      if (answeredStatus(error) !== 422) throw wrap(error, `write ${name} to`, target, true)
    }
    state.publicKey = await this.publicKey(store, target)
    try {
      return await this.put(store, state, plaintext, name)
    } catch (error) {
      throw wrap(error, `write ${name} (after reading its new public key) to`, target, true)
    }
  }

  private async put(store: SecretStore, state: TargetState, plaintext: string, name: string): Promise<WriteResult> {
    const body: PutBody = { encrypted_value: await this.seal(plaintext, state.publicKey.key), key_id: state.publicKey.keyId }
    if (state.target.kind === 'org') {
      // The action's own secrets are private: they only tell later runs of this action what happened.
      body.visibility = name === this.secretName ? state.visibility : 'private'
      if (body.visibility === 'selected') body.selected_repository_ids = state.selectedRepositoryIds ?? []
    }
    const { status } = await store.put(name, body)
    return status === 201 ? 'created' : 'updated'
  }

  /**
   * When this job's secrets were read: the start of this job (the one of the run attempt's jobs that
   * runs on this runner), else the start of the run attempt. A job that waited in a concurrency group
   * read its secrets when it started, not when the run did.
   */
  async secretsReadAt(job: JobRef): Promise<ReadTime> {
    const { repository, runId, runAttempt, runnerName } = job
    const where = { owner: repository.owner, repo: repository.repo, run_id: runId }
    const [jobs, run] = await Promise.allSettled([
      runAttempt !== undefined && runnerName
        ? allPages(
            this.octokit.paginate.iterator(this.octokit.rest.actions.listJobsForWorkflowRunAttempt, {
              ...where,
              attempt_number: runAttempt,
              per_page: 100
            }),
            'jobs'
          ).then((read) => read.items)
        : Promise.resolve([]),
      this.octokit.rest.actions.getWorkflowRun(where)
    ])
    if (jobs.status === 'fulfilled') {
      const starts = jobs.value
        .filter((j) => j.runner_name === runnerName && j.status === 'in_progress' && j.started_at)
        .map((j) => new Date(j.started_at))
        .filter((d) => !Number.isNaN(d.getTime()))
      // Two jobs on one runner name cannot run at once; if they seem to, the earlier start is the stricter check.
      if (starts.length > 0) return { at: new Date(Math.min(...starts.map((d) => d.getTime()))), of: 'job' }
    }
    try {
      if (run.status === 'rejected') throw run.reason
      const at = new Date(String(run.value.data.run_started_at ?? run.value.data.created_at))
      if (Number.isNaN(at.getTime())) throw new Error('the answer has no run_started_at or created_at')
      return { at, of: 'run' }
    } catch (error) {
      throw new GitHubError(`Could not read workflow run ${runId}: ${failureText(error)}`, answeredStatus(error))
    }
  }
}
