/** The small building blocks: retry policy, secret redaction, sealing, error texts. */
import { describe, expect, test } from '@jest/globals'
import sodium from 'libsodium-wrappers'
import { errorText } from '../src/errors.ts'
import { realSleep, withRetry, type OnRetry } from '../src/retry.ts'
import { keypair, loadSodium, open, seal } from '../src/seal.ts'
import { encodedForms, SecretMask } from '../src/secrets-mask.ts'

describe('withRetry', () => {
  const policy = { attempts: 4, baseMs: 100, maxMs: 1000, shouldRetry: (e: unknown) => (e as Error).message === 'transient' }

  test('retries only what the policy approves, with capped exponential backoff', async () => {
    const sleeps: number[] = []
    let calls = 0
    const result = await withRetry(
      () => (++calls < 4 ? Promise.reject(new Error('transient')) : Promise.resolve('done')),
      policy,
      (ms) => (sleeps.push(ms), Promise.resolve()),
      undefined,
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

  test('the backoff is capped, and jittered by the random source', async () => {
    const sleeps: number[] = []
    const capped = { ...policy, attempts: 7 }
    await expect(
      withRetry(
        () => Promise.reject(new Error('transient')),
        capped,
        (ms) => (sleeps.push(ms), Promise.resolve()),
        undefined,
        () => 0.5
      )
    ).rejects.toThrow('transient')
    expect(sleeps).toEqual([50, 100, 200, 400, 500, 500])
  })

  test('tells onRetry the error, the attempt, the attempts and the wait, before each wait', async () => {
    const events: string[] = []
    const onRetry: OnRetry = (error, attempt, attempts, waitMs) => events.push(`retry ${(error as Error).message} ${attempt}/${attempts} ${waitMs}`)
    let calls = 0
    await withRetry(
      () => (++calls < 3 ? Promise.reject(new Error('transient')) : Promise.resolve(calls)),
      policy,
      (ms) => (events.push(`sleep ${ms}`), Promise.resolve()),
      onRetry,
      () => 1
    )
    expect(events).toEqual(['retry transient 1/4 100', 'sleep 100', 'retry transient 2/4 200', 'sleep 200'])
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

  test('a hint of 0 is used as is; no hint falls back to the backoff', async () => {
    const sleeps: number[] = []
    const hints = [0, undefined]
    let calls = 0
    await withRetry(
      () => (++calls < 3 ? Promise.reject(new Error('transient')) : Promise.resolve()),
      { ...policy, retryAfterMs: () => hints.shift() },
      (ms) => (sleeps.push(ms), Promise.resolve()),
      undefined,
      () => 1
    )
    expect(sleeps).toEqual([0, 200])
  })

  test('an error the policy does not approve is thrown at once, without onRetry or sleep', async () => {
    const seen: unknown[] = []
    let calls = 0
    await expect(
      withRetry(
        () => (calls++, Promise.reject(new Error('permanent'))),
        policy,
        () => (seen.push('sleep'), Promise.resolve()),
        () => seen.push('retry')
      )
    ).rejects.toThrow('permanent')
    expect(calls).toBe(1)
    expect(seen).toEqual([])
  })

  test('realSleep waits', async () => {
    const started = performance.now()
    await realSleep(20)
    expect(performance.now() - started).toBeGreaterThanOrEqual(15)
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

  test('ignores empty and undefined values, and registers each form once', () => {
    const registered: string[] = []
    const mask = new SecretMask((v) => registered.push(v))
    mask.add(undefined)
    mask.add('')
    mask.add('plain')
    mask.add('plain')
    expect(registered).toEqual(['plain', Buffer.from('plain').toString('base64')])
  })

  test('replaces the longest form first, so no part of a longer secret survives', () => {
    const mask = new SecretMask(() => {})
    mask.add('abc')
    mask.add('abcdef')
    expect(mask.redact('xx abcdef yy abc')).toBe('xx *** yy ***')
    expect(new SecretMask(() => {}).redact('nothing known')).toBe('nothing known')
  })

  test('encodedForms covers percent, form, JSON and base64 encodings of awkward values', () => {
    const value = 'a+b&c=d\n"é"%'
    const forms = encodedForms(value)
    expect(forms).toContain(value)
    expect(forms).toContain(encodeURIComponent(value))
    expect(forms).toContain(new URLSearchParams({ v: value }).toString().slice(2))
    expect(forms).toContain(JSON.stringify(value).slice(1, -1))
    expect(forms).toContain(Buffer.from(value).toString('base64'))
    expect(encodedForms('simple')).toEqual(['simple', 'c2ltcGxl'])
  })
})

describe('seal', () => {
  test('seal and open roundtrip with a fresh keypair, for awkward texts', async () => {
    const { publicKey, privateKey } = await keypair()
    expect(publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    expect(privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    for (const text of ['Wh0a1545a84d', '%::error::"\'\r\n', 'ünïcødé 🔑', '']) {
      const sealed = await seal(text, publicKey)
      expect(sealed).toMatch(/^[A-Za-z0-9+/]+={0,2}$/)
      expect(await open(sealed, publicKey, privateKey)).toBe(text)
    }
  })

  test('each seal is different, and only the matching private key opens it', async () => {
    const a = await keypair()
    const b = await keypair()
    const first = await seal('secret', a.publicKey)
    expect(await seal('secret', a.publicKey)).not.toBe(first)
    await expect(open(first, b.publicKey, b.privateKey)).rejects.toThrow()
  })

  test('what seal makes, libsodium itself opens (the format GitHub expects)', async () => {
    await sodium.ready
    const pair = sodium.crypto_box_keypair()
    const b64 = sodium.base64_variants.ORIGINAL
    const sealed = await seal('for github', sodium.to_base64(pair.publicKey, b64))
    expect(sodium.to_string(sodium.crypto_box_seal_open(sodium.from_base64(sealed, b64), pair.publicKey, pair.privateKey))).toBe('for github')
  })

  test('libsodium is loaded once', async () => {
    expect(await loadSodium()).toBe(await loadSodium())
  })

  test('a malformed public key is an error', async () => {
    await expect(seal('x', 'not base64!')).rejects.toThrow()
  })
})

describe('errorText', () => {
  test.each<[unknown, string]>([
    [new Error('boom'), 'boom'],
    [new TypeError('bad type'), 'bad type'],
    ['a string', 'a string'],
    [42, '42'],
    [undefined, 'undefined'],
    [null, 'null']
  ])('%p', (error, text) => {
    expect(errorText(error)).toBe(text)
  })
})
