/**
 * The benchmark's second yardstick: the reference client (reference-client.mjs) with the stack this
 * action is built on loaded before it starts: @actions/core, @actions/github, @actions/http-client,
 * @octokit/rest with plugin-retry and plugin-throttling, and libsodium-wrappers, which the reference
 * client imports once its first requests are on the wire. `npm run bench` bundles it with
 * `ncc --minify` into a temporary directory like the action, so libsodium is a chunk of the bundle
 * (no node_modules is reachable from there): this is the fastest any action on this stack can be.
 */
import * as core from '@actions/core'
import * as github from '@actions/github'
import { HttpClient } from '@actions/http-client'
import { retry } from '@octokit/plugin-retry'
import { throttling } from '@octokit/plugin-throttling'
import { Octokit } from '@octokit/rest'

// Touch each module so the bundler keeps it, as an action that uses them would.
globalThis.toolkitLoaded = [typeof core.getInput, github.context.runId, typeof HttpClient, typeof Octokit.plugin(retry, throttling)]
await import('./reference-client.mjs')
