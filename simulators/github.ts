/**
 * A GitHub REST simulator for the Actions secrets endpoints the action uses: repository, environment
 * and organization public keys, secret metadata, PUT (201 created, 204 updated), an organization
 * secret's selected repositories, and a workflow run. Each scope holds a real Curve25519 keypair and
 * decrypts what is stored, so a test can ask what a target really holds.
 */
import sodium from 'libsodium-wrappers'
import { randomInt } from 'node:crypto'
import { JsonError, Simulator, parseJson, type IncomingJson, type Routed } from './server.ts'

export type Visibility = 'all' | 'private' | 'selected'

interface Keypair {
  keyId: string
  publicKey: Uint8Array
  privateKey: Uint8Array
}

export interface StoredSecret {
  value: string
  createdAt: string
  updatedAt: string
  visibility?: Visibility
  selected?: number[]
}

interface Scope {
  keys: Keypair
  secrets: Map<string, StoredSecret>
}

interface Repo extends Scope {
  owner: string
  name: string
  id: number
  environments: Map<string, Scope>
}

interface Org extends Scope {
  name: string
}

export interface TokenGrant {
  /** May write secrets (PUT); a read-only token gets 403 on writes. */
  write: boolean
  /** Scopes it can see (`repo:o/r`, `org:o`); every scope when absent. Others answer 404, as GitHub does. */
  scopes?: string[]
}

const b64 = (): typeof sodium.base64_variants.ORIGINAL => sodium.base64_variants.ORIGINAL

export class GitHubSimulator extends Simulator {
  readonly service = 'github'
  readonly tokens = new Map<string, TokenGrant>()
  readonly repos = new Map<string, Repo>()
  readonly orgs = new Map<string, Org>()
  readonly runs = new Map<number, { created_at: string; run_started_at: string }>()
  now: () => number = Date.now
  private nextRepoId = 1000

  /** libsodium must be ready before keypairs are made. */
  static async create(): Promise<GitHubSimulator> {
    await sodium.ready
    return new GitHubSimulator()
  }

  private keypair(): Keypair {
    const pair = sodium.crypto_box_keypair()
    return { keyId: String(randomInt(1e11, 9e11)), publicKey: pair.publicKey, privateKey: pair.privateKey }
  }

  /**
   * GitHub's secondary rate limits turn away bursts of content-creating requests; the simulator does
   * the same above `max` concurrent secret writes (403, retry-after).
   */
  limitConcurrentWrites(max: number): void {
    this.concurrencyLimit = {
      calls: ['put-secret'],
      max,
      answer: {
        status: 403,
        body: { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' },
        headers: { 'retry-after': '1' }
      }
    }
  }

  addToken(token: string, grant: TokenGrant = { write: true }): void {
    this.tokens.set(token, grant)
  }

  addRepo(fullName: string, environments: string[] = []): number {
    const [owner, name] = fullName.split('/')
    const repo: Repo = { owner, name, id: this.nextRepoId++, keys: this.keypair(), secrets: new Map(), environments: new Map() }
    for (const env of environments) repo.environments.set(env, { keys: this.keypair(), secrets: new Map() })
    this.repos.set(fullName.toLowerCase(), repo)
    return repo.id
  }

  addOrg(name: string): void {
    this.orgs.set(name.toLowerCase(), { name, keys: this.keypair(), secrets: new Map() })
  }

  addRun(id: number, startedAt: Date, createdAt: Date = startedAt): void {
    this.runs.set(id, { created_at: createdAt.toISOString(), run_started_at: startedAt.toISOString() })
  }

  /** Seeds a secret as if written earlier (the value is held in clear; only the simulator reads it). */
  seed(scope: string, name: string, value: string, updatedAt: Date, extra: { visibility?: Visibility; selected?: number[] } = {}): void {
    const at = updatedAt.toISOString()
    this.scope(scope).secrets.set(name.toUpperCase(), { value, createdAt: at, updatedAt: at, ...extra })
  }

  /** What a target holds, decrypted, or undefined. */
  secret(scope: string, name: string): StoredSecret | undefined {
    return this.scope(scope).secrets.get(name.toUpperCase())
  }

  /** `repo:o/r`, `env:o/r/e` or `org:o`. */
  scope(label: string): Scope {
    const [kind, rest] = [label.slice(0, label.indexOf(':')), label.slice(label.indexOf(':') + 1)]
    if (kind === 'org') return this.mustFind(this.orgs.get(rest.toLowerCase()), label)
    const [owner, name, env] = rest.split('/')
    const repo = this.mustFind(this.repos.get(`${owner}/${name}`.toLowerCase()), label)
    return kind === 'env' ? this.mustFind(repo.environments.get(env), label) : repo
  }

  private mustFind<T>(value: T | undefined, label: string): T {
    if (!value) throw new Error(`simulator: no scope ${label}`)
    return value
  }

  protected rotateKey(scope: string | undefined): void {
    if (scope) this.scope(scope).keys = this.keypair()
  }

  protected route(req: IncomingJson): Routed {
    const p = req.path.split('/').slice(1).map(decodeURIComponent)
    const m = req.method
    // /repos/{o}/{r}/actions/runs/{id}
    if (m === 'GET' && p.length === 6 && p[0] === 'repos' && p[3] === 'actions' && p[4] === 'runs') {
      const scope = `repo:${p[1]}/${p[2]}`
      return { call: 'get-run', scope, handle: () => this.withAuth(req, scope, false, () => this.getRun(p[1], p[2], Number(p[5]))) }
    }
    // /repos/{o}/{r}/actions/secrets/...
    if (p[0] === 'repos' && p[3] === 'actions' && p[4] === 'secrets' && p.length === 6) {
      const scope = `repo:${p[1]}/${p[2]}`
      return this.secretRoute(req, scope, () => this.repo(p[1], p[2]), p[5])
    }
    // /repos/{o}/{r}/environments/{e}/secrets/...
    if (p[0] === 'repos' && p[3] === 'environments' && p[5] === 'secrets' && p.length === 7) {
      const scope = `env:${p[1]}/${p[2]}/${p[4]}`
      return this.secretRoute(req, `repo:${p[1]}/${p[2]}`, () => this.env(p[1], p[2], p[4]), p[6], scope)
    }
    // /orgs/{org}/actions/secrets/...
    if (p[0] === 'orgs' && p[2] === 'actions' && p[3] === 'secrets') {
      const scope = `org:${p[1]}`
      if (p.length === 6 && p[5] === 'repositories' && m === 'GET') {
        return { call: 'list-selected', scope, handle: () => this.withAuth(req, scope, false, () => this.listSelected(p[1], p[4], req.query)) }
      }
      if (p.length === 5) return this.secretRoute(req, scope, () => this.org(p[1]), p[4])
    }
    throw new JsonError(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' })
  }

  /** `grantScope` is what a token grant names (a repository for its environments too). */
  private secretRoute(req: IncomingJson, grantScope: string, find: () => Scope, name: string, scope = grantScope): Routed {
    const isOrg = scope.startsWith('org:')
    if (name === 'public-key' && req.method === 'GET') {
      return {
        call: 'public-key',
        scope,
        handle: () =>
          this.withAuth(req, grantScope, false, () => {
            const keys = find().keys
            return { status: 200, body: { key_id: keys.keyId, key: sodium.to_base64(keys.publicKey, b64()) } }
          })
      }
    }
    if (req.method === 'GET') {
      return {
        call: 'get-secret',
        scope,
        handle: () =>
          this.withAuth(req, grantScope, false, () => {
            const secret = find().secrets.get(name.toUpperCase())
            if (!secret) throw new JsonError(404, { message: 'Not Found' })
            const body: Record<string, unknown> = { name: name.toUpperCase(), created_at: secret.createdAt, updated_at: secret.updatedAt }
            if (isOrg) {
              body.visibility = secret.visibility
              if (secret.visibility === 'selected') body.selected_repositories_url = `${this.url}${req.path}/repositories`
            }
            return { status: 200, body }
          })
      }
    }
    if (req.method === 'PUT') {
      return { call: 'put-secret', scope, handle: () => this.withAuth(req, grantScope, true, () => this.put(find(), name, req.text, isOrg)) }
    }
    throw new JsonError(404, { message: 'Not Found' })
  }

  private withAuth(
    req: IncomingJson,
    scope: string,
    write: boolean,
    handle: () => { status: number; body?: unknown }
  ): { status: number; body?: unknown } {
    const auth = req.headers.authorization ?? ''
    const match = /^(?:token|bearer) (.+)$/i.exec(auth)
    if (!match) throw new JsonError(401, { message: 'Requires authentication' })
    const grant = this.tokens.get(match[1])
    if (!grant) throw new JsonError(401, { message: 'Bad credentials' })
    if (grant.scopes && !grant.scopes.some((s) => s.toLowerCase() === scope.toLowerCase())) throw new JsonError(404, { message: 'Not Found' })
    if (write && !grant.write) throw new JsonError(403, { message: 'Resource not accessible by personal access token' })
    return handle()
  }

  private repo(owner: string, name: string): Repo {
    const repo = this.repos.get(`${owner}/${name}`.toLowerCase())
    if (!repo) throw new JsonError(404, { message: 'Not Found' })
    return repo
  }

  private env(owner: string, name: string, env: string): Scope {
    const scope = this.repo(owner, name).environments.get(env)
    if (!scope) throw new JsonError(404, { message: 'Not Found' })
    return scope
  }

  private org(name: string): Org {
    const org = this.orgs.get(name.toLowerCase())
    if (!org) throw new JsonError(404, { message: 'Not Found' })
    return org
  }

  private getRun(owner: string, name: string, id: number): { status: number; body: unknown } {
    this.repo(owner, name)
    const run = this.runs.get(id)
    if (!run) throw new JsonError(404, { message: 'Not Found' })
    return { status: 200, body: { id, ...run } }
  }

  private listSelected(orgName: string, name: string, query: URLSearchParams): { status: number; body: unknown } {
    const secret = this.org(orgName).secrets.get(name.toUpperCase())
    if (!secret) throw new JsonError(404, { message: 'Not Found' })
    if (secret.visibility !== 'selected') throw new JsonError(409, { message: 'The visibility of this secret is not selected' })
    const perPage = Math.min(Number(query.get('per_page') ?? 30), 100)
    const page = Number(query.get('page') ?? 1)
    const ids = secret.selected ?? []
    const repos = ids.slice((page - 1) * perPage, page * perPage).map((id) => {
      const repo = [...this.repos.values()].find((r) => r.id === id)
      return { id, name: repo?.name ?? `repo-${id}`, full_name: repo ? `${repo.owner}/${repo.name}` : `${orgName}/repo-${id}` }
    })
    return { status: 200, body: { total_count: ids.length, repositories: repos } }
  }

  private put(scope: Scope, rawName: string, text: string, isOrg: boolean): { status: number } {
    const name = rawName.toUpperCase()
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name) || name.startsWith('GITHUB_')) throw new JsonError(422, { message: 'Invalid secret name' })
    const body = parseJson(text) as
      { encrypted_value?: unknown; key_id?: unknown; visibility?: unknown; selected_repository_ids?: unknown } | undefined
    if (typeof body?.encrypted_value !== 'string' || typeof body.key_id !== 'string') {
      throw new JsonError(422, { message: 'Invalid request.\n\nencrypted_value and key_id are required.' })
    }
    if (body.key_id !== scope.keys.keyId) throw new JsonError(422, { message: 'Bad request: the key_id does not match the current public key' })
    let value: string
    try {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body.encrypted_value)) throw new Error('not standard base64')
      const sealed = sodium.from_base64(body.encrypted_value, b64())
      value = sodium.to_string(sodium.crypto_box_seal_open(sealed, scope.keys.publicKey, scope.keys.privateKey))
    } catch {
      throw new JsonError(422, { message: 'Bad request: encrypted_value could not be decrypted with the public key' })
    }
    let visibility: Visibility | undefined
    let selected: number[] | undefined
    if (isOrg) {
      if (body.visibility !== 'all' && body.visibility !== 'private' && body.visibility !== 'selected') {
        throw new JsonError(422, { message: 'Invalid request.\n\nvisibility must be one of all, private, selected.' })
      }
      visibility = body.visibility
      if (body.selected_repository_ids !== undefined) {
        if (visibility !== 'selected') throw new JsonError(422, { message: 'selected_repository_ids can only be given when visibility is selected' })
        if (!Array.isArray(body.selected_repository_ids) || !body.selected_repository_ids.every((id) => Number.isInteger(id))) {
          throw new JsonError(422, { message: 'selected_repository_ids must be an array of integers' })
        }
        selected = body.selected_repository_ids as number[]
      } else if (visibility === 'selected') {
        selected = scope.secrets.get(name)?.selected ?? []
      }
    } else if (body.visibility !== undefined) {
      throw new JsonError(422, { message: 'visibility is only for organization secrets' })
    }
    const now = new Date(this.now()).toISOString()
    const existing = scope.secrets.get(name)
    scope.secrets.set(name, { value, createdAt: existing?.createdAt ?? now, updatedAt: now, visibility, selected })
    return { status: existing ? 204 : 201 }
  }
}
