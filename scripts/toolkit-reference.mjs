/**
 * The benchmark's second yardstick: the reference client (reference-client.mjs) with the toolkit this
 * action is built on loaded before it starts: @actions/core, @actions/github and @octokit/rest.
 * `npm run bench` bundles it with `ncc --minify` like the action, so it is the fastest any action on
 * this stack can be.
 */
import * as core from '@actions/core'
import * as github from '@actions/github'
import { Octokit } from '@octokit/rest'

// Touch each module so the bundler keeps it, as an action that uses them would.
globalThis.toolkitLoaded = [typeof core.getInput, github.context.runId, typeof Octokit]
await import('./reference-client.mjs')
