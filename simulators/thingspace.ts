/**
 * A ThingSpace simulator that behaves as documented: the OAuth token (Basic app key and secret, one
 * token shared by every caller until its hour ends), the UWS session (expires after idle time), the
 * 5-failure lockout per user, the reset (server-generated, effective at once, for the session's user),
 * logout, and the public error shapes: UWS errorCode bodies, gateway faults (JSON, or XML as injected)
 * and RFC 6749 OAuth errors. It holds one primary user (`username`, `password`) and any others
 * (`users`); the getters `password`, `consecutiveFailures`, `locked` and `issuedPasswords` are the
 * primary user's, `user(name)` any user's.
 */
import { randomBytes } from 'node:crypto'
import { JsonError, Simulator, parseJson, type Answer, type IncomingJson, type LogEntry, type Routed } from './server.ts'

export interface ThingSpaceOptions {
  appKey?: string
  appSecret?: string
  /** The primary user and its password. */
  username?: string
  password?: string
  /** More users, username -> password (the primary user may be listed too, with the same password). */
  users?: Record<string, string>
  /**
   * Whether the reset refuses an `oldPassword` that is not the user's password (default true). No
   * public source says ThingSpace checks it; false changes the password whatever `oldPassword` says.
   */
  checkOldPassword?: boolean
  /** Idle lifetime of a session. */
  sessionIdleMs?: number
  /** Sent as `expiresIn` (seconds) in the login response when set. */
  expiresInSeconds?: number
  /** How long ago another system minted the first OAuth token handed out (its `expires_in` is the rest of the hour). */
  tokenAgeMs?: number
}

const LOCKOUT_AFTER = 5
const TOKEN_LIFETIME_MS = 60 * 60 * 1000

// ASSUMPTION: no public source confirms this code
const WRONG_PASSWORD = 'UnifiedWebService.REQUEST_FAILED.InvalidCredentials'
// ASSUMPTION: no public source confirms this code
const USER_LOCKED = 'UnifiedWebService.REQUEST_FAILED.UserLocked'
// ASSUMPTION: no public source confirms this code
const WRONG_OLD_PASSWORD = 'UnifiedWebService.INPUT_INVALID.OldPassword'
// ASSUMPTION: no public source confirms this code
const BAD_BODY = 'UnifiedWebService.INPUT_INVALID.Body'
// ASSUMPTION: no public source confirms this code
const BAD_CONTENT_TYPE = 'UnifiedWebService.INPUT_INVALID.ContentType'

/** The errorCodes this simulator invents; no decision in the action may depend on their text. */
export const ASSUMED_CODES: readonly string[] = [WRONG_PASSWORD, USER_LOCKED, WRONG_OLD_PASSWORD, BAD_BODY, BAD_CONTENT_TYPE]

/** Message and description per fault code, modelled on the gateway's (WSO2 API Manager) defaults. */
const GATEWAY_TEXT: Record<string, [string, string]> = {
  '900901': ['Invalid Credentials', 'Invalid Credentials. Make sure you have provided the correct security credentials'],
  '900902': ['Missing Credentials', "Invalid Credentials. Make sure your API invocation call has a header: 'Authorization : Bearer ACCESS_TOKEN'"],
  '900906': ['No matching resource found for given API Request', 'The requested resource is not available.'],
  '900908': ['Resource forbidden', 'Resource forbidden']
}

/** A gateway fault in JSON, to inject on any call (`inject({ call: 'reset', ...gatewayFault('900901') })`). */
export function gatewayFault(code: string, status = 401, message?: string): Answer {
  const [text, description] = GATEWAY_TEXT[code] ?? ['Gateway error', 'Gateway error']
  return { status, body: { fault: { code, message: message ?? text, description: message ?? description } } }
}

/** A gateway fault in the gateway's XML layout, as it answers a 403. */
export function xmlGatewayFault(code = '900908', status = 403, description = 'Resource forbidden'): Answer {
  const xml =
    `<am:fault xmlns:am="http://wso2.org/apimanager"><am:code>${code}</am:code><am:type>Status report</am:type>` +
    `<am:message>Runtime Error</am:message><am:description>${description}</am:description></am:fault>`
  return { status, rawBody: xml, contentType: 'application/xml' }
}

/** An error from the OAuth token endpoint, in RFC 6749 section 5.2's shape. */
export function oauthError(error: string, description: string, status = 401): Answer {
  return { status, body: { error, error_description: description } }
}

/** One user's account, as the simulator holds it. */
export interface UserState {
  readonly username: string
  /** The live password. */
  password: string
  readonly initialPassword: string
  consecutiveFailures: number
  locked: boolean
  /** Every password the reset handed this user, in order. */
  readonly issuedPasswords: string[]
}

function fail(answer: Answer): JsonError {
  return new JsonError(answer.status, answer.body)
}

function apiError(errorCode: string, errorMessage: string): JsonError {
  return new JsonError(400, { errorCode, errorMessage })
}

export class ThingSpaceSimulator extends Simulator {
  readonly service = 'thingspace'
  appKey: string
  appSecret: string
  /** The primary user. */
  readonly username: string
  sessionIdleMs: number
  expiresInSeconds: number | undefined
  tokenAgeMs: number
  checkOldPassword: boolean
  /** Every OAuth and session token handed out (the leak scanner looks for them). */
  readonly issuedTokens: string[] = []
  /** Every password the reset handed out, to any user, in order. */
  readonly allIssuedPasswords: string[] = []
  /** Tokens and passwords issued in answers whose connection was dropped or stalled: the client never saw them. */
  readonly neverDelivered = new Set<string>()
  private accessToken: { value: string; expires: number } | undefined
  readonly sessions = new Map<string, { lastActivity: number; username: string }>()
  readonly loggedOut = new Set<string>()
  now: () => number = Date.now
  private readonly accounts = new Map<string, UserState>()

  constructor(options: ThingSpaceOptions = {}) {
    super()
    this.appKey = options.appKey ?? 'app-key-0001'
    this.appSecret = options.appSecret ?? 'app-secret-0001'
    this.username = options.username ?? 'm2m-api-user'
    const primaryPassword = options.password ?? options.users?.[this.username] ?? 'Initial-Passw0rd'
    const users = { ...options.users, [this.username]: primaryPassword }
    if (options.users?.[this.username] !== undefined && options.users[this.username] !== primaryPassword) {
      throw new Error(`ThingSpaceSimulator: users gives ${this.username} another password than password does`)
    }
    for (const [username, password] of Object.entries(users)) {
      this.accounts.set(username, { username, password, initialPassword: password, consecutiveFailures: 0, locked: false, issuedPasswords: [] })
    }
    this.sessionIdleMs = options.sessionIdleMs ?? 20 * 60 * 1000
    this.expiresInSeconds = options.expiresInSeconds
    this.tokenAgeMs = options.tokenAgeMs ?? 0
    this.checkOldPassword = options.checkOldPassword ?? true
  }

  /** A user's account (throws for a user the simulator does not hold). */
  user(username: string): UserState {
    const account = this.accounts.get(username)
    if (!account) throw new Error(`ThingSpaceSimulator: no user ${username}`)
    return account
  }

  /** Every user the simulator holds, the primary first. */
  get users(): UserState[] {
    return [this.user(this.username), ...[...this.accounts.values()].filter((u) => u.username !== this.username)]
  }

  /** The primary user's live password. */
  get password(): string {
    return this.user(this.username).password
  }

  set password(value: string) {
    this.user(this.username).password = value
  }

  get initialPassword(): string {
    return this.user(this.username).initialPassword
  }

  get consecutiveFailures(): number {
    return this.user(this.username).consecutiveFailures
  }

  set consecutiveFailures(value: number) {
    this.user(this.username).consecutiveFailures = value
  }

  get locked(): boolean {
    return this.user(this.username).locked
  }

  set locked(value: boolean) {
    this.user(this.username).locked = value
  }

  /** Every password the reset handed the primary user, in order. */
  get issuedPasswords(): string[] {
    return this.user(this.username).issuedPasswords
  }

  /** When the current OAuth token lapses (epoch ms), if one was handed out. */
  get tokenExpiresAt(): number | undefined {
    return this.accessToken?.expires
  }

  /** Sessions that were opened and never logged out (expired ones included). */
  get openSessions(): number {
    return this.sessions.size
  }

  /** Every secret this simulator knows of, for the leak scanner. */
  secrets(): string[] {
    const basic = Buffer.from(`${this.appKey}:${this.appSecret}`).toString('base64')
    const passwords = this.users.flatMap((u) => [u.initialPassword, u.password, ...u.issuedPasswords])
    return [...new Set([...passwords, this.appSecret, basic, ...this.issuedTokens])]
  }

  protected route(req: IncomingJson): Routed {
    const key = `${req.method} ${req.path}`
    switch (key) {
      case 'POST /api/ts/v1/oauth2/token':
        return { call: 'token', handle: () => this.token(req) }
      case 'POST /api/m2m/v1/session/login':
        return { call: 'login', handle: () => this.login(req) }
      case 'PUT /api/m2m/v1/session/password/actions/reset':
        return { call: 'reset', handle: () => this.reset(req) }
      case 'POST /api/m2m/v1/session/logout':
        return { call: 'logout', handle: () => this.logout(req) }
      default:
        throw fail(gatewayFault('900906', 400))
    }
  }

  protected noteRequest(req: IncomingJson): Partial<LogEntry> {
    const auth = req.headers.authorization ?? ''
    const bearer = auth.startsWith('Bearer ') ? { bearer: auth.slice(7), bearerValid: this.bearerValid(auth.slice(7)) } : {}
    const asked = (parseJson(req.text) as { username?: unknown } | undefined)?.username
    const username = req.path.endsWith('/session/login')
      ? typeof asked === 'string'
        ? asked
        : undefined
      : this.sessions.get(String(req.headers['vz-m2m-token'] ?? ''))?.username
    return { ...bearer, ...(username !== undefined ? { username } : {}) }
  }

  private bearerValid(token: string): boolean {
    return this.accessToken !== undefined && token === this.accessToken.value && this.accessToken.expires > this.now()
  }

  protected undelivered(answer: Answer): void {
    for (const value of Object.values((answer.body ?? {}) as Record<string, unknown>)) if (typeof value === 'string') this.neverDelivered.add(value)
  }

  private token(req: IncomingJson): { status: number; body: unknown } {
    const auth = req.headers.authorization ?? ''
    if (!auth.startsWith('Basic ')) throw fail(oauthError('invalid_client', 'Client authentication is required (HTTP Basic).'))
    const expected = Buffer.from(`${this.appKey}:${this.appSecret}`).toString('base64')
    if (auth.slice(6) !== expected) throw fail(oauthError('invalid_client', 'Client authentication failed.'))
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      throw fail(oauthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded.', 400))
    }
    if (new URLSearchParams(req.text).get('grant_type') !== 'client_credentials') {
      throw fail(oauthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported.', 400))
    }
    if (!this.accessToken || this.accessToken.expires <= this.now()) {
      // Only the first token can predate the simulator: another system of the same app key minted it.
      const age = this.accessToken ? 0 : this.tokenAgeMs
      this.accessToken = { value: randomBytes(18).toString('hex'), expires: this.now() - age + TOKEN_LIFETIME_MS }
      this.issuedTokens.push(this.accessToken.value)
    }
    // The same token is handed out again within its hour: this answer delivers it, unless it is lost too.
    this.neverDelivered.delete(this.accessToken.value)
    const expiresIn = Math.round((this.accessToken.expires - this.now()) / 1000)
    return { status: 200, body: { access_token: this.accessToken.value, token_type: 'Bearer', expires_in: expiresIn, scope: 'default' } }
  }

  private requireBearer(req: IncomingJson): void {
    const auth = req.headers.authorization ?? ''
    if (!auth.startsWith('Bearer ')) throw fail(gatewayFault('900902'))
    if (!this.bearerValid(auth.slice(7))) throw fail(gatewayFault('900901'))
  }

  /** The session the request carries, and its user. */
  private requireSession(req: IncomingJson): { token: string; user: UserState } {
    const token = String(req.headers['vz-m2m-token'] ?? '')
    const session = this.sessions.get(token)
    if (!session) throw apiError('UnifiedWebService.INPUT_INVALID.SessionToken.Invalid', 'The session token is not valid.')
    if (this.now() - session.lastActivity > this.sessionIdleMs) {
      throw apiError('UnifiedWebService.REQUEST_FAILED.SessionToken.Expired', 'The session token has expired.')
    }
    session.lastActivity = this.now()
    return { token, user: this.user(session.username) }
  }

  private login(req: IncomingJson): { status: number; body: unknown } {
    this.requireBearer(req)
    const body = parseJson(req.text) as { username?: unknown; password?: unknown } | undefined
    if (
      !String(req.headers['content-type']).startsWith('application/json') ||
      typeof body?.username !== 'string' ||
      typeof body?.password !== 'string'
    ) {
      throw apiError(BAD_BODY, 'username and password are required.')
    }
    const user = this.accounts.get(body.username)
    // An unknown username is refused like a wrong password; there is no account to count it against.
    if (!user) throw apiError(WRONG_PASSWORD, 'The username or password is not correct.')
    if (user.locked) throw apiError(USER_LOCKED, 'The user is locked. Contact M2M Support.')
    if (body.password !== user.password) {
      user.consecutiveFailures++
      if (user.consecutiveFailures >= LOCKOUT_AFTER) user.locked = true
      throw apiError(WRONG_PASSWORD, 'The username or password is not correct.')
    }
    user.consecutiveFailures = 0
    const sessionToken = randomBytes(16).toString('hex')
    this.sessions.set(sessionToken, { lastActivity: this.now(), username: user.username })
    this.issuedTokens.push(sessionToken)
    return { status: 200, body: { sessionToken, ...(this.expiresInSeconds !== undefined ? { expiresIn: this.expiresInSeconds } : {}) } }
  }

  private reset(req: IncomingJson): { status: number; body: unknown } {
    this.requireBearer(req)
    const { user } = this.requireSession(req)
    if (!String(req.headers['content-type']).startsWith('application/json')) {
      throw apiError(BAD_CONTENT_TYPE, 'Content-Type must be application/json.')
    }
    const body = parseJson(req.text) as { oldPassword?: unknown } | undefined
    if (this.checkOldPassword && (typeof body?.oldPassword !== 'string' || body.oldPassword !== user.password)) {
      throw apiError(WRONG_OLD_PASSWORD, 'The old password is not correct.')
    }
    user.password = generatePassword()
    user.issuedPasswords.push(user.password)
    this.allIssuedPasswords.push(user.password)
    return { status: 200, body: { newPassword: user.password } }
  }

  private logout(req: IncomingJson): { status: number; body: unknown } {
    this.requireBearer(req)
    const { token } = this.requireSession(req)
    this.sessions.delete(token)
    this.loggedOut.add(token)
    return { status: 200, body: { sessionToken: token } }
  }
}

/** Twelve characters like the documentation's example (Wh0a1545a84d). */
function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'
  const bytes = randomBytes(12)
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('')
}
