/**
 * Outputs, job summary and the step's verdict. Only the result, counts, target names, the sealed
 * recovery ciphertext and the commands that restore the targets leave the process; every text is
 * scrubbed of known secrets on the way out.
 */
import * as core from '@actions/core'
import type { Outcome } from './outcomes.ts'
import { restoreCommands, type Restore } from './recovery-commands.ts'
import type { SecretMask } from './secrets-mask.ts'

const TITLE = 'ThingSpace password rotation'
/** The recovery tool opening the ciphertext saved from the summary, piped to each restore command. */
const OPEN_ESCROW = 'node dist/recovery/index.js open --key-file RECOVERY_KEY_FILE < ciphertext.txt |'

export function setOutputs(outcome: Outcome): void {
  core.setOutput('result', outcome.result)
  core.setOutput('rotated', String(outcome.result === 'rotated'))
  core.setOutput('targets-updated', String(outcome.targets.filter((t) => t.holdsNewPassword).length))
  if (outcome.result === 'failed-changed' && outcome.recoveryCiphertext) core.setOutput('recovery-ciphertext', outcome.recoveryCiphertext)
}

/** Summary cells are HTML: escape what a message could carry. */
function html(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** One line per target: the command (after the escrow opener, if any), or why there is none. */
function commandBlock(restores: Restore[], opener: string): string {
  return restores.map((r) => ('command' in r ? `# ${r.label}\n${opener}${r.command}` : `# ${r.label}: no command, ${r.note}`)).join('\n')
}

/**
 * What a person runs after a run that left targets without the live password. With an escrow: open it
 * and restore the targets that lack it. Without one (or after a reset whose outcome is unknown): a
 * password set in the ThingSpace portal goes to every target. gh reads the value from stdin or asks
 * for it without echoing; no value is ever in the summary.
 */
function addRecovery(summary: typeof core.summary, outcome: Outcome, secretName: string, text: (value: string) => string): void {
  const escrowed = outcome.result === 'failed-changed' && outcome.recoveryCiphertext !== undefined
  if (escrowed) {
    summary
      .addHeading('Recovery ciphertext', 3)
      .addRaw('<p>The new password, sealed to your <code>recovery-public-key</code>. Only your recovery private key opens it.</p>', true)
      .addCodeBlock(text(outcome.recoveryCiphertext!))
  }
  if (!escrowed && !outcome.restoreByHand) return
  const restores = restoreCommands(outcome.targets, secretName, escrowed)
  if (restores.length === 0) return
  summary.addHeading(escrowed ? 'Restore the targets that lack the new password' : 'Store a password you set by hand', 3)
  summary.addRaw(
    escrowed
      ? "<p>First check each target's updated time: a secret updated after this run holds a newer password (another rotation " +
          'stored it), so leave it and its command out. Save the ciphertext above as <code>ciphertext.txt</code> and run the ' +
          'commands in a clone of this action, with ' +
          '<code>RECOVERY_KEY_FILE</code> the file that holds your recovery private key. Each opens the ciphertext and hands the ' +
          'password to <code>gh secret set</code> on its standard input, so it appears in no command line and no log, and each keeps ' +
          "its secret's store, visibility and selected repositories.</p>"
      : '<p>Nobody can read the new password, if there is one. Set a password in the ThingSpace portal (or ask Verizon M2M ' +
          'support), then store it in every target with these commands: <code>gh</code> asks for the value without showing it, and ' +
          "each command keeps its secret's store, visibility and selected repositories.</p>",
    true
  )
  summary.addCodeBlock(text(commandBlock(restores, escrowed ? `${OPEN_ESCROW} ` : '')), 'sh')
}

/** Builds the job summary in core.summary's buffer (written by `report`). */
export function buildSummary(outcome: Outcome, mask: SecretMask, secretName: string): typeof core.summary {
  const text = (value: string): string => html(mask.redact(value))
  const summary = core.summary.emptyBuffer().addHeading(`${TITLE}: <code>${outcome.result}</code>`, 2)
  summary.addRaw(`<p>${text(outcome.message).replace(/\r?\n/g, '<br>')}</p>`, true)
  if (outcome.targets.length > 0) {
    summary.addTable([
      [
        { data: 'Target', header: true },
        { data: 'Before this run', header: true },
        { data: 'This run', header: true }
      ],
      ...outcome.targets.map((t) => [`<code>${text(t.label)}</code>`, text(t.before), text(t.outcome)])
    ])
  }
  addRecovery(summary, outcome, secretName, text)
  return summary
}

export async function report(outcome: Outcome, mask: SecretMask, secretName: string): Promise<void> {
  setOutputs(outcome)
  // Without a summary file (a local run) there is nothing to write to.
  if (process.env.GITHUB_STEP_SUMMARY) {
    try {
      await buildSummary(outcome, mask, secretName).write()
    } catch (error) {
      core.warning(`Could not write the job summary: ${mask.redact((error as Error)?.message ?? String(error))}`, { title: TITLE })
    }
  }
  const message = mask.redact(outcome.message)
  if (outcome.ok) {
    core.notice(message, { title: `${TITLE}: ${outcome.result}` })
  } else {
    core.error(message, { title: `${TITLE}: ${outcome.result}` })
    // 1 is core.ExitCode.Failure; @github/local-action's stand-in for @actions/core has no ExitCode.
    process.exitCode = 1
  }
}
