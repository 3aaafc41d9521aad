/**
 * readSettings (src/inputs.ts) through @actions/core's real input protocol (INPUT_* variables):
 * every invalid input is an InputError naming it, secrets are masked before anything is validated,
 * and the defaults match action.yml.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals'
import { InputError, parseServiceUrl, readSettings, type RunContext, type Settings } from '../src/inputs.ts'
import { SecretMask } from '../src/secrets-mask.ts'

const CONTEXT: RunContext = { repository: 'acme/fleet', runId: 4242, eventName: 'schedule', apiUrl: 'https://ghe.example.com/api/v3' }

const VALID: Record<string, string> = {
  username: 'm2m-api-user',
  password: ' pass word with spaces ',
  'client-id': 'app-key-0001',
  'client-secret': 'app-secret-0001',
  'github-token': 'ghp_Token0123456789'
}

let saved: NodeJS.ProcessEnv

beforeEach(() => {
  saved = { ...process.env }
  for (const name of Object.keys(process.env)) if (name.startsWith('INPUT_')) delete process.env[name]
})

afterEach(() => {
  for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name]
  Object.assign(process.env, saved)
})

function setInputs(inputs: Record<string, string>): void {
  for (const [name, value] of Object.entries(inputs)) process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
}

function read(inputs: Record<string, string>, context: RunContext = CONTEXT): { settings?: Settings; error?: unknown; masked: string[] } {
  setInputs({ ...VALID, ...inputs })
  const masked: string[] = []
  const mask = new SecretMask((value) => masked.push(value))
  try {
    return { settings: readSettings(context, mask), masked }
  } catch (error) {
    return { error, masked }
  }
}

function basic(id: string, secret: string): string {
  return Buffer.from(`${id}:${secret}`, 'utf8').toString('base64')
}

describe('defaults', () => {
  test('the required inputs alone give the documented defaults', () => {
    const { settings, error } = read({})
    expect(error).toBeUndefined()
    expect(settings).toEqual({
      username: 'm2m-api-user',
      password: ' pass word with spaces ',
      basicCredential: basic('app-key-0001', 'app-secret-0001'),
      githubToken: 'ghp_Token0123456789',
      secretName: 'THINGSPACE_PASSWORD',
      targets: [{ app: 'actions', kind: 'repo', owner: 'acme', repo: 'fleet', label: 'repo:acme/fleet' }],
      minAgeDays: 0,
      dryRun: false,
      verify: true,
      recoveryPublicKey: undefined,
      thingspaceUrl: new URL('https://thingspace.verizon.com'),
      githubApiUrl: new URL('https://ghe.example.com/api/v3'),
      repository: { owner: 'acme', repo: 'fleet' },
      runId: 4242,
      eventName: 'schedule'
    })
  })

  test('without an API URL in the context, github.com', () => {
    const { settings } = read({ targets: 'repo:o/r' }, { repository: undefined, runId: undefined, eventName: undefined, apiUrl: undefined })
    expect(settings?.githubApiUrl.href).toBe('https://api.github.com/')
    expect(settings?.repository).toBeUndefined()
  })

  test('every input given', () => {
    const key = `${'A'.repeat(43)}=`
    const { settings } = read({
      'secret-name': 'ts_password_2',
      targets: 'repo:o/r\r\n\n  dependabot:org:acme:selected  \n# comment\ncodespaces:repo',
      'min-age-days': '90',
      'dry-run': 'True',
      verify: 'FALSE',
      'recovery-public-key': key,
      'thingspace-url': 'https://mock.thingspace.verizon.com/base/',
      'github-api-url': 'http://127.0.0.1:8080/'
    })
    expect(settings).toMatchObject({
      secretName: 'TS_PASSWORD_2',
      minAgeDays: 90,
      dryRun: true,
      verify: false,
      recoveryPublicKey: key
    })
    expect(settings?.targets.map((t) => t.label)).toEqual(['repo:o/r', 'dependabot:org:acme:selected', 'codespaces:repo:acme/fleet'])
    expect(settings?.thingspaceUrl.href).toBe('https://mock.thingspace.verizon.com/base')
    expect(settings?.githubApiUrl.href).toBe('http://127.0.0.1:8080/')
  })

  test.each(['true', 'True', 'TRUE', 'false', 'False', 'FALSE'])('the boolean %s is read as YAML 1.2 core', (value) => {
    expect(read({ 'dry-run': value, verify: value }).settings).toMatchObject({
      dryRun: value.toLowerCase() === 'true',
      verify: value.toLowerCase() === 'true'
    })
  })
})

describe('invalid inputs', () => {
  test.each<[string, Record<string, string>, RegExp]>([
    ['empty username', { username: '' }, /^Input "username" is required and was empty/],
    // Sent as a login field and in the Basic credential: was accepted at 1784f78 and sent (a login refused, a token refused).
    ['a username of two lines', { username: 'fleet\napi' }, /^Input "username" must be one line, without control characters/],
    ['a username with a tab', { username: 'fleet\tapi' }, /^Input "username" must be one line/],
    ['a standby username of two lines', { 'standby-username': 'b\nc', 'standby-password': 'x' }, /^Input "standby-username" must be one line/],
    ['a client-id with a colon', { 'client-id': 'app:key' }, /^Input "client-id" must not contain ":"/],
    ['a client-id of two lines', { 'client-id': 'app\nkey' }, /^Input "client-id" must be one line/],
    ['username-kind foo without a standby', { 'username-kind': 'foo' }, /^Input "username-kind" must be "variable" or "secret", got "foo"/],
    ['blank password', { password: '   ' }, /^Input "password" is required and was empty/],
    ['empty client-id', { 'client-id': '' }, /^Input "client-id" is required/],
    ['blank client-secret', { 'client-secret': ' \n' }, /^Input "client-secret" is required/],
    ['empty github-token', { 'github-token': '' }, /^Input "github-token" is required/],
    ['dry-run yes', { 'dry-run': 'yes' }, /^Input "dry-run" must be true or false .*got "yes"/],
    ['verify 1', { verify: '1' }, /^Input "verify" must be true or false/],
    ['verify tRUE', { verify: 'tRUE' }, /^Input "verify" must be true or false/],
    ['min-age-days -1', { 'min-age-days': '-1' }, /^Input "min-age-days" must be a whole number .*got "-1"/],
    ['min-age-days 1.5', { 'min-age-days': '1.5' }, /^Input "min-age-days"/],
    ['min-age-days ninety', { 'min-age-days': 'ninety' }, /^Input "min-age-days"/],
    ['min-age-days 123456', { 'min-age-days': '123456' }, /^Input "min-age-days"/],
    ['secret-name with a dash', { 'secret-name': 'THING-SPACE' }, /^Input "secret-name" must use only letters, digits and "_".*got "THING-SPACE"/],
    ['secret-name starting with a digit', { 'secret-name': '1PASSWORD' }, /^Input "secret-name"/],
    ['secret-name GITHUB_ prefix', { 'secret-name': 'GITHUB_PASSWORD' }, /^Input "secret-name".*GITHUB_/],
    ['secret-name github_ prefix', { 'secret-name': 'github_password' }, /^Input "secret-name"/],
    ['recovery key too short', { 'recovery-public-key': 'abc=' }, /^Input "recovery-public-key" must be the standard base64 of a 32-byte/],
    ['recovery key in base64url', { 'recovery-public-key': `${'-'.repeat(43)}=` }, /^Input "recovery-public-key"/],
    ['recovery key without padding', { 'recovery-public-key': 'A'.repeat(44) }, /^Input "recovery-public-key"/],
    [
      'thingspace-url over http',
      { 'thingspace-url': 'http://thingspace.example.com' },
      /^Input "thingspace-url" must be an https:\/\/ URL; plain http:\/\/ is accepted only for a loopback/
    ],
    [
      'github-api-url over http',
      { 'github-api-url': 'http://ghe.example.com/api/v3' },
      /^Input "github-api-url" must be an https:\/\/ URL; plain http/
    ],
    [
      'thingspace-url with credentials',
      { 'thingspace-url': 'https://user:pw@thingspace.verizon.com' },
      /^Input "thingspace-url" must not carry credentials/
    ],
    ['github-api-url with a user', { 'github-api-url': 'https://token@api.github.com' }, /^Input "github-api-url" must not carry credentials/],
    [
      'thingspace-url with a query',
      { 'thingspace-url': 'https://thingspace.verizon.com/?x=1' },
      /^Input "thingspace-url" must be a base URL without query or fragment/
    ],
    ['github-api-url with a fragment', { 'github-api-url': 'https://api.github.com/#x' }, /^Input "github-api-url" must be a base URL/],
    [
      'thingspace-url not a URL',
      { 'thingspace-url': 'thingspace.verizon.com' },
      /^Input "thingspace-url" must be an https:\/\/ URL, got "thingspace.verizon.com"/
    ],
    ['thingspace-url ftp', { 'thingspace-url': 'ftp://127.0.0.1/' }, /^Input "thingspace-url" must be an https:\/\/ URL/],
    ['targets dependabot:env:E', { targets: 'dependabot:env:E' }, /^Input "targets": "dependabot:env:E": dependabot secrets have no environments/],
    ['targets codespaces:env:o/r/e', { targets: 'codespaces:env:o/r/e' }, /^Input "targets": .*codespaces secrets have no environments/],
    ['targets codespaces:org:', { targets: 'codespaces:org:' }, /^Input "targets": "codespaces:org:": write codespaces:org:ORG/],
    [
      'targets dependabot:org:acme:public',
      { targets: 'dependabot:org:acme:public' },
      /^Input "targets": .*visibility must be one of all, private, selected/
    ],
    ['targets dependabot:secret', { targets: 'dependabot:secret' }, /^Input "targets": "dependabot:secret": unknown kind "dependabot:secret"/],
    ['targets dependabot alone', { targets: 'dependabot' }, /^Input "targets": "dependabot": unknown kind "dependabot"/],
    ['targets duplicated', { targets: 'repo\nrepo:ACME/fleet' }, /^Input "targets": "repo:ACME\/fleet": repo:ACME\/fleet is already named by "repo"/],
    ['targets duplicated app', { targets: 'dependabot:org:acme\ndependabot:org:ACME:all' }, /^Input "targets": .*already named/],
    ['targets unknown kind', { targets: 'environment:prod' }, /^Input "targets": "environment:prod": unknown kind "environment"/],
    ['targets only comments', { targets: '# nothing\n' }, /^Input "targets": no target given/]
  ])('%s', (_name, inputs, message) => {
    const { error } = read(inputs)
    expect(error).toBeInstanceOf(InputError)
    expect((error as Error).message).toMatch(message)
  })

  test('a bare repo target without GITHUB_REPOSITORY is an input error', () => {
    const { error } = read({ targets: 'repo' }, { ...CONTEXT, repository: undefined })
    expect(error).toBeInstanceOf(InputError)
    expect((error as Error).message).toMatch(/^Input "targets": "repo": this repository is unknown \(GITHUB_REPOSITORY is not set\)/)
  })

  test('a malformed GITHUB_REPOSITORY is an input error too', () => {
    const { error } = read({}, { ...CONTEXT, repository: 'not-a-repo' })
    expect(error).toBeInstanceOf(InputError)
    expect((error as Error).message).toContain('GITHUB_REPOSITORY: "not-a-repo" is not OWNER/REPO')
  })

  test.each(['http://127.0.0.1:9000', 'http://127.1.2.3', 'http://localhost:3000/x', 'http://[::1]:8080'])(
    'plain http to the loopback host %s is accepted',
    (url) => {
      expect(read({ 'thingspace-url': url }).settings?.thingspaceUrl.protocol).toBe('http:')
    }
  )

  test('parseServiceUrl strips trailing slashes of the path', () => {
    expect(parseServiceUrl('https://x.example/a/b//', 'u').pathname).toBe('/a/b')
  })
})

describe('masking', () => {
  test('every secret input and the Basic credential are masked before the first error', () => {
    const { error, masked } = read({ username: '' })
    expect(error).toBeInstanceOf(InputError)
    expect((error as Error).message).toMatch(/"username"/)
    expect(masked).toEqual(
      expect.arrayContaining([' pass word with spaces ', 'app-secret-0001', 'ghp_Token0123456789', basic('app-key-0001', 'app-secret-0001')])
    )
  })

  test('a valid password is masked although a later input is invalid', () => {
    const { error, masked } = read({ 'min-age-days': 'x', targets: 'nope' })
    expect(error).toBeInstanceOf(InputError)
    expect(masked).toContain(' pass word with spaces ')
    expect(masked).toContain(encodeURIComponent(' pass word with spaces '))
  })

  test('the Basic credential is built from the untrimmed client secret', () => {
    const { settings, masked } = read({ 'client-secret': ' padded secret ' })
    expect(settings?.basicCredential).toBe(basic('app-key-0001', ' padded secret '))
    expect(masked).toContain(basic('app-key-0001', ' padded secret '))
  })

  test('blank secrets are not masked (that would mask every space), and no Basic credential without a client id', () => {
    const { error, masked } = read({ password: '  ', 'client-id': '', 'github-token': '' })
    expect(error).toBeInstanceOf(InputError)
    expect(masked).not.toContain('  ')
    expect(masked).toContain('app-secret-0001')
    expect(masked).not.toContain(basic('', 'app-secret-0001'))
  })
})
