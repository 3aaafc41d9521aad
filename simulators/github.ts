/**
 * A GitHub REST simulator for the secrets endpoints the action uses, for Actions (repository,
 * environment, organization), Dependabot and Codespaces (repository, organization): public keys,
 * secret metadata, PUT (201 created, 204 updated), an organization secret's selected repositories
 * (paginated with Link headers), and a workflow run with its jobs. Each scope holds its own real
 * Curve25519 keypair and decrypts what is stored, so a test can ask what a target really holds. Times
 * are given to the second, as GitHub gives them. Actions scopes also hold variables: GET, POST (201;
 * 409 when it exists), PATCH (204; 404 when it does not) and DELETE, with an organization's visibility.
 */
import sodium from 'libsodium-wrappers'
import { randomInt } from 'node:crypto'
import { JsonError, Simulator, parseJson, type Answer, type IncomingJson, type LogEntry, type Routed } from './server.ts'

export type Visibility = 'all' | 'private' | 'selected'

/** The apps whose secrets live beside a repository's or organization's Actions secrets, each with its own key. */
export type App = 'dependabot' | 'codespaces'
const APPS: readonly App[] = ['dependabot', 'codespaces']
/** How the secrets paths name them: `/{actions|dependabot|codespaces}/secrets`. */
type SecretsApp = 'actions' | App
const SECRETS_APPS: readonly string[] = ['actions', ...APPS]

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

/** A variable is held as GitHub holds it: plain text, with the same times and an organization's visibility. */
export type StoredVariable = StoredSecret

interface Scope {
  keys: Keypair
  secrets: Map<string, StoredSecret>
  /** Actions variables (the Dependabot and Codespaces scopes have none). */
  variables: Map<string, StoredVariable>
}

/** A repository or organization: its own scope holds the Actions secrets. */
interface Holder extends Scope {
  apps: Record<App, Scope>
}

interface Repo extends Holder {
  owner: string
  name: string
  id: number
  environments: Map<string, Scope>
}

interface Org extends Holder {
  name: string
}

export interface JobEntry {
  id: number
  name: string
  status: 'queued' | 'in_progress' | 'completed'
  started_at: string
  runner_name: string | null
}

/** GitHub's times: ISO 8601 to the second. */
export function githubTime(at: number | Date): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export interface TokenGrant {
  /** May write secrets (PUT); a read-only token gets 403 on writes. */
  write: boolean
  /**
   * Scope keys it can see (`repo:o/r`, `org:o`, `dependabot:repo:o/r`, ...); every scope when absent.
   * A `repo:` key covers that repository's environments too. Others answer 404, as GitHub does.
   */
  scopes?: string[]
  /** Scope keys it lacks the permission for: their secrets answer 403 on read and write. */
  deny?: string[]
  /** Scope keys whose variables it lacks the permission for (a permission of its own): 403 on read and write. */
  denyVariables?: string[]
}

/** The scope key a token grant must name: a repository's for its environments. */
function grantKey(scope: string): string {
  return scope.startsWith('env:') ? `repo:${scope.slice(4).split('/').slice(0, 2).join('/')}` : scope
}

/** The scope key: Actions secrets keep the bare `repo:` / `org:` key. */
function withApp(app: SecretsApp, key: string): string {
  return app === 'actions' ? key : `${app}:${key}`
}

/** `dependabot:org:o` is an organization scope of the Dependabot app; `org:o` one of Actions. */
function isOrgScope(scope: string): boolean {
  return /^(?:[a-z]+:)?org:/.test(scope)
}

const b64 = (): typeof sodium.base64_variants.ORIGINAL => sodium.base64_variants.ORIGINAL

export class GitHubSimulator extends Simulator {
  readonly service = 'github'
  readonly tokens = new Map<string, TokenGrant>()
  readonly repos = new Map<string, Repo>()
  readonly orgs = new Map<string, Org>()
  readonly runs = new Map<number, { created_at: string; run_started_at: string }>()
  /** Jobs per run attempt (`runId/attempt`), as the jobs list of an attempt answers them. */
  readonly jobs = new Map<string, JobEntry[]>()
  /** The most items a list answers per page, whatever `per_page` asks (GitHub's cap is 100). */
  maxPageSize = 100
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

  private emptyScope(): Scope {
    return { keys: this.keypair(), secrets: new Map(), variables: new Map() }
  }

  private appScopes(): Record<App, Scope> {
    return { dependabot: this.emptyScope(), codespaces: this.emptyScope() }
  }

  /**
   * GitHub's secondary rate limits turn away bursts of content-creating requests; the simulator does
   * the same above `max` concurrent secret writes, and as many variable writes of each call (403, retry-after).
   */
  limitConcurrentWrites(max: number): void {
    this.concurrencyLimit = {
      calls: ['put-secret', 'create-variable', 'update-variable'],
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
    const repo: Repo = { owner, name, id: this.nextRepoId++, ...this.emptyScope(), apps: this.appScopes(), environments: new Map() }
    for (const env of environments) repo.environments.set(env, this.emptyScope())
    this.repos.set(fullName.toLowerCase(), repo)
    return repo.id
  }

  addOrg(name: string): void {
    this.orgs.set(name.toLowerCase(), { name, ...this.emptyScope(), apps: this.appScopes() })
  }

  addRun(id: number, startedAt: Date, createdAt: Date = startedAt): void {
    this.runs.set(id, { created_at: githubTime(createdAt), run_started_at: githubTime(startedAt) })
  }

  /** Adds a job to a run attempt's jobs list (an in-progress job on `runnerName`, by default). */
  addJob(runId: number, attempt: number, job: { name?: string; runnerName?: string | null; startedAt: Date; status?: JobEntry['status'] }): void {
    const key = `${runId}/${attempt}`
    const list = this.jobs.get(key) ?? []
    list.push({
      id: 90_000 + list.length,
      name: job.name ?? 'rotate',
      status: job.status ?? 'in_progress',
      started_at: githubTime(job.startedAt),
      runner_name: job.runnerName === undefined ? 'GitHub Actions 2' : job.runnerName
    })
    this.jobs.set(key, list)
  }

  /** Seeds a secret as if written earlier (the value is held in clear; only the simulator reads it). */
  seed(scope: string, name: string, value: string, updatedAt: Date, extra: { visibility?: Visibility; selected?: number[] } = {}): void {
    const at = githubTime(updatedAt)
    this.scope(scope).secrets.set(name.toUpperCase(), { value, createdAt: at, updatedAt: at, ...extra })
  }

  /** Seeds a variable as if written earlier (an organization's is private unless `extra` says otherwise). */
  seedVariable(scope: string, name: string, value: string, updatedAt: Date, extra: { visibility?: Visibility; selected?: number[] } = {}): void {
    const at = githubTime(updatedAt)
    const visibility = isOrgScope(scope) ? (extra.visibility ?? 'private') : undefined
    this.scope(scope).variables.set(name.toUpperCase(), { value, createdAt: at, updatedAt: at, visibility, selected: extra.selected })
  }

  /**
   * Moves every stored secret's and variable's times `ms` into the past, as if everything so far had
   * happened that long ago: consecutive runs of a test stand for scheduled runs days apart.
   */
  age(ms: number): void {
    const scopes: Scope[] = []
    for (const holder of [...this.repos.values(), ...this.orgs.values()]) scopes.push(holder, ...Object.values(holder.apps))
    for (const repo of this.repos.values()) scopes.push(...repo.environments.values())
    const back = (at: string): string => githubTime(Date.parse(at) - ms)
    for (const scope of scopes) {
      for (const held of [...scope.secrets.values(), ...scope.variables.values()]) {
        Object.assign(held, { createdAt: back(held.createdAt), updatedAt: back(held.updatedAt) })
      }
    }
  }

  /** What a target holds, decrypted, or undefined. */
  secret(scope: string, name: string): StoredSecret | undefined {
    return this.scope(scope).secrets.get(name.toUpperCase())
  }

  /** A variable a target holds, or undefined. */
  variable(scope: string, name: string): StoredVariable | undefined {
    return this.scope(scope).variables.get(name.toUpperCase())
  }

  /** `repo:o/r`, `env:o/r/e` or `org:o`, or `dependabot:` / `codespaces:` before a `repo:` or `org:` key. */
  scope(label: string): Scope {
    const app = APPS.find((a) => label.startsWith(`${a}:`)) ?? 'actions'
    const key = app === 'actions' ? label : label.slice(app.length + 1)
    const [kind, rest] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)]
    if (kind !== 'repo' && kind !== 'org' && (kind !== 'env' || app !== 'actions')) throw new Error(`simulator: no scope ${label}`)
    if (kind === 'org') return this.inApp(this.mustFind(this.orgs.get(rest.toLowerCase()), label), app)
    const [owner, name, env] = rest.split('/')
    const repo = this.mustFind(this.repos.get(`${owner}/${name}`.toLowerCase()), label)
    return kind === 'env' ? this.mustFind(repo.environments.get(env), label) : this.inApp(repo, app)
  }

  private inApp(holder: Holder, app: SecretsApp): Scope {
    return app === 'actions' ? holder : holder.apps[app]
  }

  private mustFind<T>(value: T | undefined, label: string): T {
    if (!value) throw new Error(`simulator: no scope ${label}`)
    return value
  }

  protected rotateKey(scope: string | undefined): void {
    if (scope) this.scope(scope).keys = this.keypair()
  }

  protected noteRequest(req: IncomingJson): Partial<LogEntry> {
    const version = req.headers['x-github-api-version']
    const auth = /^(?:token|bearer) (.+)$/i.exec(req.headers.authorization ?? '')?.[1]
    return { apiVersion: version === undefined ? undefined : String(version), auth }
  }

  protected route(req: IncomingJson): Routed {
    const p = req.path.split('/').slice(1).map(decodeURIComponent)
    const m = req.method
    // /repos/{o}/{r}/actions/runs/{id}/attempts/{n}/jobs
    if (m === 'GET' && p.length === 9 && p[0] === 'repos' && p[3] === 'actions' && p[4] === 'runs' && p[6] === 'attempts' && p[8] === 'jobs') {
      const scope = `repo:${p[1]}/${p[2]}`
      return {
        call: 'list-jobs',
        scope,
        handle: () => this.withAuth(req, scope, 'run', () => this.listJobs(p[1], p[2], Number(p[5]), Number(p[7]), req))
      }
    }
    // /repos/{o}/{r}/actions/runs/{id}
    if (m === 'GET' && p.length === 6 && p[0] === 'repos' && p[3] === 'actions' && p[4] === 'runs') {
      const scope = `repo:${p[1]}/${p[2]}`
      return { call: 'get-run', scope, handle: () => this.withAuth(req, scope, 'run', () => this.getRun(p[1], p[2], Number(p[5]))) }
    }
    // /repos/{o}/{r}/{actions|dependabot|codespaces}/secrets/...
    if (p[0] === 'repos' && SECRETS_APPS.includes(p[3]) && p[4] === 'secrets' && p.length === 6) {
      const app = p[3] as SecretsApp
      const scope = withApp(app, `repo:${p[1]}/${p[2]}`)
      return this.secretRoute(req, scope, () => this.inApp(this.repo(p[1], p[2]), app), p[5])
    }
    // /repos/{o}/{r}/actions/variables[/{name}]
    if (p[0] === 'repos' && p[3] === 'actions' && p[4] === 'variables' && (p.length === 5 || p.length === 6)) {
      return this.variableRoute(req, `repo:${p[1]}/${p[2]}`, () => this.repo(p[1], p[2]), p[5])
    }
    // /repos/{o}/{r}/environments/{e}/variables[/{name}]
    if (p[0] === 'repos' && p[3] === 'environments' && p[5] === 'variables' && (p.length === 6 || p.length === 7)) {
      return this.variableRoute(req, `env:${p[1]}/${p[2]}/${p[4]}`, () => this.env(p[1], p[2], p[4]), p[6])
    }
    // /orgs/{org}/actions/variables[/{name}]
    if (p[0] === 'orgs' && p[2] === 'actions' && p[3] === 'variables' && (p.length === 4 || p.length === 5)) {
      return this.variableRoute(req, `org:${p[1]}`, () => this.org(p[1]), p[4])
    }
    // /repos/{o}/{r}/environments/{e}/secrets/...
    if (p[0] === 'repos' && p[3] === 'environments' && p[5] === 'secrets' && p.length === 7) {
      return this.secretRoute(req, `env:${p[1]}/${p[2]}/${p[4]}`, () => this.env(p[1], p[2], p[4]), p[6])
    }
    // /orgs/{org}/{actions|dependabot|codespaces}/secrets/...
    if (p[0] === 'orgs' && SECRETS_APPS.includes(p[2]) && p[3] === 'secrets') {
      const app = p[2] as SecretsApp
      const scope = withApp(app, `org:${p[1]}`)
      const find = (): Scope => this.inApp(this.org(p[1]), app)
      if (p.length === 6 && p[5] === 'repositories' && m === 'GET') {
        return {
          call: 'list-selected',
          scope,
          handle: () => this.withAuth(req, scope, 'read', () => this.listSelected(find(), p[1], p[4], req))
        }
      }
      if (p.length === 5) return this.secretRoute(req, scope, find, p[4])
    }
    throw new JsonError(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' })
  }

  private secretRoute(req: IncomingJson, scope: string, find: () => Scope, name: string): Routed {
    const isOrg = isOrgScope(scope)
    if (name === 'public-key' && req.method === 'GET') {
      return {
        call: 'public-key',
        scope,
        handle: () =>
          this.withAuth(req, scope, 'read', () => {
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
          this.withAuth(req, scope, 'read', () => {
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
      return { call: 'put-secret', scope, handle: () => this.withAuth(req, scope, 'write', () => this.put(find(), name, req.text, scope)) }
    }
    if (req.method === 'DELETE') {
      return {
        call: 'delete-secret',
        scope,
        handle: () =>
          this.withAuth(req, scope, 'write', () => {
            if (!find().secrets.delete(name.toUpperCase())) throw new JsonError(404, { message: 'Not Found' })
            return { status: 204 }
          })
      }
    }
    throw new JsonError(404, { message: 'Not Found' })
  }

  /** A scope's variables: POST to the collection, GET, PATCH and DELETE one by name. */
  private variableRoute(req: IncomingJson, scope: string, find: () => Scope, name: string | undefined): Routed {
    const auth = (access: 'read' | 'write', handle: (variables: Map<string, StoredVariable>) => Answer) => (): Answer =>
      this.withAuth(req, scope, access, () => handle(find().variables), 'variables')
    if (name === undefined) {
      if (req.method !== 'POST') throw new JsonError(404, { message: 'Not Found' })
      return { call: 'create-variable', scope, handle: auth('write', (variables) => this.createVariable(variables, req.text, scope)) }
    }
    const key = name.toUpperCase()
    const mustHave = (variables: Map<string, StoredVariable>): StoredVariable => {
      const variable = variables.get(key)
      if (!variable) throw new JsonError(404, { message: 'Not Found' })
      return variable
    }
    if (req.method === 'GET') {
      return {
        call: 'get-variable',
        scope,
        handle: auth('read', (variables) => {
          const v = mustHave(variables)
          const body: Record<string, unknown> = { name: key, value: v.value, created_at: v.createdAt, updated_at: v.updatedAt }
          if (isOrgScope(scope)) {
            body.visibility = v.visibility
            if (v.visibility === 'selected') body.selected_repositories_url = `${this.url}${req.path}/repositories`
          }
          return { status: 200, body }
        })
      }
    }
    if (req.method === 'PATCH') {
      return { call: 'update-variable', scope, handle: auth('write', (variables) => this.updateVariable(mustHave(variables), key, req.text, scope)) }
    }
    if (req.method === 'DELETE') {
      return {
        call: 'delete-variable',
        scope,
        handle: auth('write', (variables) => {
          mustHave(variables)
          variables.delete(key)
          return { status: 204 }
        })
      }
    }
    throw new JsonError(404, { message: 'Not Found' })
  }

  private createVariable(variables: Map<string, StoredVariable>, text: string, scope: string): Answer {
    const body = parseJson(text) as { name?: unknown; value?: unknown; visibility?: unknown; selected_repository_ids?: unknown } | undefined
    if (typeof body?.name !== 'string' || typeof body.value !== 'string') {
      throw new JsonError(422, { message: 'Invalid request.\n\nname and value are required.' })
    }
    const name = body.name.toUpperCase()
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name) || name.startsWith('GITHUB_')) throw new JsonError(422, { message: 'Invalid variable name' })
    if (variables.has(name)) throw new JsonError(409, { message: 'Already exists - Variable already exists' })
    if (isOrgScope(scope) && body.visibility === undefined) throw new JsonError(422, { message: 'Invalid request.\n\nvisibility is required.' })
    const access = this.variableAccess(body, scope, undefined)
    const now = githubTime(this.now())
    variables.set(name, { value: body.value, createdAt: now, updatedAt: now, ...access })
    return { status: 201, body: {} }
  }

  private updateVariable(variable: StoredVariable, key: string, text: string, scope: string): Answer {
    const body = parseJson(text) as { name?: unknown; value?: unknown; visibility?: unknown; selected_repository_ids?: unknown } | undefined
    if (body === undefined || typeof body !== 'object') throw new JsonError(400, { message: 'Problems parsing JSON' })
    // Renaming is not something the action does; the simulator refuses it rather than pretend.
    if (body.name !== undefined && (typeof body.name !== 'string' || body.name.toUpperCase() !== key)) {
      throw new JsonError(422, { message: 'renaming a variable is not simulated' })
    }
    if (body.value !== undefined && typeof body.value !== 'string') throw new JsonError(422, { message: 'value must be a string' })
    const access = this.variableAccess(body, scope, variable)
    Object.assign(variable, { ...(body.value === undefined ? {} : { value: body.value }), ...access, updatedAt: githubTime(this.now()) })
    return { status: 204 }
  }

  /**
   * An organization variable's visibility and selection after a write: what the body says, else what
   * it had. Selected without ids keeps the ids it had, if it was selected (GitHub's documentation does
   * not say; the client never relies on it for an update). Elsewhere a visibility is refused.
   */
  private variableAccess(
    body: { visibility?: unknown; selected_repository_ids?: unknown },
    scope: string,
    had: StoredVariable | undefined
  ): Pick<StoredVariable, 'visibility' | 'selected'> {
    if (!isOrgScope(scope)) {
      if (body.visibility !== undefined || body.selected_repository_ids !== undefined) {
        throw new JsonError(422, { message: 'visibility is only for organization variables' })
      }
      return {}
    }
    const visibility = body.visibility ?? had?.visibility
    if (visibility !== 'all' && visibility !== 'private' && visibility !== 'selected') {
      throw new JsonError(422, { message: 'Invalid request.\n\nvisibility must be one of all, private, selected.' })
    }
    const ids: unknown = body.selected_repository_ids
    if (ids === undefined) {
      if (visibility !== 'selected') return { visibility, selected: undefined }
      return { visibility, selected: had?.visibility === 'selected' ? (had.selected ?? []) : [] }
    }
    if (visibility !== 'selected') throw new JsonError(422, { message: 'selected_repository_ids can only be given when visibility is selected' })
    if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id))) {
      throw new JsonError(422, { message: 'selected_repository_ids must be an array of integers' })
    }
    return { visibility, selected: ids as number[] }
  }

  /** `run` is a read that no secrets permission denies; variables have a permission of their own. */
  private withAuth(
    req: IncomingJson,
    scope: string,
    access: 'run' | 'read' | 'write',
    handle: () => Answer,
    of: 'secrets' | 'variables' = 'secrets'
  ): Answer {
    const auth = req.headers.authorization ?? ''
    const match = /^(?:token|bearer) (.+)$/i.exec(auth)
    if (!match) throw new JsonError(401, { message: 'Requires authentication' })
    const grant = this.tokens.get(match[1])
    if (!grant) throw new JsonError(401, { message: 'Bad credentials' })
    const named = (keys: string[] | undefined, key: string): boolean => keys?.some((s) => s.toLowerCase() === key.toLowerCase()) ?? false
    if (grant.scopes && !named(grant.scopes, scope) && !named(grant.scopes, grantKey(scope))) throw new JsonError(404, { message: 'Not Found' })
    const forbidden =
      (access !== 'run' && named(of === 'variables' ? grant.denyVariables : grant.deny, scope)) || (access === 'write' && !grant.write)
    if (forbidden) throw new JsonError(403, { message: 'Resource not accessible by personal access token' })
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

  private listJobs(owner: string, name: string, runId: number, attempt: number, req: IncomingJson): Answer {
    this.repo(owner, name)
    if (!this.runs.has(runId)) throw new JsonError(404, { message: 'Not Found' })
    const all = (this.jobs.get(`${runId}/${attempt}`) ?? []).map((j) => ({ ...j, run_id: runId, run_attempt: attempt }))
    return this.page(all, 'jobs', req)
  }

  /** One page of a list (30 by default, at most maxPageSize), with GitHub's Link header when there are more. */
  private page(items: unknown[], key: string, req: IncomingJson): Answer {
    const perPage = Math.max(1, Math.min(Math.trunc(Number(req.query.get('per_page'))) || 30, this.maxPageSize))
    const page = Math.max(1, Math.trunc(Number(req.query.get('page'))) || 1)
    const last = Math.max(1, Math.ceil(items.length / perPage))
    const link = (n: number, rel: string): string => `<${this.url}${req.path}?per_page=${perPage}&page=${n}>; rel="${rel}"`
    const links = [
      ...(page > 1 ? [link(Math.min(page - 1, last), 'prev')] : []),
      ...(page < last ? [link(page + 1, 'next'), link(last, 'last')] : []),
      ...(page > 1 ? [link(1, 'first')] : [])
    ]
    return {
      status: 200,
      body: { total_count: items.length, [key]: items.slice((page - 1) * perPage, page * perPage) },
      headers: links.length ? { link: links.join(', ') } : undefined
    }
  }

  /** One page (30 by default, at most maxPageSize), with GitHub's Link header when there are more. */
  private listSelected(scope: Scope, orgName: string, name: string, req: IncomingJson): Answer {
    const secret = scope.secrets.get(name.toUpperCase())
    if (!secret) throw new JsonError(404, { message: 'Not Found' })
    if (secret.visibility !== 'selected') throw new JsonError(409, { message: 'The visibility of this secret is not selected' })
    const repos = (secret.selected ?? []).map((id) => {
      const repo = [...this.repos.values()].find((r) => r.id === id)
      return { id, name: repo?.name ?? `repo-${id}`, full_name: repo ? `${repo.owner}/${repo.name}` : `${orgName}/repo-${id}` }
    })
    return this.page(repos, 'repositories', req)
  }

  private put(scope: Scope, rawName: string, text: string, label: string): { status: number } {
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
    if (isOrgScope(label)) {
      if (body.visibility !== 'all' && body.visibility !== 'private' && body.visibility !== 'selected') {
        throw new JsonError(422, { message: 'Invalid request.\n\nvisibility must be one of all, private, selected.' })
      }
      visibility = body.visibility
      if (body.selected_repository_ids !== undefined) {
        if (visibility !== 'selected') throw new JsonError(422, { message: 'selected_repository_ids can only be given when visibility is selected' })
        // Dependabot's schema takes the ids as integers or numeric strings; the others as integers only.
        const textIds = label.startsWith('dependabot:')
        const ids: unknown = body.selected_repository_ids
        if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id) || (textIds && typeof id === 'string' && /^\d+$/.test(id)))) {
          throw new JsonError(422, { message: 'selected_repository_ids must be an array of integers' })
        }
        selected = ids.map(Number)
      } else if (visibility === 'selected') {
        selected = scope.secrets.get(name)?.selected ?? []
      }
    } else if (body.visibility !== undefined) {
      throw new JsonError(422, { message: 'visibility is only for organization secrets' })
    }
    const now = githubTime(this.now())
    const existing = scope.secrets.get(name)
    scope.secrets.set(name, { value, createdAt: existing?.createdAt ?? now, updatedAt: now, visibility, selected })
    return { status: existing ? 204 : 201 }
  }
}
