/**
 * Reads and validates every input in one place. Nothing is sent anywhere until this returns; each
 * error names the input and says what would be valid. Secret inputs are masked before any is validated.
 */
import * as core from '@actions/core'
import type { SecretMask } from './secrets-mask.ts'
import { parseRepository, parseTargets, TargetError, type Repository, type Target } from './targets.ts'

/**
 * Alternating usernames (issue 19): each rotation resets the standby username, makes it the active
 * one everywhere, and keeps the previous active pair, unchanged, as the new standby.
 */
export interface Alternation {
  standbyUsername: string
  standbyPassword: string
  /** The variable or secret that names the active username in every target. */
  usernameName: string
  usernameKind: 'variable' | 'secret'
  /** The home target's standby pair: the password secret and the username (same kind as `usernameKind`). */
  standbyPasswordName: string
  standbyUsernameName: string
}

export interface Settings {
  /** The active username and its password: the pair consumers use. */
  username: string
  password: string
  alternation: Alternation | undefined
  /** base64(client-id:client-secret), the OAuth Basic credential; masked like the secrets it is built from. */
  basicCredential: string
  githubToken: string
  secretName: string
  targets: Target[]
  minAgeDays: number
  dryRun: boolean
  verify: boolean
  /** Standard base64 of a 32-byte Curve25519 public key. */
  recoveryPublicKey: string | undefined
  thingspaceUrl: URL
  githubApiUrl: URL
  /** The repository running the workflow, when known. */
  repository: Repository | undefined
  /** The workflow run, its attempt and this job's runner, for the stale-password guard. */
  runId: number | undefined
  runAttempt: number | undefined
  runnerName: string | undefined
  /** What started the run, and who: the lockout guard is strict for every run not started by a person (isAttended). */
  eventName: string | undefined
  triggeringActor: string | undefined
}

/** What the run's context says (from @actions/github's `context`), passed in so tests need no environment. */
export interface RunContext {
  repository: string | undefined
  runId: number | undefined
  runAttempt?: number
  runnerName?: string
  eventName: string | undefined
  triggeringActor?: string
  apiUrl: string | undefined
}

export class InputError extends Error {}

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=$/

function required(name: string, hint: string, trimWhitespace = true): string {
  // Secrets are read untrimmed: a password may start or end with a space (but not be only spaces).
  let value = ''
  try {
    value = core.getInput(name, { required: true, trimWhitespace })
  } catch {
    // @actions/core's own message names the input; this one also says what to pass.
  }
  if (value.trim() === '') throw new InputError(`Input "${name}" is required and was empty: ${hint}`)
  return value
}

/** A value sent as a login field or in the OAuth Basic credential is one line: no newline, tab or other control character. */
function oneLine(name: string, value: string): string {
  // eslint-disable-next-line no-control-regex -- the control characters are what this looks for
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new InputError(`Input "${name}" must be one line, without control characters (a newline, a tab)`)
  return value
}

function boolean(name: string, fallback: boolean): boolean {
  if (core.getInput(name) === '') return fallback
  try {
    return core.getBooleanInput(name)
  } catch {
    throw new InputError(
      `Input "${name}" must be true or false (YAML 1.2 core: true | True | TRUE | false | False | FALSE), got "${core.getInput(name)}"`
    )
  }
}

/** https:// anywhere; plain http:// only to this machine, so credentials never cross a network in clear text. */
export function parseServiceUrl(value: string, name: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InputError(`${name} must be an https:// URL, got "${value}"`)
  }
  if (url.username || url.password) throw new InputError(`${name} must not carry credentials in the URL`)
  if (url.search || url.hash) throw new InputError(`${name} must be a base URL without query or fragment, got "${value}"`)
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    throw new InputError(
      `${name} must be an https:// URL; plain http:// is accepted only for a loopback host (127.0.0.1, ::1, localhost), got "${value}"`
    )
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InputError(`${name} must be an https:// URL, got "${value}"`)
  url.pathname = url.pathname.replace(/\/+$/, '')
  return url
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '')
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
}

/** Masks every secret input, and the Basic credential built from two of them, before any is validated. */
function maskSecretInputs(mask: SecretMask): string {
  const secret = (name: string): string => core.getInput(name, { trimWhitespace: false })
  for (const name of ['password', 'client-secret', 'github-token', 'standby-password']) mask.add(secret(name))
  const clientId = core.getInput('client-id')
  const basic = Buffer.from(`${clientId}:${secret('client-secret')}`, 'utf8').toString('base64')
  if (clientId && secret('client-secret').trim()) mask.add(basic)
  return basic
}

/** A secret or variable name input, upper-cased as GitHub stores it. */
function secretOrVariableName(input: string, fallback: string): string {
  const name = core.getInput(input) || fallback
  if (!SECRET_NAME.test(name) || /^GITHUB_/i.test(name)) {
    throw new InputError(`Input "${input}" must use only letters, digits and "_", must not start with a digit or with GITHUB_, got "${name}"`)
  }
  return name.toUpperCase()
}

/** The alternating-usernames inputs: all of them, or none (standby-username empty). */
function readAlternation(username: string, secretName: string, targets: Target[]): Alternation | undefined {
  const standbyUsername = oneLine('standby-username', core.getInput('standby-username'))
  const standbyPassword = core.getInput('standby-password', { trimWhitespace: false })
  const kind = core.getInput('username-kind') || 'variable'
  if (kind !== 'variable' && kind !== 'secret') throw new InputError(`Input "username-kind" must be "variable" or "secret", got "${kind}"`)
  if (standbyUsername === '') {
    if (standbyPassword.trim() !== '')
      throw new InputError('Input "standby-password" is set but "standby-username" is empty: set both for alternating usernames, or neither')
    return undefined
  }
  if (standbyPassword.trim() === '') {
    throw new InputError(
      'Input "standby-password" is required with "standby-username": pass the standby username\'s password, e.g. ${{ secrets.THINGSPACE_PASSWORD_STANDBY }}'
    )
  }
  if (standbyUsername === username) {
    throw new InputError(
      `Input "standby-username" names the active username "${username}": alternating usernames needs two different ThingSpace usernames`
    )
  }
  const usernameName = secretOrVariableName('username-name', 'THINGSPACE_USERNAME')
  if (usernameName === secretName) throw new InputError(`Input "username-name" must differ from "secret-name" (${secretName})`)
  const noVariables = targets.filter((t) => t.app !== 'actions')
  if (kind === 'variable' && noVariables.length > 0) {
    throw new InputError(
      `Input "username-kind" is "variable", but ${noVariables.map((t) => t.label).join(', ')} ${noVariables.length === 1 ? 'has' : 'have'} no variables (only Actions has them): use "username-kind: secret"`
    )
  }
  return {
    standbyUsername,
    standbyPassword,
    usernameName,
    usernameKind: kind,
    standbyPasswordName: `${secretName}_STANDBY`,
    standbyUsernameName: `${usernameName}_STANDBY`
  }
}

export function readSettings(context: RunContext, mask: SecretMask): Settings {
  const basicCredential = maskSecretInputs(mask)
  const username = oneLine('username', required('username', 'pass the ThingSpace UWS username'))
  const password = required('password', 'pass the current ThingSpace UWS password, e.g. ${{ secrets.THINGSPACE_PASSWORD }}', false)
  const clientId = oneLine('client-id', required('client-id', 'pass the ThingSpace application key from Key Management'))
  // RFC 7617: the user-id of a Basic credential cannot hold a colon (the server would split it there).
  if (clientId.includes(':')) throw new InputError('Input "client-id" must not contain ":" (it is sent as client-id:client-secret)')
  required('client-secret', 'pass the ThingSpace application secret from Key Management', false)
  const githubToken = required('github-token', 'pass a token that can write the target secrets (GITHUB_TOKEN cannot)', false)

  const secretName = secretOrVariableName('secret-name', 'THINGSPACE_PASSWORD')

  let repository: Repository | undefined
  try {
    repository = context.repository ? parseRepository(context.repository, 'GITHUB_REPOSITORY') : undefined
  } catch (error) {
    throw new InputError((error as Error).message)
  }
  let targets: Target[]
  try {
    const lines = core.getMultilineInput('targets')
    targets = parseTargets(lines.length > 0 ? lines : ['repo'], repository)
  } catch (error) {
    if (error instanceof TargetError) throw new InputError(`Input "targets": ${error.message}`)
    throw error
  }

  const minAgeText = core.getInput('min-age-days') || '0'
  if (!/^\d{1,5}$/.test(minAgeText)) {
    throw new InputError(`Input "min-age-days" must be a whole number of days, 0 or more (0 rotates on every run), got "${minAgeText}"`)
  }

  const alternation = readAlternation(username, secretName, targets)

  const recoveryPublicKey = core.getInput('recovery-public-key') || undefined
  if (recoveryPublicKey !== undefined && !BASE64_32_BYTES.test(recoveryPublicKey)) {
    throw new InputError(
      'Input "recovery-public-key" must be the standard base64 of a 32-byte Curve25519 public key (44 characters ending in "="); make one with `node dist/recovery/index.js keygen`'
    )
  }

  const thingspaceUrl = parseServiceUrl(core.getInput('thingspace-url') || 'https://thingspace.verizon.com', 'Input "thingspace-url"')
  const githubApiUrl = parseServiceUrl(core.getInput('github-api-url') || context.apiUrl || 'https://api.github.com', 'Input "github-api-url"')

  return {
    username,
    password,
    alternation,
    basicCredential,
    githubToken,
    secretName,
    targets,
    minAgeDays: Number(minAgeText),
    dryRun: boolean('dry-run', false),
    verify: boolean('verify', true),
    recoveryPublicKey,
    thingspaceUrl,
    githubApiUrl,
    repository,
    runId: context.runId,
    runAttempt: context.runAttempt,
    runnerName: context.runnerName,
    eventName: context.eventName,
    triggeringActor: context.triggeringActor
  }
}
