/**
 * A ThingSpace simulator that behaves as documented: the OAuth token (Basic app key and secret, same
 * token within the hour), the UWS session (expires after idle time), the 5-failure lockout, the
 * reset (server-generated, effective at once), logout, and errorCode / gateway fault bodies.
 */
import { randomBytes } from 'node:crypto'
import { JsonError, Simulator, parseJson, type Answer, type IncomingJson, type Routed } from './server.ts'

export interface ThingSpaceOptions {
  appKey?: string
  appSecret?: string
  username?: string
  password?: string
  /** Idle lifetime of a session. */
  sessionIdleMs?: number
  /** Sent as `expiresIn` (seconds) in the login response when set. */
  expiresInSeconds?: number
}

const LOCKOUT_AFTER = 5
const TOKEN_LIFETIME_MS = 60 * 60 * 1000

function apiError(status: number, errorCode: string, errorMessage: string): JsonError {
  return new JsonError(status, { errorCode, errorMessage })
}

function gatewayError(code: string, message: string): JsonError {
  return new JsonError(401, { fault: { code, message, description: message } })
}

export class ThingSpaceSimulator extends Simulator {
  readonly service = 'thingspace'
  appKey: string
  appSecret: string
  username: string
  /** The live password. */
  password: string
  readonly initialPassword: string
  sessionIdleMs: number
  expiresInSeconds: number | undefined
  consecutiveFailures = 0
  locked = false
  /** Every password the reset handed out, in order. */
  readonly issuedPasswords: string[] = []
  /** Every OAuth and session token handed out (the leak scanner looks for them). */
  readonly issuedTokens: string[] = []
  /** Tokens and passwords issued in answers whose connection was dropped: the client never saw them. */
  readonly neverDelivered = new Set<string>()
  private accessToken: { value: string; expires: number } | undefined
  readonly sessions = new Map<string, { lastActivity: number }>()
  readonly loggedOut = new Set<string>()
  now: () => number = Date.now

  constructor(options: ThingSpaceOptions = {}) {
    super()
    this.appKey = options.appKey ?? 'app-key-0001'
    this.appSecret = options.appSecret ?? 'app-secret-0001'
    this.username = options.username ?? 'm2m-api-user'
    this.password = options.password ?? 'Initial-Passw0rd'
    this.initialPassword = this.password
    this.sessionIdleMs = options.sessionIdleMs ?? 20 * 60 * 1000
    this.expiresInSeconds = options.expiresInSeconds
  }

  /** Sessions that were opened and never logged out (expired ones included). */
  get openSessions(): number {
    return this.sessions.size
  }

  /** Every secret this simulator knows of, for the leak scanner. */
  secrets(): string[] {
    const basic = Buffer.from(`${this.appKey}:${this.appSecret}`).toString('base64')
    return [...new Set([this.initialPassword, this.password, ...this.issuedPasswords, this.appSecret, basic, ...this.issuedTokens])]
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
        throw gatewayError('900906', 'No matching resource found in the API for the given request')
    }
  }

  protected undelivered(answer: Answer): void {
    for (const value of Object.values((answer.body ?? {}) as Record<string, unknown>)) if (typeof value === 'string') this.neverDelivered.add(value)
  }

  private token(req: IncomingJson): { status: number; body: unknown } {
    const auth = req.headers.authorization ?? ''
    if (!auth.startsWith('Basic ')) throw gatewayError('900902', 'Missing Credentials')
    const expected = Buffer.from(`${this.appKey}:${this.appSecret}`).toString('base64')
    if (auth.slice(6) !== expected) throw gatewayError('900901', 'Invalid Credentials')
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      throw new JsonError(400, { error: 'invalid_request', error_description: 'Content-Type must be application/x-www-form-urlencoded' })
    }
    if (new URLSearchParams(req.text).get('grant_type') !== 'client_credentials') {
      throw new JsonError(400, { error: 'unsupported_grant_type' })
    }
    if (!this.accessToken || this.accessToken.expires <= this.now()) {
      this.accessToken = { value: randomBytes(18).toString('hex'), expires: this.now() + TOKEN_LIFETIME_MS }
      this.issuedTokens.push(this.accessToken.value)
    }
    const expiresIn = Math.round((this.accessToken.expires - this.now()) / 1000)
    return { status: 200, body: { access_token: this.accessToken.value, token_type: 'Bearer', expires_in: expiresIn, scope: 'default' } }
  }

  private requireBearer(req: IncomingJson): void {
    const auth = req.headers.authorization ?? ''
    if (!auth.startsWith('Bearer ')) throw gatewayError('900902', 'Missing Credentials')
    if (!this.accessToken || auth.slice(7) !== this.accessToken.value || this.accessToken.expires <= this.now()) {
      throw gatewayError('900901', 'Invalid Credentials')
    }
  }

  private requireSession(req: IncomingJson): string {
    const token = String(req.headers['vz-m2m-token'] ?? '')
    const session = this.sessions.get(token)
    if (!session) throw apiError(400, 'UnifiedWebService.REQUEST_FAILED.SessionToken.Invalid', 'The session token is not valid.')
    if (this.now() - session.lastActivity > this.sessionIdleMs) {
      throw apiError(400, 'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired', 'The session token has expired.')
    }
    session.lastActivity = this.now()
    return token
  }

  private login(req: IncomingJson): { status: number; body: unknown } {
    this.requireBearer(req)
    const body = parseJson(req.text) as { username?: unknown; password?: unknown } | undefined
    if (
      !String(req.headers['content-type']).startsWith('application/json') ||
      typeof body?.username !== 'string' ||
      typeof body?.password !== 'string'
    ) {
      throw apiError(400, 'UnifiedWebService.INPUT_INVALID.Body', 'username and password are required.')
    }
    if (this.locked) throw apiError(400, 'UnifiedWebService.REQUEST_FAILED.UserLocked', 'The user is locked. Contact M2M Support.')
    if (body.username !== this.username || body.password !== this.password) {
      this.consecutiveFailures++
      if (this.consecutiveFailures >= LOCKOUT_AFTER) this.locked = true
      throw apiError(400, 'UnifiedWebService.REQUEST_FAILED.InvalidCredentials', 'The username or password is not correct.')
    }
    this.consecutiveFailures = 0
    const sessionToken = randomBytes(16).toString('hex')
    this.sessions.set(sessionToken, { lastActivity: this.now() })
    this.issuedTokens.push(sessionToken)
    return { status: 200, body: { sessionToken, ...(this.expiresInSeconds !== undefined ? { expiresIn: this.expiresInSeconds } : {}) } }
  }

  private reset(req: IncomingJson): { status: number; body: unknown } {
    this.requireBearer(req)
    this.requireSession(req)
    if (!String(req.headers['content-type']).startsWith('application/json')) {
      throw apiError(400, 'UnifiedWebService.INPUT_INVALID.ContentType', 'Content-Type must be application/json.')
    }
    const body = parseJson(req.text) as { oldPassword?: unknown } | undefined
    if (typeof body?.oldPassword !== 'string' || body.oldPassword !== this.password) {
      throw apiError(400, 'UnifiedWebService.INPUT_INVALID.OldPassword', 'The old password is not correct.')
    }
    this.password = generatePassword()
    this.issuedPasswords.push(this.password)
    return { status: 200, body: { newPassword: this.password } }
  }

  private logout(req: IncomingJson): { status: number; body: unknown } {
    this.requireBearer(req)
    const token = this.requireSession(req)
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
