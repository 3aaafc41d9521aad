/**
 * The benchmark's second yardstick: the reference client (reference-client.mjs) with the stack this
 * action is built on loaded before it starts: @actions/core, @actions/github, @actions/http-client,
 * @octokit/rest with plugin-retry and plugin-throttling, and libsodium-wrappers, which the reference
 * client imports once its first requests are on the wire. `npm run bench` bundles it with
 * `ncc --minify` into a temporary directory like the action, so libsodium is a chunk of the bundle
 * (no node_modules is reachable from there): the fastest any action on this stack can be.
 *
 * Its requests go out through plain fetch, unless REFERENCE_TRANSPORT=stack: then through the stack's
 * own clients as the action's contract has it, GitHub through @actions/github's Octokit with the retry
 * and throttling plugins (writes not spaced apart, as the action configures them) and ThingSpace
 * through @actions/http-client. The difference between the two is what the stack's request pipeline
 * costs on this sequence.
 */
import * as core from '@actions/core'
import * as github from '@actions/github'
import { HttpClient } from '@actions/http-client'
import { retry } from '@octokit/plugin-retry'
import { throttling } from '@octokit/plugin-throttling'
import { Octokit } from '@octokit/rest'
import Bottleneck from 'bottleneck/light.js'

// Touch each module so the bundler keeps it, as an action that uses them would.
globalThis.toolkitLoaded = [typeof core.getInput, github.context.runId, typeof Octokit]

if (process.env.REFERENCE_TRANSPORT === 'stack') {
  const octokit = github.getOctokit(
    core.getInput('github-token'),
    { throttle: { onRateLimit: () => false, onSecondaryRateLimit: () => false, write: new Bottleneck.Group({ minTime: 0 }) } },
    retry,
    throttling
  )
  const http = new HttpClient('toolkit-reference')
  globalThis.referenceTransport = {
    github: (method, path, body) =>
      octokit.request(`${method} ${path}`, body ?? {}).catch((error) => {
        if (error.status === 404) return { status: 404 }
        throw error
      }),
    thingspace: async (method, path, headers, body) => {
      const response = await http.request(method, `${core.getInput('thingspace-url')}${path}`, body ?? null, headers)
      const text = await response.readBody()
      return { status: response.message.statusCode, data: text ? JSON.parse(text) : undefined }
    }
  }
}
await import('./reference-client.mjs')
