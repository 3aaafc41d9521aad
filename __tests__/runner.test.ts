/**
 * src/runner.ts speaks the runner protocol in place of @actions/core (start-up cost); these tests hold
 * it to exactly what @actions/core writes for the same calls.
 */
import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals'
import * as core from '@actions/core'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import * as runner from '../src/runner.ts'

let dir: string
let written: string[]
const saved = { ...process.env }

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'runner-'))
  written = []
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => (written.push(String(chunk)), true))
})
afterEach(() => {
  jest.restoreAllMocks()
  process.env = { ...saved }
  process.exitCode = undefined
  rmSync(dir, { recursive: true, force: true })
})

/** Runs the same call through both and returns what each wrote to stdout. */
function both(call: (api: typeof runner | typeof core) => void): [string, string] {
  written = []
  call(core)
  const fromCore = written.join('')
  written = []
  call(runner)
  return [fromCore, written.join('')]
}

const awkward = 'pa%ss\r\nword: "x" \\ 日本 ::y::'

describe('the runner protocol matches @actions/core', () => {
  test.each([
    ['setSecret', (api: typeof runner | typeof core) => api.setSecret(awkward)],
    ['warning', (api: typeof runner | typeof core) => api.warning(awkward)],
    ['info', (api: typeof runner | typeof core) => api.info(awkward)],
    ['setFailed', (api: typeof runner | typeof core) => api.setFailed(awkward)]
  ])('%s writes the same command', (_name, call) => {
    const [fromCore, fromRunner] = both(call)
    expect(fromRunner).toBe(fromCore)
  })

  test('setFailed sets exit code 1', () => {
    runner.setFailed('x')
    expect(process.exitCode).toBe(1)
  })

  test('getInput reads the same variable, trimmed or not', () => {
    process.env['INPUT_MIN-AGE-DAYS'] = '  30 '
    process.env.INPUT_MY_INPUT = ' a b '
    for (const [name, options] of [
      ['min-age-days', {}],
      ['my input', {}],
      ['my input', { trimWhitespace: false }],
      ['absent', {}]
    ] as const) {
      expect(runner.getInput(name, options)).toBe(core.getInput(name, options))
    }
  })

  test('setOutput writes the same file format, multi-line values included', () => {
    const file = path.join(dir, 'output')
    writeFileSync(file, '')
    process.env.GITHUB_OUTPUT = file
    core.setOutput('result', 'line one\nline two')
    const fromCore = readFileSync(file, 'utf8')
    writeFileSync(file, '')
    runner.setOutput('result', 'line one\nline two')
    const fromRunner = readFileSync(file, 'utf8')
    const normal = (s: string): string => s.replace(/ghadelimiter_[0-9a-f-]+/g, 'DELIMITER')
    expect(normal(fromRunner)).toBe(normal(fromCore))
  })

  test('the summary is appended as core.summary.addRaw(…, true).write() appends it', async () => {
    const file = path.join(dir, 'summary')
    writeFileSync(file, 'before\n')
    process.env.GITHUB_STEP_SUMMARY = file
    await core.summary.addRaw('## Title\n| a |', true).write()
    const fromCore = readFileSync(file, 'utf8')
    writeFileSync(file, 'before\n')
    expect(runner.appendSummary('## Title\n| a |')).toBe(true)
    expect(readFileSync(file, 'utf8')).toBe(fromCore)
    delete process.env.GITHUB_STEP_SUMMARY
    expect(runner.appendSummary('x')).toBe(false)
  })
})
