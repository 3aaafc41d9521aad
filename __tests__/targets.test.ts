import { describe, expect, test } from '@jest/globals'
import { parseTargets } from '../src/targets.ts'

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
    expect(parseTargets(lines('org:acme-labs:all'), here)[0]).toEqual({ kind: 'org', org: 'acme-labs', visibility: 'all', label: 'org:acme-labs:all' })
    expect(parseTargets(lines('env:o/r/e'), here)[0]).toEqual({ kind: 'env', owner: 'o', repo: 'r', environment: 'e', label: 'env:o/r/e' })
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
    ['org:', /org:ORG/],
    ['org:acme:public', /visibility must be one of all, private, selected/],
    ['org:acme:all:x', /visibility must be one of/],
    ['org:ac_me', /not an organization name/],
    ['repo\nrepo:acme/fleet', /line 2 .*already named on line 1/],
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
