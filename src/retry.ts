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

/** Told of every retry before its wait, so a slow run explains itself. */
export type OnRetry = (error: unknown, attempt: number, attempts: number, waitMs: number) => void

export async function withRetry<T>(
  call: () => Promise<T>,
  policy: RetryPolicy,
  sleep: Sleep,
  onRetry: OnRetry = () => {},
  random: () => number = Math.random
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call()
    } catch (error) {
      if (attempt >= policy.attempts || !policy.shouldRetry(error)) throw error
      const hinted = policy.retryAfterMs?.(error)
      const wait = hinted !== undefined ? Math.min(hinted, policy.maxMs) : Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)) * random()
      onRetry(error, attempt, policy.attempts, wait)
      await sleep(wait)
    }
  }
}

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
