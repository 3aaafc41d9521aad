import { describe, expect, test } from '@jest/globals'
import { parseRepository, parseTargets, scopeKey, TargetError, type Target } from '../src/targets.ts'

const lines = (text: string): string[] => text.split('\n')

const here = { owner: 'acme', repo: 'fleet' }

describe('the targets grammar', () => {
  test('parses every kind, skipping blank lines and comments', () => {
    const text = [
      'repo',
      'repo:other/thing.js',
      '',
      '  # a comment',
      'env:production',
      'env:other/thing.js/staging area',
      'org:acme',
      'org:acme-labs:all',
      'org:b:private',
      'org:c:selected'
    ].join('\n')
    expect(parseTargets(lines(text), here).map((t) => t.label)).toEqual([
      'repo:acme/fleet',
      'repo:other/thing.js',
      'env:acme/fleet/production',
      'env:other/thing.js/staging area',
      'org:acme',
      'org:acme-labs:all',
      'org:b:private',
      'org:c:selected'
    ])
    expect(parseTargets(lines('org:acme-labs:all'), here)[0]).toEqual({
      app: 'actions',
      kind: 'org',
      org: 'acme-labs',
      visibility: 'all',
      label: 'org:acme-labs:all'
    })
    expect(parseTargets(lines('env:o/r/e'), here)[0]).toEqual({
      app: 'actions',
      kind: 'env',
      owner: 'o',
      repo: 'r',
      environment: 'e',
      label: 'env:o/r/e'
    })
  })

  test.each([
    ['', /no target given/],
    ['# only a comment', /no target given/],
    ['repos', /unknown kind "repos"/],
    ['secret:x', /unknown kind "secret"/],
    ['repo:acme', /not OWNER\/REPO/],
    ['repo:acme/fleet/x', /not OWNER\/REPO/],
    ['repo:-acme/fleet', /not OWNER\/REPO/],
    ['repo:acme/..', /not OWNER\/REPO/],
    ['env:', /env:ENVIRONMENT or env:OWNER\/REPO\/ENVIRONMENT/],
    ['env:a/b', /env:ENVIRONMENT or env:OWNER\/REPO\/ENVIRONMENT/],
    ['env:a/b/ prod', /" prod" is not an environment name \(1-255 characters, no "\/", no leading or trailing space\)/],
    [`env:${'e'.repeat(256)}`, /is not an environment name/],
    ['env:a/b/', /"" is not an environment name/],
    ['org:', /org:ORG/],
    ['org:acme:public', /visibility must be one of all, private, selected/],
    ['org:acme:all:x', /visibility must be one of/],
    ['org:ac_me', /not an organization name/],
    ['repo\nrepo:acme/fleet', /^"repo:acme\/fleet": repo:acme\/fleet is already named by "repo"; name each target once$/],
    ['repo:Acme/Fleet\nrepo:acme/fleet', /already named/],
    ['org:acme\norg:ACME:all', /already named/],
    ['env:production\nenv:acme/fleet/production', /already named/]
  ])('rejects %j', (text, message) => {
    expect(() => parseTargets(lines(text), here)).toThrow(message)
  })

  test('a bare repo or env needs GITHUB_REPOSITORY', () => {
    expect(() => parseTargets(lines('repo'), undefined)).toThrow(/GITHUB_REPOSITORY is not set/)
    expect(() => parseTargets(lines('env:production'), undefined)).toThrow(/GITHUB_REPOSITORY is not set/)
    expect(parseTargets(lines('repo:o/r'), undefined)).toHaveLength(1)
  })

  test('the same environment name in two repositories is two targets', () => {
    expect(parseTargets(lines('env:a/b/prod\nenv:a/c/prod\nenv:a/b/Prod'), here)).toHaveLength(3)
  })
})

describe('Dependabot and Codespaces targets', () => {
  test('parse the repo and org forms with their prefix', () => {
    const text = [
      'dependabot:repo',
      'dependabot:repo:other/thing.js',
      'dependabot:org:acme',
      'dependabot:org:acme-labs:selected',
      'codespaces:repo',
      'codespaces:repo:other/thing.js',
      'codespaces:org:acme:private',
      'codespaces:org:b'
    ]
    const targets = parseTargets(text, here)
    expect(targets.map((t) => t.label)).toEqual([
      'dependabot:repo:acme/fleet',
      'dependabot:repo:other/thing.js',
      'dependabot:org:acme',
      'dependabot:org:acme-labs:selected',
      'codespaces:repo:acme/fleet',
      'codespaces:repo:other/thing.js',
      'codespaces:org:acme:private',
      'codespaces:org:b'
    ])
    expect(targets.map((t) => t.app)).toEqual([
      'dependabot',
      'dependabot',
      'dependabot',
      'dependabot',
      'codespaces',
      'codespaces',
      'codespaces',
      'codespaces'
    ])
    expect(targets[0]).toEqual({ app: 'dependabot', kind: 'repo', owner: 'acme', repo: 'fleet', label: 'dependabot:repo:acme/fleet' })
    expect(targets[3]).toEqual({
      app: 'dependabot',
      kind: 'org',
      org: 'acme-labs',
      visibility: 'selected',
      label: 'dependabot:org:acme-labs:selected'
    })
    expect(targets[7]).toEqual({ app: 'codespaces', kind: 'org', org: 'b', label: 'codespaces:org:b' })
  })

  test('the same repository or organization in each app is a different store', () => {
    const text = ['repo', 'dependabot:repo', 'codespaces:repo', 'env:production', 'org:acme', 'dependabot:org:acme', 'codespaces:org:acme']
    const targets = parseTargets(text, here)
    const keys = targets.map(scopeKey)
    expect(new Set(keys).size).toBe(7)
    expect(keys).toEqual([
      'actions:repo:acme/fleet',
      'dependabot:repo:acme/fleet',
      'codespaces:repo:acme/fleet',
      'actions:env:acme/fleet/production',
      'actions:org:acme',
      'dependabot:org:acme',
      'codespaces:org:acme'
    ])
  })

  test('scope keys ignore the case of owners, repositories and organizations, not of environments', () => {
    const key = (line: string): string => scopeKey(parseTargets([line], here)[0])
    expect(key('dependabot:repo:ACME/Fleet')).toBe(key('dependabot:repo'))
    expect(key('codespaces:org:ACME:all')).toBe(key('codespaces:org:acme'))
    expect(key('env:ACME/Fleet/Prod')).toBe('actions:env:acme/fleet/Prod')
  })

  test.each([
    [
      'dependabot:env:production',
      /^"dependabot:env:production": dependabot secrets have no environments; write dependabot:repo or dependabot:org:ORG$/
    ],
    ['dependabot:env:o/r/e', /dependabot secrets have no environments/],
    ['codespaces:env:E', /^"codespaces:env:E": codespaces secrets have no environments/],
    ['dependabot:', /unknown kind "dependabot:"/],
    ['dependabot', /unknown kind "dependabot"/],
    ['codespaces:repos', /unknown kind "codespaces:repos"/],
    ['dependabot:codespaces:repo', /unknown kind "dependabot:codespaces"/],
    ['actions:repo', /unknown kind "actions"/],
    ['dependabot:repo:acme', /not OWNER\/REPO/],
    ['codespaces:repo:acme/fleet/x', /not OWNER\/REPO/],
    ['dependabot:org:', /^"dependabot:org:": write dependabot:org:ORG or dependabot:org:ORG:all\|private\|selected$/],
    ['codespaces:org:', /^"codespaces:org:": write codespaces:org:ORG or codespaces:org:ORG:all\|private\|selected$/],
    ['codespaces:org', /write codespaces:org:ORG/],
    ['codespaces:org:acme:public', /visibility must be one of all, private, selected/],
    ['dependabot:org:ac_me', /not an organization name/],
    ['Dependabot:repo', /unknown kind "Dependabot"/],
    ['dependabot:repo\ndependabot:repo:acme/fleet', /already named/],
    [
      'codespaces:org:acme\ncodespaces:org:ACME:selected',
      /^"codespaces:org:ACME:selected": codespaces:org:ACME:selected is already named by "codespaces:org:acme"/
    ]
  ])('rejects %j', (text, message) => {
    expect(() => parseTargets(lines(text), here)).toThrow(message)
  })

  test('errors are TargetErrors, and a bare dependabot:repo needs GITHUB_REPOSITORY', () => {
    expect(() => parseTargets(['dependabot:env:E'], here)).toThrow(TargetError)
    expect(() => parseTargets(['dependabot:repo'], undefined)).toThrow(/GITHUB_REPOSITORY is not set/)
    expect(() => parseTargets(['codespaces:repo'], undefined)).toThrow(/GITHUB_REPOSITORY is not set/)
    expect(parseTargets(['codespaces:repo:o/r'], undefined)).toHaveLength(1)
  })

  test('an unknown kind names every form, the new ones included', () => {
    expect(() => parseTargets(['secrets'], here)).toThrow(/or the repo and org forms with a dependabot: or codespaces: prefix/)
  })
})

describe('parseRepository', () => {
  test.each(['acme/fleet', 'a/b.c_d-e', 'A1-b/.github'])('accepts %s', (value) => {
    expect(parseRepository(value, 'x')).toEqual({ owner: value.split('/')[0], repo: value.split('/')[1] })
  })

  test.each(['acme', 'acme/', '/fleet', 'ac me/fleet', 'acme/.', `${'a'.repeat(40)}/r`, 'acme/f/g'])('rejects %j', (value) => {
    expect(() => parseRepository(value, 'where')).toThrow(/^where: ".*" is not OWNER\/REPO/)
  })
})

/** Every target shape the union allows is labelled the way the summary and the simulators expect. */
test('labels follow the documented scope keys', () => {
  const all: Target[] = parseTargets(
    ['repo', 'env:production', 'org:acme', 'dependabot:repo', 'dependabot:org:acme', 'codespaces:repo', 'codespaces:org:acme'],
    here
  )
  expect(all.map((t) => t.label)).toEqual([
    'repo:acme/fleet',
    'env:acme/fleet/production',
    'org:acme',
    'dependabot:repo:acme/fleet',
    'dependabot:org:acme',
    'codespaces:repo:acme/fleet',
    'codespaces:org:acme'
  ])
})
