/**
 * Wires the real clients to the rotation and turns its outcome into outputs, a summary and an exit
 * code. This is the single place that catches: lower layers wrap their errors with context.
 */
import * as core from './runner.ts'
import { Cancellation } from './cancellation.ts'
import { createGitHubRequest } from './github-client.ts'
import { GitHubSecrets } from './github-secrets.ts'
import { InputError, readSettings, type Settings } from './inputs.ts'
import { report } from './report.ts'
import { realSleep } from './retry.ts'
import { errorText, rotate, type Outcome, type RotationDeps } from './rotation.ts'
import { loadSodium, seal } from './seal.ts'
import { SecretMask } from './secrets-mask.ts'
import { ThingSpaceClient } from './thingspace.ts'

function buildDeps(settings: Settings, mask: SecretMask, cancel: Cancellation): RotationDeps {
  const thingspace = new ThingSpaceClient({
    baseUrl: settings.thingspaceUrl,
    basicCredential: settings.basicCredential,
    mask,
    sleep: realSleep,
    signal: cancel.signal
  })
  const github = new GitHubSecrets(createGitHubRequest(settings.githubToken, settings.githubApiUrl), settings.secretName, seal)
  return {
    thingspace,
    github,
    seal,
    // Deferred a turn, so the request just started is written to its socket first.
    prepareSeal: () => setImmediate(() => void loadSodium().catch(() => {})),
    cancel,
    now: Date.now,
    log: { info: (m) => core.info(mask.redact(m)), warning: (m) => core.warning(mask.redact(m)) }
  }
}

export async function run(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const mask = new SecretMask((value) => core.setSecret(value))
  const cancel = new Cancellation()
  const onSignal = (signal: NodeJS.Signals): void => {
    core.info(`Received ${signal}`)
    cancel.receive(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let outcome: Outcome
  try {
    const settings = readSettings(env, mask)
    const deps = buildDeps(settings, mask, cancel)
    outcome = await rotate(settings, deps)
  } catch (error) {
    // rotate() returns an outcome on every path it knows; this is for input errors and for bugs.
    if (error instanceof InputError) {
      outcome = { result: 'failed-unchanged', ok: false, message: `${error.message}. Nothing was sent; the password was not changed.`, targets: [] }
    } else if (cancel.resetSent) {
      const message = `An unexpected error after the reset request was sent (${errorText(error)}): the password may have changed, and the new one may not be stored. Check the targets before running again; if no target logs in, reset the password in the ThingSpace portal.`
      outcome = { result: 'failed-unknown', ok: false, message, targets: [] }
    } else {
      outcome = { result: 'failed-unchanged', ok: false, message: `The password was not changed: ${errorText(error)}`, targets: [] }
    }
  }
  report(outcome, mask)
  cancel.dispose()
}
