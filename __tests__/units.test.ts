/** The small building blocks: HTTP transport rules, retry policy, secret redaction. */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { send } from '../src/http.ts'
import { withRetry } from '../src/retry.ts'
import { SecretMask } from '../src/secrets-mask.ts'

let server: http.Server
let base: string
const seen: { url: string; auth?: string }[] = []

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', auth: req.headers.authorization })
    if (req.url === '/moved') return void res.writeHead(301, { Location: '/here' }).end()
    if (req.url === '/away') return void res.writeHead(302, { Location: 'http://127.0.0.2:1/steal' }).end()
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000)
    res.writeHead(200, { 'Content-Type': 'application/json', 'Set-Cookie': ['a=1', 'b=2'] }).end('{"ok":true}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))))

describe('send', () => {
  test('follows a redirect within the origin, with the credentials', async () => {
    seen.length = 0
    const response = await send(new URL(`${base}/moved`), { method: 'GET', headers: { Authorization: 'Bearer t' } })
    expect(response).toMatchObject({ status: 200, body: '{"ok":true}', url: `${base}/here` })
    expect(response.headers['set-cookie']).toBe('a=1, b=2')
    expect(seen).toEqual([
      { url: '/moved', auth: 'Bearer t' },
      { url: '/here', auth: 'Bearer t' }
    ])
  })

  test('does not follow a redirect to another origin', async () => {
    const response = await send(new URL(`${base}/away`), { method: 'GET', headers: { Authorization: 'Bearer t' } })
    expect(response.status).toBe(302)
  })

  test('rejects with the signal reason on timeout and on abort', async () => {
    await expect(send(new URL(`${base}/slow`), { method: 'GET', headers: {}, signal: AbortSignal.timeout(50) })).rejects.toMatchObject({
      name: 'TimeoutError'
    })
    const controller = new AbortController()
    const pending = send(new URL(`${base}/slow`), { method: 'GET', headers: {}, signal: controller.signal })
    controller.abort(new Error('stop'))
    await expect(pending).rejects.toThrow('stop')
  })

  test('a refused connection is a network error with its code', async () => {
    await expect(send(new URL('http://127.0.0.1:1/'), { method: 'GET', headers: {} })).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })
})

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
