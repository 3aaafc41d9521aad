/**
 * The ThingSpace Connectivity Management client. The lockout rule lives here: 5 consecutive failed
 * logins lock the username until Verizon support unlocks it, so a login the server answered with a
 * 4xx is never sent again, and the reset (which changes the password at once) is never repeated.
 */
import { send, type HttpResponse } from './http.ts'
import { withRetry, type RetryPolicy, type Sleep } from './retry.ts'
import type { SecretMask } from './secrets-mask.ts'

export type FailureKind = 'http' | 'network' | 'timeout' | 'aborted' | 'bad-response'

export class ThingSpaceError extends Error {
  readonly kind: FailureKind
  readonly status: number | undefined
  /** The error code without its service prefix (REQUEST_FAILED.SessionTokenExpired), or a gateway fault code. */
  readonly code: string | undefined
  readonly retryAfterMs: number | undefined

  constructor(message: string, kind: FailureKind, status?: number, code?: string, retryAfterMs?: number) {
    super(message)
    this.name = 'ThingSpaceError'
    this.kind = kind
    this.status = status
    this.code = code
    this.retryAfterMs = retryAfterMs
  }

  /** The server answered and refused: nothing changed on its side. */
  get rejected(): boolean {
    return this.kind === 'http' && this.status !== undefined && this.status >= 400 && this.status < 500 && this.status !== 429
  }

  /** Safe to send again: the request failed in transit, or the server was overloaded or broken. */
  get transient(): boolean {
    if (this.kind === 'network' || this.kind === 'timeout') return true
    return this.kind === 'http' && this.status !== undefined && (this.status === 429 || this.status >= 500)
  }
}

export interface Session {
  token: string
  /** How long the session lives without activity, as the login response said or the documented 20 minutes. */
  idleLifetimeMs: number
}

export interface ThingSpaceOptions {
  baseUrl: URL
  /** base64(app key:app secret), already masked. */
  basicCredential: string
  mask: SecretMask
  sleep: Sleep
  /** Aborts every request (cancellation before the reset). */
  signal?: AbortSignal
  timeoutMs?: number
  random?: () => number
}

const DEFAULT_SESSION_LIFETIME_MS = 20 * 60 * 1000

const TRANSIENT_ONLY: Omit<RetryPolicy, 'attempts'> = {
  baseMs: 500,
  maxMs: 8000,
  shouldRetry: (e) => e instanceof ThingSpaceError && e.transient,
  retryAfterMs: (e) => (e instanceof ThingSpaceError ? e.retryAfterMs : undefined)
}

export class ThingSpaceClient {
  private readonly options: ThingSpaceOptions
  private accessToken: Promise<string> | undefined

  constructor(options: ThingSpaceOptions) {
    this.options = options
  }

  /** The OAuth token for every M2M call. Asking again within the hour returns the same one, so retrying is harmless. */
  token(): Promise<string> {
    // One request (with its retries) per run: a failure is remembered, not asked again by the next call.
    this.accessToken ??= this.requestToken()
    return this.accessToken
  }

  private async requestToken(): Promise<string> {
    const body = await withRetry(
      () =>
        this.send('POST', '/api/ts/v1/oauth2/token', {
          headers: { Authorization: `Basic ${this.options.basicCredential}`, 'Content-Type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials'
        }),
      { attempts: 4, ...TRANSIENT_ONLY },
      this.options.sleep,
      this.options.random
    )
    const token = stringField(body, 'access_token', 'the OAuth token response')
    this.options.mask.add(token)
    return token
  }

  /**
   * Logs in. Only failures in transit or on the server's side are tried again; a 4xx may count toward
   * the lockout, so it is thrown at once.
   */
  async login(username: string, password: string): Promise<Session> {
    const bearer = await this.token()
    const body = await withRetry(
      () =>
        this.send('POST', '/api/m2m/v1/session/login', {
          headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ username, password })
        }),
      { attempts: 4, ...TRANSIENT_ONLY },
      this.options.sleep,
      this.options.random
    )
    const token = stringField(body, 'sessionToken', 'the login response')
    this.options.mask.add(token)
    const expiresIn = (body as { expiresIn?: unknown }).expiresIn
    const idleLifetimeMs = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn * 1000 : DEFAULT_SESSION_LIFETIME_MS
    return { token, idleLifetimeMs }
  }

  /**
   * Asks ThingSpace for a new password: sent exactly once, never retried and never aborted, because
   * the old password stops working the moment the server acts on it. The new password is masked
   * before it is returned anywhere.
   */
  async resetPassword(session: Session, oldPassword: string, timeoutMs: number): Promise<string> {
    const bearer = await this.token()
    const body = await this.send(
      'PUT',
      '/api/m2m/v1/session/password/actions/reset',
      {
        headers: { Authorization: `Bearer ${bearer}`, 'VZ-M2M-Token': session.token, 'Content-Type': 'application/json' },
        body: JSON.stringify({ oldPassword })
      },
      { abortable: false, timeoutMs }
    )
    const value = (body as { newPassword?: unknown } | undefined)?.newPassword
    if (typeof value !== 'string' || value === '') {
      throw new ThingSpaceError('the reset answered 200 without a newPassword', 'bad-response', 200)
    }
    this.options.mask.add(value)
    return value
  }

  /** Ends a session. One attempt with a short timeout: a failure is only worth a warning. */
  async logout(session: Session): Promise<void> {
    const bearer = await this.token()
    await this.send(
      'POST',
      '/api/m2m/v1/session/logout',
      { headers: { Authorization: `Bearer ${bearer}`, 'VZ-M2M-Token': session.token } },
      { abortable: false, timeoutMs: 3000 }
    )
  }

  private async send(
    method: string,
    path: string,
    init: { headers: Record<string, string>; body?: string },
    opts: { abortable?: boolean; timeoutMs?: number } = {}
  ): Promise<unknown> {
    const url = new URL(this.options.baseUrl.pathname.replace(/\/+$/, '') + path, this.options.baseUrl.origin)
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs ?? 30_000
    const signals = [AbortSignal.timeout(timeoutMs)]
    if (opts.abortable !== false && this.options.signal) signals.push(this.options.signal)
    const what = `${method} ${path}`
    let response: HttpResponse
    try {
      // No redirects: following one would send a login, or the reset, a second time.
      const request = { method, headers: { Accept: 'application/json', ...init.headers }, body: init.body, signal: AbortSignal.any(signals) }
      response = await send(url, request, 0)
    } catch (error) {
      // The error is rebuilt from scratch so no request detail (headers, body) can ride along.
      const name = (error as Error)?.name
      if (name === 'TimeoutError') throw new ThingSpaceError(`${what}: no answer within ${timeoutMs} ms`, 'timeout')
      if (name === 'AbortError' || name === 'CancelledError') throw new ThingSpaceError(`${what}: cancelled`, 'aborted')
      const code = (error as { code?: unknown })?.code
      throw new ThingSpaceError(`${what}: network error${typeof code === 'string' ? ` (${code})` : ''}`, 'network')
    }
    const text = response.body
    let body: unknown
    try {
      body = text === '' ? undefined : JSON.parse(text)
    } catch {
      body = undefined
    }
    if (response.status >= 200 && response.status < 300) {
      if (text !== '' && body === undefined)
        throw new ThingSpaceError(`${what}: HTTP ${response.status} with a body that is not JSON`, 'bad-response', response.status)
      return body
    }
    const { code, description } = describeError(body)
    const retryAfter = Number(response.headers['retry-after'] ?? NaN)
    throw new ThingSpaceError(
      `${what}: HTTP ${response.status}${code ? ` ${code}` : ''}${description ? ` (${description})` : ''}`,
      'http',
      response.status,
      code,
      Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined
    )
  }
}

/** API errors carry errorCode (matched without its service prefix); gateway errors carry fault.code. */
function describeError(body: unknown): { code?: string; description?: string } {
  if (body && typeof body === 'object') {
    const b = body as { errorCode?: unknown; errorMessage?: unknown; fault?: { code?: unknown; message?: unknown } }
    if (typeof b.errorCode === 'string') {
      const dot = b.errorCode.indexOf('.')
      return { code: dot >= 0 ? b.errorCode.slice(dot + 1) : b.errorCode, description: short(b.errorMessage) }
    }
    if (b.fault && (typeof b.fault.code === 'string' || typeof b.fault.code === 'number')) {
      return { code: `gateway ${b.fault.code}`, description: short(b.fault.message) }
    }
  }
  return {}
}

function short(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value.slice(0, 200) : undefined
}

function stringField(body: unknown, field: string, what: string): string {
  const value = (body as Record<string, unknown> | undefined)?.[field]
  if (typeof value !== 'string' || value === '') throw new ThingSpaceError(`${what} has no ${field}`, 'bad-response', 200)
  return value
}

/** An error a ThingSpace service sends for an unknown or expired session token. */
export function isSessionError(error: unknown): boolean {
  return error instanceof ThingSpaceError && error.rejected && /session|token/i.test(error.code ?? '')
}
