/**
 * The GitHub Actions secrets client: a target's public key and secret metadata, sealing, and the PUT.
 * Retries for 5xx and rate limits come from Octokit's retry and throttling plugins (see github-client.ts);
 * this layer adds the one retry they cannot know about: a key that rotated between read and write.
 */
import type { Target, Visibility } from './targets.ts'

export interface OctokitResponse {
  data: unknown
}
/** The one Octokit method this client uses, so a test can hand it a fake. */
export type RequestFn = (route: string, params: Record<string, unknown>) => Promise<OctokitResponse>
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
  /** Undefined when the target does not hold the secret yet. */
  existing: ExistingSecret | undefined
  /** When a login with this secret's password was last refused (the marker secret), if ever. Read from the first target only. */
  rejectedAt?: Date
  /** What an org secret is written with: the requested visibility, else the existing one, else private. */
  visibility?: Visibility
  selectedRepositoryIds?: number[]
}

export class GitHubError extends Error {
  readonly status: number | undefined
  constructor(message: string, status: number | undefined) {
    super(message)
    this.name = 'GitHubError'
    this.status = status
  }
}

function scope(t: Target): { base: string; params: Record<string, string> } {
  switch (t.kind) {
    case 'repo':
      return { base: '/repos/{owner}/{repo}/actions/secrets', params: { owner: t.owner, repo: t.repo } }
    case 'env':
      return {
        base: '/repos/{owner}/{repo}/environments/{environment_name}/secrets',
        params: { owner: t.owner, repo: t.repo, environment_name: t.environment }
      }
    case 'org':
      return { base: '/orgs/{org}/actions/secrets', params: { org: t.org } }
  }
}

function where(t: Target): string {
  switch (t.kind) {
    case 'repo':
      return 'the repository'
    case 'env':
      return 'the environment'
    case 'org':
      return 'the organization'
  }
}

/** Status and GitHub's own message only: a RequestError also carries the request, which is never shown. */
export function describeRequestError(error: unknown): { status: number | undefined; text: string } {
  const e = error as { status?: unknown; response?: { data?: unknown }; message?: unknown }
  const status = typeof e?.status === 'number' ? e.status : undefined
  const data = e?.response?.data as { message?: unknown } | undefined
  const message = typeof data?.message === 'string' ? data.message : status === undefined || status >= 500 ? String(e?.message ?? error) : ''
  return { status, text: [status, message.split(' - https://')[0]].filter((x) => x !== undefined && x !== '').join(' ') }
}

function hint(status: number | undefined, t: Target, write: boolean): string {
  if (status === 401) return 'the github-token is invalid or expired'
  if (status === 404) return `${where(t)} does not exist, or the github-token cannot see it`
  if (status === 403) {
    const need = t.kind === 'org' ? 'organization Secrets (classic: admin:org)' : t.kind === 'env' ? 'repository Environments' : 'repository Secrets'
    return `the github-token may not ${write ? 'write' : 'read'} secrets here; it needs ${need} ${write ? 'write' : 'read'} permission`
  }
  return ''
}

function wrap(error: unknown, action: string, t: Target, write: boolean): GitHubError {
  const { status, text } = describeRequestError(error)
  const why = hint(status, t, write)
  return new GitHubError(`Failed to ${action} ${t.label}: ${text}${why ? ` (${why})` : ''}`, status)
}

export class GitHubSecrets {
  private readonly request: RequestFn
  private readonly secretName: string
  private readonly seal: SealFn

  constructor(request: RequestFn, secretName: string, seal: SealFn) {
    this.request = request
    this.secretName = secretName
    this.seal = seal
  }

  /** The secret that records a refused login, so that a schedule never retries a wrong password. */
  get markerName(): string {
    return `${this.secretName}_REJECTED`
  }

  /** Reads what a rotation needs to know about a target before touching anything (with the rejection marker when asked). */
  async inspect(target: Target, withMarker = false): Promise<TargetState> {
    const [publicKey, existing, marker] = await Promise.all([
      this.publicKey(target),
      this.metadata(target, this.secretName),
      withMarker ? this.metadata(target, this.markerName) : undefined
    ])
    const state: TargetState = { target, publicKey, existing, rejectedAt: marker?.updatedAt }
    if (target.kind === 'org') {
      state.visibility = target.visibility ?? existing?.visibility ?? 'private'
      if (state.visibility === 'selected') {
        state.selectedRepositoryIds = existing?.visibility === 'selected' ? await this.selectedRepositories(target) : []
      }
    }
    return state
  }

  private async publicKey(target: Target): Promise<PublicKey> {
    const { base, params } = scope(target)
    try {
      const { data } = await this.request(`GET ${base}/public-key`, params)
      const d = data as { key_id?: unknown; key?: unknown }
      if (typeof d?.key_id !== 'string' || typeof d?.key !== 'string') throw new Error('the answer has no key_id and key')
      return { keyId: d.key_id, key: d.key }
    } catch (error) {
      throw wrap(error, 'read the public key of', target, false)
    }
  }

  private async metadata(target: Target, name: string): Promise<ExistingSecret | undefined> {
    const { base, params } = scope(target)
    try {
      const { data } = await this.request(`GET ${base}/{secret_name}`, { ...params, secret_name: name })
      const d = data as { updated_at?: unknown; visibility?: unknown }
      const updatedAt = new Date(String(d?.updated_at))
      if (Number.isNaN(updatedAt.getTime())) throw new Error('the answer has no valid updated_at')
      const visibility = typeof d.visibility === 'string' ? (d.visibility as Visibility) : undefined
      return { updatedAt, visibility }
    } catch (error) {
      if ((error as { status?: unknown })?.status === 404) return undefined
      throw wrap(error, `read the secret ${name} of`, target, false)
    }
  }

  private async selectedRepositories(target: Target & { kind: 'org' }): Promise<number[]> {
    const ids: number[] = []
    try {
      for (let page = 1; page <= 100; page++) {
        const { data } = await this.request('GET /orgs/{org}/actions/secrets/{secret_name}/repositories', {
          org: target.org,
          secret_name: this.secretName,
          per_page: 100,
          page
        })
        const d = data as { total_count?: number; repositories?: { id: number }[] }
        const repos = d.repositories ?? []
        ids.push(...repos.map((r) => r.id))
        if (repos.length < 100 || ids.length >= (d.total_count ?? 0)) break
      }
    } catch (error) {
      throw wrap(error, `list the repositories selected for ${this.secretName} in`, target, false)
    }
    return ids
  }

  /**
   * Seals and stores a value. A 422 is what GitHub answers when the key rotated after it was read:
   * the key is read again, the value sealed again and the PUT sent once more.
   */
  async write(state: TargetState, plaintext: string, name = this.secretName): Promise<void> {
    const { target } = state
    try {
      return await this.put(state, plaintext, name)
    } catch (error) {
      if ((error as { status?: unknown })?.status !== 422) throw wrap(error, `write ${name} to`, target, true)
    }
    try {
      state.publicKey = await this.publicKey(target)
      return await this.put(state, plaintext, name)
    } catch (error) {
      if (error instanceof GitHubError) throw error
      throw wrap(error, `write ${name} (after reading its new public key) to`, target, true)
    }
  }

  private async put(state: TargetState, plaintext: string, name: string): Promise<void> {
    const { base, params } = scope(state.target)
    const body: Record<string, unknown> = {
      ...params,
      secret_name: name,
      encrypted_value: await this.seal(plaintext, state.publicKey.key),
      key_id: state.publicKey.keyId
    }
    if (state.target.kind === 'org') {
      body.visibility = name === this.secretName ? state.visibility : 'private'
      if (body.visibility === 'selected') body.selected_repository_ids = state.selectedRepositoryIds ?? []
    }
    await this.request(`PUT ${base}/{secret_name}`, body)
  }

  /** When this attempt of the workflow run started; the secret inputs were read then. */
  async runStartedAt(owner: string, repo: string, runId: number): Promise<Date> {
    try {
      const { data } = await this.request('GET /repos/{owner}/{repo}/actions/runs/{run_id}', { owner, repo, run_id: runId })
      const d = data as { run_started_at?: unknown; created_at?: unknown }
      const at = new Date(String(d.run_started_at ?? d.created_at))
      if (Number.isNaN(at.getTime())) throw new Error('the answer has no run_started_at or created_at')
      return at
    } catch (error) {
      const { text } = describeRequestError(error)
      throw new GitHubError(`Could not read workflow run ${runId}: ${text}`, (error as { status?: number }).status)
    }
  }
}
