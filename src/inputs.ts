/**
 * Reads and validates every input in one place. Nothing is sent anywhere until this returns; each
 * error names the input and says what would be valid. Secret inputs are masked before any is validated.
 */
import * as core from '@actions/core'
import type { SecretMask } from './secrets-mask.ts'
import { parseRepository, parseTargets, TargetError, type Repository, type Target } from './targets.ts'

export interface Settings {
  username: string
  password: string
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
  for (const name of ['password', 'client-secret', 'github-token']) mask.add(secret(name))
  const clientId = core.getInput('client-id')
  const basic = Buffer.from(`${clientId}:${secret('client-secret')}`, 'utf8').toString('base64')
  if (clientId && secret('client-secret').trim()) mask.add(basic)
  return basic
}

export function readSettings(context: RunContext, mask: SecretMask): Settings {
  const basicCredential = maskSecretInputs(mask)
  const username = required('username', 'pass the ThingSpace UWS username')
  const password = required('password', 'pass the current ThingSpace UWS password, e.g. ${{ secrets.THINGSPACE_PASSWORD }}', false)
  required('client-id', 'pass the ThingSpace application key from Key Management')
  required('client-secret', 'pass the ThingSpace application secret from Key Management', false)
  const githubToken = required('github-token', 'pass a token that can write the target secrets (GITHUB_TOKEN cannot)', false)

  const secretName = core.getInput('secret-name') || 'THINGSPACE_PASSWORD'
  if (!SECRET_NAME.test(secretName) || /^GITHUB_/i.test(secretName)) {
    throw new InputError(
      `Input "secret-name" must use only letters, digits and "_", must not start with a digit or with GITHUB_, got "${secretName}"`
    )
  }

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
    basicCredential,
    githubToken,
    secretName: secretName.toUpperCase(),
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
