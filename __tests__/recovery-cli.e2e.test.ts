/**
 * The recovery tool as a person runs it: the bundled dist/recovery/index.js of the working tree, in a
 * child process, with the private key in a file or on stdin (never on the command line) and the
 * ciphertext as copied from a job summary, surrounding whitespace and line breaks included. Last, the
 * whole recovery: a rotation whose store fails after the reset, and the restore command of its job
 * summary run as written, with a stand-in for `gh` that records what it is given.
 */
import { afterAll, beforeAll, describe, expect, it, test } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { bundleDir, FIXTURE, NODE, recoveryTool, runAction, startSimulators } from '../simulators/harness.ts'
import { keypair, seal } from '../src/seal.ts'

const PASSWORD = 'Wh0a1545a84d'

let dir: string
let keys: { publicKey: string; privateKey: string }
let keyFile: string
let ciphertext: string
/** A ciphertext sealed to another pair: well-formed, but not for this key. */
let foreign: string

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'recovery-cli-'))
  keys = await keypair()
  keyFile = path.join(dir, 'recovery.key')
  writeFileSync(keyFile, `${keys.privateKey}\n`, { mode: 0o600 })
  ciphertext = await seal(PASSWORD, keys.publicKey)
  foreign = await seal(PASSWORD, (await keypair()).publicKey)
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

function tool(
  args: string[],
  options: { stdin?: string; env?: Record<string, string> } = {}
): { status: number | null; stdout: string; stderr: string } {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env }
  const run = spawnSync(NODE, [recoveryTool(), ...args], { input: options.stdin ?? '', env, encoding: 'utf8', timeout: 15_000 })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

describe('open', () => {
  it.each([
    {
      name: 'key file; the ciphertext argument pasted with spaces and line breaks around it',
      args: () => ['--key-file', keyFile, `\n  ${ciphertext}  \n\n`]
    },
    { name: 'key file; the ciphertext on stdin with a trailing newline', args: () => ['--key-file', keyFile], stdin: () => `${ciphertext}\n` },
    {
      name: 'key file; the ciphertext on stdin with CRLF and blank lines around it',
      args: () => ['--key-file', keyFile],
      stdin: () => `\r\n\r\n${ciphertext}\r\n`
    },
    {
      name: 'key file; the ciphertext wrapped over two lines, as a narrow terminal copies it',
      args: () => ['--key-file', keyFile, `${ciphertext.slice(0, 30)}\n${ciphertext.slice(30)}`]
    },
    { name: 'the key and then the ciphertext on stdin', args: () => [], stdin: () => `\n${keys.privateKey}\n  ${ciphertext}\n\n` },
    { name: 'the key on stdin; the ciphertext argument', args: () => [ciphertext], stdin: () => `${keys.privateKey}\n` },
    {
      name: 'the key in RECOVERY_PRIVATE_KEY (from a secret manager)',
      args: () => [ciphertext],
      env: () => ({ RECOVERY_PRIVATE_KEY: `${keys.privateKey}\n` })
    }
  ])('$name: prints the password and nothing else', ({ args, stdin, env }) => {
    const run = tool(['open', ...args()], { stdin: stdin?.(), env: env?.() })
    expect(run).toEqual({ status: 0, stdout: `${PASSWORD}\n`, stderr: '' })
  })

  it.each([
    {
      name: 'a key file that is not base64',
      key: () => 'not a key!',
      args: () => [ciphertext],
      error: /^The private key \(.*recovery-bad\.key\) is not standard base64/
    },
    {
      name: 'a key that was cut',
      key: () => keys.privateKey.slice(0, 30),
      args: () => [ciphertext],
      error: /^The private key .* is shorter than 32 bytes .*: it was cut/
    },
    {
      name: 'a key of the wrong size',
      key: () => Buffer.alloc(40, 7).toString('base64'),
      args: () => [ciphertext],
      error: /^The private key .* is 40 bytes, not 32 .*: it was changed/
    },
    {
      name: 'the two inputs swapped: the ciphertext in the key file',
      key: () => ciphertext,
      args: () => [keys.privateKey],
      error: /^The private key .* is 60 bytes, not 32: it looks like a recovery ciphertext/
    },
    {
      name: 'a ciphertext with a character that is not base64',
      key: () => keys.privateKey,
      args: () => [`${ciphertext.slice(0, 10)}*${ciphertext.slice(11)}`],
      error: /^The ciphertext is not standard base64/
    },
    {
      name: 'a ciphertext cut at a length base64 cannot have',
      key: () => keys.privateKey,
      args: () => [ciphertext.slice(0, 61)],
      error: /^The ciphertext is not whole .*: it was cut/
    },
    {
      name: 'a ciphertext cut short',
      key: () => keys.privateKey,
      args: () => [ciphertext.slice(0, 60)],
      error: /^The ciphertext is 45 bytes; .*: it was cut/
    },
    {
      name: 'the public key given as the ciphertext',
      key: () => keys.privateKey,
      args: () => [keys.publicKey],
      error: /^The ciphertext is 32 bytes, the size of a key/
    },
    {
      name: 'a well-formed pair that does not open: the key named by its public key',
      key: () => keys.privateKey,
      args: () => [foreign],
      error: /^The ciphertext does not open with this private key\. Both are well-formed.*This key's public key is (\S+):/
    },
    { name: 'no ciphertext at all', key: () => keys.privateKey, args: () => [], error: /^No ciphertext/ }
  ])('$name: says which input is wrong, prints nothing, exits 1', ({ key, args, error }) => {
    const badKey = path.join(dir, 'recovery-bad.key')
    writeFileSync(badKey, `${key()}\n`)
    const run = tool(['open', '--key-file', badKey, ...args()])
    expect(run).toEqual({ status: 1, stdout: '', stderr: expect.stringMatching(error) })
  })

  test('a key that does not open the ciphertext is named by its public key, so the person can compare it with the workflow', () => {
    const other = tool(['open', '--key-file', keyFile, foreign])
    expect(other.stderr).toContain(`This key's public key is ${keys.publicKey}:`)
  })

  test('a key file that cannot be read is named', () => {
    const run = tool(['open', '--key-file', path.join(dir, 'missing.key'), ciphertext])
    expect(run).toEqual({ status: 1, stdout: '', stderr: `Cannot read the private key file ${path.join(dir, 'missing.key')}: ENOENT.\n` })
  })

  test('no key file, no variable and nothing on stdin: no key, exit 1', () => {
    const run = tool(['open', ciphertext])
    expect(run).toEqual({ status: 1, stdout: '', stderr: 'The private key (the first line of stdin) is empty.\n' })
  })
})

describe('keygen', () => {
  test('--key-file writes the private key to a new file only its owner reads, prints only the public key, and the pair opens what is sealed to it', async () => {
    const file = path.join(dir, 'new.key')
    const run = tool(['keygen', '--key-file', file])
    expect(run.status).toBe(0)
    const publicKey = /^recovery-public-key: +(\S+)\n/.exec(run.stdout)?.[1] ?? ''
    const privateKey = readFileSync(file, 'utf8')
    expect(privateKey).toMatch(/^[A-Za-z0-9+/]{43}=\n$/)
    expect(run.stdout).not.toContain(privateKey.trim())
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(tool(['open', '--key-file', file, await seal(PASSWORD, publicKey)])).toEqual({ status: 0, stdout: `${PASSWORD}\n`, stderr: '' })
  })

  test('never overwrites an existing key file', () => {
    const before = readFileSync(keyFile, 'utf8')
    const run = tool(['keygen', '--key-file', keyFile])
    expect(run).toEqual({ status: 1, stdout: '', stderr: expect.stringMatching(/exists already, and a recovery key is never overwritten/) })
    expect(readFileSync(keyFile, 'utf8')).toBe(before)
  })

  test('without --key-file, prints both keys', () => {
    const run = tool(['keygen'])
    expect(run.status).toBe(0)
    expect(run.stdout).toMatch(/^recovery-public-key: +[A-Za-z0-9+/]{43}=\nRECOVERY_PRIVATE_KEY: [A-Za-z0-9+/]{43}=\n/)
  })
})

test.each([
  { name: 'no command', args: [] },
  { name: 'an unknown command', args: ['decrypt'] },
  { name: 'an unknown option', args: ['open', '--key', 'x'] },
  { name: 'two ciphertexts', args: ['open', 'a', 'b'] }
])('usage error ($name): exit 2', ({ args }) => {
  const run = tool(args)
  expect(run).toEqual({ status: 2, stdout: '', stderr: expect.stringContaining('usage: node dist/recovery/index.js') })
})

describe("a job summary's restore command, run as written", () => {
  test('opens the escrow with the key file and hands gh the live password on stdin, for the target that lacks it, scope and selection kept', async () => {
    const sims = await startSimulators()
    try {
      sims.github.addRepo('acme/fleet-dashboard') // id 1001; acme/fleet is 1000
      sims.github.seed('org:acme', 'THINGSPACE_PASSWORD', sims.thingspace.password, new Date(Date.now() - 120 * 86_400_000), {
        visibility: 'selected',
        selected: [1000, 1001]
      })
      const work = mkdtempSync(path.join(dir, 'restore-'))
      const key = path.join(work, 'recovery.key')
      const publicKey = /recovery-public-key: +(\S+)/.exec(tool(['keygen', '--key-file', key]).stdout)?.[1] ?? ''
      // The organization's secrets become unwritable the moment the reset arrives: after the proof, before the store.
      sims.thingspace.inject({ call: 'reset', onHit: () => void (sims.github.tokens.get(FIXTURE.githubToken)!.deny = ['org:acme']) })

      const run = await runAction(sims, { inputs: { targets: 'repo\norg:acme', 'recovery-public-key': publicKey } })
      expect(run.outputs.result).toBe('failed-changed')

      // What a person does: save the ciphertext, name the key file, run each command in a clone of the action.
      const code = /<pre lang="sh"><code>([\s\S]*?)<\/code><\/pre>/.exec(run.summary)?.[1] ?? ''
      const commands = code
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&')
        .split('\n')
        .filter((line) => !line.startsWith('#'))
      expect(commands).toEqual([
        'node dist/recovery/index.js open --key-file RECOVERY_KEY_FILE < ciphertext.txt | ' +
          'gh secret set THINGSPACE_PASSWORD --app actions --org acme --visibility selected --repos fleet,fleet-dashboard'
      ])
      writeFileSync(path.join(work, 'ciphertext.txt'), `${run.outputs['recovery-ciphertext']}\n`)
      symlinkSync(path.join(bundleDir(), 'dist'), path.join(work, 'dist'))
      mkdirSync(path.join(work, 'bin'))
      const gh = path.join(work, 'bin/gh')
      writeFileSync(gh, '#!/bin/sh\nprintf "%s\\n" "$@" > "$GH_ARGS"\ncat > "$GH_STDIN"\n')
      chmodSync(gh, 0o755)
      const restore = spawnSync('sh', ['-c', commands[0].replace('RECOVERY_KEY_FILE', key)], {
        cwd: work,
        env: {
          PATH: [path.join(work, 'bin'), path.dirname(NODE), process.env.PATH].join(path.delimiter),
          GH_ARGS: path.join(work, 'gh-args'),
          GH_STDIN: path.join(work, 'gh-stdin')
        },
        encoding: 'utf8',
        timeout: 15_000
      })
      expect({ status: restore.status, stderr: restore.stderr }).toEqual({ status: 0, stderr: '' })
      expect(readFileSync(path.join(work, 'gh-args'), 'utf8').trim().split('\n')).toEqual([
        'secret',
        'set',
        'THINGSPACE_PASSWORD',
        '--app',
        'actions',
        '--org',
        'acme',
        '--visibility',
        'selected',
        '--repos',
        'fleet,fleet-dashboard'
      ])
      expect(readFileSync(path.join(work, 'gh-stdin'), 'utf8')).toBe(`${sims.thingspace.password}\n`)
      expect(run.summary).not.toContain(sims.thingspace.password)
    } finally {
      await sims.stop()
    }
  }, 60_000)
})
