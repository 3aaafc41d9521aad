/**
 * The recovery tool, bundled to dist/recovery/index.js so it needs nothing but Node and a clone of this action.
 *
 *   node dist/recovery/index.js keygen [--key-file PATH]
 *     Makes a keypair and prints the public key (the recovery-public-key input). With --key-file, the
 *     private key goes into a new file PATH, readable by you only, and nowhere else; without it, the
 *     private key is printed as well.
 *
 *   node dist/recovery/index.js open [--key-file PATH] [CIPHERTEXT]
 *     Prints the password sealed in CIPHERTEXT (the recovery-ciphertext output), and nothing else, so
 *     it can be piped to `gh secret set`. The private key comes from PATH, else from the
 *     RECOVERY_PRIVATE_KEY variable, else from the first line of stdin: never from the command line,
 *     which shells keep in their history. The ciphertext comes from the argument, else from stdin
 *     (after the key, when the key came from stdin), else from a prompt. Whitespace and line breaks in
 *     it are ignored (base64 has none), so a ciphertext copied with them still opens.
 *
 * Exit codes: 0 done; 1 an input is wrong, and the message says which where it can tell; 2 usage.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { createInterface } from 'node:readline/promises'
import { parseArgs } from 'node:util'
import { loadSodium } from './seal.ts'

const USAGE = 'usage: node dist/recovery/index.js keygen [--key-file PATH]\n       node dist/recovery/index.js open [--key-file PATH] [CIPHERTEXT]\n'
/** crypto_box_SEALBYTES: a sealed box is the message plus an ephemeral public key and a MAC. */
const SEAL_OVERHEAD = 48
const KEY_BYTES = 32

/** An input that is wrong, with the sentence that says which and why. */
class WrongInput extends Error {}

/** Strict standard base64 (what the action outputs), or why the text is not. */
function base64Bytes(text: string): Uint8Array | 'characters' | 'length' {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return 'characters'
  if (text.length % 4 !== 0) return 'length'
  return new Uint8Array(Buffer.from(text, 'base64'))
}

function privateKeyBytes(text: string, from: string): Uint8Array {
  const bytes = base64Bytes(text)
  if (bytes === 'characters') {
    throw new WrongInput(`The private key (${from}) is not standard base64: it should be 44 characters of A-Z, a-z, 0-9, + and /, ending in "=".`)
  }
  if (bytes === 'length' || bytes.length < KEY_BYTES) {
    throw new WrongInput(`The private key (${from}) is shorter than ${KEY_BYTES} bytes (44 base64 characters ending in "="): it was cut.`)
  }
  if (bytes.length > SEAL_OVERHEAD) {
    throw new WrongInput(
      `The private key (${from}) is ${bytes.length} bytes, not ${KEY_BYTES}: it looks like a recovery ciphertext. ` +
        'Give the private key with --key-file (or on stdin) and the ciphertext as the argument.'
    )
  }
  if (bytes.length !== KEY_BYTES) {
    throw new WrongInput(`The private key (${from}) is ${bytes.length} bytes, not ${KEY_BYTES} (44 base64 characters ending in "="): it was changed.`)
  }
  return bytes
}

function ciphertextBytes(text: string): Uint8Array {
  const bytes = base64Bytes(text)
  if (bytes === 'characters') {
    throw new WrongInput(
      'The ciphertext is not standard base64 (A-Z, a-z, 0-9, + and /, with "=" only at the end): copy the whole recovery-ciphertext again.'
    )
  }
  if (bytes === 'length') {
    throw new WrongInput(
      'The ciphertext is not whole (its base64 length is not a multiple of 4): it was cut. Copy the whole recovery-ciphertext again.'
    )
  }
  if (bytes.length === KEY_BYTES) {
    throw new WrongInput(
      `The ciphertext is ${KEY_BYTES} bytes, the size of a key: is it the recovery-public-key or the private key instead of the ciphertext?`
    )
  }
  if (bytes.length <= SEAL_OVERHEAD) {
    throw new WrongInput(
      `The ciphertext is ${bytes.length} bytes; a sealed password is more than ${SEAL_OVERHEAD}: it was cut. Copy the whole recovery-ciphertext again.`
    )
  }
  return bytes
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function prompt(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return await rl.question(question)
  } finally {
    rl.close()
  }
}

async function keygen(keyFile: string | undefined): Promise<void> {
  const sodium = await loadSodium()
  const b64 = sodium.base64_variants.ORIGINAL
  const pair = sodium.crypto_box_keypair()
  const publicKey = sodium.to_base64(pair.publicKey, b64)
  const privateKey = sodium.to_base64(pair.privateKey, b64)
  if (keyFile === undefined) {
    process.stdout.write(
      `recovery-public-key:  ${publicKey}\nRECOVERY_PRIVATE_KEY: ${privateKey}\n` +
        "Put the public key in the workflow's recovery-public-key input. Save the private key in a file only you can read, and keep it offline: " +
        'it opens every recovery ciphertext made with this pair. Next time, --key-file PATH writes it there without showing it.\n'
    )
    return
  }
  try {
    // A new file only: overwriting a recovery key would lose every ciphertext sealed to it.
    writeFileSync(keyFile, `${privateKey}\n`, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new WrongInput(
      code === 'EEXIST'
        ? `${keyFile} exists already, and a recovery key is never overwritten (it opens every ciphertext sealed to its public key): choose another path.`
        : `Cannot write the private key to ${keyFile}: ${code ?? (error as Error).message}.`
    )
  }
  process.stdout.write(
    `recovery-public-key:  ${publicKey}\n` +
      `Private key written to ${keyFile} (readable by you only). Put the public key in the workflow's recovery-public-key input, ` +
      'and keep the key file offline: it opens every recovery ciphertext made with this pair.\n'
  )
}

async function open(keyFile: string | undefined, argument: string | undefined): Promise<void> {
  let keyText: string
  let keyFrom: string
  let rest: string | undefined
  if (keyFile !== undefined) {
    try {
      keyText = readFileSync(keyFile, 'utf8')
    } catch (error) {
      throw new WrongInput(`Cannot read the private key file ${keyFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`)
    }
    keyFrom = keyFile
  } else if (process.env.RECOVERY_PRIVATE_KEY) {
    keyText = process.env.RECOVERY_PRIVATE_KEY
    keyFrom = 'RECOVERY_PRIVATE_KEY'
  } else if (!process.stdin.isTTY) {
    const stdin = await readStdin()
    const lines = stdin.split(/\r?\n/)
    const first = lines.findIndex((line) => line.trim() !== '')
    keyText = first < 0 ? '' : lines[first]
    rest = lines.slice(first + 1).join('\n')
    keyFrom = 'the first line of stdin'
  } else {
    throw new WrongInput(
      'No private key: pass --key-file PATH, or pipe the key on stdin (for example from your password manager). It is never read from the command line.'
    )
  }
  keyText = keyText.trim()
  if (keyText === '') throw new WrongInput(`The private key (${keyFrom}) is empty.`)

  let ciphertextText = argument
  if (ciphertextText === undefined) {
    if (rest !== undefined) ciphertextText = rest
    else if (!process.stdin.isTTY) ciphertextText = await readStdin()
    else ciphertextText = await prompt('Paste the recovery ciphertext and press Enter: ')
  }
  ciphertextText = ciphertextText.replace(/\s+/g, '')
  if (ciphertextText === '') throw new WrongInput('No ciphertext: give the recovery-ciphertext as the argument, or on stdin.')

  const privateKey = privateKeyBytes(keyText, keyFrom)
  const ciphertext = ciphertextBytes(ciphertextText)
  const sodium = await loadSodium()
  const publicKey = sodium.crypto_scalarmult_base(privateKey)
  let password: string
  try {
    password = sodium.to_string(sodium.crypto_box_seal_open(ciphertext, publicKey, privateKey))
  } catch {
    throw new WrongInput(
      "The ciphertext does not open with this private key. Both are well-formed, so either the key is not the pair of the run's recovery-public-key, " +
        `or the ciphertext was changed. This key's public key is ${sodium.to_base64(publicKey, sodium.base64_variants.ORIGINAL)}: ` +
        "if that is the workflow's recovery-public-key, the ciphertext is the wrong input."
    )
  }
  process.stdout.write(`${password}\n`)
}

async function main(argv: string[]): Promise<number> {
  let command: string | undefined
  let rest: string[]
  let keyFile: string | undefined
  try {
    const parsed = parseArgs({ args: argv, options: { 'key-file': { type: 'string' } }, allowPositionals: true })
    ;[command, ...rest] = parsed.positionals
    keyFile = parsed.values['key-file']
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}`)
    return 2
  }
  try {
    if (command === 'keygen' && rest.length === 0) await keygen(keyFile)
    else if (command === 'open' && rest.length <= 1) await open(keyFile, rest[0])
    else {
      process.stderr.write(USAGE)
      return 2
    }
    return 0
  } catch (error) {
    if (!(error instanceof WrongInput)) throw error
    process.stderr.write(`${error.message}\n`)
    return 1
  }
}

process.exitCode = await main(process.argv.slice(2))
