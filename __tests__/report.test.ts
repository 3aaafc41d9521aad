/**
 * Outputs, job summary and the step's verdict (src/report.ts) through @actions/core's real runner
 * protocol: GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and workflow commands on stdout.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, jest, test } from '@jest/globals'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseOutputFile } from '../simulators/harness.ts'
import type { Outcome } from '../src/outcomes.ts'
import { buildSummary, report, setOutputs } from '../src/report.ts'
import { SecretMask } from '../src/secrets-mask.ts'
import { parseTargets } from '../src/targets.ts'

let dir: string
let outputFile: string
/** One summary path for the whole file: @actions/core remembers the first one it could write. */
let summaryFile: string
let stdout: string[]
let saved: { output?: string; summary?: string; secretName?: string }

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'report-test-'))
  outputFile = path.join(dir, 'output')
  summaryFile = path.join(dir, 'summary')
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

beforeEach(() => {
  saved = { output: process.env.GITHUB_OUTPUT, summary: process.env.GITHUB_STEP_SUMMARY, secretName: process.env['INPUT_SECRET-NAME'] }
  writeFileSync(outputFile, '')
  rmSync(summaryFile, { recursive: true, force: true })
  writeFileSync(summaryFile, '')
  process.env.GITHUB_OUTPUT = outputFile
  process.env.GITHUB_STEP_SUMMARY = summaryFile
  stdout = []
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk))
    return true
  })
})

afterEach(() => {
  jest.restoreAllMocks()
  process.exitCode = undefined
  for (const [name, value] of [
    ['GITHUB_OUTPUT', saved.output],
    ['GITHUB_STEP_SUMMARY', saved.summary],
    ['INPUT_SECRET-NAME', saved.secretName]
  ] as const) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
})

const outputs = (): Record<string, string> => parseOutputFile(readFileSync(outputFile, 'utf8'))
const summary = (): string => readFileSync(summaryFile, 'utf8')
const lines = (): string[] => stdout.join('').split('\n').filter(Boolean)

const TARGETS = [
  { label: 'repo:acme/fleet', before: 'updated 2030-01-01T00:00:00.000Z', outcome: 'new password stored', holdsNewPassword: true },
  { label: 'org:acme', before: 'no secret yet', outcome: 'NOT stored, still holds the old password: 403 <forbidden>', holdsNewPassword: false },
  { label: 'dependabot:repo:acme/fleet', before: 'no secret yet', outcome: 'new password stored', holdsNewPassword: true }
]

function outcome(extra: Partial<Outcome>): Outcome {
  return {
    result: 'rotated',
    ok: true,
    message: 'The password was changed and the new one is stored in every target, and it logs in.',
    targets: TARGETS,
    ...extra
  }
}

describe('report', () => {
  test('a rotation: outputs, summary with heading and table, a notice, no failure', async () => {
    await report(outcome({ targets: TARGETS.map((t) => ({ ...t, holdsNewPassword: true })) }), new SecretMask(() => {}), 'THINGSPACE_PASSWORD')
    expect(outputs()).toEqual({ result: 'rotated', rotated: 'true', 'targets-updated': '3' })
    const text = summary()
    expect(text).toContain('<h2>ThingSpace password rotation: <code>rotated</code></h2>')
    expect(text).toContain('<p>The password was changed and the new one is stored in every target, and it logs in.</p>')
    expect(text).toContain('<tr><th>Target</th><th>Before this run</th><th>This run</th></tr>')
    expect(text).toContain('<tr><td><code>repo:acme/fleet</code></td><td>updated 2030-01-01T00:00:00.000Z</td><td>new password stored</td></tr>')
    expect(text).toContain('<td><code>dependabot:repo:acme/fleet</code></td>')
    expect(text).not.toContain('Recovery ciphertext')
    expect(lines()).toEqual([
      '::notice title=ThingSpace password rotation%3A rotated::The password was changed and the new one is stored in every target, and it logs in.'
    ])
    expect(process.exitCode).toBeUndefined()
  })

  test('failed-changed with an escrow: the ciphertext output and code block, an error, exit code 1', async () => {
    const message = 'The password WAS changed: the old one no longer works.\nThe new password is stored only in repo:acme/fleet.'
    await report(
      outcome({ result: 'failed-changed', ok: false, message, recoveryCiphertext: 'c2VhbGVk+/==' }),
      new SecretMask(() => {}),
      'THINGSPACE_PASSWORD'
    )
    expect(outputs()).toEqual({ result: 'failed-changed', rotated: 'false', 'targets-updated': '2', 'recovery-ciphertext': 'c2VhbGVk+/==' })
    const text = summary()
    expect(text).toContain('<h2>ThingSpace password rotation: <code>failed-changed</code></h2>')
    expect(text).toContain('<p>The password WAS changed: the old one no longer works.<br>The new password is stored only in repo:acme/fleet.</p>')
    expect(text).toContain('<h3>Recovery ciphertext</h3>')
    expect(text).toContain('<pre><code>c2VhbGVk+/==</code></pre>')
    expect(text).toContain('<td>NOT stored, still holds the old password: 403 &lt;forbidden&gt;</td>')
    expect(lines()).toEqual([
      '::error title=ThingSpace password rotation%3A failed-changed::The password WAS changed: the old one no longer works.%0AThe new password is stored only in repo:acme/fleet.'
    ])
    expect(process.exitCode).toBe(1)
  })

  test.each(['failed-unknown', 'failed-unchanged', 'rotated'] as const)(
    'a recovery ciphertext is output only for failed-changed, not for %s',
    async (result) => {
      await report(outcome({ result, ok: false, recoveryCiphertext: 'c2VhbGVk' }), new SecretMask(() => {}), 'THINGSPACE_PASSWORD')
      expect(outputs()['recovery-ciphertext']).toBeUndefined()
      expect(summary()).not.toContain('c2VhbGVk')
      expect(process.exitCode).toBe(1)
    }
  )

  test('failed-changed without a ciphertext has no recovery section', async () => {
    await report(outcome({ result: 'failed-changed', ok: false }), new SecretMask(() => {}), 'THINGSPACE_PASSWORD')
    expect(outputs()).not.toHaveProperty('recovery-ciphertext')
    expect(summary()).not.toContain('Recovery ciphertext')
  })

  test('an input error: no table, failed-unchanged, ::error line', async () => {
    const message = 'Input "targets": "dependabot:env:E": dependabot secrets have no environments. Nothing was sent; the password was not changed.'
    await report({ result: 'failed-unchanged', ok: false, message, targets: [] }, new SecretMask(() => {}), 'THINGSPACE_PASSWORD')
    expect(outputs()).toEqual({ result: 'failed-unchanged', rotated: 'false', 'targets-updated': '0' })
    expect(summary()).not.toContain('<table>')
    expect(lines()).toEqual([`::error title=ThingSpace password rotation%3A failed-unchanged::${message}`])
    expect(process.exitCode).toBe(1)
  })

  test('a rotation whose verify failed is rotated but fails the step', async () => {
    await report(
      outcome({ ok: false, message: 'The password was changed and stored in every target, but the verify login failed' }),
      new SecretMask(() => {}),
      'THINGSPACE_PASSWORD'
    )
    expect(outputs()).toMatchObject({ result: 'rotated', rotated: 'true' })
    expect(lines()[0]).toMatch(/^::error title=ThingSpace password rotation%3A rotated::/)
    expect(process.exitCode).toBe(1)
  })

  test('HTML in messages and labels is escaped, and known secrets are scrubbed everywhere', async () => {
    const mask = new SecretMask(() => {})
    mask.add('S3cret-pw')
    const message = 'GitHub said <script>alert(1)</script> & more, with S3cret-pw in it'
    await report(
      outcome({
        result: 'failed-unchanged',
        ok: false,
        message,
        targets: [{ label: 'env:acme/fleet/<prod>', before: 'S3cret-pw', outcome: 'a & b', holdsNewPassword: false }]
      }),
      mask,
      'THINGSPACE_PASSWORD'
    )
    const text = summary()
    expect(text).toContain('<p>GitHub said &lt;script&gt;alert(1)&lt;/script&gt; &amp; more, with *** in it</p>')
    expect(text).toContain('<tr><td><code>env:acme/fleet/&lt;prod&gt;</code></td><td>***</td><td>a &amp; b</td></tr>')
    expect(text).not.toContain('<script>')
    expect(stdout.join('')).not.toContain('S3cret-pw')
    expect(lines()).toEqual([
      '::error title=ThingSpace password rotation%3A failed-unchanged::GitHub said <script>alert(1)</script> & more, with *** in it'
    ])
  })

  test('a summary that cannot be written is a warning; outputs and verdict still come', async () => {
    rmSync(summaryFile, { force: true })
    mkdirSync(summaryFile) // appending to a directory fails, whoever runs the test
    await report(
      outcome({ result: 'failed-unknown', ok: false, message: 'The reset request was sent.' }),
      new SecretMask(() => {}),
      'THINGSPACE_PASSWORD'
    )
    expect(outputs()).toEqual({ result: 'failed-unknown', rotated: 'false', 'targets-updated': '2' })
    expect(lines()).toEqual([
      expect.stringMatching(/^::warning title=ThingSpace password rotation::Could not write the job summary: .*EISDIR/),
      '::error title=ThingSpace password rotation%3A failed-unknown::The reset request was sent.'
    ])
    expect(process.exitCode).toBe(1)
  })

  test('without GITHUB_STEP_SUMMARY there is no summary and no crash', async () => {
    delete process.env.GITHUB_STEP_SUMMARY
    await report(outcome({}), new SecretMask(() => {}), 'THINGSPACE_PASSWORD')
    expect(summary()).toBe('')
    expect(outputs().result).toBe('rotated')
    expect(lines()).toHaveLength(1)
  })

  test('without GITHUB_OUTPUT the outputs go to stdout as commands', () => {
    delete process.env.GITHUB_OUTPUT
    setOutputs(outcome({ result: 'not-due', targets: [] }))
    expect(lines()).toEqual(['::set-output name=result::not-due', '::set-output name=rotated::false', '::set-output name=targets-updated::0'])
  })
})

describe('buildSummary', () => {
  test('is rebuilt from an empty buffer each time', () => {
    const mask = new SecretMask(() => {})
    buildSummary(outcome({ message: 'first' }), mask, 'THINGSPACE_PASSWORD')
    const second = buildSummary(outcome({ message: 'second', targets: [] }), mask, 'THINGSPACE_PASSWORD').stringify()
    expect(second).toContain('second')
    expect(second).not.toContain('first')
    expect(second).not.toContain('<table>')
  })
})

describe('the recovery section', () => {
  /** Targets as the flow reports them: the parsed target, and an org secret's visibility and selection. */
  const [repo, env, org] = parseTargets(['repo', 'env:production', 'org:acme'], { owner: 'acme', repo: 'fleet' })
  const parsed = [
    { label: repo.label, target: repo, before: 'no secret yet', outcome: 'new password stored', holdsNewPassword: true },
    { label: env.label, target: env, before: 'no secret yet', outcome: 'NOT stored, still holds the old password: 403', holdsNewPassword: false },
    {
      label: org.label,
      target: org,
      visibility: 'selected' as const,
      selectedRepositories: ['fleet', 'fleet-dashboard'],
      before: 'updated 2030-01-01T00:00:00.000Z',
      outcome: 'unknown: no answer came',
      holdsNewPassword: false
    }
  ]
  const envCommand = 'gh secret set THINGSPACE_PASSWORD_FLEET --repo acme/fleet --env production'
  const orgCommand = 'gh secret set THINGSPACE_PASSWORD_FLEET --app actions --org acme --visibility selected --repos fleet,fleet-dashboard'
  const repoCommand = 'gh secret set THINGSPACE_PASSWORD_FLEET --app actions --repo acme/fleet'
  const opener = 'node dist/recovery/index.js open --key-file RECOVERY_KEY_FILE &lt; ciphertext.txt | '

  test('failed-changed with an escrow: the ciphertext, then one command per target that lacks the new password, fed by the recovery tool', async () => {
    const mask = new SecretMask(() => {})
    await report(
      outcome({ result: 'failed-changed', ok: false, targets: parsed, recoveryCiphertext: 'c2VhbGVk+/==' }),
      mask,
      'THINGSPACE_PASSWORD_FLEET'
    )
    const text = summary()
    expect(text).toContain('<h3>Restore the targets that lack the new password</h3>')
    expect(text).toContain(`<pre lang="sh"><code># ${env.label}\n${opener}${envCommand}\n# ${org.label}\n${opener}${orgCommand}</code></pre>`)
    expect(text).not.toContain(repoCommand)
    expect(text.indexOf('<h3>Recovery ciphertext</h3>')).toBeLessThan(text.indexOf('<h3>Restore the targets'))
    expect(text).toContain('a secret updated after this run holds a newer password')
  })

  it.each([
    { name: 'failed-changed without an escrow', result: 'failed-changed' as const },
    {
      name: 'failed-unknown after a reset nobody knows the outcome of, even with a ciphertext the flow should not have given',
      result: 'failed-unknown' as const,
      recoveryCiphertext: 'c2VhbGVk'
    }
  ])('$name: a password set by hand goes to every target, gh asking for it', async ({ result, recoveryCiphertext }) => {
    await report(
      outcome({ result, ok: false, targets: parsed, recoveryCiphertext, restoreByHand: true }),
      new SecretMask(() => {}),
      'THINGSPACE_PASSWORD_FLEET'
    )
    const text = summary()
    expect(text).toContain('<h3>Store a password you set by hand</h3>')
    expect(text).toContain(
      `<pre lang="sh"><code># ${repo.label}\n${repoCommand}\n# ${env.label}\n${envCommand}\n# ${org.label}\n${orgCommand}</code></pre>`
    )
    expect(text).not.toContain('recovery/index.js')
    expect(text).not.toContain('c2VhbGVk')
  })

  it.each([
    { name: 'rotated', result: 'rotated' as const, ok: true },
    { name: 'failed-unchanged', result: 'failed-unchanged' as const, ok: false },
    { name: 'dry-run', result: 'dry-run' as const, ok: true }
  ])('$name: no recovery section and no command', async ({ result, ok }) => {
    await report(outcome({ result, ok, targets: parsed }), new SecretMask(() => {}), 'THINGSPACE_PASSWORD_FLEET')
    expect(summary()).not.toContain('gh secret set')
    expect(summary()).not.toContain('<h3>')
  })

  test('failed-unknown because another rotation was at work: no command, since that run may have stored a working password', async () => {
    await report(outcome({ result: 'failed-unknown', ok: false, targets: parsed }), new SecretMask(() => {}), 'THINGSPACE_PASSWORD')
    expect(summary()).not.toContain('gh secret set')
  })

  test('a target written again after the store gets no restore command, only a note', async () => {
    const later = { ...parsed[1], holdsNewPassword: false, writtenAgain: true }
    await report(
      outcome({ result: 'failed-changed', ok: false, targets: [later], recoveryCiphertext: 'c2VhbGVk' }),
      new SecretMask(() => {}),
      'THINGSPACE_PASSWORD'
    )
    expect(summary()).toContain(`# ${later.label}: no command, written again after this run stored the new password`)
    expect(summary()).not.toMatch(/gh secret set \S/)
  })

  test('a target without a command says why, as a comment in the block', async () => {
    const selectedNone = { ...parsed[2], selectedRepositories: [] }
    await report(
      outcome({ result: 'failed-unknown', ok: false, targets: [selectedNone], restoreByHand: true }),
      new SecretMask(() => {}),
      'THINGSPACE_PASSWORD'
    )
    expect(summary()).toMatch(/<code># org:acme: no command, this secret is visible to selected repositories and none is selected/)
  })
})
