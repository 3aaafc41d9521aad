/**
 * A signal that comes while the action still loads (src/early-signals.ts listens before anything else
 * is evaluated) reaches run(), which reports it like any cancellation before the reset, and sends
 * nothing. The signal is delivered to the listener early-signals installed, as Node would.
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseOutputFile } from '../simulators/harness.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'main-early-signal-'))
const files = { output: path.join(dir, 'output'), summary: path.join(dir, 'summary') }
let saved: NodeJS.ProcessEnv

beforeAll(() => {
  saved = { ...process.env }
  writeFileSync(files.output, '')
  writeFileSync(files.summary, '')
  Object.assign(process.env, {
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_REPOSITORY: 'acme/fleet',
    INPUT_USERNAME: 'fleet-api',
    INPUT_PASSWORD: 'Old-Pa55word!',
    'INPUT_CLIENT-ID': 'app-key',
    'INPUT_CLIENT-SECRET': 'app-secret',
    'INPUT_GITHUB-TOKEN': 'ghp_token0123456789',
    INPUT_TARGETS: 'repo',
    'INPUT_GITHUB-API-URL': 'http://127.0.0.1:9',
    'INPUT_THINGSPACE-URL': 'http://127.0.0.1:9'
  })
})

afterAll(() => {
  process.env = saved
  process.exitCode = undefined
  rmSync(dir, { recursive: true, force: true })
})

test('a SIGINT received while the action loads is taken over by run(): failed-unchanged, reported, nothing sent', async () => {
  const before = process.listeners('SIGINT').length
  await import('../src/early-signals.ts')
  const listeners = process.listeners('SIGINT')
  expect(listeners.length).toBe(before + 1)
  ;(listeners.at(-1) as (signal: NodeJS.Signals) => void)('SIGINT')

  const { run } = await import('../src/main.ts')
  const printed: string[] = []
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (printed.push(String(chunk)), true))
  await run()

  expect(parseOutputFile(readFileSync(files.output, 'utf8'))).toMatchObject({ result: 'failed-unchanged', rotated: 'false' })
  expect(readFileSync(files.summary, 'utf8')).toContain(
    'the runner cancelled the step (SIGINT) before the reset was sent, and ThingSpace was not contacted'
  )
  expect(printed.join('')).toContain('Received SIGINT')
  expect(process.exitCode).toBe(1)
  // run() listens itself from then on, and removes its own listeners when it is done: none is left behind.
  expect(process.listeners('SIGINT').length).toBe(before)
})
