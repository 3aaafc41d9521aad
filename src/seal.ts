/**
 * Sealed boxes (crypto_box_seal), the encryption GitHub requires for secret values. libsodium is
 * loaded on first use, so its start-up overlaps the first network waits instead of delaying them.
 */
import type sodiumModule from 'libsodium-wrappers'

type Sodium = typeof sodiumModule

let sodium: Promise<Sodium> | undefined

export function loadSodium(): Promise<Sodium> {
  sodium ??= import('libsodium-wrappers').then(async (module) => {
    const lib = (module as unknown as { default?: Sodium }).default ?? module
    await lib.ready
    return lib
  })
  return sodium
}

/** Seals a UTF-8 text to a standard-base64 Curve25519 public key; the result is standard base64. */
export async function seal(plaintext: string, publicKeyBase64: string): Promise<string> {
  const lib = await loadSodium()
  const key = lib.from_base64(publicKeyBase64, lib.base64_variants.ORIGINAL)
  const sealed = lib.crypto_box_seal(lib.from_string(plaintext), key)
  return lib.to_base64(sealed, lib.base64_variants.ORIGINAL)
}

/** Opens a sealed box made with `seal` (the recovery tool and the simulators use it). */
export async function open(ciphertextBase64: string, publicKeyBase64: string, privateKeyBase64: string): Promise<string> {
  const lib = await loadSodium()
  const b64 = lib.base64_variants.ORIGINAL
  const plain = lib.crypto_box_seal_open(
    lib.from_base64(ciphertextBase64, b64),
    lib.from_base64(publicKeyBase64, b64),
    lib.from_base64(privateKeyBase64, b64)
  )
  return lib.to_string(plain)
}

export async function keypair(): Promise<{ publicKey: string; privateKey: string }> {
  const lib = await loadSodium()
  const pair = lib.crypto_box_keypair()
  const b64 = lib.base64_variants.ORIGINAL
  return { publicKey: lib.to_base64(pair.publicKey, b64), privateKey: lib.to_base64(pair.privateKey, b64) }
}
