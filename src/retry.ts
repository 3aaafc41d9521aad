/** Capped exponential backoff with full jitter, for calls that are safe to repeat. */
export type Sleep = (ms: number) => Promise<void>

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number
  baseMs: number
  maxMs: number
  /** Only errors this approves are tried again. */
  shouldRetry: (error: unknown) => boolean
  /** A server's own hint (Retry-After), used instead of the backoff when present. */
  retryAfterMs?: (error: unknown) => number | undefined
}

export async function withRetry<T>(call: () => Promise<T>, policy: RetryPolicy, sleep: Sleep, random: () => number = Math.random): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call()
    } catch (error) {
      if (attempt >= policy.attempts || !policy.shouldRetry(error)) throw error
      const hinted = policy.retryAfterMs?.(error)
      const backoff = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)) * random()
      await sleep(hinted !== undefined ? Math.min(hinted, policy.maxMs) : backoff)
    }
  }
}

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
