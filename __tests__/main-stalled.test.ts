/**
 * The last line of defence in run() (src/main.ts): every read is bounded, but should a run ever wait
 * on something no socket or timer can bring, Node ends the process once its event loop is empty
 * ('beforeExit', then exit code 13 for the pending top-level await). run() reports before that. The
 * flow is replaced by one that never settles (a module mock: the only way to build that state), and
 * 'beforeExit' is emitted as Node would.
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseOutputFile } from '../simulators/harness.ts'
import { until } from './support/async.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'main-stalled-'))
const files = { output: path.join(dir, 'output'), summary: path.join(dir, 'summary') }
let saved: NodeJS.ProcessEnv

beforeAll(() => {
  saved = { ...process.env }
  writeFileSync(files.output, '')
  writeFileSync(files.summary, '')
  Object.assign(process.env, {
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    INPUT_USERNAME: 'fleet-api',
    INPUT_PASSWORD: 'Old-Pa55word!',
    'INPUT_CLIENT-ID': 'app-key',
    'INPUT_CLIENT-SECRET': 'app-secret',
    'INPUT_GITHUB-TOKEN': 'ghp_token0123456789',
    INPUT_TARGETS: 'repo:acme/fleet',
    'INPUT_GITHUB-API-URL': 'http://127.0.0.1:9'
  })
})

afterAll(() => {
  process.env = saved
  process.exitCode = undefined
  rmSync(dir, { recursive: true, force: true })
})

test('a run that waits on nothing when the event loop empties still reports, and fails the step', async () => {
  jest.unstable_mockModule('../src/rotation.ts', () => ({ rotate: () => new Promise(() => {}) }))
  const { run } = await import('../src/main.ts')
  const printed: string[] = []
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (printed.push(String(chunk)), true))

  void run()
  await new Promise((resolve) => setImmediate(resolve))
  process.emit('beforeExit', 0)
  const errorLines = (): string[] =>
    printed
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('::error'))
  const summarised = (): boolean => readFileSync(files.summary, 'utf8').includes('the run stopped waiting on an answer that never came')
  expect(await until(() => process.exitCode === 1 && errorLines().length === 1 && summarised())).toBe(true)

  expect(parseOutputFile(readFileSync(files.output, 'utf8'))).toMatchObject({ result: 'failed-unchanged', rotated: 'false' })
  expect(readFileSync(files.summary, 'utf8')).toContain('the run stopped waiting on an answer that never came')
  expect(printed.join('')).toMatch(
    /::error title=ThingSpace password rotation%3A failed-unchanged::The password was not changed: an unexpected error/
  )
  expect(process.exitCode).toBe(1)
  // Reported once: a second emptying of the loop adds nothing.
  process.emit('beforeExit', 1)
  await new Promise((resolve) => setTimeout(resolve, 50))
  expect(errorLines()).toHaveLength(1)
})
