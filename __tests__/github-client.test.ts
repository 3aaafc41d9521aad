/**
 * The Octokit from createOctokit (src/github-client.ts) against a GitHub simulator whose answers stall:
 * each attempt's timeout covers the answer's body as well as its headers, a stalled attempt is retried
 * like a 5xx, and the connection is closed at the deadline. (That the process cannot exit with such a
 * call pending is proven by running the bundle: stalls.e2e.test.ts.)
 */
import { afterEach, describe, expect, test } from '@jest/globals'
import { GitHubSimulator } from '../simulators/github.ts'
import { createOctokit, describeFailure } from '../src/github-client.ts'
import { seal } from '../src/seal.ts'
import { failure, until } from './support/async.ts'

const TOKEN = 'ghp_TestToken0123456789abcdefABCDEFabcd'
const REPO = 'repo:acme/fleet'

let running: GitHubSimulator[] = []

afterEach(async () => {
  await Promise.all(running.map((s) => s.stop()))
  running = []
})

async function rig(timeoutMs: number) {
  const gh = await GitHubSimulator.create()
  running.push(gh)
  gh.addToken(TOKEN, { write: true })
  gh.addRepo('acme/fleet', [])
  await gh.start()
  const info: string[] = []
  const octokit = createOctokit({
    token: TOKEN,
    baseUrl: new URL(gh.url),
    log: { info: (m) => info.push(m), debug: () => {}, warning: () => {} },
    retryAfterBaseMs: 0,
    timeoutMs
  })
  return { gh, octokit, info }
}

describe('a stalled GitHub answer', () => {
  // A read whose body was cut came back as the text read so far, and the run then blamed the answer's shape
  // ("has no key_id and key"). Was a wording BUG at 1784f78, found by the black-box trial.
  test("a read whose body never finishes is cut at the attempt's timeout and fails as a timeout, not as a malformed answer", async () => {
    const { gh, octokit } = await rig(200)
    gh.inject({ call: 'public-key', scope: REPO, stall: 'body', stallAfterBytes: 10 })
    const error = await failure(octokit.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'fleet' }))
    expect(describeFailure(error)).toBe('no answer in time (timeout)')
    expect(error.message).toBe('the answer did not finish within 0.2 s')
    expect(gh.calls('public-key').map((e) => e.stalled)).toEqual(['body'])
    expect(await until(() => gh.calls('public-key').every((e) => e.stallClosedAt !== undefined))).toBe(true)
  })

  test('an answer never begun times out on each attempt, is retried like a 5xx, and fails as a timeout', async () => {
    const { gh, octokit, info } = await rig(100)
    gh.inject({ call: 'public-key', scope: REPO, stall: 'headers' })
    const error = await failure(octokit.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'fleet' }))
    expect(describeFailure(error)).toBe('no answer in time (timeout)')
    expect(gh.calls('public-key').map((e) => e.stalled)).toEqual(['headers', 'headers', 'headers', 'headers'])
    expect(info.map((line) => /attempt (\d) of (\d)/.exec(line)?.slice(1))).toEqual([
      ['1', '4'],
      ['2', '4'],
      ['3', '4']
    ])
    expect(await until(() => gh.calls('public-key').every((e) => e.stallClosedAt !== undefined))).toBe(true)
  })

  test('a write whose status came before its body stalled is a write that landed', async () => {
    const { gh, octokit } = await rig(200)
    const { data: key } = await octokit.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'fleet' })
    gh.inject({ call: 'put-secret', scope: REPO, afterActing: true, status: 201, stall: 'body' })
    const response = await octokit.rest.actions.createOrUpdateRepoSecret({
      owner: 'acme',
      repo: 'fleet',
      secret_name: 'X',
      encrypted_value: await seal('value', key.key),
      key_id: key.key_id
    })
    expect(response.status).toBe(201)
    expect(gh.secret(REPO, 'X')?.value).toBe('value')
  })
})
