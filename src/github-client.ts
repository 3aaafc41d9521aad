/**
 * The Octokit the secrets client is built from: @octokit/rest's typed endpoint methods and paginate,
 * with 5xx and network failures retried by @octokit/plugin-retry and rate limits waited out by
 * @octokit/plugin-throttling (retry-after, x-ratelimit-reset), within a bounded wait. Requests go
 * through @actions/http-client's proxy dispatcher, as @actions/github's own Octokit does, so
 * HTTPS_PROXY and NO_PROXY apply, and they pin the REST API version the code was written against.
 */
import { getOctokitOptions } from '@actions/github/lib/utils'
import { HttpClient } from '@actions/http-client'
import { retry } from '@octokit/plugin-retry'
import { throttling } from '@octokit/plugin-throttling'
import { Octokit } from '@octokit/rest'
import Bottleneck from 'bottleneck/light.js'
import { fetch as undiciFetch } from 'undici'

export const API_VERSION = '2022-11-28'
/**
 * How many secret writes may be in flight at once. GitHub's guidance for content-creating requests is
 * to avoid bursts (https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api);
 * its secondary limit allows far more than this (100 concurrent requests). Ten keeps the window after
 * the reset, when consumers that read a target see a dead password, to two write waves for 20 targets.
 */
export const WRITE_CONCURRENCY = 10
/**
 * Requests of every kind may run 50 at once, where plugin-throttling's own global group allows 10 (GitHub
 * allows 100): the first wave of reads for 20 targets (some 60 requests) goes out at once instead of in
 * six rounds, and re-reads never queue behind stores. The plugin reads this group from its options as it
 * reads `write`, though its types list only the others.
 */
const GLOBAL_GROUP = { global: new Bottleneck.Group({ maxConcurrent: 50, minTime: 0 }) }

/** Longest single wait for a rate limit, and how many times one request may wait. */
const MAX_RATE_LIMIT_WAIT_S = 60
const MAX_RATE_LIMIT_RETRIES = 2
/**
 * Per attempt, headers and body: an attempt that has not answered by then fails, and is retried like a
 * 5xx. GitHub's REST API answers in well under a second, and a write that stalls after the reset
 * holds up the report, so a request's worst case stays modest: plugin-retry's 4 attempts and its
 * waits of 1, 4 and 9 s make 4 x 10 + 14 = 54 s (rate limits aside, which plugin-throttling bounds).
 */
export const GITHUB_TIMEOUT_MS = 10_000

export interface GitHubLog {
  debug: (message: string) => void
  info: (message: string) => void
  warning: (message: string) => void
}

export interface GitHubClientOptions {
  token: string
  baseUrl: URL
  log: GitHubLog
  /** plugin-retry waits retryCount² times this; tests set 0. */
  retryAfterBaseMs?: number
  /** Per attempt; tests set less. */
  timeoutMs?: number
}

interface HookOptions {
  method?: string
  url?: string
  request?: { retryCount?: number; signal?: AbortSignal }
}

/**
 * The innermost hook, so it sees every attempt: a timeout per attempt, and a debug line with the
 * method, the route template and the status (never a value: the route has placeholders only). The
 * signal covers the body too: @octokit/request reads it inside this call, with the same fetch signal.
 * Its timer is unreferenced, but undici keeps a request's socket referenced until the request settles,
 * so the process stays up until the signal fires (the stall tests run the bundle to prove both).
 */
function requestLog(log: GitHubLog, timeoutMs: number, basePath: string) {
  return (octokit: Pick<Octokit, 'hook'>): void => {
    octokit.hook.wrap('request', async (request, options: HookOptions & Record<string, unknown>) => {
      const route = `GitHub ${options.method} ${routeOf(String(options.url), basePath)}`
      const signal = AbortSignal.timeout(timeoutMs)
      options.request = { ...options.request, signal }
      options.headers = { ...(options.headers as Record<string, string>), 'x-github-api-version': API_VERSION }
      try {
        const response = await request(options as Parameters<typeof request>[0])
        // @octokit/request gives a body cut at the timeout as the text read so far: for a read that is no
        // answer (a write's status already says what the write did).
        if (signal.aborted && options.method === 'GET')
          throw new Error(`the answer did not finish within ${timeoutMs / 1000} s`, { cause: signal.reason })
        log.debug(`${route} -> ${response.status}`)
        return response
      } catch (error) {
        log.debug(`${route} -> ${describeFailure(error)}`)
        // For the retry line below: which request, and which attempt of it, failed.
        if (error && typeof error === 'object') Object.assign(error, { route, attempt: (options.request.retryCount ?? 0) + 1 })
        throw error
      }
    })
  }
}

export function createOctokit(options: GitHubClientOptions): InstanceType<ReturnType<typeof octokitClass>> {
  const { log } = options
  const baseUrl = options.baseUrl.href.replace(/\/$/, '')
  const dispatcher = new HttpClient().getAgentDispatcher(baseUrl)
  const fetch = (url: string, init: RequestInit): ReturnType<typeof undiciFetch> => undiciFetch(url, { ...(init as object), dispatcher })
  const retryAfterBaseMs = options.retryAfterBaseMs ?? 1000

  const onLimit =
    (kind: string) =>
    (retryAfter: number, request: { method?: string; url?: string }, _octokit: unknown, retryCount: number): boolean => {
      const again = retryCount < MAX_RATE_LIMIT_RETRIES && retryAfter <= MAX_RATE_LIMIT_WAIT_S
      log.warning(
        `GitHub ${kind} rate limit on ${request.method} ${request.url}: ${again ? `attempt ${retryCount + 1} of ${MAX_RATE_LIMIT_RETRIES + 1}, trying again in ${retryAfter} s` : 'giving up'}`
      )
      return again
    }

  const GitHub = octokitClass(log, options.timeoutMs ?? GITHUB_TIMEOUT_MS, options.baseUrl.pathname.replace(/\/$/, ''))
  const octokit = new GitHub(
    getOctokitOptions(options.token, {
      baseUrl,
      userAgent: 'thingspace-password-rotation',
      request: { fetch },
      // The request log above says what each request did (route templates, never values); the secrets
      // client reports failures with context.
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
      // plugin-retry's default leaves 409 out; GitHub answers it to a create of something that exists: no retry mends that.
      retry: { retryAfterBaseValue: retryAfterBaseMs, doNotRetry: [400, 401, 403, 404, 409, 410, 422, 451] },
      throttle: {
        retryAfterBaseValue: retryAfterBaseMs,
        onRateLimit: onLimit('primary'),
        onSecondaryRateLimit: onLimit('secondary'),
        // The plugin spaces writes a second apart; its write group only schedules an empty job, so the secrets
        // and variables clients bound concurrent writes themselves (WRITE_CONCURRENCY).
        write: new Bottleneck.Group({ maxConcurrent: WRITE_CONCURRENCY, minTime: 0 }),
        ...GLOBAL_GROUP
      }
    })
  )
  // plugin-retry has no callback of its own; its retryRequest is where it decides to try again.
  const retryRequest = octokit.retry.retryRequest
  octokit.retry.retryRequest = (...[error, retries, retryAfter]: Parameters<typeof retryRequest>) => {
    const { route, attempt = 1 } = error as { route?: string; attempt?: number }
    if (attempt <= retries) {
      log.info(
        `${route ?? 'GitHub request'} failed (${describeFailure(error)}); attempt ${attempt} of ${retries + 1}, trying again in ${(retryAfter * retryAfterBaseMs) / 1000} s`
      )
    }
    return retryRequest(error, retries, retryAfter)
  }
  return octokit
}

function octokitClass(log: GitHubLog, timeoutMs: number, basePath: string) {
  return Octokit.plugin(requestLog(log, timeoutMs, basePath), retry, throttling)
}

/**
 * The route template of a request. Octokit's endpoint methods pass the template itself; pages that
 * `paginate` follows come as full URLs, whose names are put back into placeholders.
 */
export function routeOf(url: string, basePath = ''): string {
  if (!/^https?:\/\//.test(url)) return url
  let path = new URL(url).pathname
  if (basePath && path.startsWith(basePath)) path = path.slice(basePath.length)
  return path
    .replace(/^\/repos\/[^/]+\/[^/]+/, '/repos/{owner}/{repo}')
    .replace(/^\/orgs\/[^/]+/, '/orgs/{org}')
    .replace(/\/environments\/[^/]+/, '/environments/{environment_name}')
    .replace(/\/runs\/[^/]+/, '/runs/{run_id}')
    .replace(/\/attempts\/[^/]+/, '/attempts/{attempt_number}')
    .replace(/\/secrets\/(?!public-key(?:\/|$))[^/]+/, '/secrets/{secret_name}')
}

export type GitHubOctokit = ReturnType<typeof createOctokit>

/**
 * What happened to a request, in words that are literally true: the status GitHub sent, or the
 * network error or timeout when it sent none (Octokit labels those 500).
 */
export function describeFailure(error: unknown): string {
  const e = error as { status?: unknown; response?: { status?: number; data?: unknown }; cause?: unknown; message?: unknown; name?: unknown }
  if (e?.response && typeof e.response.status === 'number') {
    const data = e.response.data as { message?: unknown } | undefined
    const message = typeof data?.message === 'string' ? data.message.split(' - https://')[0].slice(0, 300) : ''
    return message ? `${e.response.status} ${message}` : String(e.response.status)
  }
  const causes: unknown[] = []
  for (let c: unknown = error; c && causes.length < 5; c = (c as { cause?: unknown }).cause) causes.push(c)
  if (causes.some((c) => (c as { name?: unknown }).name === 'TimeoutError')) return 'no answer in time (timeout)'
  const code = causes.map((c) => (c as { code?: unknown }).code).find((c): c is string => typeof c === 'string')
  if (code) return `network error (${code})`
  return `network error (${typeof e?.message === 'string' ? e.message.slice(0, 200) : 'no answer'})`
}

/** The HTTP status GitHub answered with, if it answered. */
export function answeredStatus(error: unknown): number | undefined {
  const status = (error as { response?: { status?: unknown } })?.response?.status
  return typeof status === 'number' ? status : undefined
}
