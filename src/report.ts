/**
 * Outputs, job summary and the step's verdict. Only the result, counts, target names and the sealed
 * recovery ciphertext leave the process; every text is scrubbed of known secrets on the way out.
 */
import * as core from '@actions/core'
import type { Outcome } from './outcomes.ts'
import type { SecretMask } from './secrets-mask.ts'

const TITLE = 'ThingSpace password rotation'

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

/** Builds the job summary in core.summary's buffer (written by `report`). */
export function buildSummary(outcome: Outcome, mask: SecretMask): typeof core.summary {
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
  if (outcome.result === 'failed-changed' && outcome.recoveryCiphertext) {
    summary
      .addHeading('Recovery ciphertext', 3)
      .addRaw(
        '<p>The new password, sealed to your <code>recovery-public-key</code>. Open it with <code>node dist/recovery/index.js open</code> (see the README, "When a rotation fails").</p>',
        true
      )
      .addCodeBlock(outcome.recoveryCiphertext)
  }
  return summary
}

export async function report(outcome: Outcome, mask: SecretMask): Promise<void> {
  setOutputs(outcome)
  // Without a summary file (a local run) there is nothing to write to.
  if (process.env.GITHUB_STEP_SUMMARY) {
    try {
      await buildSummary(outcome, mask).write()
    } catch (error) {
      core.warning(`Could not write the job summary: ${mask.redact((error as Error)?.message ?? String(error))}`, { title: TITLE })
    }
  }
  const message = mask.redact(outcome.message)
  if (outcome.ok) {
    core.notice(message, { title: `${TITLE}: ${outcome.result}` })
  } else {
    core.error(message, { title: `${TITLE}: ${outcome.result}` })
    process.exitCode = core.ExitCode.Failure
  }
}
