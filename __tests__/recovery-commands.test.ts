/**
 * The restore commands the job summary lists (src/recovery-commands.ts), read back the way `gh secret set`
 * reads them: a model of its flags and rules, taken from cli/cli's pkg/cmd/secret/set/set.go and
 * pkg/cmd/secret/shared/shared.go, says which store each command writes and with which visibility and
 * repositories. Every target kind must land in its own store with nothing narrowed.
 */
import { describe, expect, it, test } from '@jest/globals'
import type { TargetReport } from '../src/outcomes.ts'
import { restoreCommand, restoreCommands, shellQuote } from '../src/recovery-commands.ts'
import { parseTargets, type Visibility } from '../src/targets.ts'

/** Splits a command line as sh does for the quoting shellQuote produces (plain words and single quotes). */
function shellWords(line: string): string[] {
  const words: string[] = []
  let word: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === ' ') {
      if (word !== undefined) words.push(word)
      word = undefined
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1)
      if (end < 0) throw new Error(`unterminated quote in ${line}`)
      word = (word ?? '') + line.slice(i + 1, end)
      i = end
    } else if (c === '\\') {
      word = (word ?? '') + line[++i]
    } else if (/[;&|<>$`"*?(){}[\]~#!\n]/.test(c)) {
      throw new Error(`unquoted shell metacharacter ${c} in ${line}`)
    } else {
      word = (word ?? '') + c
    }
  }
  if (word !== undefined) words.push(word)
  return words
}

interface GhEffect {
  name: string
  app: string
  entity: 'repository' | 'environment' | 'organization' | 'user'
  repo?: string
  env?: string
  org?: string
  /** Only an organization secret has one; gh's default is private. */
  visibility?: string
  /** Full names, as gh resolves them to repository IDs. */
  repos?: string[]
  valueFrom: 'stdin'
}

/** What `gh secret set` does with these arguments, or the error it stops with. */
function ghSecretSet(line: string): GhEffect {
  const words = shellWords(line)
  expect(words.slice(0, 3)).toEqual(['gh', 'secret', 'set'])
  const valued: Record<string, string> = { '-o': 'org', '--org': 'org', '-e': 'env', '--env': 'env', '-a': 'app', '--app': 'app' }
  Object.assign(valued, { '-R': 'repo', '--repo': 'repo', '-v': 'visibility', '--visibility': 'visibility', '-r': 'repos', '--repos': 'repos' })
  Object.assign(valued, { '-b': 'body', '--body': 'body', '-f': 'env-file', '--env-file': 'env-file' })
  const flags: Record<string, string> = {}
  const args: string[] = []
  let user = false
  for (let i = 3; i < words.length; i++) {
    const w = words[i]
    if (w === '-u' || w === '--user') user = true
    else if (valued[w]) {
      if (flags[valued[w]] !== undefined) throw new Error(`${w} given twice`)
      flags[valued[w]] = words[++i]
    } else if (w.startsWith('-')) throw new Error(`unknown flag: ${w}`)
    else args.push(w)
  }
  if (args.length !== 1) throw new Error('accepts at most 1 arg(s); a name is required')
  if ([flags.org, flags.env, user ? 'user' : undefined].filter(Boolean).length > 1)
    throw new Error('specify only one of `--org`, `--env`, or `--user`')
  if (flags.body !== undefined || flags['env-file'] !== undefined) throw new Error('the value must come from stdin, never from the command line')
  const repos = flags.repos === undefined ? [] : flags.repos.split(',')
  let visibility = flags.visibility ?? 'private'
  if (flags.visibility !== undefined) {
    if (!['all', 'private', 'selected'].includes(flags.visibility)) throw new Error(`invalid --visibility ${flags.visibility}`)
    if (!flags.org) throw new Error('`--visibility` is only supported with `--org`')
    if (flags.visibility !== 'selected' && repos.length > 0) throw new Error('`--repos` is only supported with `--visibility=selected`')
    if (flags.visibility === 'selected' && repos.length === 0) throw new Error('`--repos` list required with `--visibility=selected`')
  } else if (repos.length > 0) {
    visibility = 'selected'
  }
  const entity = flags.org ? 'organization' : flags.env ? 'environment' : user ? 'user' : 'repository'
  const app = (flags.app ?? (entity === 'user' ? 'codespaces' : 'actions')).toLowerCase()
  const supported: Record<string, string[]> = {
    actions: ['repository', 'organization', 'environment'],
    codespaces: ['user', 'organization', 'repository'],
    dependabot: ['repository', 'organization']
  }
  if (!supported[app]) throw new Error(`invalid application: ${app}`)
  if (!supported[app].includes(entity)) throw new Error(`${entity} secrets are not supported for ${app}`)
  if ((entity === 'repository' || entity === 'environment') && !/^[^/\s]+\/[^/\s]+$/.test(flags.repo ?? '')) {
    throw new Error('outside a clone, --repo OWNER/REPO names the repository')
  }
  return {
    name: args[0],
    app,
    entity,
    ...(flags.repo !== undefined && { repo: flags.repo }),
    ...(flags.env !== undefined && { env: flags.env }),
    ...(flags.org !== undefined && {
      org: flags.org,
      visibility,
      ...(repos.length > 0 && { repos: repos.map((r) => (r.includes('/') ? r : `${flags.org}/${r}`)) })
    }),
    valueFrom: 'stdin'
  }
}

const HERE = { owner: 'acme', repo: 'fleet' }

function report(line: string, org: { visibility?: Visibility; selectedRepositories?: string[] } = {}): TargetReport {
  const [target] = parseTargets([line], HERE)
  return { label: target.label, target, ...org, before: 'updated 2030-01-01T00:00:00.000Z', outcome: 'NOT stored', holdsNewPassword: false }
}

describe('restoreCommand', () => {
  it.each([
    {
      name: 'a repository secret',
      target: report('repo'),
      command: 'gh secret set THINGSPACE_PASSWORD --app actions --repo acme/fleet',
      effect: { app: 'actions', entity: 'repository', repo: 'acme/fleet' }
    },
    {
      name: "another repository's secret",
      target: report('repo:acme/fleet-dashboard'),
      command: 'gh secret set THINGSPACE_PASSWORD --app actions --repo acme/fleet-dashboard',
      effect: { app: 'actions', entity: 'repository', repo: 'acme/fleet-dashboard' }
    },
    {
      name: 'an environment secret',
      target: report('env:production'),
      command: 'gh secret set THINGSPACE_PASSWORD --repo acme/fleet --env production',
      effect: { app: 'actions', entity: 'environment', repo: 'acme/fleet', env: 'production' }
    },
    {
      name: 'an environment whose name needs quoting',
      target: report("env:acme/fleet/QA (Bob's) $HOME"),
      command: `gh secret set THINGSPACE_PASSWORD --repo acme/fleet --env 'QA (Bob'\\''s) $HOME'`,
      effect: { app: 'actions', entity: 'environment', repo: 'acme/fleet', env: "QA (Bob's) $HOME" }
    },
    {
      name: 'an organization secret visible to all repositories',
      target: report('org:acme', { visibility: 'all' }),
      command: 'gh secret set THINGSPACE_PASSWORD --app actions --org acme --visibility all',
      effect: { app: 'actions', entity: 'organization', org: 'acme', visibility: 'all' }
    },
    {
      name: 'an organization secret visible to private repositories',
      target: report('org:acme:private', { visibility: 'private' }),
      command: 'gh secret set THINGSPACE_PASSWORD --app actions --org acme --visibility private',
      effect: { app: 'actions', entity: 'organization', org: 'acme', visibility: 'private' }
    },
    {
      name: 'an organization secret visible to selected repositories keeps every one of them',
      target: report('org:acme', { visibility: 'selected', selectedRepositories: ['fleet', 'fleet-dashboard', 'metering.api'] }),
      command: 'gh secret set THINGSPACE_PASSWORD --app actions --org acme --visibility selected --repos fleet,fleet-dashboard,metering.api',
      effect: {
        app: 'actions',
        entity: 'organization',
        org: 'acme',
        visibility: 'selected',
        repos: ['acme/fleet', 'acme/fleet-dashboard', 'acme/metering.api']
      }
    },
    {
      name: 'a Dependabot repository secret',
      target: report('dependabot:repo'),
      command: 'gh secret set THINGSPACE_PASSWORD --app dependabot --repo acme/fleet',
      effect: { app: 'dependabot', entity: 'repository', repo: 'acme/fleet' }
    },
    {
      name: 'a Dependabot organization secret visible to selected repositories',
      target: report('dependabot:org:acme:selected', { visibility: 'selected', selectedRepositories: ['fleet'] }),
      command: 'gh secret set THINGSPACE_PASSWORD --app dependabot --org acme --visibility selected --repos fleet',
      effect: { app: 'dependabot', entity: 'organization', org: 'acme', visibility: 'selected', repos: ['acme/fleet'] }
    },
    {
      name: 'a Codespaces repository secret',
      target: report('codespaces:repo:acme/fleet'),
      command: 'gh secret set THINGSPACE_PASSWORD --app codespaces --repo acme/fleet',
      effect: { app: 'codespaces', entity: 'repository', repo: 'acme/fleet' }
    },
    {
      name: 'a Codespaces organization secret visible to all repositories',
      target: report('codespaces:org:acme', { visibility: 'all' }),
      command: 'gh secret set THINGSPACE_PASSWORD --app codespaces --org acme --visibility all',
      effect: { app: 'codespaces', entity: 'organization', org: 'acme', visibility: 'all' }
    },
    {
      name: 'an organization target whose visibility the run did not report falls back to the one the line asks for',
      target: report('org:acme:all'),
      command: 'gh secret set THINGSPACE_PASSWORD --app actions --org acme --visibility all',
      effect: { app: 'actions', entity: 'organization', org: 'acme', visibility: 'all' }
    }
  ])('$name: $command', ({ target, command, effect }) => {
    const restore = restoreCommand(target, 'THINGSPACE_PASSWORD')
    expect(restore).toEqual({ label: target.label, command })
    expect(ghSecretSet(command)).toEqual({ name: 'THINGSPACE_PASSWORD', ...effect, valueFrom: 'stdin' })
  })

  it.each([
    {
      name: 'selected with no repository: gh cannot keep an empty selection, so no command',
      target: report('org:acme:selected', { visibility: 'selected', selectedRepositories: [] }),
      note: /none is selected, so no repository reads it; gh cannot keep an empty selection/
    },
    {
      name: 'an organization secret of unknown visibility: no command, which gh would make private',
      target: report('org:acme'),
      note: /did not learn this secret's visibility; .* without --visibility makes the secret private/
    },
    {
      name: 'a target the run did not parse',
      target: { label: 'org:acme', before: 'not read', outcome: 'not touched', holdsNewPassword: false },
      note: /did not parse this target/
    }
  ])('$name', ({ target, note }) => {
    const restore = restoreCommand(target, 'THINGSPACE_PASSWORD')
    expect(restore).toEqual({ label: target.label, note: expect.stringMatching(note) })
  })

  test('the secret is the one the run writes (secret-name), not a fixed name', () => {
    const restore = restoreCommand(report('dependabot:repo'), 'THINGSPACE_PASSWORD_FLEET')
    expect(restore).toEqual({ label: 'dependabot:repo:acme/fleet', command: expect.any(String) })
    expect(ghSecretSet((restore as { command: string }).command).name).toBe('THINGSPACE_PASSWORD_FLEET')
  })

  test('the model of gh refuses what gh refuses, so the checks above can fail', () => {
    expect(() => ghSecretSet('gh secret set X --org acme --visibility selected')).toThrow('`--repos` list required')
    expect(() => ghSecretSet('gh secret set X --env production --app dependabot --repo acme/fleet')).toThrow('not supported for dependabot')
    expect(() => ghSecretSet('gh secret set X --repo acme/fleet --body hunter2')).toThrow('stdin')
    expect(ghSecretSet('gh secret set X --org acme').visibility).toBe('private')
  })
})

describe('restoreCommands', () => {
  const targets: TargetReport[] = [
    { ...report('repo'), holdsNewPassword: true },
    report('env:production'),
    report('org:acme', { visibility: 'private' })
  ]

  test('with the new password escrowed, only the targets that lack it', () => {
    expect(restoreCommands(targets, 'THINGSPACE_PASSWORD', true).map((r) => r.label)).toEqual(['env:acme/fleet/production', 'org:acme'])
  })

  test('without an escrow, every target: the password a person sets in the portal goes everywhere', () => {
    expect(restoreCommands(targets, 'THINGSPACE_PASSWORD', false).map((r) => r.label)).toEqual([
      'repo:acme/fleet',
      'env:acme/fleet/production',
      'org:acme'
    ])
  })
})

describe('shellQuote', () => {
  it.each([
    { name: 'a plain word stays', word: 'acme/fleet-dashboard', quoted: 'acme/fleet-dashboard' },
    { name: 'a space is quoted', word: 'QA blue', quoted: "'QA blue'" },
    { name: 'a single quote is closed, escaped and reopened', word: "Bob's", quoted: `'Bob'\\''s'` },
    { name: 'a dollar sign cannot expand', word: '$HOME', quoted: "'$HOME'" }
  ])('$name', ({ word, quoted }) => {
    expect(shellQuote(word)).toBe(quoted)
    expect(shellWords(`x ${quoted}`)).toEqual(['x', word])
  })
})
