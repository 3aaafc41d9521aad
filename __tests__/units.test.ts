/** The small building blocks: retry policy, secret redaction. */
import { describe, expect, test } from '@jest/globals'
import { withRetry } from '../src/retry.ts'
import { SecretMask } from '../src/secrets-mask.ts'

describe('withRetry', () => {
  const policy = { attempts: 4, baseMs: 100, maxMs: 1000, shouldRetry: (e: unknown) => (e as Error).message === 'transient' }

  test('retries only what the policy approves, with capped exponential backoff', async () => {
    const sleeps: number[] = []
    let calls = 0
    const result = await withRetry(
      () => (++calls < 4 ? Promise.reject(new Error('transient')) : Promise.resolve('done')),
      policy,
      (ms) => (sleeps.push(ms), Promise.resolve()),
      () => 1
    )
    expect(result).toBe('done')
    expect(sleeps).toEqual([100, 200, 400])
    await expect(
      withRetry(
        () => Promise.reject(new Error('final')),
        policy,
        () => Promise.resolve()
      )
    ).rejects.toThrow('final')
  })

  test('gives up after the last attempt, and prefers the server hint', async () => {
    const sleeps: number[] = []
    let calls = 0
    const hinted = { ...policy, retryAfterMs: () => 5000 }
    const failing = (): Promise<never> => (calls++, Promise.reject(new Error('transient')))
    await expect(withRetry(failing, hinted, (ms) => (sleeps.push(ms), Promise.resolve()))).rejects.toThrow('transient')
    expect(calls).toBe(4)
    expect(sleeps).toEqual([1000, 1000, 1000]) // the hint, capped
  })
})

describe('SecretMask', () => {
  test('masks each secret with its encoded forms and scrubs them from text', () => {
    const registered: string[] = []
    const mask = new SecretMask((v) => registered.push(v))
    mask.add('p@ss word/"x"')
    mask.add('   ')
    expect(registered).toEqual(['p@ss word/"x"', 'p%40ss%20word%2F%22x%22', 'p%40ss+word%2F%22x%22', 'p@ss word/\\"x\\"', 'cEBzcyB3b3JkLyJ4Ig=='])
    expect(mask.redact('login p@ss word/"x" body {"p":"p@ss word/\\"x\\""} url p%40ss%20word%2F%22x%22')).toBe('login *** body {"p":"***"} url ***')
  })
})
