/**
 * The ThingSpace Connectivity Management client, and the lockout rule: 5 consecutive failed logins
 * lock the username until Verizon support unlocks it. So every failure is classified before anything
 * is retried, and what each kind means is one table (FAILURES). ThingSpace's documents do not give the
 * codes or the body of every refusal, so an answer counts as "never reached the user service" only
 * when it is positively the API gateway's own (its fault object with one of its codes); any other
 * answer that is not a success may have been counted, and is never sent again beyond the run's budget.
 * A request that provably never left is retried freely. The reset, which changes the password at once,
 * is sent once, and an answer to it in an unknown shape leaves the password's state unknown.
 *
 * Requests go through @actions/http-client, which honours HTTP(S)_PROXY and NO_PROXY like every
 * toolkit action. Redirects are never followed: following one would send a login or the reset again.
 * Every request, headers and body alike, is bounded by its call's timeout on a referenced timer, so a
 * stalled answer fails as a timeout and the process cannot exit while a call is pending.
 */
import { HttpClient, type HttpClientResponse } from '@actions/http-client'
import type { RequestHandler } from '@actions/http-client/lib/interfaces'
import type { IncomingMessage } from 'node:http'
import { text as readText } from 'node:stream/consumers'
import type { Sleep } from './retry.ts'
import { withRetry } from './retry.ts'
import type { SecretMask } from './secrets-mask.ts'

export type ThingSpaceCall = 'token' | 'login' | 'reset' | 'logout'

/** How a call failed; what each kind is, and means for the lockout and for retries, is in FAILURES. */
export type FailureKind =
  'refused' | 'unrecognised' | 'gateway' | 'throttled' | 'oauth' | 'server' | 'redirect' | 'not-sent' | 'lost' | 'timeout' | 'bad-response'

export interface FailureMeaning {
  /** A login that failed this way may have reached the user service, and been counted toward the lockout. */
  mayHaveCounted: boolean
  /**
   * The request may be repeated: the token request with backoff; a login that never reached the user
   * service at once inside `login()`, and one that may have counted only by its caller, within the run's
   * budget, after recording it. Not after an answer that may be a refusal, nor after a redirect.
   */
  transient: boolean
}

/**
 * What a failure means, one row per kind, read by every rule below. Where ThingSpace's documents are
 * silent, a row takes the side that cannot lock the account: only the gateway's own answers (and a
 * request that never left) are known not to have counted.
 */
export const FAILURES: Record<FailureKind, FailureMeaning> = {
  // the user service refused it (a 4xx with a UWS errorCode)
  refused: { mayHaveCounted: true, transient: false },
  // a non-success answer in a shape ThingSpace's documents do not give
  unrecognised: { mayHaveCounted: true, transient: false },
  // the API gateway's own fault (a 9009xx code): the service never saw it
  gateway: { mayHaveCounted: false, transient: false },
  // the gateway's own 429 (its fault): the service never saw it
  throttled: { mayHaveCounted: false, transient: true },
  // the token endpoint refused the app credentials (RFC 6749 error)
  oauth: { mayHaveCounted: false, transient: false },
  // a 5xx, or a 429 that is not the gateway's own: it may have been acted on
  server: { mayHaveCounted: true, transient: true },
  // a 3xx, not followed
  redirect: { mayHaveCounted: true, transient: false },
  // the connection was never made: nothing reached ThingSpace
  'not-sent': { mayHaveCounted: false, transient: true },
  // the connection broke after the request was sent
  lost: { mayHaveCounted: true, transient: true },
  // no complete answer (headers and body) in time
  timeout: { mayHaveCounted: true, transient: true },
  // a 2xx without the expected field, or not JSON
  'bad-response': { mayHaveCounted: true, transient: false }
}

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
  return error instanceof ThingSpaceError && error.call === 'login' && FAILURES[error.kind].mayHaveCounted
}

/**
 * Whether a failed login may be sent again by the caller: never after an answer (a refusal, an answer
 * in an unknown shape, a redirect, a malformed success: the service may have answered); an attempt
 * that may have counted without an answer only while the run's retry budget lasts, and only once the
 * caller has recorded it for later runs.
 */
export function mayRetryLogin(error: unknown, retriesLeft: number): boolean {
  return mayHaveCounted(error) && FAILURES[(error as ThingSpaceError).kind].transient && retriesLeft > 0
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
  /** Time allowed for a whole answer (headers and body), per call; tests set less. */
  timeoutsMs?: Partial<Record<ThingSpaceCall, number>>
}

const SESSION_IDLE_LIMIT_MS = 20 * 60 * 1000
/** A token answer without expires_in is trusted for at most the documented hour. */
const DEFAULT_TOKEN_LIFETIME_MS = 60 * 60 * 1000
/** Time allowed for a whole answer (headers and body), per call. */
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
   * One login. Only requests that never reached the user service are repeated here: one never sent,
   * or throttled by the gateway's own 429 (with backoff), and a gateway 401 900901/900902 (one fresh
   * token, one more try). Anything else, an answer in an unknown shape included, is thrown for the
   * caller to judge with `mayHaveCounted` and `mayRetryLogin`.
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

  /**
   * A client for one request. No keep-alive: a reused socket that the server closed meanwhile fails with
   * ECONNRESET, which for a login would look like an answer lost after sending (an attempt possibly
   * counted). The request carries `deadline` (through http-client's request hook), so aborting it
   * destroys the request and its response, whichever phase it is in. (http-client's own socketTimeout
   * is an idle timeout that ends only the writing side, and its readBody waits for an end that a
   * stalled body never sends, so neither bounds an answer.)
   */
  private client(deadline: AbortSignal): HttpClient {
    const withDeadline: RequestHandler = {
      prepareRequest: (options) => void (options.signal = deadline),
      canHandleAuthentication: () => false,
      handleAuthentication: () => Promise.reject(new Error('not used'))
    }
    return new HttpClient('thingspace-password-rotation', [withDeadline], { allowRedirects: false, allowRetries: false, keepAlive: false })
  }

  /**
   * Sends one request, bounded as a whole (headers and body) by the call's timeout; a 2xx answer comes
   * back as its status and parsed JSON, anything else is thrown, classified.
   */
  private async send(call: ThingSpaceCall, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
    const { baseUrl, log, now } = this.options
    const url = `${baseUrl.origin}${baseUrl.pathname.replace(/\/+$/, '')}${path}`
    const timeoutMs = this.timeouts[call]
    const started = now()
    const deadline = new AbortController()
    // Referenced (unlike AbortSignal.timeout's), so the process cannot exit with this call pending.
    const timer = setTimeout(() => deadline.abort(), timeoutMs)
    let response: HttpClientResponse | undefined
    let text: string
    try {
      response = await this.client(deadline.signal).request(method, url, body ?? null, { Accept: 'application/json', ...headers })
      text = await readText(response.message)
    } catch (error) {
      // Rebuilt from the error's code only, so no request detail (headers, body) can ride along.
      log.debug(`ThingSpace ${method} ${path} -> ${response ? `${response.message.statusCode}, body unfinished` : 'no answer'}`)
      throw this.transportFailure(call, error, deadline.signal.aborted, response?.message)
    } finally {
      clearTimeout(timer)
    }
    const status = response.message.statusCode ?? 0
    log.debug(`ThingSpace ${method} ${path} -> ${status} (${now() - started} ms)`)
    return answer(call, status, response.message.headers, text)
  }

  /** A request that got no complete answer: never sent, cut off by the deadline, or lost. */
  private transportFailure(call: ThingSpaceCall, error: unknown, pastDeadline: boolean, message: IncomingMessage | undefined): ThingSpaceError {
    const seconds = this.timeouts[call] / 1000
    if (pastDeadline) {
      const detail = message ? `answered ${message.statusCode}, but the body did not finish within ${seconds} s` : `no answer within ${seconds} s`
      return new ThingSpaceError(call, 'timeout', detail, { status: message?.statusCode })
    }
    const code = (error as { code?: unknown })?.code
    if (!message && typeof code === 'string' && NOT_SENT_CODES.has(code)) return new ThingSpaceError(call, 'not-sent', `could not connect (${code})`)
    if (!message && TUNNEL_NOT_ESTABLISHED.test((error as Error)?.message ?? '')) {
      return new ThingSpaceError(call, 'not-sent', 'the proxy did not open a connection')
    }
    const when = message ? `after it answered ${message.statusCode}, before the body was complete` : 'before an answer came'
    return new ThingSpaceError(call, 'lost', `the connection failed ${when}${typeof code === 'string' ? ` (${code})` : ''}`, {
      status: message?.statusCode
    })
  }
}

/** A complete answer: a 2xx comes back parsed; anything else is thrown, classified by what it positively is. */
function answer(call: ThingSpaceCall, status: number, headers: Record<string, string | string[] | undefined>, text: string): Answer {
  const json = parseJson(text)
  if (status >= 200 && status < 300) {
    if (text !== '' && json === undefined)
      throw new ThingSpaceError(call, 'bad-response', `answered ${status} with a body that is not JSON`, { status })
    return { status, json }
  }
  if (status >= 300 && status < 400) throw new ThingSpaceError(call, 'redirect', `answered ${status} (a redirect, not followed)`, { status })
  const error = describeError(json, text)
  const { code, description } = error
  if (status === 429 || status >= 500) {
    const retryAfter = Number(headerValue(headers['retry-after']) ?? NaN)
    const retryAfterMs = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined
    // A 5xx may come from behind the gateway (a backend timeout); only its own 429 proves the service never saw it.
    const throttled = status === 429 && (error.shape === 'gateway' || error.shape === 'gateway-throttling')
    const detail = error.shape ? `${code}${description ? ` (${description})` : ''}` : ''
    throw new ThingSpaceError(call, throttled ? 'throttled' : 'server', `answered ${status}${detail ? ` ${detail}` : ''}`, {
      status,
      code: error.shape ? code : undefined,
      retryAfterMs
    })
  }
  // An errorCode is the user service's own answer, whatever the status: a refusal that may count.
  if (error.shape === 'uws' || error.shape === 'gateway' || (error.shape === 'oauth' && call === 'token')) {
    const kind: FailureKind = error.shape === 'uws' ? 'refused' : error.shape
    throw new ThingSpaceError(call, kind, `answered ${status}, ${code}${description ? `: ${description}` : ''}`, { status, code })
  }
  throw new ThingSpaceError(call, 'unrecognised', `answered ${status} in a shape ThingSpace's documents do not give: ${error.summary}`, { status })
}

/** Requests safe to repeat with backoff; only the token request uses this as is (a login is never judged by it alone). */
function isTransient(error: unknown): boolean {
  return error instanceof ThingSpaceError && FAILURES[error.kind].transient
}

/** A login that failed this way is safe to send again at once: the user service never saw it (nor its token request). */
function neverReachedUserService(error: unknown): boolean {
  return error instanceof ThingSpaceError && error.call === 'login' && FAILURES[error.kind].transient && !FAILURES[error.kind].mayHaveCounted
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

/** The API gateway's (WSO2 API Manager's) own fault codes: 9009xx for authentication and resources, 9008xx for throttling. */
const GATEWAY_CODE = /^9009\d\d$/
const THROTTLING_CODE = /^9008\d\d$/

export interface ErrorBody {
  /**
   * The documented shape the body positively has: the services' `{errorCode, errorMessage}` with a
   * string code (`uws`), the gateway's fault with one of its authentication or resource codes
   * (`gateway`) or its throttling codes (`gateway-throttling`), or OAuth 2.0's error (`oauth`); none
   * for anything else.
   */
  shape?: 'uws' | 'gateway' | 'gateway-throttling' | 'oauth'
  /** The UWS code without its service prefix, `gateway fault <code>`, or the OAuth error. */
  code?: string
  description?: string
  /** A short account of the body, for a message: never the raw body of an unknown shape. */
  summary: string
}

/**
 * What an error body is, by the shapes ThingSpace's documents give: the services' UWS error, the
 * gateway's fault (JSON, or the `am:fault` XML of some 403s) and OAuth 2.0's `{error,
 * error_description}` from the token endpoint. Anything else is summarised briefly.
 */
export function describeError(json: unknown, text: string): ErrorBody {
  const object = json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined
  if (object) {
    const { errorCode, errorMessage, fault, error, error_description } = object
    if (typeof errorCode === 'string' && errorCode !== '') {
      const dot = errorCode.indexOf('.')
      const code = (dot >= 0 ? errorCode.slice(dot + 1) : errorCode).slice(0, 100)
      const description = short(errorMessage)
      return { shape: 'uws', code, description, summary: `${code}${description ? `: ${description}` : ''}` }
    }
    const f = fault && typeof fault === 'object' ? (fault as Record<string, unknown>) : undefined
    if (f && (typeof f.code === 'string' || typeof f.code === 'number')) {
      return faultBody(String(f.code).trim(), joined(f.message, f.description), 'a JSON fault')
    }
    if (typeof error === 'string' && error !== '') {
      const description = short(error_description)
      return { shape: 'oauth', code: error, description, summary: `an OAuth error ${error}${description ? ` (${description})` : ''}` }
    }
    if (errorCode !== undefined) return { summary: `errorCode ${short(JSON.stringify(errorCode), 40)}${paren(short(errorMessage))}` }
    const keys = Object.keys(object)
    if (keys.length === 0) return { summary: 'an empty JSON object' }
    return {
      summary: `a JSON object with ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''} and no errorCode${paren(short(object.message))}`
    }
  }
  const xmlCode = /^\s*(?:<\?xml[^>]*>\s*)?<am:fault\b[^>]*>[\s\S]*?<am:code>([^<]{1,40})<\/am:code>/.exec(text)?.[1]
  if (xmlCode !== undefined) {
    const tag = (name: string): string | undefined => new RegExp(`<am:${name}>([^<]{1,200})</am:${name}>`).exec(text)?.[1]
    return faultBody(xmlCode.trim(), joined(tag('message'), tag('description')), 'an XML fault')
  }
  if (json !== undefined) return { summary: `JSON that is not an object (${short(text, 40)})` }
  if (text.trim() === '') return { summary: 'an empty body' }
  if (/^\s*<(?:!doctype\s+html|html)\b/i.test(text)) return { summary: 'an HTML page' }
  return { summary: `a body that is not JSON (${text.length} characters)` }
}

function faultBody(code: string, description: string | undefined, what: string): ErrorBody {
  const shape = GATEWAY_CODE.test(code) ? 'gateway' : THROTTLING_CODE.test(code) ? 'gateway-throttling' : undefined
  if (shape) return { shape, code: `gateway fault ${code}`, description, summary: `gateway fault ${code}${description ? `: ${description}` : ''}` }
  return { summary: `${what} with code ${short(code, 40)}, not one of the gateway's${paren(description)}` }
}

function paren(text: string | undefined): string {
  return text ? ` (${text})` : ''
}

function joined(...parts: unknown[]): string | undefined {
  const texts = [...new Set(parts.map((part) => short(part)).filter((p): p is string => p !== undefined))]
  return texts.length > 0 ? texts.join(' - ') : undefined
}

function short(value: unknown, max = 200): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, max) : undefined
}

interface Answer {
  status: number
  json: unknown
}

/** A string field with something in it: blanks are no password, token or session a later call could use. */
function stringField(call: ThingSpaceCall, answer: Answer, field: string): string {
  const value = (answer.json as Record<string, unknown> | undefined)?.[field]
  if (typeof value !== 'string' || value.trim() === '') {
    const article = /^[aeiou]/i.test(field) ? 'an' : 'a'
    throw new ThingSpaceError(call, 'bad-response', `answered ${answer.status} without ${article} ${field}`, { status: answer.status })
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
