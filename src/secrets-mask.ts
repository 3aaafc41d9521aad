/**
 * Every secret the action holds, and every value derived from one, passes through here the moment it
 * exists: it is masked in the runner's log, and remembered so that any error text can be scrubbed
 * before it is printed. Masking is the second line of defence; the first is never printing them.
 */
export type MaskFn = (value: string) => void

export class SecretMask {
  private readonly values = new Set<string>()
  private readonly register: MaskFn

  constructor(register: MaskFn) {
    this.register = register
  }

  /** Masks the value and the encoded forms it could take in a request or a JSON text. */
  add(value: string | undefined): void {
    // A blank value would mask every run of spaces in the log, and protects nothing.
    if (!value || value.trim() === '') return
    for (const form of encodedForms(value)) {
      if (this.values.has(form)) continue
      this.values.add(form)
      this.register(form)
    }
  }

  /** Replaces every known secret form in a text, longest first, so nothing partial survives. */
  redact(text: string): string {
    const forms = [...this.values].sort((a, b) => b.length - a.length)
    let out = text
    for (const form of forms) out = out.split(form).join('***')
    return out
  }
}

export function encodedForms(value: string): string[] {
  const forms = new Set<string>([value])
  forms.add(encodeURIComponent(value))
  forms.add(new URLSearchParams({ v: value }).toString().slice(2))
  forms.add(JSON.stringify(value).slice(1, -1))
  forms.add(Buffer.from(value, 'utf8').toString('base64'))
  return [...forms].filter((f) => f.length > 0)
}
