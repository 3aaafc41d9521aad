/**
 * The recovery tool, bundled to dist/recovery/index.js so it needs nothing but Node and this repository:
 *   node dist/recovery/index.js keygen              prints a keypair (keep the private key offline)
 *   node dist/recovery/index.js open [CIPHERTEXT]   reads the private key from RECOVERY_PRIVATE_KEY (or
 *                                                   stdin's first line) and prints the new password
 */
import { createInterface } from 'node:readline'
import { loadSodium, open } from './seal.ts'

async function readLines(): Promise<string[]> {
  const lines: string[] = []
  for await (const line of createInterface({ input: process.stdin })) if (line.trim()) lines.push(line.trim())
  return lines
}

async function main(args: string[]): Promise<number> {
  const sodium = await loadSodium()
  const b64 = sodium.base64_variants.ORIGINAL
  if (args[0] === 'keygen') {
    const pair = sodium.crypto_box_keypair()
    process.stdout.write(
      `recovery-public-key:  ${sodium.to_base64(pair.publicKey, b64)}\n` +
        `RECOVERY_PRIVATE_KEY: ${sodium.to_base64(pair.privateKey, b64)}\n` +
        `Put the public key in the workflow's recovery-public-key input. Keep the private key offline; it opens every recovery ciphertext made with this pair.\n`
    )
    return 0
  }
  if (args[0] === 'open') {
    const stdin = process.stdin.isTTY ? [] : await readLines()
    const privateKey = process.env.RECOVERY_PRIVATE_KEY?.trim() || stdin.shift()
    const ciphertext = args[1] ?? stdin.shift()
    if (!privateKey || !ciphertext) {
      process.stderr.write('usage: RECOVERY_PRIVATE_KEY=... node dist/recovery/index.js open CIPHERTEXT\n')
      return 2
    }
    const priv = sodium.from_base64(privateKey, b64)
    const publicKey = sodium.to_base64(sodium.crypto_scalarmult_base(priv), b64)
    try {
      process.stdout.write(`${await open(ciphertext, publicKey, privateKey)}\n`)
      return 0
    } catch {
      process.stderr.write('The ciphertext does not open with this private key (wrong key, or the text was cut or changed).\n')
      return 1
    }
  }
  process.stderr.write('usage: node dist/recovery/index.js keygen | open [CIPHERTEXT]\n')
  return 2
}

process.exitCode = await main(process.argv.slice(2))
