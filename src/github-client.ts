/**
 * Octokit as the rotation uses it: GitHub Enterprise Server through GITHUB_API_URL, 5xx retried by
 * @octokit/plugin-retry, primary and secondary rate limits waited out by @octokit/plugin-throttling
 * (which honours retry-after and x-ratelimit-reset), all within a bounded wait. Only `request` is
 * used, so the core client suffices; requests go through ./http.ts rather than fetch (start-up).
 */
import { Octokit } from '@octokit/core'
import { retry } from '@octokit/plugin-retry'
import { throttling } from '@octokit/plugin-throttling'
import Bottleneck from 'bottleneck/light.js'
import type { RequestFn } from './github-secrets.ts'
import { fetchForOctokit } from './http.ts'
import * as core from './runner.ts'

/** Longest single wait for a rate limit, and how many times one request may wait. */
const MAX_RATE_LIMIT_WAIT_S = 60
const MAX_RATE_LIMIT_RETRIES = 2
/** Writes at once: enough to store 20 targets quickly, few enough not to trip secondary limits. */
const WRITE_CONCURRENCY = 4

export function createGitHubRequest(token: string, baseUrl: URL): RequestFn {
  const onLimit =
    (kind: string) =>
    (retryAfter: number, options: { method?: string; url?: string }, _octokit: unknown, retryCount: number): boolean => {
      const again = retryCount < MAX_RATE_LIMIT_RETRIES && retryAfter <= MAX_RATE_LIMIT_WAIT_S
      core.warning(`GitHub ${kind} rate limit on ${options.method} ${options.url}: ${again ? `retrying in ${retryAfter} s` : 'giving up'}`)
      return again
    }
  const GitHub = Octokit.plugin(retry, throttling)
  const octokit = new GitHub({
    auth: token,
    userAgent: 'thingspace-password-rotation',
    baseUrl: baseUrl.href.replace(/\/$/, ''),
    log: { debug: () => {}, info: () => {}, warn: (m: string) => core.warning(String(m)), error: (m: string) => core.warning(String(m)) },
    request: { fetch: fetchForOctokit },
    retry: { retries: 3 },
    throttle: {
      onRateLimit: onLimit('primary'),
      onSecondaryRateLimit: onLimit('secondary'),
      // The plugin's default spaces writes one second apart; bounded concurrency keeps a rotation fast.
      write: new Bottleneck.Group({ maxConcurrent: WRITE_CONCURRENCY, minTime: 0 })
    }
  })
  return (route, params) => octokit.request(route, params) as Promise<{ data: unknown }>
}
