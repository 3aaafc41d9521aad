/**
 * Wires the real clients to the rotation and turns its outcome into outputs, a summary and an exit
 * code. This is the single place that catches: lower layers wrap their errors with context.
 */
import * as core from '@actions/core'
import { context } from '@actions/github'
import { usernamesAsSecrets, usernamesAsVariables, type UsernamePort } from './alternation.ts'
import { Cancellation } from './cancellation.ts'
import { takeEarlySignals } from './early-signals.ts'
import { createOctokit, type GitHubOctokit } from './github-client.ts'
import { GitHubSecrets } from './github-secrets.ts'
import { GitHubVariables } from './github-variables.ts'
import { InputError, readSettings, type RunContext, type Settings } from './inputs.ts'
import { verdicts, type Outcome } from './outcomes.ts'
import { report } from './report.ts'
import { realSleep } from './retry.ts'
import { rotate, type RotationDeps } from './rotation.ts'
import { loadSodium, seal } from './seal.ts'
import { SecretMask } from './secrets-mask.ts'
import { ThingSpaceClient } from './thingspace.ts'

function buildDeps(settings: Settings, mask: SecretMask, cancel: Cancellation): RotationDeps {
  const log = {
    debug: (m: string) => core.debug(mask.redact(m)),
    info: (m: string) => core.info(mask.redact(m)),
    warning: (m: string) => core.warning(mask.redact(m), { title: 'ThingSpace password rotation' }),
    group: <T>(name: string, fn: () => Promise<T>) => core.group(name, fn)
  }
  const thingspace = new ThingSpaceClient({
    baseUrl: settings.thingspaceUrl,
    basicCredential: settings.basicCredential,
    mask,
    log,
    now: Date.now,
    sleep: realSleep
  })
  const octokit = createOctokit({ token: settings.githubToken, baseUrl: settings.githubApiUrl, log })
  const github = new GitHubSecrets(octokit, settings.secretName, seal)
  return {
    thingspace,
    github,
    usernames: usernameStore(settings, github, octokit),
    seal,
    // Deferred a turn, so the request just started is written to its socket first.
    prepareSeal: () => setImmediate(() => void loadSodium().catch(() => {})),
    cancel,
    now: Date.now,
    sleep: realSleep,
    log
  }
}

/** With alternating usernames, where the usernames live: Actions variables, or secrets. */
function usernameStore(settings: Settings, secrets: GitHubSecrets, octokit: GitHubOctokit): UsernamePort | undefined {
  const alt = settings.alternation
  if (!alt) return undefined
  return alt.usernameKind === 'variable' ? usernamesAsVariables(new GitHubVariables(octokit), alt.usernameName) : usernamesAsSecrets(secrets)
}

const positive = (n: number): number | undefined => (Number.isSafeInteger(n) && n > 0 ? n : undefined)

/**
 * What @actions/github's context says about this run, and what the runner sets that the context
 * leaves out: this job's runner (to find the job among the run's) and the triggering actor.
 */
function runContext(): RunContext {
  return {
    repository: process.env.GITHUB_REPOSITORY ? `${context.repo.owner}/${context.repo.repo}` : undefined,
    runId: positive(context.runId),
    runAttempt: positive(context.runAttempt),
    runnerName: process.env.RUNNER_NAME || undefined,
    eventName: context.eventName || undefined,
    triggeringActor: process.env.GITHUB_TRIGGERING_ACTOR || undefined,
    apiUrl: context.apiUrl
  }
}

export async function run(): Promise<void> {
  const mask = new SecretMask((value) => core.setSecret(value))
  const cancel = new Cancellation()
  const onSignal = (signal: NodeJS.Signals): void => {
    core.info(`Received ${signal}`)
    cancel.receive(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  for (const signal of takeEarlySignals()) onSignal(signal)

  let settings: Settings | undefined
  // The last line of defence: every read is bounded, but should the run ever wait on something that
  // no socket or timer can bring, Node would end the process with no report. It reports first.
  let reported = false
  const onBeforeExit = (): void => {
    if (reported) return
    reported = true
    const outcome = { ...verdicts.unexpected(new Error('the run stopped waiting on an answer that never came'), cancel.resetSent), targets: [] }
    void report(outcome, mask, settings?.secretName ?? 'THINGSPACE_PASSWORD')
  }
  process.on('beforeExit', onBeforeExit)

  let outcome: Outcome
  try {
    settings = readSettings(runContext(), mask)
    outcome = await rotate(settings, buildDeps(settings, mask, cancel))
  } catch (error) {
    // rotate() returns an outcome on every path it knows; this is for input errors and for bugs.
    const verdict = error instanceof InputError ? verdicts.inputError(error.message) : verdicts.unexpected(error, cancel.resetSent)
    outcome = { ...verdict, targets: [] }
  }
  if (!reported) {
    reported = true
    // An input error has no targets, so the secret name only matters once the settings were read.
    await report(outcome, mask, settings?.secretName ?? 'THINGSPACE_PASSWORD')
  }
  cancel.dispose()
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  process.off('beforeExit', onBeforeExit)
}
