/**
 * The ThingSpace client (src/thingspace.ts) in process against the ThingSpace simulator, with an
 * injected clock and sleep: token lifetime, the login's classification for the lockout (throttling and
 * requests that never left are retried, anything the user service may have seen is not), the reset
 * sent once and only with a token that outlives it, the logout, proxies that cannot connect, one
 * connection per request, the error shapes, and what the debug lines may carry. Request counts come
 * from the simulator's log.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Answer, Fault } from '../simulators/server.ts'
import { gatewayFault, oauthError, ThingSpaceSimulator, xmlGatewayFault, type ThingSpaceOptions as SimOptions } from '../simulators/thingspace.ts'
import { SecretMask } from '../src/secrets-mask.ts'
import {
  describeError,
  isSessionError,
  mayHaveCounted,
  mayRetryLogin,
  ThingSpaceClient,
  ThingSpaceError,
  TIMEOUT_MS,
  type ErrorBody,
  type FailureKind,
  type ThingSpaceCall,
  type Session,
  type ThingSpaceOptions
} from '../src/thingspace.ts'
import { closedPort, failure, until } from './support/async.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** One client and one simulator sharing a fake clock; the fake sleep moves it. */
interface Rig {
  sim: ThingSpaceSimulator
  client: ThingSpaceClient
  clock: { t: number }
  sleeps: number[]
  info: string[]
  debug: string[]
  masked: string[]
  /** Masked values and 'returned:<value>' marks, in the order they happened. */
  events: string[]
}

let sims: ThingSpaceSimulator[] = []

afterEach(async () => {
  await Promise.all(sims.map((s) => s.stop()))
  sims = []
})

async function rig(options: SimOptions = {}, clientOptions: Partial<ThingSpaceOptions> = {}): Promise<Rig> {
  const sim = new ThingSpaceSimulator(options)
  sims.push(sim)
  await sim.start()
  const clock = { t: Date.UTC(2030, 0, 1) }
  sim.now = () => clock.t
  const r: Rig = { sim, client: undefined as unknown as ThingSpaceClient, clock, sleeps: [], info: [], debug: [], masked: [], events: [] }
  const mask = new SecretMask((value) => {
    r.masked.push(value)
    r.events.push(`mask:${value}`)
  })
  r.client = new ThingSpaceClient({
    baseUrl: new URL(sim.url),
    basicCredential: Buffer.from(`${sim.appKey}:${sim.appSecret}`).toString('base64'),
    mask,
    log: { info: (m) => r.info.push(m), debug: (m) => r.debug.push(m) },
    now: () => clock.t,
    sleep: (ms) => {
      r.sleeps.push(ms)
      clock.t += ms
      return Promise.resolve()
    },
    random: () => 0.5,
    ...clientOptions
  })
  return r
}

function count(sim: ThingSpaceSimulator): Record<'token' | 'login' | 'reset' | 'logout', number> {
  return {
    token: sim.calls('token').length,
    login: sim.calls('login').length,
    reset: sim.calls('reset').length,
    logout: sim.calls('logout').length
  }
}

/** Whatever the promise rejected with (the test fails if it resolved). */

describe('the OAuth token', () => {
  test('is fetched once and reused, with its expires_in kept', async () => {
    const { sim, client, clock } = await rig({ tokenAgeMs: 10 * MINUTE })
    const first = await client.token()
    expect(await client.token('reset')).toBe(first)
    await client.login(sim.username, sim.password)
    await client.login(sim.username, sim.password)
    expect(count(sim)).toEqual({ token: 1, login: 2, reset: 0, logout: 0 })
    expect(client.tokenExpiresAt).toBe(clock.t + 50 * MINUTE)
    expect(first).toBe(sim.issuedTokens[0])
  })

  test('concurrent callers share one token request', async () => {
    const { sim, client } = await rig()
    const [a, b, c] = await Promise.all([client.token(), client.token('reset'), client.token('logout')])
    expect(new Set([a, b, c]).size).toBe(1)
    expect(count(sim).token).toBe(1)
  })

  test('a token minted 58 minutes earlier still serves the login and the reset, without waiting', async () => {
    const { sim, client, sleeps } = await rig({ tokenAgeMs: 58 * MINUTE })
    const session = await client.login(sim.username, sim.password)
    const newPassword = await client.resetPassword(session, sim.initialPassword)
    expect(newPassword).toBe(sim.password)
    expect(sleeps).toEqual([])
    expect(count(sim)).toEqual({ token: 1, login: 1, reset: 1, logout: 0 })
    expect(sim.calls('reset')[0]).toMatchObject({ status: 200, bearerValid: true })
  })

  test('a token with 40 s left before the reset is waited out by token(reset), then a new one carries the reset', async () => {
    const { sim, client, clock, sleeps, info } = await rig({ tokenAgeMs: HOUR - 100_000 })
    const session = await client.login(sim.username, sim.password)
    expect(sleeps).toEqual([]) // 100 s left: enough for a login (30 s timeout + 30 s margin)
    clock.t += 60_000
    await client.token('reset')
    expect(sleeps).toEqual([42_000]) // the 40 s left, and 2 s for the server's clock
    const newPassword = await client.resetPassword(session, sim.initialPassword)
    expect(sleeps).toEqual([42_000])
    expect(info).toContainEqual(
      expect.stringMatching(/expires in 40 s, too soon for the reset; waiting 42 s for it to lapse, then fetching a new one/)
    )
    expect(count(sim)).toEqual({ token: 2, login: 1, reset: 1, logout: 0 })
    const [reset] = sim.calls('reset')
    expect(reset).toMatchObject({ status: 200, bearerValid: true, bearer: sim.issuedTokens[sim.issuedTokens.length - 1] })
    expect(reset.bearer).not.toBe(sim.calls('login')[0].bearer)
    expect(newPassword).toBe(sim.password)
    expect(client.tokenExpiresAt).toBe(clock.t + HOUR)
  })

  test('an answer without expires_in is trusted for an hour, and a longer one is capped at an hour', async () => {
    const { sim, client, clock } = await rig()
    sim.inject(
      { call: 'token', attempts: [1], status: 200, body: { access_token: 'no-expiry-token', token_type: 'Bearer' } },
      { call: 'token', attempts: [2], status: 200, body: { access_token: 'long-token', expires_in: 86_400 } }
    )
    expect(await client.token()).toBe('no-expiry-token')
    expect(client.tokenExpiresAt).toBe(clock.t + HOUR)
    client.dropToken()
    expect(client.tokenExpiresAt).toBeUndefined()
    expect(await client.token()).toBe('long-token')
    expect(client.tokenExpiresAt).toBe(clock.t + HOUR)
  })

  test('a new token that is still short-lived is an error, after one bounded wait', async () => {
    const { sim, client, sleeps } = await rig()
    sim.inject({ call: 'token', status: 200, body: { access_token: 'short-token', expires_in: 10 } })
    const error = await failure<ThingSpaceError>(client.token('login'))
    expect(error).toBeInstanceOf(ThingSpaceError)
    expect(error).toMatchObject({ call: 'token', kind: 'bad-response' })
    expect(error.message).toBe('ThingSpace OAuth token request: the new token is valid for only 10 s, less than the 60 s a login needs')
    expect(sleeps).toEqual([12_000])
    expect(count(sim).token).toBe(2)
  })

  test('a 503 from the token endpoint is retried, and the retry is logged', async () => {
    const { sim, client, info, sleeps } = await rig()
    sim.inject({ call: 'token', attempts: [1], status: 503, body: { message: 'busy' } })
    await client.login(sim.username, sim.password)
    expect(count(sim)).toEqual({ token: 2, login: 1, reset: 0, logout: 0 })
    expect(info).toEqual(['ThingSpace OAuth token request: answered 503; attempt 1 of 4, trying again in 0.3 s'])
    expect(sleeps).toEqual([250])
  })

  test('a Retry-After on a 429 from the token endpoint sets the wait', async () => {
    const { sim, client, sleeps } = await rig()
    sim.inject({ call: 'token', attempts: [1, 2], status: 429, headers: { 'retry-after': '3' } })
    await client.token()
    expect(sleeps).toEqual([3000, 3000])
    expect(count(sim).token).toBe(3)
  })

  test('the token endpoint gives up after 4 attempts', async () => {
    const { sim, client, sleeps } = await rig()
    sim.inject({ call: 'token', status: 500, body: { message: 'down' } })
    const error = await failure<ThingSpaceError>(client.token())
    expect(error).toMatchObject({ call: 'token', kind: 'server', status: 500 })
    expect(count(sim).token).toBe(4)
    expect(sleeps).toHaveLength(3)
  })

  test('invalid_client is reported with its description and sent once', async () => {
    const { sim, client } = await rig({}, {})
    sim.appSecret = 'another-secret'
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect(error).toMatchObject({ call: 'token', kind: 'oauth', status: 401, code: 'invalid_client' })
    expect(error.message).toContain('invalid_client: Client authentication failed.')
    expect(count(sim)).toEqual({ token: 1, login: 0, reset: 0, logout: 0 })
  })

  test('other OAuth errors are read the same way', async () => {
    const { sim, client } = await rig()
    sim.inject({ call: 'token', ...oauthError('unauthorized_client', 'The client is not allowed this grant.', 400) })
    const error = await failure<ThingSpaceError>(client.token())
    expect(error).toMatchObject({ kind: 'oauth', status: 400, code: 'unauthorized_client' })
    expect(error.message).toBe('ThingSpace OAuth token request: answered 400, unauthorized_client: The client is not allowed this grant.')
    expect(count(sim).token).toBe(1)
  })

  test('a gateway 401 on the token request is a gateway fault', async () => {
    const { sim, client } = await rig()
    sim.inject({ call: 'token', ...gatewayFault('900901') })
    const error = await failure<ThingSpaceError>(client.token())
    expect(error).toMatchObject({ call: 'token', kind: 'gateway', status: 401, code: 'gateway fault 900901' })
    expect(error.message).toContain('gateway fault 900901: Invalid Credentials')
    expect(count(sim).token).toBe(1)
  })

  test.each<{ name: string; answer: Answer; kind: FailureKind; message: string }>([
    {
      name: 'a 401 with an empty body',
      answer: { status: 401 },
      kind: 'unrecognised',
      message: "answered 401 in a shape ThingSpace's documents do not give: an empty body"
    },
    {
      name: 'a 400 with a message and no error',
      answer: { status: 400, body: { message: 'bad' } },
      kind: 'unrecognised',
      message: "answered 400 in a shape ThingSpace's documents do not give: a JSON object with message and no errorCode (bad)"
    },
    {
      name: 'a 403 with a UWS errorCode',
      answer: { status: 403, body: { errorCode: 'UnifiedWebService.REQUEST_FAILED.Forbidden', errorMessage: 'no' } },
      kind: 'refused',
      message: 'answered 403, REQUEST_FAILED.Forbidden: no'
    }
  ])('$name from the token endpoint is $kind, sent once', async ({ answer, kind, message }) => {
    const { sim, client, sleeps } = await rig()
    sim.inject({ call: 'token', ...answer })
    const error = await failure<ThingSpaceError>(client.token())
    expect({ call: error.call, kind: error.kind, message: error.message }).toEqual({
      call: 'token',
      kind,
      message: `ThingSpace OAuth token request: ${message}`
    })
    expect({ token: count(sim).token, sleeps }).toEqual({ token: 1, sleeps: [] })
  })

  test('an answer without access_token, or not JSON, is a bad response', async () => {
    const { sim, client } = await rig()
    sim.inject(
      { call: 'token', attempts: [1], status: 200, body: { token_type: 'Bearer' } },
      { call: 'token', attempts: [2], status: 200, rawBody: '<html>ok</html>', contentType: 'text/html' }
    )
    expect((await failure<ThingSpaceError>(client.token())).message).toBe('ThingSpace OAuth token request: answered 200 without an access_token')
    expect((await failure<ThingSpaceError>(client.token())).message).toBe('ThingSpace OAuth token request: answered 200 with a body that is not JSON')
  })
})

describe('login', () => {
  test('200 with a sessionToken opens a session with the documented idle limit', async () => {
    const { sim, client, masked } = await rig()
    const session = await client.login(sim.username, sim.password)
    expect(session).toEqual({ token: sim.issuedTokens[1], idleLifetimeMs: 20 * MINUTE })
    expect(sim.sessions.has(session.token)).toBe(true)
    expect(masked).toContain(session.token)
    expect(masked).toContain(sim.issuedTokens[0])
    const [login] = sim.calls('login')
    expect(login).toMatchObject({ method: 'POST', path: '/api/m2m/v1/session/login', status: 200, bearerValid: true })
  })

  test.each([
    [3600, 20 * MINUTE],
    [600, 10 * MINUTE],
    [0, 20 * MINUTE],
    [-5, 20 * MINUTE]
  ])('expiresIn %p gives an idle lifetime of %p ms', async (expiresInSeconds, idleLifetimeMs) => {
    const { sim, client } = await rig({ expiresInSeconds })
    expect((await client.login(sim.username, sim.password)).idleLifetimeMs).toBe(idleLifetimeMs)
  })

  test('400 with an errorCode is a refusal: sent once, counted, never retried', async () => {
    const { sim, client } = await rig()
    const error = await failure<ThingSpaceError>(client.login(sim.username, 'a-wrong-password'))
    expect(error).toMatchObject({ call: 'login', kind: 'refused', status: 400, code: 'REQUEST_FAILED.InvalidCredentials' })
    expect(error.message).toBe('ThingSpace login: answered 400, REQUEST_FAILED.InvalidCredentials: The username or password is not correct.')
    expect(count(sim)).toEqual({ token: 1, login: 1, reset: 0, logout: 0 })
    expect(sim.consecutiveFailures).toBe(1)
    expect(mayHaveCounted(error)).toBe(true)
    expect(mayRetryLogin(error, 1)).toBe(false)
    expect(error.tokenRejected).toBe(false)
  })

  test.each(['900901', '900902'])('a gateway 401 (%s) on the first login gets one fresh token and one more login', async (code) => {
    const { sim, client, info } = await rig()
    sim.inject({ call: 'login', attempts: [1], ...gatewayFault(code) })
    const session = await client.login(sim.username, sim.password)
    expect(sim.sessions.has(session.token)).toBe(true)
    expect(count(sim)).toEqual({ token: 2, login: 2, reset: 0, logout: 0 })
    expect(sim.consecutiveFailures).toBe(0)
    expect(info).toContainEqual(expect.stringMatching(new RegExp(`gateway fault ${code}.*fetching a fresh OAuth token and logging in once more`)))
  })

  test('a gateway 401 on both logins is thrown as a gateway fault, not counted', async () => {
    const { sim, client } = await rig()
    sim.inject({ call: 'login', ...gatewayFault('900901') })
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect(error).toMatchObject({ call: 'login', kind: 'gateway', status: 401, code: 'gateway fault 900901' })
    expect(error.tokenRejected).toBe(true)
    expect(count(sim)).toEqual({ token: 2, login: 2, reset: 0, logout: 0 })
    expect(mayHaveCounted(error)).toBe(false)
    expect(mayRetryLogin(error, 1)).toBe(false)
  })

  test('an expired token held by the client is refused by the gateway, replaced once, and the login succeeds', async () => {
    const { sim, client, clock } = await rig()
    await client.token()
    // The server's token lapses early (its clock runs ahead): the client's still looks valid.
    clock.t += 30 * MINUTE
    sim.now = () => clock.t + 31 * MINUTE
    const session = await client.login(sim.username, sim.password)
    expect(session.token).toBeTruthy()
    expect(sim.calls('login').map((e) => [e.status, e.bearerValid])).toEqual([
      [401, false],
      [200, true]
    ])
    expect(count(sim).token).toBe(2)
  })

  /**
   * Every non-success answer to a login, by what it positively is. Only the gateway's own faults (a
   * 9009xx code, JSON or am:fault XML) are known not to have reached the user service; a UWS errorCode
   * is a refusal, and any other shape may be one: counted, and never sent again.
   */
  const UWS = { errorCode: 'UnifiedWebService.REQUEST_FAILED.X', errorMessage: 'no' }
  const HTML = '<!DOCTYPE html>\n<html><head><title>400 Bad Request</title></head><body>' + 'x'.repeat(5000) + '</body></html>'
  test.each<{ name: string; answer: Answer; kind: FailureKind; message: string; counted: boolean }>([
    ...[400, 401, 403, 404, 409, 423].map((status) => ({
      name: `${status} with a UWS errorCode (the user service's refusal)`,
      answer: { status, body: UWS },
      kind: 'refused' as const,
      message: `answered ${status}, REQUEST_FAILED.X: no`,
      counted: true
    })),
    {
      name: "the gateway's 400 fault 900906 (JSON)",
      answer: gatewayFault('900906', 400),
      kind: 'gateway',
      message: 'answered 400, gateway fault 900906: No matching resource found for given API Request - The requested resource is not available.',
      counted: false
    },
    {
      name: "the gateway's 403 fault 900908 (JSON)",
      answer: gatewayFault('900908', 403),
      kind: 'gateway',
      message: 'answered 403, gateway fault 900908: Resource forbidden',
      counted: false
    },
    {
      name: "the gateway's 403 fault 900908 (am:fault XML)",
      answer: xmlGatewayFault('900908', 403, 'Access to the resource is forbidden'),
      kind: 'gateway',
      message: 'answered 403, gateway fault 900908: Runtime Error - Access to the resource is forbidden',
      counted: false
    },
    {
      name: "the gateway's fault with a numeric code and no texts",
      answer: { status: 403, body: { fault: { code: 900910 } } },
      kind: 'gateway',
      message: 'answered 403, gateway fault 900910',
      counted: false
    },
    {
      name: '401 with a numeric errorCode',
      answer: { status: 401, body: { errorCode: 1001, errorMessage: 'Authentication failed' } },
      kind: 'unrecognised',
      message: "answered 401 in a shape ThingSpace's documents do not give: errorCode 1001 (Authentication failed)",
      counted: true
    },
    {
      name: '403 with an empty body',
      answer: { status: 403 },
      kind: 'unrecognised',
      message: "answered 403 in a shape ThingSpace's documents do not give: an empty body",
      counted: true
    },
    {
      name: '400 with an HTML page (not quoted)',
      answer: { status: 400, rawBody: HTML, contentType: 'text/html' },
      kind: 'unrecognised',
      message: "answered 400 in a shape ThingSpace's documents do not give: an HTML page",
      counted: true
    },
    {
      name: '401 with {}',
      answer: { status: 401, body: {} },
      kind: 'unrecognised',
      message: "answered 401 in a shape ThingSpace's documents do not give: an empty JSON object",
      counted: true
    },
    {
      name: '400 with a message and no errorCode',
      answer: { status: 400, body: { message: 'Invalid request' } },
      kind: 'unrecognised',
      message: "answered 400 in a shape ThingSpace's documents do not give: a JSON object with message and no errorCode (Invalid request)",
      counted: true
    },
    {
      name: '404 with an empty errorCode',
      answer: { status: 404, body: { errorCode: '', errorMessage: 'Not found' } },
      kind: 'unrecognised',
      message: 'answered 404 in a shape ThingSpace\'s documents do not give: errorCode "" (Not found)',
      counted: true
    },
    {
      name: '418 with plain text (not quoted)',
      answer: { status: 418, rawBody: 'I am a teapot' },
      kind: 'unrecognised',
      message: "answered 418 in a shape ThingSpace's documents do not give: a body that is not JSON (13 characters)",
      counted: true
    },
    {
      name: '400 with a JSON array',
      answer: { status: 400, body: ['bad'] },
      kind: 'unrecognised',
      message: 'answered 400 in a shape ThingSpace\'s documents do not give: JSON that is not an object (["bad"])',
      counted: true
    },
    {
      name: 'an OAuth error on the login (only the token endpoint answers so)',
      answer: oauthError('invalid_token', 'The access token is not valid.'),
      kind: 'unrecognised',
      message: "answered 401 in a shape ThingSpace's documents do not give: an OAuth error invalid_token (The access token is not valid.)",
      counted: true
    },
    {
      name: "a fault whose code is not one of the gateway's",
      answer: { status: 403, body: { fault: { code: '101503', message: 'Runtime Error' } } },
      kind: 'unrecognised',
      message: "answered 403 in a shape ThingSpace's documents do not give: a JSON fault with code 101503, not one of the gateway's (Runtime Error)",
      counted: true
    },
    {
      name: "the gateway's throttling fault on a 403 (only its 429 is throttling)",
      answer: gatewayFault('900800', 403, 'Message throttled out'),
      kind: 'unrecognised',
      message: "answered 403 in a shape ThingSpace's documents do not give: gateway fault 900800: Message throttled out",
      counted: true
    },
    {
      name: 'an XML fault that is not the am:fault',
      answer: { status: 403, rawBody: '<fault><code>900908</code></fault>', contentType: 'application/xml' },
      kind: 'unrecognised',
      message: "answered 403 in a shape ThingSpace's documents do not give: a body that is not JSON (34 characters)",
      counted: true
    }
  ])('$name: $kind, sent once, never retried', async ({ answer, kind, message, counted }) => {
    const { sim, client, sleeps } = await rig()
    sim.inject({ call: 'login', ...answer })
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect(error).toBeInstanceOf(ThingSpaceError)
    expect({ call: error.call, kind: error.kind, status: error.status, message: error.message }).toEqual({
      call: 'login',
      kind,
      status: answer.status,
      message: `ThingSpace login: ${message}`
    })
    expect({ mayHaveCounted: mayHaveCounted(error), mayRetryLogin: mayRetryLogin(error, 1), tokenRejected: error.tokenRejected }).toEqual({
      mayHaveCounted: counted,
      mayRetryLogin: false,
      tokenRejected: false
    })
    expect(count(sim)).toEqual({ token: 1, login: 1, reset: 0, logout: 0 })
    expect(sleeps).toEqual([])
  })

  test('a login refused in an unknown shape after the user service counted it: counted there, and classed as may-have-counted here', async () => {
    const { sim, client } = await rig()
    sim.inject({ call: 'login', afterActing: true, status: 401, body: { errorCode: 1001, errorMessage: 'Authentication failed' } })
    const error = await failure<ThingSpaceError>(client.login(sim.username, 'a-wrong-password'))
    expect({ kind: error.kind, mayHaveCounted: mayHaveCounted(error), simulatorCounted: sim.consecutiveFailures }).toEqual({
      kind: 'unrecognised',
      mayHaveCounted: true,
      simulatorCounted: 1
    })
  })

  test('a refused connection never left: retried up to 4 attempts with the injected sleep', async () => {
    const { sim, client, sleeps, info } = await rig()
    await client.token()
    await sim.stop()
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect(error).toMatchObject({ call: 'login', kind: 'not-sent' })
    expect(error.message).toBe('ThingSpace login: could not connect (ECONNREFUSED)')
    expect(sleeps).toEqual([250, 500, 1000])
    expect(info.filter((l) => /could not connect \(ECONNREFUSED\); attempt \d of 4/.test(l))).toHaveLength(3)
    expect(mayHaveCounted(error)).toBe(false)
    expect(count(sim)).toEqual({ token: 1, login: 0, reset: 0, logout: 0 })
  })

  test('a token request to a closed port is retried too, then reported as not sent', async () => {
    const port = await closedPort()
    const { client, sleeps } = await rig({}, { baseUrl: new URL(`http://127.0.0.1:${port}`) })
    const error = await failure<ThingSpaceError>(client.token())
    expect(error).toMatchObject({ call: 'token', kind: 'not-sent' })
    expect(sleeps).toHaveLength(3)
  })

  test('a connection dropped after the login was handled is lost: sent once, may have counted', async () => {
    const { sim, client } = await rig()
    sim.inject({ call: 'login', drop: 'after' })
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect(error).toMatchObject({ call: 'login', kind: 'lost' })
    expect(error.message).toMatch(/^ThingSpace login: the connection failed before an answer came/)
    expect(count(sim).login).toBe(1)
    expect(mayHaveCounted(error)).toBe(true)
    expect(mayRetryLogin(error, 1)).toBe(true)
    expect(mayRetryLogin(error, 0)).toBe(false)
  })

  test('a login slower than its timeout is a timeout, sent once', async () => {
    const { sim, client } = await rig({}, { timeoutsMs: { login: 100 } })
    sim.inject({ call: 'login', delayMs: 500 })
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect(error).toMatchObject({ call: 'login', kind: 'timeout' })
    expect(error.message).toBe('ThingSpace login: no answer within 0.1 s')
    expect(count(sim).login).toBe(1)
    expect(mayHaveCounted(error)).toBe(true)
  })

  test.each<{ name: string; answer: Answer; message: string }>([
    {
      name: 'a 500 with a UWS errorCode',
      answer: { status: 500, body: { errorCode: 'UnifiedWebService.SERVER_ERROR.Internal', errorMessage: 'oops' } },
      message: 'answered 500 SERVER_ERROR.Internal (oops)'
    },
    { name: 'a 502 with no body', answer: { status: 502 }, message: 'answered 502' },
    {
      name: 'a 502 with an HTML page',
      answer: { status: 502, rawBody: '<html><body>Bad Gateway</body></html>', contentType: 'text/html' },
      message: 'answered 502'
    },
    { name: 'a 429 with a message only', answer: { status: 429, body: { message: 'slow down' } }, message: 'answered 429' },
    {
      name: "a 503 with a fault that is not the gateway's",
      answer: { status: 503, body: gatewayFault('101503', 503).body },
      message: 'answered 503'
    },
    {
      name: 'a 429 with a UWS errorCode',
      answer: { status: 429, body: { errorCode: 'UnifiedWebService.REQUEST_FAILED.TooMany', errorMessage: 'slow' } },
      message: 'answered 429 REQUEST_FAILED.TooMany (slow)'
    }
  ])('$name is a server failure: it may have reached the user service, sent once, retried only by the caller', async ({ answer, message }) => {
    const { sim, client, sleeps } = await rig()
    sim.inject({ call: 'login', ...answer })
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect({ kind: error.kind, status: error.status, message: error.message }).toEqual({
      kind: 'server',
      status: answer.status,
      message: `ThingSpace login: ${message}`
    })
    expect({
      login: count(sim).login,
      sleeps,
      mayHaveCounted: mayHaveCounted(error),
      retry: [mayRetryLogin(error, 1), mayRetryLogin(error, 0)]
    }).toEqual({
      login: 1,
      sleeps: [],
      mayHaveCounted: true,
      retry: [true, false]
    })
  })

  test.each([
    {
      name: 'a JSON fault 900800',
      answer: gatewayFault('900800', 429, 'Message throttled out'),
      message: 'answered 429 gateway fault 900800 (Message throttled out)'
    },
    {
      name: 'an am:fault XML 900802',
      answer: xmlGatewayFault('900802', 429, 'You have exceeded your quota'),
      message: 'answered 429 gateway fault 900802 (Runtime Error - You have exceeded your quota)'
    },
    {
      name: 'a JSON fault 900901',
      answer: gatewayFault('900901', 429),
      message:
        'answered 429 gateway fault 900901 (Invalid Credentials - Invalid Credentials. Make sure you have provided the correct security credentials)'
    }
  ])(
    "the gateway's own 429 ($name) is throttling: never seen by the user service, retried like a request never sent",
    async ({ answer, message }) => {
      const { sim, client, sleeps, info } = await rig()
      sim.inject({ call: 'login', attempts: [1, 2], ...answer })
      const session = await client.login(sim.username, sim.password)
      expect(sim.sessions.has(session.token)).toBe(true)
      expect(count(sim)).toEqual({ token: 1, login: 3, reset: 0, logout: 0 })
      expect(sleeps).toEqual([250, 500])
      expect(info).toEqual([
        `ThingSpace login: ${message}; attempt 1 of 4, trying again in 0.3 s`,
        `ThingSpace login: ${message}; attempt 2 of 4, trying again in 0.5 s`
      ])
      expect(sim.consecutiveFailures).toBe(0)
    }
  )

  test('throttling that lasts gives up after 4 attempts, waiting as Retry-After says, and is not a counted login', async () => {
    const { sim, client, sleeps } = await rig()
    sim.inject({ call: 'login', ...gatewayFault('900800', 429, 'Message throttled out'), headers: { 'retry-after': '2' } })
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect(error).toMatchObject({ call: 'login', kind: 'throttled', status: 429, code: 'gateway fault 900800', retryAfterMs: 2000 })
    expect(sleeps).toEqual([2000, 2000, 2000])
    expect(count(sim)).toEqual({ token: 1, login: 4, reset: 0, logout: 0 })
    expect(mayHaveCounted(error)).toBe(false)
    expect(mayRetryLogin(error, 1)).toBe(false)
  })

  test("a token failure inside the login is the token request's own: retried there, not again by the login", async () => {
    const { sim, client, sleeps } = await rig()
    sim.inject({ call: 'token', status: 503, body: { message: 'down' } })
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect(error).toMatchObject({ call: 'token', kind: 'server', status: 503 })
    expect(count(sim)).toEqual({ token: 4, login: 0, reset: 0, logout: 0 })
    expect(sleeps).toHaveLength(3)
  })

  test('a token request to a closed port inside the login is retried 4 times in all, not 4 times 4', async () => {
    const port = await closedPort()
    const { client, sleeps } = await rig({}, { baseUrl: new URL(`http://127.0.0.1:${port}`) })
    const error = await failure<ThingSpaceError>(client.login('u', 'p'))
    expect(error).toMatchObject({ call: 'token', kind: 'not-sent' })
    expect(sleeps).toHaveLength(3)
  })

  test('a redirect is not followed, may have counted (the service may have answered it), and is never sent again', async () => {
    const { sim, client } = await rig()
    sim.inject({ call: 'login', attempts: [1], status: 302, headers: { location: `${sim.url}/api/m2m/v1/session/login` } })
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect(error).toMatchObject({ kind: 'redirect', status: 302 })
    expect(count(sim).login).toBe(1)
    expect([mayHaveCounted(error), mayRetryLogin(error, 1)]).toEqual([true, false])
  })

  test('200 without a sessionToken is a bad response', async () => {
    const { sim, client } = await rig()
    sim.inject({ call: 'login', status: 200, body: { token: 'x' } })
    const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
    expect(error).toMatchObject({ call: 'login', kind: 'bad-response', status: 200 })
    expect(error.message).toBe('ThingSpace login: answered 200 without a sessionToken')
    // The user service answered: whatever it did with the login, it is not sent again.
    expect([mayHaveCounted(error), mayRetryLogin(error, 1)]).toEqual([true, false])
  })

  test('200 with an empty body is a bad response too', async () => {
    const { sim, client } = await rig()
    sim.inject({ call: 'login', status: 200 })
    expect((await failure<ThingSpaceError>(client.login(sim.username, sim.password))).message).toBe(
      'ThingSpace login: answered 200 without a sessionToken'
    )
  })
})

describe('reset', () => {
  async function loggedIn(options: SimOptions = {}, clientOptions: Partial<ThingSpaceOptions> = {}) {
    const r = await rig(options, clientOptions)
    const session = await r.client.login(r.sim.username, r.sim.password)
    return { ...r, session }
  }

  test('returns the new password, masked before it is returned', async () => {
    const { sim, client, session, events } = await loggedIn()
    const newPassword = await client.resetPassword(session, sim.initialPassword)
    events.push(`returned:${newPassword}`)
    expect(newPassword).toBe(sim.password)
    expect(newPassword).not.toBe(sim.initialPassword)
    expect(events.indexOf(`mask:${newPassword}`)).toBeGreaterThanOrEqual(0)
    expect(events.indexOf(`mask:${newPassword}`)).toBeLessThan(events.indexOf(`returned:${newPassword}`))
    expect(sim.calls('reset')[0]).toMatchObject({ method: 'PUT', path: '/api/m2m/v1/session/password/actions/reset', status: 200 })
  })

  // The password's state after a failed reset is judged by the flow from the kind: only refused, gateway,
  // oauth and not-sent (and a failed token request) mean "not processed"; every other kind, unrecognised
  // included, leaves it unknown.
  test.each<{ name: string; fault?: Omit<Fault, 'call'>; oldPassword?: string; kind: FailureKind; message: string; changed?: boolean }>([
    {
      name: 'refused (wrong oldPassword)',
      oldPassword: 'not-the-password',
      kind: 'refused',
      message: 'answered 400, INPUT_INVALID.OldPassword: The old password is not correct.'
    },
    {
      name: 'a gateway 401',
      fault: gatewayFault('900901'),
      kind: 'gateway',
      message:
        'answered 401, gateway fault 900901: Invalid Credentials - Invalid Credentials. Make sure you have provided the correct security credentials'
    },
    {
      name: 'a 403 am:fault XML',
      fault: xmlGatewayFault(),
      kind: 'gateway',
      message: 'answered 403, gateway fault 900908: Runtime Error - Resource forbidden'
    },
    { name: 'a 500', fault: { status: 500 }, kind: 'server', message: 'answered 500' },
    { name: 'a 429', fault: { status: 429, headers: { 'retry-after': '1' } }, kind: 'server', message: 'answered 429' },
    {
      name: "the gateway's own 429",
      fault: gatewayFault('900800', 429),
      kind: 'throttled',
      message: 'answered 429 gateway fault 900800 (Gateway error)'
    },
    {
      name: 'a 403 with a UWS errorCode',
      fault: { status: 403, body: { errorCode: 'A.B', errorMessage: 'no' } },
      kind: 'refused',
      message: 'answered 403, B: no'
    },
    {
      name: '401 with a numeric errorCode',
      fault: { status: 401, body: { errorCode: 1001, errorMessage: 'Authentication failed' } },
      kind: 'unrecognised',
      message: "answered 401 in a shape ThingSpace's documents do not give: errorCode 1001 (Authentication failed)"
    },
    {
      name: '403 with an empty body',
      fault: { status: 403 },
      kind: 'unrecognised',
      message: "answered 403 in a shape ThingSpace's documents do not give: an empty body"
    },
    {
      name: '400 with an HTML page',
      fault: { status: 400, rawBody: '<html><body>Bad Request</body></html>', contentType: 'text/html' },
      kind: 'unrecognised',
      message: "answered 400 in a shape ThingSpace's documents do not give: an HTML page"
    },
    {
      name: '401 with {}',
      fault: { status: 401, body: {} },
      kind: 'unrecognised',
      message: "answered 401 in a shape ThingSpace's documents do not give: an empty JSON object"
    },
    {
      name: 'an OAuth error on the reset',
      fault: oauthError('invalid_token', 'expired'),
      kind: 'unrecognised',
      message: "answered 401 in a shape ThingSpace's documents do not give: an OAuth error invalid_token (expired)"
    },
    {
      name: '400 in an unknown shape after the password was changed',
      fault: { afterActing: true, status: 400, body: { message: 'Bad request' } },
      kind: 'unrecognised',
      changed: true,
      message: "answered 400 in a shape ThingSpace's documents do not give: a JSON object with message and no errorCode (Bad request)"
    },
    {
      name: 'a connection dropped after the change',
      fault: { drop: 'after' },
      kind: 'lost',
      message: 'the connection failed before an answer came (ECONNRESET)',
      changed: true
    },
    {
      name: 'a connection dropped before',
      fault: { drop: 'before' },
      kind: 'lost',
      message: 'the connection failed before an answer came (ECONNRESET)'
    },
    {
      name: 'a 307 redirect',
      fault: { status: 307, headers: { location: '/api/m2m/v1/session/password/actions/reset' } },
      kind: 'redirect',
      message: 'answered 307 (a redirect, not followed)'
    },
    { name: 'a 204', fault: { status: 204 }, kind: 'bad-response', message: 'answered 204 without a newPassword' },
    // Blanks are no password anyone could log in with: never stored. Was a BUG at 1784f78 (stored everywhere,
    // then the verify login with it was refused and counted).
    ...['   ', '\t', ' \n '].map((blank) => ({
      name: `a 200 whose newPassword is ${JSON.stringify(blank)}`,
      fault: { status: 200, body: { newPassword: blank }, afterActing: true },
      kind: 'bad-response' as const,
      message: 'answered 200 without a newPassword',
      changed: true
    }))
  ])('is sent exactly once when it fails: $name is $kind', async ({ fault, oldPassword, kind, message, changed = false }) => {
    const { sim, client, session } = await loggedIn()
    if (fault) sim.inject({ call: 'reset', ...fault })
    const error = await failure<ThingSpaceError>(client.resetPassword(session, oldPassword ?? sim.initialPassword))
    expect(error).toBeInstanceOf(ThingSpaceError)
    expect({ call: error.call, kind: error.kind }).toEqual({ call: 'reset', kind })
    expect(error.message).toBe(`ThingSpace password reset: ${message}`)
    expect(count(sim)).toEqual({ token: 1, login: 1, reset: 1, logout: 0 })
    expect(sim.password !== sim.initialPassword).toBe(changed)
    expect(mayHaveCounted(error)).toBe(false)
  })

  test.each<[string, number | undefined]>([
    ['no token at all', undefined],
    ['a token with 59 s left (the reset allows 60 s)', 59_000],
    ['a token that lapsed', -1]
  ])('is not sent with %s: not-sent, nothing reaches the simulator, and no token is fetched', async (_name, leftMs) => {
    const { sim, client, clock, sleeps } = await loggedIn()
    if (leftMs === undefined) client.dropToken()
    else clock.t = client.tokenExpiresAt! - leftMs
    const tokens = count(sim).token
    const error = await failure<ThingSpaceError>(client.resetPassword({ token: 'session', idleLifetimeMs: 20 * MINUTE }, sim.initialPassword))
    expect(error).toBeInstanceOf(ThingSpaceError)
    expect(error).toMatchObject({ call: 'reset', kind: 'not-sent' })
    expect(error.message).toBe('ThingSpace password reset: not sent: the OAuth token would lapse before the answer came')
    expect(count(sim)).toEqual({ token: tokens, login: 1, reset: 0, logout: 0 })
    expect(sleeps).toEqual([])
    expect(sim.password).toBe(sim.initialPassword)
  })

  test('is sent with a held token that outlives its timeout, without waiting or asking for another', async () => {
    const { sim, client, clock, session, sleeps } = await loggedIn()
    clock.t = client.tokenExpiresAt! - 60_000
    sim.sessions.get(session.token)!.lastActivity = clock.t
    const newPassword = await client.resetPassword(session, sim.initialPassword)
    expect(newPassword).toBe(sim.password)
    expect(count(sim)).toEqual({ token: 1, login: 1, reset: 1, logout: 0 })
    expect(sleeps).toEqual([])
  })

  test('a reset slower than its timeout is a timeout, sent once', async () => {
    const { sim, client, session } = await loggedIn({}, { timeoutsMs: { reset: 100 } })
    sim.inject({ call: 'reset', delayMs: 500 })
    const error = await failure<ThingSpaceError>(client.resetPassword(session, sim.initialPassword))
    expect(error).toMatchObject({ call: 'reset', kind: 'timeout' })
    expect(count(sim).reset).toBe(1)
  })

  test('a reset with an unknown or expired session is a session error', async () => {
    const { sim, client, session, clock } = await loggedIn()
    const unknown = await failure<ThingSpaceError>(client.resetPassword({ token: 'no-such-session', idleLifetimeMs: 1 }, sim.initialPassword))
    expect(unknown.code).toBe('INPUT_INVALID.SessionToken.Invalid')
    expect(isSessionError(unknown)).toBe(true)
    clock.t += 21 * MINUTE
    const expired = await failure<ThingSpaceError>(client.resetPassword(session, sim.initialPassword))
    expect(expired.code).toBe('REQUEST_FAILED.SessionToken.Expired')
    expect(isSessionError(expired)).toBe(true)
    expect(isSessionError(new ThingSpaceError('reset', 'gateway', 'x', { code: 'SessionToken' }))).toBe(false)
    expect(isSessionError(new Error('SessionToken'))).toBe(false)
    expect(sim.password).toBe(sim.initialPassword)
  })
})

describe('every answer is bounded as a whole, headers and body', () => {
  const TIMEOUTS = { token: 200, login: 200, reset: 200, logout: 200 }
  const login = (r: Rig): Promise<Session> => r.client.login(r.sim.username, r.sim.password)

  // The call's own timeout covers the whole answer: the request and the response are destroyed at
  // the deadline, and the call fails as a timeout, which the caller judges by the kind.
  test.each<{
    name: string
    call: ThingSpaceCall
    stall: 'headers' | 'body'
    stallAfterBytes?: number
    act: (r: Rig) => Promise<unknown>
    message: string
    status?: number
    requests: number
    changed?: boolean
  }>([
    {
      name: "the token answer's body, on every attempt (retried: the token request is safe to repeat)",
      call: 'token',
      stall: 'body',
      act: (r) => r.client.token(),
      message: 'ThingSpace OAuth token request: answered 200, but the body did not finish within 0.2 s',
      status: 200,
      requests: 4
    },
    {
      name: 'the token answer, never begun, on every attempt',
      call: 'token',
      stall: 'headers',
      act: (r) => r.client.token(),
      message: 'ThingSpace OAuth token request: no answer within 0.2 s',
      requests: 4
    },
    {
      name: "the login answer's body",
      call: 'login',
      stall: 'body',
      act: login,
      message: 'ThingSpace login: answered 200, but the body did not finish within 0.2 s',
      status: 200,
      requests: 1
    },
    {
      name: "the login answer's body, half sent",
      call: 'login',
      stall: 'body',
      stallAfterBytes: 20,
      act: login,
      message: 'ThingSpace login: answered 200, but the body did not finish within 0.2 s',
      status: 200,
      requests: 1
    },
    {
      name: 'the login answer, never begun',
      call: 'login',
      stall: 'headers',
      act: login,
      message: 'ThingSpace login: no answer within 0.2 s',
      requests: 1
    },
    {
      name: "the reset answer's body (the password changed)",
      call: 'reset',
      stall: 'body',
      act: async (r) => r.client.resetPassword(await login(r), r.sim.initialPassword),
      message: 'ThingSpace password reset: answered 200, but the body did not finish within 0.2 s',
      status: 200,
      requests: 1,
      changed: true
    },
    {
      name: 'the reset answer, never begun',
      call: 'reset',
      stall: 'headers',
      act: async (r) => r.client.resetPassword(await login(r), r.sim.initialPassword),
      message: 'ThingSpace password reset: no answer within 0.2 s',
      requests: 1
    },
    {
      name: "the logout answer's body",
      call: 'logout',
      stall: 'body',
      act: async (r) => r.client.logout(await login(r)),
      message: 'ThingSpace logout: answered 200, but the body did not finish within 0.2 s',
      status: 200,
      requests: 1
    }
  ])('$name: a timeout, and the connection closed', async ({ call, stall, stallAfterBytes, act, message, status, requests, changed = false }) => {
    const r = await rig({}, { timeoutsMs: TIMEOUTS })
    r.sim.inject({ call, stall, stallAfterBytes })
    const error = await failure<ThingSpaceError>(act(r))
    expect(error).toBeInstanceOf(ThingSpaceError)
    expect({ call: error.call, kind: error.kind, status: error.status, message: error.message }).toEqual({ call, kind: 'timeout', status, message })
    expect(r.sim.calls(call).map((e) => e.stalled)).toEqual(Array.from({ length: requests }, () => stall))
    expect(r.sim.password !== r.sim.initialPassword).toBe(changed)
    expect(await until(() => r.sim.calls(call).every((e) => e.stallClosedAt !== undefined))).toBe(true)
  })

  test('a stalled login may have counted, and may be retried only by the caller within its budget', async () => {
    const r = await rig({}, { timeoutsMs: TIMEOUTS })
    r.sim.inject({ call: 'login', stall: 'body' })
    const error = await failure<ThingSpaceError>(login(r))
    expect([mayHaveCounted(error), mayRetryLogin(error, 1), mayRetryLogin(error, 0)]).toEqual([true, true, false])
    expect(count(r.sim)).toEqual({ token: 1, login: 1, reset: 0, logout: 0 })
  })

  test('a token answer stalled once is retried, and the retry says why', async () => {
    const r = await rig({}, { timeoutsMs: TIMEOUTS })
    r.sim.inject({ call: 'token', attempts: [1], stall: 'body' })
    expect(await r.client.token()).toBe(r.sim.issuedTokens[0])
    expect(r.info).toEqual([
      'ThingSpace OAuth token request: answered 200, but the body did not finish within 0.2 s; attempt 1 of 4, trying again in 0.3 s'
    ])
    expect(r.debug).toEqual([
      'ThingSpace POST /api/ts/v1/oauth2/token -> 200, body unfinished',
      expect.stringMatching(/^ThingSpace POST \/api\/ts\/v1\/oauth2\/token -> 200 \(\d+ ms\)$/)
    ])
  })

  test('a body that keeps trickling in is cut at the deadline too: the bound is on the whole answer, not on idle time', async () => {
    // A server that answers the login's headers at once, then one byte of body every 20 ms, forever.
    const trickles: NodeJS.Timeout[] = []
    const server = http.createServer((req, res) => {
      if (req.url === '/api/ts/v1/oauth2/token')
        return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ access_token: 'tok', expires_in: 3600 }))
      res.writeHead(200, { 'Content-Type': 'application/json' })
      trickles.push(setInterval(() => res.write(' '), 20))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { client } = await rig({}, { baseUrl: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), timeoutsMs: { login: 300 } })
      const error = await failure<ThingSpaceError>(client.login('user', 'password'))
      expect({ kind: error.kind, message: error.message }).toEqual({
        kind: 'timeout',
        message: 'ThingSpace login: answered 200, but the body did not finish within 0.3 s'
      })
    } finally {
      trickles.forEach(clearInterval)
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  test('the simulator ends a stalled answer when it stops, so nothing is left open', async () => {
    const r = await rig({}, { timeoutsMs: { login: 60_000 } })
    r.sim.inject({ call: 'login', stall: 'body' })
    const pending = failure<ThingSpaceError>(login(r))
    expect(await until(() => r.sim.calls('login').length === 1)).toBe(true)
    await r.sim.stop()
    const error = await pending
    expect({ kind: error.kind, message: error.message }).toEqual({
      kind: 'lost',
      message: 'ThingSpace login: the connection failed after it answered 200, before the body was complete (ECONNRESET)'
    })
  })
})

describe('logout', () => {
  test('ends the session', async () => {
    const { sim, client } = await rig()
    const session = await client.login(sim.username, sim.password)
    await client.logout(session)
    expect(sim.loggedOut.has(session.token)).toBe(true)
    expect(sim.calls('logout')[0]).toMatchObject({ method: 'POST', path: '/api/m2m/v1/session/logout', status: 200 })
  })

  test.each([
    ['a 500', { status: 500 }, 'server'],
    ['a dropped connection', { drop: 'before' as const }, 'lost']
  ])('is one attempt, even after %s', async (_name, fault, kind) => {
    const { sim, client } = await rig()
    const session = await client.login(sim.username, sim.password)
    sim.inject({ call: 'logout', ...fault })
    const error = await failure<ThingSpaceError>(client.logout(session))
    expect(error).toMatchObject({ call: 'logout', kind })
    expect(count(sim).logout).toBe(1)
  })

  test('uses a held token that is still valid, however short its rest, without waiting or asking for another', async () => {
    const { sim, client, clock, sleeps } = await rig({ sessionIdleMs: HOUR })
    const session = await client.login(sim.username, sim.password)
    clock.t = client.tokenExpiresAt! - 3_000 // less than the logout's 5 s timeout and the 30 s margin
    await client.logout(session)
    expect(sim.loggedOut.has(session.token)).toBe(true)
    expect(sleeps).toEqual([])
    expect(count(sim)).toEqual({ token: 1, login: 1, reset: 0, logout: 1 })
    expect(sim.calls('logout')[0]).toMatchObject({ status: 200, bearerValid: true, bearer: sim.issuedTokens[0] })
  })

  test('asks for a new token at once when the held one lapsed, without waiting', async () => {
    const { sim, client, clock, sleeps } = await rig({ sessionIdleMs: 2 * HOUR })
    const session = await client.login(sim.username, sim.password)
    clock.t = client.tokenExpiresAt!
    await client.logout(session)
    expect(sim.loggedOut.has(session.token)).toBe(true)
    expect(sleeps).toEqual([])
    expect(count(sim)).toEqual({ token: 2, login: 1, reset: 0, logout: 1 })
    expect(sim.calls('logout')[0]).toMatchObject({ status: 200, bearerValid: true, bearer: sim.issuedTokens.at(-1) })
    expect(client.tokenExpiresAt).toBe(clock.t + HOUR)
  })

  test('with no token held, asks for one', async () => {
    const { sim, client, sleeps } = await rig()
    const session = await client.login(sim.username, sim.password)
    client.dropToken()
    await client.logout(session)
    expect(sleeps).toEqual([])
    expect(count(sim)).toEqual({ token: 2, login: 1, reset: 0, logout: 1 })
  })

  test('has a short timeout of its own', () => {
    expect(TIMEOUT_MS.logout).toBeLessThan(TIMEOUT_MS.login)
  })
})

describe('describeError', () => {
  const XML = xmlGatewayFault('900908', 403, 'Resource forbidden').rawBody!
  test.each<{ name: string; json?: unknown; text?: string; expected: ErrorBody }>([
    {
      name: 'a UWS error, without its service prefix',
      json: { errorCode: 'UnifiedWebService.REQUEST_FAILED.AccountNotFound', errorMessage: ' No account. ' },
      expected: {
        shape: 'uws',
        code: 'REQUEST_FAILED.AccountNotFound',
        description: 'No account.',
        summary: 'REQUEST_FAILED.AccountNotFound: No account.'
      }
    },
    {
      name: 'a UWS code without a prefix or message',
      json: { errorCode: 'Plain' },
      expected: { shape: 'uws', code: 'Plain', description: undefined, summary: 'Plain' }
    },
    {
      name: 'a JSON gateway fault',
      json: { fault: { code: '900901', message: 'Invalid Credentials', description: 'Make sure you provided the correct credentials' } },
      expected: {
        shape: 'gateway',
        code: 'gateway fault 900901',
        description: 'Invalid Credentials - Make sure you provided the correct credentials',
        summary: 'gateway fault 900901: Invalid Credentials - Make sure you provided the correct credentials'
      }
    },
    {
      name: 'a JSON gateway fault with a numeric code and a repeated text',
      json: { fault: { code: 900902, message: 'Missing', description: 'Missing' } },
      expected: { shape: 'gateway', code: 'gateway fault 900902', description: 'Missing', summary: 'gateway fault 900902: Missing' }
    },
    {
      name: 'a JSON gateway fault with no texts',
      json: { fault: { code: '900906' } },
      expected: { shape: 'gateway', code: 'gateway fault 900906', description: undefined, summary: 'gateway fault 900906' }
    },
    {
      name: "the gateway's throttling fault",
      json: { fault: { code: '900800', message: 'Message throttled out' } },
      expected: {
        shape: 'gateway-throttling',
        code: 'gateway fault 900800',
        description: 'Message throttled out',
        summary: 'gateway fault 900800: Message throttled out'
      }
    },
    {
      name: "a fault with a code that is not the gateway's",
      json: { fault: { code: '101503', message: 'Runtime Error' } },
      expected: { summary: "a JSON fault with code 101503, not one of the gateway's (Runtime Error)" }
    },
    {
      name: 'a fault with a code that only contains a gateway code',
      json: { fault: { code: '9009011' } },
      expected: { summary: "a JSON fault with code 9009011, not one of the gateway's" }
    },
    {
      name: 'an OAuth error',
      json: { error: 'invalid_client', error_description: 'Client authentication failed.' },
      expected: {
        shape: 'oauth',
        code: 'invalid_client',
        description: 'Client authentication failed.',
        summary: 'an OAuth error invalid_client (Client authentication failed.)'
      }
    },
    {
      name: 'an OAuth error without description',
      json: { error: 'invalid_grant' },
      expected: { shape: 'oauth', code: 'invalid_grant', description: undefined, summary: 'an OAuth error invalid_grant' }
    },
    {
      name: 'an am:fault XML',
      text: XML,
      expected: {
        shape: 'gateway',
        code: 'gateway fault 900908',
        description: 'Runtime Error - Resource forbidden',
        summary: 'gateway fault 900908: Runtime Error - Resource forbidden'
      }
    },
    {
      name: 'an am:fault XML with a declaration, without description',
      text: '<?xml version="1.0"?>\n<am:fault xmlns:am="http://wso2.org/apimanager"><am:code> 900802 </am:code><am:message>Quota</am:message></am:fault>',
      expected: { shape: 'gateway-throttling', code: 'gateway fault 900802', description: 'Quota', summary: 'gateway fault 900802: Quota' }
    },
    {
      name: 'an XML fault without the am namespace',
      text: '<fault><code>900901</code></fault>',
      expected: { summary: 'a body that is not JSON (34 characters)' }
    },
    { name: 'an HTML page that mentions an am:code', text: '<html><am:code>900901</am:code></html>', expected: { summary: 'an HTML page' } },
    {
      name: 'a numeric errorCode',
      json: { errorCode: 1001, errorMessage: 'Authentication failed' },
      expected: { summary: 'errorCode 1001 (Authentication failed)' }
    },
    { name: 'an empty errorCode', json: { message: 'hello', errorCode: '' }, expected: { summary: 'errorCode ""' } },
    { name: 'an empty answer', text: '', expected: { summary: 'an empty body' } },
    { name: 'whitespace', text: ' \n', expected: { summary: 'an empty body' } },
    { name: 'an empty JSON object', json: {}, expected: { summary: 'an empty JSON object' } },
    {
      name: 'an object with many fields and no errorCode',
      json: { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, message: 'm' },
      expected: { summary: 'a JSON object with a, b, c, d, e, ... and no errorCode (m)' }
    },
    { name: 'a JSON array', json: [1, 2], text: '[1,2]', expected: { summary: 'JSON that is not an object ([1,2])' } },
    { name: 'JSON null', json: null, text: 'null', expected: { summary: 'JSON that is not an object (null)' } },
    { name: 'plain text', text: 'Service Unavailable', expected: { summary: 'a body that is not JSON (19 characters)' } }
  ])('$name', ({ json, text = '', expected }) => {
    expect(describeError(json, text)).toEqual(expected)
  })

  test('long texts are cut', () => {
    const long = 'x'.repeat(500)
    expect(describeError({ errorCode: 'A.B', errorMessage: long }, '').description).toHaveLength(200)
    expect(describeError({ errorCode: `A.${'x'.repeat(500)}` }, '').code).toBe('x'.repeat(100))
    expect(describeError({ errorCode: ['x'.repeat(500)] }, '').summary).toBe(`errorCode ["${'x'.repeat(38)}`)
  })
})

describe('mayHaveCounted and mayRetryLogin: what each kind means for a login', () => {
  // Written out, not read from FAILURES: this is the rule the table must keep.
  test.each<{ kind: FailureKind; counted: boolean; retried: boolean }>([
    { kind: 'refused', counted: true, retried: false },
    { kind: 'unrecognised', counted: true, retried: false },
    { kind: 'redirect', counted: true, retried: false },
    { kind: 'bad-response', counted: true, retried: false },
    { kind: 'server', counted: true, retried: true },
    { kind: 'lost', counted: true, retried: true },
    { kind: 'timeout', counted: true, retried: true },
    { kind: 'gateway', counted: false, retried: false },
    { kind: 'throttled', counted: false, retried: false },
    { kind: 'oauth', counted: false, retried: false },
    { kind: 'not-sent', counted: false, retried: false }
  ])('a login failure of kind $kind: may have counted $counted, may be retried within the budget $retried', ({ kind, counted, retried }) => {
    const error = new ThingSpaceError('login', kind, 'x')
    expect({ counted: mayHaveCounted(error), retried: mayRetryLogin(error, 1), budgetSpent: mayRetryLogin(error, 0) }).toEqual({
      counted,
      retried,
      budgetSpent: false
    })
  })

  test.each<{ call: ThingSpaceCall; kind: FailureKind }>([
    { call: 'reset', kind: 'refused' },
    { call: 'reset', kind: 'unrecognised' },
    { call: 'token', kind: 'timeout' },
    { call: 'logout', kind: 'lost' }
  ])('a $call failure of kind $kind is not a login: never counted, never a login retry', ({ call, kind }) => {
    const error = new ThingSpaceError(call, kind, 'x')
    expect([mayHaveCounted(error), mayRetryLogin(error, 1)]).toEqual([false, false])
  })

  test('anything else never counted', () => {
    expect(mayHaveCounted(new Error('login'))).toBe(false)
    expect(mayRetryLogin('lost', 1)).toBe(false)
  })
})

describe('connections', () => {
  test('every request opens its own connection: no keep-alive, so no stale socket can make a login look lost', async () => {
    const { sim, client } = await rig()
    // The simulator's own 1 s keep-alive is too short for Node's client to reuse a socket, so what the
    // client asks for is read from each request: `Connection: close`, not `keep-alive`.
    const server = (sim as unknown as { server: http.Server }).server
    server.keepAliveTimeout = 60_000
    const asked: (string | undefined)[] = []
    server.on('request', (req: http.IncomingMessage) => asked.push(req.headers.connection))
    const session = await client.login(sim.username, sim.password)
    await client.login(sim.username, sim.password)
    await client.resetPassword(session, sim.initialPassword)
    await client.logout(session)
    expect(sim.log).toHaveLength(5)
    expect(asked).toEqual(['close', 'close', 'close', 'close', 'close'])
    expect(new Set(sim.connections.map((c) => c.remotePort)).size).toBe(5)
  })

  describe('through a proxy (HTTP_PROXY)', () => {
    const saved: Record<string, string | undefined> = {}
    const NAMES = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']
    let proxy: http.Server | undefined
    let connects = 0

    beforeEach(() => {
      for (const name of NAMES) {
        saved[name] = process.env[name]
        delete process.env[name]
      }
      connects = 0
    })

    afterEach(async () => {
      for (const name of NAMES) {
        if (saved[name] === undefined) delete process.env[name]
        else process.env[name] = saved[name]
      }
      const p = proxy
      proxy = undefined
      if (p) await new Promise<void>((resolve) => p.close(() => resolve()))
    })

    /** A CONNECT proxy that tunnels to the simulator, whatever host is asked for, until `answer` says otherwise. */
    async function startProxy(sim: ThingSpaceSimulator, answer: () => 'tunnel' | 'refuse' | 'hang up'): Promise<string> {
      const target = new URL(sim.url)
      proxy = http.createServer((_req, res) => res.writeHead(405).end())
      proxy.on('connect', (_req: http.IncomingMessage, socket: net.Socket) => {
        connects++
        const what = answer()
        if (what === 'refuse') return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')
        if (what === 'hang up') return void socket.destroy()
        const upstream = net.connect(Number(target.port), target.hostname, () => {
          socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
          upstream.pipe(socket)
          socket.pipe(upstream)
        })
        upstream.on('error', () => socket.destroy())
        socket.on('error', () => upstream.destroy())
      })
      const server = proxy
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    }

    test.each<[string, 'refuse' | 'hang up']>([
      ['answers the CONNECT with 403', 'refuse'],
      ['hangs up on the CONNECT', 'hang up']
    ])('a proxy that %s: the login was never sent, and is retried like any request that never left', async (_name, how) => {
      const { sim, client, sleeps } = await rig({}, { baseUrl: new URL('http://thingspace.example.invalid') })
      let refusing = false
      process.env.http_proxy = await startProxy(sim, () => (refusing ? how : 'tunnel'))
      await client.token()
      refusing = true
      const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
      expect(error).toMatchObject({ call: 'login', kind: 'not-sent' })
      expect(error.message).toBe('ThingSpace login: the proxy did not open a connection')
      expect(mayHaveCounted(error)).toBe(false)
      expect(sleeps).toEqual([250, 500, 1000])
      expect(connects).toBe(5)
      expect(count(sim)).toEqual({ token: 1, login: 0, reset: 0, logout: 0 })
    })

    test('a proxy that cannot be reached at all: not sent either', async () => {
      const { sim, client, sleeps } = await rig({}, { baseUrl: new URL('http://thingspace.example.invalid') })
      process.env.http_proxy = `http://127.0.0.1:${await closedPort()}`
      const error = await failure<ThingSpaceError>(client.token())
      expect(error).toMatchObject({ call: 'token', kind: 'not-sent', message: 'ThingSpace OAuth token request: the proxy did not open a connection' })
      expect(sleeps).toHaveLength(3)
      expect(count(sim).token).toBe(0)
    })

    test('a connection through the tunnel that breaks after the login was handled is lost, not "not sent"', async () => {
      const { sim, client, sleeps } = await rig({}, { baseUrl: new URL('http://thingspace.example.invalid') })
      process.env.http_proxy = await startProxy(sim, () => 'tunnel')
      sim.inject({ call: 'login', drop: 'after' })
      const error = await failure<ThingSpaceError>(client.login(sim.username, sim.password))
      expect(error).toMatchObject({ call: 'login', kind: 'lost' })
      expect(mayHaveCounted(error)).toBe(true)
      expect(sleeps).toEqual([])
      expect(count(sim)).toEqual({ token: 1, login: 1, reset: 0, logout: 0 })
    })
  })
})

describe('debug lines', () => {
  let r: Rig
  beforeEach(async () => {
    r = await rig({ expiresInSeconds: 900 }, { timeoutsMs: { logout: 100 } })
  })

  test('say method, path and status, never a token or a password', async () => {
    const { sim, client, debug, info } = r
    sim.inject(
      { call: 'token', attempts: [1], status: 503 },
      { call: 'login', attempts: [1], ...gatewayFault('900901') },
      { call: 'logout', attempts: [2], delayMs: 500 }
    )
    const session = await client.login(sim.username, sim.password)
    const newPassword = await client.resetPassword(session, sim.initialPassword)
    await client.logout(session)
    const second = await client.login(sim.username, newPassword)
    await failure<ThingSpaceError>(client.logout(second))
    await failure<ThingSpaceError>(client.login(sim.username, 'a-wrong-password'))

    expect(debug).toEqual([
      expect.stringMatching(/^ThingSpace POST \/api\/ts\/v1\/oauth2\/token -> 503 \(\d+ ms\)$/),
      expect.stringMatching(/^ThingSpace POST \/api\/ts\/v1\/oauth2\/token -> 200 \(\d+ ms\)$/),
      expect.stringMatching(/^ThingSpace POST \/api\/m2m\/v1\/session\/login -> 401 \(\d+ ms\)$/),
      expect.stringMatching(/^ThingSpace POST \/api\/ts\/v1\/oauth2\/token -> 200 \(\d+ ms\)$/),
      expect.stringMatching(/^ThingSpace POST \/api\/m2m\/v1\/session\/login -> 200 \(\d+ ms\)$/),
      expect.stringMatching(/^ThingSpace PUT \/api\/m2m\/v1\/session\/password\/actions\/reset -> 200 \(\d+ ms\)$/),
      expect.stringMatching(/^ThingSpace POST \/api\/m2m\/v1\/session\/logout -> 200 \(\d+ ms\)$/),
      expect.stringMatching(/^ThingSpace POST \/api\/m2m\/v1\/session\/login -> 200 \(\d+ ms\)$/),
      'ThingSpace POST /api/m2m/v1/session/logout -> no answer',
      expect.stringMatching(/^ThingSpace POST \/api\/m2m\/v1\/session\/login -> 400 \(\d+ ms\)$/)
    ])
    const secrets = [...sim.secrets(), 'a-wrong-password', session.token, second.token, newPassword]
    expect(secrets.length).toBeGreaterThan(6)
    for (const line of [...debug, ...info]) {
      for (const secret of secrets) expect({ line, leaks: line.includes(secret) }).toEqual({ line, leaks: false })
    }
  })
})
