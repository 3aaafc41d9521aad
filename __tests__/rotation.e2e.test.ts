/**
 * Issue 2, end to end: the committed bundle, run as the runner runs it, against both simulators.
 * Every assertion is on what the servers hold afterwards, and every run passes the leak scanner.
 */
import { afterEach, describe, expect, test } from '@jest/globals'
import { DAY, ENV, ORG, REPO, SECRET, counts, expectProofBeforeReset, run, simulators, stopSimulators, stored } from './support/scenario.ts'

afterEach(stopSimulators)

describe('a rotation', () => {
  test('stores the new password in repo, environment and organization targets, keeping org visibility and selection', async () => {
    const sims = await simulators()
    const initial = sims.thingspace.password
    sims.github.seed(ORG, SECRET, initial, new Date(Date.now() - 100 * DAY), { visibility: 'selected', selected: [1000, 2024, 77] })

    const result = await run(sims, { inputs: { targets: `repo\nenv:production\n# the org-wide copy\n\n${ORG}` } })

    expect(result.code).toBe(0)
    expect(result.outputs).toEqual({ result: 'rotated', rotated: 'true', 'targets-updated': '3' })
    const live = sims.thingspace.password
    expect(live).not.toBe(initial)
    expect(sims.thingspace.issuedPasswords).toEqual([live])
    for (const scope of [REPO, ENV, ORG]) expect(stored(sims, scope)).toBe(live)
    const org = sims.github.secret(ORG, SECRET)!
    expect(org.visibility).toBe('selected')
    expect(org.selected).toEqual([1000, 2024, 77])
    expect(counts(sims)).toMatchObject({ reset: 1, login: 2, logout: 2 })
    expect(sims.thingspace.openSessions).toBe(0)
    expect(sims.thingspace.consecutiveFailures).toBe(0)
    expectProofBeforeReset(sims, [REPO, ENV, ORG])
    expect(result.summary).toContain('`rotated`')
    expect(result.summary).toMatch(/\| `repo:acme\/fleet` \| no secret yet \| new password stored \|/)
    expect(result.files.state).toBe('')
    expect(result.files.env).toBe('')
  })

  test('writes a new org secret as private, and sets the visibility a target names', async () => {
    const sims = await simulators()
    sims.github.addOrg('acme-labs')
    sims.github.addOrg('acme-ops')
    sims.github.seed('org:acme-ops', SECRET, 'x', new Date(Date.now() - DAY), { visibility: 'selected', selected: [5] })

    const result = await run(sims, { inputs: { targets: 'org:acme\norg:acme-labs:all\norg:acme-ops:private' } })

    expect(result.outputs.result).toBe('rotated')
    expect(sims.github.secret(ORG, SECRET)).toMatchObject({ visibility: 'private', value: sims.thingspace.password })
    expect(sims.github.secret('org:acme-labs', SECRET)).toMatchObject({ visibility: 'all', value: sims.thingspace.password })
    expect(sims.github.secret('org:acme-ops', SECRET)).toMatchObject({ visibility: 'private', selected: undefined, value: sims.thingspace.password })
  })

  test('org:ORG:selected on a new secret selects no repository, and says so', async () => {
    const sims = await simulators()
    const result = await run(sims, { inputs: { targets: 'org:acme:selected' } })
    expect(result.outputs.result).toBe('rotated')
    expect(sims.github.secret(ORG, SECRET)).toMatchObject({ visibility: 'selected', selected: [], value: sims.thingspace.password })
    expect(result.stdout).toMatch(/::warning::org:acme:selected: THINGSPACE_PASSWORD will be visible to no repository/)
  })

  test('org:ORG:selected keeps an existing selection', async () => {
    const sims = await simulators()
    const ids = Array.from({ length: 130 }, (_, i) => 5000 + i) // more than one page of 100
    sims.github.seed(ORG, SECRET, 'x', new Date(Date.now() - DAY), { visibility: 'selected', selected: ids })

    const result = await run(sims, { inputs: { targets: 'org:acme:selected' } })

    expect(result.outputs.result).toBe('rotated')
    expect(sims.github.secret(ORG, SECRET)).toMatchObject({ visibility: 'selected', selected: ids, value: sims.thingspace.password })
  })

  test('verify: false logs in once only', async () => {
    const sims = await simulators()
    const result = await run(sims, { inputs: { verify: 'false' } })
    expect(result.outputs.result).toBe('rotated')
    expect(counts(sims)).toMatchObject({ login: 1, reset: 1, logout: 1 })
    expect(stored(sims, REPO)).toBe(sims.thingspace.password)
  })

  test("github-api-url, when set, is used instead of the runner's GITHUB_API_URL", async () => {
    const sims = await simulators()
    const result = await run(sims, { inputs: { 'github-api-url': sims.github.url }, env: { GITHUB_API_URL: 'http://127.0.0.1:1' } })
    expect(result.outputs.result).toBe('rotated')
    expect(stored(sims, REPO)).toBe(sims.thingspace.password)
  })

  test('honours a custom secret-name', async () => {
    const sims = await simulators()
    const result = await run(sims, { inputs: { 'secret-name': 'uws_password' } })
    expect(result.outputs.result).toBe('rotated')
    expect(sims.github.secret(REPO, 'UWS_PASSWORD')?.value).toBe(sims.thingspace.password)
  })
})

describe('min-age-days', () => {
  test('not due: every target is younger, so ThingSpace is never contacted', async () => {
    const sims = await simulators()
    const initial = sims.thingspace.password
    sims.github.seed(REPO, SECRET, initial, new Date(Date.now() - 10 * DAY))
    sims.github.seed(ENV, SECRET, initial, new Date(Date.now() - 89 * DAY))

    const result = await run(sims, { inputs: { targets: 'repo\nenv:production', 'min-age-days': '90' } })

    expect(result.code).toBe(0)
    expect(result.outputs).toEqual({ result: 'not-due', rotated: 'false', 'targets-updated': '0' })
    expect(sims.thingspace.log).toHaveLength(0)
    expect(sims.github.calls('put-secret')).toHaveLength(0)
    expect(sims.thingspace.password).toBe(initial)
  })

  test('due when one target is older', async () => {
    const sims = await simulators()
    const initial = sims.thingspace.password
    sims.github.seed(REPO, SECRET, initial, new Date(Date.now() - 10 * DAY))
    sims.github.seed(ENV, SECRET, initial, new Date(Date.now() - 91 * DAY))

    const result = await run(sims, { inputs: { targets: 'repo\nenv:production', 'min-age-days': '90' } })

    expect(result.outputs.result).toBe('rotated')
    expect(stored(sims, REPO)).toBe(sims.thingspace.password)
    expect(stored(sims, ENV)).toBe(sims.thingspace.password)
  })

  test('due when a target lacks the secret', async () => {
    const sims = await simulators()
    sims.github.seed(REPO, SECRET, sims.thingspace.password, new Date(Date.now() - DAY))

    const result = await run(sims, { inputs: { targets: 'repo\nenv:production', 'min-age-days': '30' } })

    expect(result.outputs.result).toBe('rotated')
    expect(stored(sims, ENV)).toBe(sims.thingspace.password)
  })
})

describe('dry-run', () => {
  test('logs in and proves every target writable, then stops without a reset', async () => {
    const sims = await simulators()
    const initial = sims.thingspace.password

    const result = await run(sims, { inputs: { targets: 'repo\norg:acme', 'dry-run': 'true' } })

    expect(result.code).toBe(0)
    expect(result.outputs).toEqual({ result: 'dry-run', rotated: 'false', 'targets-updated': '0' })
    expect(counts(sims)).toMatchObject({ reset: 0, login: 1, logout: 1 })
    expect(sims.thingspace.password).toBe(initial)
    expect(stored(sims, REPO)).toBe(initial)
    expect(stored(sims, ORG)).toBe(initial)
    expect(sims.thingspace.openSessions).toBe(0)
  })
})

describe('passwords with awkward characters', () => {
  const awkward = [`p a s s "quoted" 'single' \\back\\slash`, '100%+25&x=1/2?#', 'pässwörd-日本語-🔑-ok', ' leading and trailing ']
  test.each(awkward)('%j logs in, rotates and stays masked', async (password) => {
    const sims = await simulators({ password })

    const result = await run(sims, { inputs: { targets: 'repo\nenv:production' } })

    expect(result.outputs.result).toBe('rotated')
    expect(sims.thingspace.consecutiveFailures).toBe(0)
    expect(stored(sims, REPO)).toBe(sims.thingspace.password)
    expect(result.stdout).toContain(`::add-mask::${password.replace(/%/g, '%25')}`)
  })

  test('the current password is written byte for byte in a dry run', async () => {
    const password = 'pässwörd "q" \\ 100% +&/ 日本'
    const sims = await simulators({ password })
    const result = await run(sims, { inputs: { 'dry-run': 'true' } })
    expect(result.outputs.result).toBe('dry-run')
    expect(stored(sims, REPO)).toBe(password)
  })
})

describe('RUNNER_DEBUG=1', () => {
  test('a debug run leaks nothing either', async () => {
    const sims = await simulators()
    const result = await run(sims, { inputs: { targets: 'repo\nenv:production\norg:acme' }, env: { RUNNER_DEBUG: '1' } })
    expect(result.outputs.result).toBe('rotated')
    expect(stored(sims, ORG)).toBe(sims.thingspace.password)
  })
})
