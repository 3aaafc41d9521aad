/**
 * The ThingSpace Connectivity Management client, and the lockout rule: 5 consecutive failed logins
 * lock the username until Verizon support unlocks it. So a login is classified before anything is
 * retried: a refusal (400 with a UWS errorCode) is never sent again; a request that provably never
 * left is retried freely; one that may have reached the user service without an answer counts as an
 * attempt spent (`mayHaveCounted`). The reset, which changes the password at once, is sent once.
 *
 * Requests go through @actions/http-client, which honours HTTP(S)_PROXY and NO_PROXY like every
 * toolkit action. Redirects are never followed: following one would send a login or the reset again.
 */
import { HttpClient } from '@actions/http-client'
import type { Sleep } from './retry.ts'
import { withRetry } from './retry.ts'
import type { SecretMask } from './secrets-mask.ts'

export type ThingSpaceCall = 'token' | 'login' | 'reset' | 'logout'

/**
 * What went wrong, as far as the lockout and the reset care:
 * - `refused`: the user service answered a 4xx with an errorCode (a login refusal counts toward the lockout)
 * - `gateway`: the API gateway answered (a fault, or a 4xx without errorCode); the service never saw it
 * - `throttled`: the gateway answered 429 with its own fault: throttled before the service saw it
 * - `oauth`: the token endpoint refused the app credentials (RFC 6749 error)
 * - `server`: 5xx or 429: the request may or may not have been acted on
 * - `redirect`: a 3xx, not followed
 * - `not-sent`: the connection was never made, so nothing reached ThingSpace
 * - `lost`: the connection broke after the request was sent
 * - `timeout`: no answer in time
 * - `bad-response`: 2xx without the expected field, or not JSON
 */
export type FailureKind =
  'refused' | 'unrecognised' | 'gateway' | 'throttled' | 'oauth' | 'server' | 'redirect' | 'not-sent' | 'lost' | 'timeout' | 'bad-response'

export class ThingSpaceError extends Error {
  readonly call: ThingSpaceCall
  readonly kind: FailureKind
  readonly status: number | undefined
  /** The UWS errorCode without its service prefix, a gateway fault code, or an OAuth error. */
  readonly code: string | undefined
  readonly retryAfterMs: number | undefined

  constructor(call: ThingSpaceCall, kind: FailureKind, detail: string, extra: { status?: number; code?: string; retryAfterMs?: number } = {}) {
    super(`${LABEL[call]}: ${detail}`)
    this.name = 'ThingSpaceError'
    this.call = call
    this.kind = kind
    this.status = extra.status
    this.code = extra.code
    this.retryAfterMs = extra.retryAfterMs
  }

  /** A gateway 401 for a missing, invalid or expired Bearer token (fault 900901 or 900902). */
  get tokenRejected(): boolean {
    return this.kind === 'gateway' && this.status === 401 && (this.code === 'gateway fault 900901' || this.code === 'gateway fault 900902')
  }
}

const LABEL: Record<ThingSpaceCall, string> = {
  token: 'ThingSpace OAuth token request',
  login: 'ThingSpace login',
  reset: 'ThingSpace password reset',
  logout: 'ThingSpace logout'
}

/** Network errors that mean the request never reached ThingSpace. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])
/** How @actions/http-client's proxy tunnel reports a CONNECT that failed (with code ECONNRESET): nothing went upstream. */
const TUNNEL_NOT_ESTABLISHED = /^tunneling socket could not be established/

/** A login that failed this way may have been counted by the user service toward the lockout. */
export function mayHaveCounted(error: unknown): boolean {
  if (!(error instanceof ThingSpaceError) || error.call !== 'login') return false
  return !['not-sent', 'throttled', 'gateway', 'oauth'].includes(error.kind)
}

/**
 * Whether a failed login may be sent again. A refusal never; an attempt that may have been counted
 * only while the run's retry budget lasts, and only once the caller has recorded it for later runs.
 */
export function mayRetryLogin(error: unknown, retriesLeft: number): boolean {
  if (!(error instanceof ThingSpaceError) || !['server', 'lost', 'timeout'].includes(error.kind)) return false
  return mayHaveCounted(error) && retriesLeft > 0
}

export interface Session {
  token: string
  /** The documented 20-minute idle limit, or less if the login answer said so. */
  idleLifetimeMs: number
}

export interface ThingSpaceLog {
  info: (message: string) => void
  debug: (message: string) => void
}

export interface ThingSpaceOptions {
  baseUrl: URL
  /** base64(app key:app secret), already masked. */
  basicCredential: string
  mask: SecretMask
  log: ThingSpaceLog
  now: () => number
  sleep: Sleep
  random?: () => number
  /** Time allowed for an answer, per call; tests set less. */
  timeoutsMs?: Partial<Record<ThingSpaceCall, number>>
}

const SESSION_IDLE_LIMIT_MS = 20 * 60 * 1000
/** A token answer without expires_in is trusted for at most the documented hour. */
const DEFAULT_TOKEN_LIFETIME_MS = 60 * 60 * 1000
/** Time allowed for an answer, per call. */
export const TIMEOUT_MS: Record<ThingSpaceCall, number> = { token: 30_000, login: 30_000, reset: 60_000, logout: 5_000 }
/** A token must outlive a step's timeout by this much, for a slow answer and clock skew. */
const TOKEN_MARGIN_MS = 30_000
/** After the token lapses, wait this much longer before asking again (the server's clock may lag). */
const TOKEN_LAPSE_SKEW_MS = 2_000
/** Backoff for requests that are safe to repeat. */
const BACKOFF = { baseMs: 500, maxMs: 8000 }

interface AccessToken {
  value: string
  expiresAt: number
}

export class ThingSpaceClient {
  private readonly options: ThingSpaceOptions
  private readonly clients = new Map<number, HttpClient>()
  private readonly timeouts: Record<ThingSpaceCall, number>
  private accessToken: AccessToken | undefined
  private pendingToken: Promise<AccessToken> | undefined

  constructor(options: ThingSpaceOptions) {
    this.options = options
    this.timeouts = { ...TIMEOUT_MS, ...options.timeoutsMs }
  }

  /**
   * An OAuth token that will not lapse before a step of `call` can finish. The token is shared by
   * every caller of the app key and asking again within its hour returns the same one, so a token
   * about to lapse is waited out (a bounded wait, logged) and then replaced.
   */
  async token(call: ThingSpaceCall = 'login'): Promise<string> {
    const { now, sleep, log } = this.options
    const needMs = this.timeouts[call] + TOKEN_MARGIN_MS
    for (let round = 0; ; round++) {
      const current = this.accessToken ?? (await this.requestToken())
      const left = current.expiresAt - now()
      if (left >= needMs) return current.value
      if (round > 0) {
        throw new ThingSpaceError(
          'token',
          'bad-response',
          `the new token is valid for only ${Math.round(left / 1000)} s, less than the ${needMs / 1000} s a ${call} needs`
        )
      }
      const wait = Math.max(0, left) + TOKEN_LAPSE_SKEW_MS
      log.info(
        `The ThingSpace OAuth token expires in ${Math.max(0, Math.round(left / 1000))} s, too soon for the ${call}; waiting ${Math.round(wait / 1000)} s for it to lapse, then fetching a new one`
      )
      await sleep(wait)
      this.accessToken = undefined
    }
  }

  /**
   * The token held, if it outlives a step of `call`; never waits. The reset is sent with it right
   * after `token('reset')`, so a reset that is said to have been sent really was.
   */
  private heldToken(call: ThingSpaceCall): string {
    const left = (this.accessToken?.expiresAt ?? 0) - this.options.now()
    if (!this.accessToken || left < this.timeouts[call]) {
      throw new ThingSpaceError(call, 'not-sent', 'not sent: the OAuth token would lapse before the answer came')
    }
    return this.accessToken.value
  }

  /** Forgets the token, after the gateway refused it. */
  dropToken(): void {
    this.accessToken = undefined
  }

  /** When the current token lapses, if one is held. */
  get tokenExpiresAt(): number | undefined {
    return this.accessToken?.expiresAt
  }

  private requestToken(): Promise<AccessToken> {
    // One request (with its retries) at a time: concurrent callers share it.
    this.pendingToken ??= withRetry(
      () =>
        this.send(
          'token',
          'POST',
          '/api/ts/v1/oauth2/token',
          {
            Authorization: `Basic ${this.options.basicCredential}`,
            'Content-Type': 'application/x-www-form-urlencoded'
          },
          'grant_type=client_credentials'
        ),
      { attempts: 4, ...BACKOFF, shouldRetry: isTransient, retryAfterMs: (e) => (e as ThingSpaceError).retryAfterMs },
      this.options.sleep,
      this.retryLog(),
      this.options.random
    )
      .then((body) => {
        const value = stringField('token', body, 'access_token')
        this.options.mask.add(value)
        const expiresIn = numberField(body, 'expires_in')
        // A negative lifetime means already lapsed; none at all, the documented hour.
        const lifetime = expiresIn !== undefined ? Math.min(Math.max(expiresIn, 0) * 1000, DEFAULT_TOKEN_LIFETIME_MS) : DEFAULT_TOKEN_LIFETIME_MS
        this.accessToken = { value, expiresAt: this.options.now() + lifetime }
        return this.accessToken
      })
      .finally(() => (this.pendingToken = undefined))
    return this.pendingToken
  }

  /**
   * One login. Only requests that never left are repeated here (with backoff), and a gateway 401
   * gets one fresh token and one more try: neither reached the user service. Anything else is
   * thrown for the caller to judge with `mayHaveCounted` and `mayRetryLogin`.
   */
  async login(username: string, password: string): Promise<Session> {
    const attempt = async (): Promise<Answer> =>
      withRetry(
        async () =>
          this.send(
            'login',
            'POST',
            '/api/m2m/v1/session/login',
            this.bearer(await this.token('login'), { 'Content-Type': 'application/json' }),
            JSON.stringify({ username, password })
          ),
        { attempts: 4, ...BACKOFF, shouldRetry: neverReachedUserService, retryAfterMs: (e) => (e as ThingSpaceError).retryAfterMs },
        this.options.sleep,
        this.retryLog(),
        this.options.random
      )
    let body: Answer
    try {
      body = await attempt()
    } catch (error) {
      if (!(error instanceof ThingSpaceError && error.tokenRejected)) throw error
      this.options.log.info(`${error.message}; fetching a fresh OAuth token and logging in once more (the user service never saw that login)`)
      this.dropToken()
      body = await attempt()
    }
    const token = stringField('login', body, 'sessionToken')
    this.options.mask.add(token)
    const expiresIn = numberField(body, 'expiresIn')
    const said = expiresIn !== undefined && expiresIn > 0 ? expiresIn * 1000 : SESSION_IDLE_LIMIT_MS
    return { token, idleLifetimeMs: Math.min(said, SESSION_IDLE_LIMIT_MS) }
  }

  /**
   * Asks for a new password: sent exactly once, never retried, never redirected, because the old
   * password stops working the moment the server acts on it. The new password is masked before it
   * is returned. Call `token('reset')` first: this sends at once with the token held.
   */
  async resetPassword(session: Session, oldPassword: string): Promise<string> {
    const bearer = this.heldToken('reset')
    const body = await this.send(
      'reset',
      'PUT',
      '/api/m2m/v1/session/password/actions/reset',
      this.bearer(bearer, { 'VZ-M2M-Token': session.token, 'Content-Type': 'application/json' }),
      JSON.stringify({ oldPassword })
    )
    const value = stringField('reset', body, 'newPassword')
    this.options.mask.add(value)
    return value
  }

  /** Ends a session: one attempt with a short timeout, since a session also expires on its own. */
  async logout(session: Session): Promise<void> {
    // Any token still valid will do; one that lapsed is replaced at once (a new one is issued then).
    const held = this.accessToken && this.accessToken.expiresAt > this.options.now() ? this.accessToken : await this.requestToken()
    const bearer = held.value
    await this.send('logout', 'POST', '/api/m2m/v1/session/logout', this.bearer(bearer, { 'VZ-M2M-Token': session.token }))
  }

  private bearer(token: string, headers: Record<string, string>): Record<string, string> {
    return { Authorization: `Bearer ${token}`, ...headers }
  }

  private retryLog() {
    return (error: unknown, attempt: number, attempts: number, waitMs: number): void =>
      this.options.log.info(`${(error as Error).message}; attempt ${attempt} of ${attempts}, trying again in ${(waitMs / 1000).toFixed(1)} s`)
  }

  private client(timeoutMs: number): HttpClient {
    let client = this.clients.get(timeoutMs)
    if (!client) {
      // No keep-alive: a reused socket that the server closed meanwhile fails with ECONNRESET, which for a
      // login would look like an answer lost after sending (an attempt possibly counted).
      client = new HttpClient('thingspace-password-rotation', [], {
        allowRedirects: false,
        allowRetries: false,
        keepAlive: false,
        socketTimeout: timeoutMs
      })
      this.clients.set(timeoutMs, client)
    }
    return client
  }

  /** Sends one request; a 2xx answer comes back as its status and parsed JSON, anything else is thrown. */
  private async send(call: ThingSpaceCall, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
    const { baseUrl, log, now } = this.options
    const url = `${baseUrl.origin}${baseUrl.pathname.replace(/\/+$/, '')}${path}`
    const started = now()
    let status: number
    let text: string
    let responseHeaders: Record<string, string | string[] | undefined>
    try {
      const response = await this.client(this.timeouts[call]).request(method, url, body ?? null, { Accept: 'application/json', ...headers })
      status = response.message.statusCode ?? 0
      responseHeaders = response.message.headers
      text = await response.readBody()
    } catch (error) {
      // Rebuilt from the error's code only, so no request detail (headers, body) can ride along.
      log.debug(`ThingSpace ${method} ${path} -> no answer`)
      const code = (error as { code?: unknown })?.code
      if (typeof code === 'string' && NOT_SENT_CODES.has(code)) throw new ThingSpaceError(call, 'not-sent', `could not connect (${code})`)
      if (TUNNEL_NOT_ESTABLISHED.test((error as Error)?.message ?? ''))
        throw new ThingSpaceError(call, 'not-sent', 'the proxy did not open a connection')
      if (/^Request timeout/.test((error as Error)?.message ?? ''))
        throw new ThingSpaceError(call, 'timeout', `no answer within ${this.timeouts[call] / 1000} s`)
      throw new ThingSpaceError(call, 'lost', `the connection failed before an answer came${typeof code === 'string' ? ` (${code})` : ''}`)
    }
    log.debug(`ThingSpace ${method} ${path} -> ${status} (${now() - started} ms)`)
    const json = parseJson(text)
    if (status >= 200 && status < 300) {
      if (text !== '' && json === undefined)
        throw new ThingSpaceError(call, 'bad-response', `answered ${status} with a body that is not JSON`, { status })
      return { status, json }
    }
    const retryAfter = Number(headerValue(responseHeaders['retry-after']) ?? NaN)
    const retryAfterMs = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined
    if (status >= 300 && status < 400) throw new ThingSpaceError(call, 'redirect', `answered ${status} (a redirect, not followed)`, { status })
    if (status === 429 || status >= 500) {
      const { code, description, shape } = describeError(json, text)
      // A 5xx may come from behind the gateway (a backend timeout); only its own 429 proves the service never saw it.
      const kind: FailureKind = status === 429 && shape === 'gateway' ? 'throttled' : 'server'
      throw new ThingSpaceError(call, kind, `answered ${status}${code ? ` ${code}` : ''}${description ? ` (${description})` : ''}`, {
        status,
        code,
        retryAfterMs
      })
    }
    const { code, description, shape } = describeError(json, text)
    // An errorCode proves the user service saw the request, whatever the status: a refusal that may count.
    const kind: FailureKind = shape === 'uws' ? 'refused' : shape === 'oauth' ? 'oauth' : 'gateway'
    const what = code ? `${code}${description ? `: ${description}` : ''}` : 'no error code'
    throw new ThingSpaceError(call, kind, `answered ${status}, ${what}`, { status, code })
  }
}

function isTransient(error: unknown): boolean {
  return error instanceof ThingSpaceError && ['not-sent', 'throttled', 'lost', 'timeout', 'server'].includes(error.kind)
}

/** A login that failed this way is safe to send again: the user service never saw it (nor its token request). */
function neverReachedUserService(error: unknown): boolean {
  return error instanceof ThingSpaceError && error.call === 'login' && (error.kind === 'not-sent' || error.kind === 'throttled')
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown)
  } catch {
    return undefined
  }
}

/**
 * The three error shapes ThingSpace uses: the services' `{errorCode, errorMessage}` (the code is kept
 * without its service prefix), the gateway's fault (JSON, or XML for some 403s), and OAuth 2.0's
 * `{error, error_description}` from the token endpoint.
 */
export function describeError(json: unknown, text: string): { code?: string; description?: string; shape?: 'uws' | 'gateway' | 'oauth' } {
  if (json && typeof json === 'object') {
    const b = json as {
      errorCode?: unknown
      errorMessage?: unknown
      fault?: { code?: unknown; message?: unknown; description?: unknown }
      error?: unknown
      error_description?: unknown
    }
    if (typeof b.errorCode === 'string' && b.errorCode !== '') {
      const dot = b.errorCode.indexOf('.')
      return { code: dot >= 0 ? b.errorCode.slice(dot + 1) : b.errorCode, description: short(b.errorMessage), shape: 'uws' }
    }
    if (b.fault && (typeof b.fault.code === 'string' || typeof b.fault.code === 'number')) {
      return { code: `gateway fault ${b.fault.code}`, description: joined(b.fault.message, b.fault.description), shape: 'gateway' }
    }
    if (typeof b.error === 'string' && b.error !== '') return { code: b.error, description: short(b.error_description), shape: 'oauth' }
  }
  const xmlCode = /<(?:\w+:)?code>([^<]{1,40})<\/(?:\w+:)?code>/.exec(text)?.[1]
  if (xmlCode) {
    const tag = (name: string): string | undefined => new RegExp(`<(?:\\w+:)?${name}>([^<]{1,200})</(?:\\w+:)?${name}>`).exec(text)?.[1]
    return { code: `gateway fault ${xmlCode.trim()}`, description: joined(tag('message'), tag('description')), shape: 'gateway' }
  }
  return {}
}

function joined(...parts: unknown[]): string | undefined {
  const texts = [...new Set(parts.map(short).filter((p): p is string => p !== undefined))]
  return texts.length > 0 ? texts.join(' - ') : undefined
}

function short(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, 200) : undefined
}

interface Answer {
  status: number
  json: unknown
}

function stringField(call: ThingSpaceCall, answer: Answer, field: string): string {
  const value = (answer.json as Record<string, unknown> | undefined)?.[field]
  if (typeof value !== 'string' || value === '') {
    throw new ThingSpaceError(call, 'bad-response', `answered ${answer.status} without a ${field}`, { status: answer.status })
  }
  return value
}

/** A number field, also when sent as a numeric string. */
function numberField(answer: Answer, field: string): number | undefined {
  const value = (answer.json as Record<string, unknown> | undefined)?.[field]
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  return typeof number === 'number' && Number.isFinite(number) ? number : undefined
}

/** A UWS error for an unknown or expired session token. */
export function isSessionError(error: unknown): boolean {
  return error instanceof ThingSpaceError && error.kind === 'refused' && /SessionToken/i.test(error.code ?? '')
}
