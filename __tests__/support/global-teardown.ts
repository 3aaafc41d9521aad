/** Jest global teardown: removes the bundle global-setup.ts built (never a directory given from outside). */
import { rmSync } from 'node:fs'

export default function globalTeardown(): void {
  const dir = process.env.ACTION_BUNDLE_DIR_OWNED
  if (!dir) return
  rmSync(dir, { recursive: true, force: true })
  // So that a next run in the same process (jest --watch) bundles again.
  delete process.env.ACTION_BUNDLE_DIR
  delete process.env.ACTION_BUNDLE_DIR_OWNED
}
