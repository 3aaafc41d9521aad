/**
 * Jest global setup: the end-to-end tests run a bundle of the working tree, not the committed dist/.
 * Both entry points are bundled with ncc (as `npm run bundle` does, without stats and licenses) into
 * a temporary directory, exported to the tests as ACTION_BUNDLE_DIR (simulators/harness.ts reads it);
 * global-teardown.ts removes it. When ACTION_BUNDLE_DIR is already set, that bundle is tested as is
 * (`ACTION_BUNDLE_DIR=. npm test` tests the committed dist/).
 *
 * Speed: ncc type-checks the whole program by default, which costs most of its time and repeats what
 * `npm test` has just done with `tsc --noEmit`. The bundles are built with ncc's --transpile-only, and
 * ncc is pointed (TYPESCRIPT_LOOKUP_PATH, which ncc's typescript loader honours) at a thin wrapper of
 * the project's TypeScript whose transpileModule emits ES modules: transpiling one file at a time, the
 * NodeNext module setting cannot see package.json's "type": "module" and would emit CommonJS, which
 * breaks the entry points' top-level await. The output is byte-identical to a type-checked build.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(path.join(ROOT, 'package.json'))

/** Writes node_modules/typescript under `dir`: the project's TypeScript with transpileModule emitting ES modules. */
function typescriptShim(dir: string): void {
  const pkg = path.join(dir, 'node_modules/typescript')
  mkdirSync(pkg, { recursive: true })
  writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'typescript', main: 'index.js' }))
  writeFileSync(
    path.join(pkg, 'index.js'),
    [
      `const ts = require(${JSON.stringify(require.resolve('typescript'))})`,
      'const esm = { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }',
      'module.exports = {',
      '  ...ts,',
      '  transpileModule: (input, options = {}) => ts.transpileModule(input, { ...options, compilerOptions: { ...options.compilerOptions, ...esm } })',
      '}',
      ''
    ].join('\n')
  )
}

function ncc(entry: string, out: string, typescriptDir: string): Promise<void> {
  const cli = require.resolve('@vercel/ncc/dist/ncc/cli.js')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'build', entry, '-o', out, '--minify', '--quiet', '--transpile-only'], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '', TYPESCRIPT_LOOKUP_PATH: `${typescriptDir}${path.sep}` },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ncc build ${entry} failed (exit ${code}):\n${output}`))))
  })
}

export default async function globalSetup(): Promise<void> {
  if (process.env.ACTION_BUNDLE_DIR) return
  const dir = mkdtempSync(path.join(tmpdir(), 'action-bundle-'))
  try {
    typescriptShim(path.join(dir, 'typescript'))
    // Concurrently, so into separate directories: ncc first deletes every .js under its output directory.
    await Promise.all([
      ncc('src/index.ts', path.join(dir, 'dist'), path.join(dir, 'typescript')),
      ncc('src/recovery-cli.ts', path.join(dir, 'recovery'), path.join(dir, 'typescript'))
    ])
    renameSync(path.join(dir, 'recovery'), path.join(dir, 'dist/recovery'))
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  process.env.ACTION_BUNDLE_DIR = dir
  // Only the teardown removes what this setup made (an ACTION_BUNDLE_DIR given from outside is left alone).
  process.env.ACTION_BUNDLE_DIR_OWNED = dir
}
