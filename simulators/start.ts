/**
 * `npm run simulators`: both simulators on 127.0.0.1 until interrupted, for running the action by hand
 * (`npm run local`) or from a workflow (`uses: ./`). Prints where they listen and the credentials they
 * accept; with --github-env FILE, also appends them to that file for later workflow steps.
 * With --port-thingspace / --port-github the ports are fixed.
 */
import { appendFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { FIXTURE, startSimulators } from './harness.ts'

const { values } = parseArgs({
  options: { 'github-env': { type: 'string' }, 'port-thingspace': { type: 'string' }, 'port-github': { type: 'string' } }
})

const sims = await startSimulators()
if (values['port-thingspace'] || values['port-github']) {
  await sims.stop()
  await sims.thingspace.start(Number(values['port-thingspace'] ?? 0))
  await sims.github.start(Number(values['port-github'] ?? 0))
}

const settings = {
  // Not GITHUB_*: a workflow cannot override those; pass these as the thingspace-url and github-api-url inputs.
  SIM_THINGSPACE_URL: sims.thingspace.url,
  SIM_GITHUB_API_URL: sims.github.url,
  SIM_REPOSITORY: FIXTURE.repository,
  SIM_USERNAME: sims.thingspace.username,
  SIM_PASSWORD: sims.thingspace.password,
  SIM_CLIENT_ID: sims.thingspace.appKey,
  SIM_CLIENT_SECRET: sims.thingspace.appSecret,
  SIM_GITHUB_TOKEN: FIXTURE.githubToken
}
const text = Object.entries(settings)
  .map(([k, v]) => `${k}=${v}`)
  .join('\n')
if (values['github-env']) appendFileSync(values['github-env'], `${text}\n`)
console.log(
  `Simulators are up (Ctrl-C stops them). Repository ${FIXTURE.repository} with environment ${FIXTURE.environment}, organization ${FIXTURE.org}.\n${text}`
)

const stop = async (): Promise<void> => {
  await sims.stop()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
